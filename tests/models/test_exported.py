"""Exported generators (ONNX through onnxruntime, torch.export programs): parity with eager, metadata, refusals."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from omegaconf import OmegaConf

from sttn_lightning.cli import CONFIG_MODULE
from sttn_lightning.errors import InputError
from sttn_lightning.models import InpaintGenerator
from sttn_lightning.models.exported import (
    METADATA_KEY,
    ExportedModelError,
    ExportedProgramGenerator,
    OnnxGenerator,
    encoder_path,
    load_inference_model,
)
from sttn_lightning.models.exporting import ExportError, export_parts, max_difference
from tests.models.test_generator import randomise_

# Not a multiple of 4 and not divisible by the 3x3 grid at feature resolution (10 x 7), so the
# exported graphs hold the generator's replicate padding of frames and patches.
SIZE = (40, 28)
TOLERANCE = 1e-4
BACKENDS = {"onnx": "onnxruntime", "torch_export": "torch_export"}
SUFFIXES = {"onnx": ".onnx", "torch_export": ".pt2"}


def tiny_generator(mask_attention: bool) -> InpaintGenerator:
    """conf/model/sttn_tiny.yaml's generator with weights large enough for attention to matter."""
    config = OmegaConf.to_container(OmegaConf.load(resources.files(CONFIG_MODULE) / "model" / "sttn_tiny.yaml").generator)
    model = InpaintGenerator(**config, mask_attention=mask_attention).eval()
    randomise_(model)
    return model


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, tuple[InpaintGenerator, Path]]:
    """The tiny generator (paper's hole masking on, so masks reach the graph) exported in both formats."""
    torch.manual_seed(0)
    generator = tiny_generator(mask_attention=True)
    folder = tmp_path_factory.mktemp("exports")
    return {
        format: (generator, export_parts(generator, folder / f"tiny{SUFFIXES[format]}", format, SIZE)[0])
        for format in BACKENDS
    }


def window(num_frames: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = torch.Generator().manual_seed(seed)
    frames = torch.rand(num_frames, 3, SIZE[1], SIZE[0], generator=rng) * 2 - 1
    masks = (torch.rand(1, num_frames, 1, SIZE[1], SIZE[0], generator=rng) > 0.6).float()
    return frames * (1 - masks[0]), masks


@pytest.mark.parametrize("format", BACKENDS)
@pytest.mark.parametrize("num_frames", [5, 15, 30, 60])
def test_exported_parts_reproduce_eager_on_windows_of_any_length(exports, format, num_frames):
    generator, path = exports[format]
    exported = load_inference_model(path, BACKENDS[format], size=SIZE)
    masked, masks = window(num_frames, seed=num_frames)
    num_outputs = min(num_frames, 11)  # a window's neighbours; the rest are references, attended but not decoded
    with torch.inference_mode():
        features = generator.encode(masked)
        expected = generator.decode_features(features[None], masks, num_outputs)
        exported_features = exported.encode(masked)
        found = exported.decode_features(exported_features[None], masks, num_outputs)
    assert exported_features.shape == features.shape
    assert (exported_features - features).abs().max().item() < TOLERANCE
    assert found.shape == expected.shape == (1, num_outputs, 3, SIZE[1], SIZE[0])
    assert found.dtype == expected.dtype
    assert (found - expected).abs().max().item() < TOLERANCE
    assert expected.std() > 0.05  # the frames carry signal, so the comparison can fail


@pytest.mark.parametrize("format", BACKENDS)
def test_exported_window_decodes_every_frame_of_every_clip_and_a_single_frame(exports, format):
    generator, path = exports[format]
    exported = load_inference_model(path, BACKENDS[format], size=SIZE)
    masked, masks = window(6, seed=1)
    features = generator.encode(masked).reshape(2, 3, *generator.encode(masked).shape[1:])
    masks = masks.reshape(2, 3, 1, SIZE[1], SIZE[0])
    with torch.inference_mode():
        assert (exported.decode_features(features, masks) - generator.decode_features(features, masks)).abs().max() < TOLERANCE
        single = exported.decode_features(features[:1, :1], masks[:1, :1])
        assert (single - generator.decode_features(features[:1, :1], masks[:1, :1])).abs().max() < TOLERANCE


@pytest.mark.parametrize("format", BACKENDS)
def test_files_record_architecture_size_and_precision_and_loaders_expose_them(exports, format):
    generator, path = exports[format]
    exported = load_inference_model(path, BACKENDS[format])
    assert isinstance(exported, OnnxGenerator if format == "onnx" else ExportedProgramGenerator)
    assert exported.config == generator.config
    assert exported.size == SIZE
    assert exported.metadata["precision"] == "fp32"
    assert exported.metadata["part"] == "window"
    assert encoder_path(path).is_file()
    assert exported.eval() is exported and exported.to("cpu") is exported


def test_each_program_stores_only_the_weights_it_runs(exports):
    generator, path = exports["torch_export"]
    encoder_keys = set(torch.export.load(encoder_path(path)).state_dict)
    window_keys = set(torch.export.load(path).state_dict)
    assert encoder_keys == {f"generator.{key}" for key in generator.state_dict() if key.startswith("encoder.")}
    assert window_keys == {f"generator.{key}" for key in generator.state_dict() if not key.startswith("encoder.")}
    assert torch.export.load(path).example_inputs is None


def test_onnx_metadata_is_readable_without_this_library(exports):
    generator, path = exports["onnx"]
    for file, part in ((path, "window"), (encoder_path(path), "encoder")):
        props = {prop.key: prop.value for prop in onnx.load(file).metadata_props}
        record = json.loads(props[METADATA_KEY])
        assert record["part"] == part
        assert record["size"] == list(SIZE)
        assert record["generator_config"]["patch_grids"] == [list(grid) for grid in generator.config["patch_grids"]]
        assert record["generator_config"]["hidden_channels"] == generator.config["hidden_channels"]
    names = [node.name for node in onnx.load(path).graph.input]
    assert names == ["features", "masks", "num_outputs"]


def test_release_generator_exports_with_unused_masks_and_fp16(tmp_path):
    """mask_attention=False (the release) never reads the masks; fp16 files run and stay close to eager fp32."""
    generator = tiny_generator(mask_attention=False)
    path, _ = export_parts(generator, tmp_path / "half.onnx", "onnx", SIZE, "fp16")
    exported = load_inference_model(path, "onnxruntime", size=SIZE)
    assert exported.metadata["precision"] == "fp16"
    assert max_difference(generator, exported, 5) < 2e-2
    masked, masks = window(3, seed=2)
    assert exported.decode_features(exported.encode(masked)[None], masks).dtype == torch.float32


def test_max_difference_reports_a_wrong_model(exports):
    generator, path = exports["torch_export"]
    exported = load_inference_model(path, "torch_export")
    torch.manual_seed(1)
    other = tiny_generator(mask_attention=True)
    assert max_difference(generator, exported, 5) < TOLERANCE
    assert max_difference(other, exported, 5) > 1e-2


@pytest.mark.parametrize(
    "options, message",
    [
        ({"format": "tflite"}, "format: expected one of ('onnx', 'torch_export'), found 'tflite'"),
        ({"size": (16, 16)}, "size: 16x16 is too small for the generator's patch grids"),
        ({"precision": "bf16"}, "precision: expected one of ('fp32', 'fp16'), found 'bf16'"),
        ({"output_name": "tiny.pt2"}, "output: format=onnx writes a .onnx file, found"),
    ],
)
def test_export_refuses_bad_options_before_writing(tmp_path, options, message):
    output = tmp_path / options.pop("output_name", "tiny.onnx")
    with pytest.raises(ExportError, match=None) as error:
        export_parts(tiny_generator(False), output, **{"format": "onnx", "size": SIZE, **options})
    assert message in str(error.value)
    assert isinstance(error.value, InputError)
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_existing_output_unless_overwrite(exports, tmp_path):
    generator, path = exports["torch_export"]
    target = tmp_path / "tiny.pt2"
    encoder_path(target).write_bytes(b"keep")
    with pytest.raises(ExportError, match="tiny.encoder.pt2 already exist"):
        export_parts(generator, target, "torch_export", SIZE)
    assert encoder_path(target).read_bytes() == b"keep" and not target.exists()
    export_parts(generator, target, "torch_export", SIZE, overwrite=True)
    assert load_inference_model(target, "torch_export").size == SIZE


def test_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    calls = []

    def save_then_fail(program, file, **kwargs):
        calls.append(file)
        file.write(b"partial")
        if len(calls) == 2:
            raise OSError("disk full")

    monkeypatch.setattr(torch.export, "save", save_then_fail)
    with pytest.raises(OSError, match="disk full"):
        export_parts(tiny_generator(False), tmp_path / "out" / "tiny.pt2", "torch_export", SIZE)
    assert list((tmp_path / "out").iterdir()) == []


def other_onnx_model(path: Path) -> Path:
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["x"], ["y"])],
        "other",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, 4])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, 4])],
    )
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), path)
    return path


def test_loader_refuses_files_that_are_not_this_export(exports, tmp_path):
    _, path = exports["onnx"]
    other = other_onnx_model(tmp_path / "other.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf at all")
    foreign_encoder = tmp_path / "mixed.onnx"
    shutil.copy(path, foreign_encoder)
    encoder = onnx.load(encoder_path(path))
    for prop in encoder.metadata_props:
        if prop.key == METADATA_KEY:
            prop.value = json.dumps({**json.loads(prop.value), "export_id": "another"})
    onnx.save(encoder, encoder_path(foreign_encoder))
    cases = {
        other: "not an STTN generator exported by sttn-export",
        garbage: "not a readable ONNX model",
        tmp_path / "missing.onnx": "no such exported model file",
        encoder_path(path): "is the encoder part of an export; pass the window part",
        foreign_encoder: "is not the encoder exported together with",
    }
    for file, message in cases.items():
        with pytest.raises(ExportedModelError) as error:
            load_inference_model(file, "onnxruntime")
        assert str(error.value).startswith(str(file) if file != foreign_encoder else str(encoder_path(file)))
        assert message in str(error.value)


def test_loader_refuses_a_mismatching_size_backend_suffix_and_providers(exports):
    _, path = exports["onnx"]
    with pytest.raises(ExportedModelError, match=r"exported for the working size 40x28, the run asks for 432x240"):
        load_inference_model(path, "onnxruntime", size=(432, 240))
    with pytest.raises(ExportedModelError, match=r"backend=torch_export runs an exported \.pt2 file"):
        load_inference_model(path, "torch_export")
    with pytest.raises(ExportedModelError, match="providers: expected a non-empty list of onnxruntime execution providers"):
        load_inference_model(path, "onnxruntime", providers=["NoSuchExecutionProvider"])
    with pytest.raises(ExportedModelError, match="providers: only used with backend=onnxruntime"):
        load_inference_model(path, "torch_export", providers=["CPUExecutionProvider"])
    with pytest.raises(ExportedModelError, match="backend: expected one of"):
        load_inference_model(path, "tensorrt")
    assert isinstance(load_inference_model(path, "onnxruntime", providers=["CPUExecutionProvider"]), OnnxGenerator)


def test_torch_backend_is_the_eager_generator(tmp_path):
    from sttn_lightning.models import export_generator

    weights = export_generator(tiny_generator(False), tmp_path / "tiny.pth")
    assert isinstance(load_inference_model(weights), InpaintGenerator)


def test_exported_parts_refuse_inputs_of_another_shape(exports):
    _, path = exports["onnx"]
    exported = load_inference_model(path, "onnxruntime")
    with pytest.raises(ValueError, match=r"exported for frames \(n, 3, 28, 40\)"):
        exported.encode(torch.zeros(2, 3, 32, 40))
    features = torch.zeros(1, 4, 32, 7, 10)
    masks = torch.zeros(1, 4, 1, 28, 40)
    with pytest.raises(ValueError, match="num_outputs: expected 1 to 4 frames"):
        exported.decode_features(features, masks, 5)
    with pytest.raises(ValueError, match="exported for features"):
        exported.decode_features(features[..., :5], masks)
    assert np.isfinite(exported.decode_features(features, masks, 2).numpy()).all()
