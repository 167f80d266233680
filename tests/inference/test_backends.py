"""The pipeline with an exported generator (backend=onnxruntime / torch_export) gives the eager run's frames."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from sttn_lightning.inference import InpaintError, inpaint_frames, inpaint_video
from sttn_lightning.models import InpaintGenerator, export_generator
from sttn_lightning.models.exported import ExportedModelError
from sttn_lightning.models.exporting import export_parts
from tests.inference.conftest import TINY_GENERATOR, TINY_SIZE, box_mask, make_frames, read_png_folder, write_frame_folder, write_mask
from tests.models.test_exported import other_onnx_model
from tests.models.test_generator import randomise_

BACKEND_FILES = {"onnxruntime": "tiny.onnx", "torch_export": "tiny.pt2"}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """One generator as eager weights (.pth) and as both exports at the tests' working size."""
    torch.manual_seed(0)
    generator = InpaintGenerator(**TINY_GENERATOR).eval()
    randomise_(generator)
    folder = tmp_path_factory.mktemp("weights")
    files = {"torch": export_generator(generator, folder / "tiny.pth")}
    for backend, name in BACKEND_FILES.items():
        files[backend] = export_parts(generator, folder / name, "onnx" if backend == "onnxruntime" else "torch_export", TINY_SIZE)[0]
    return files


def clip(num_frames: int, width: int = 57, height: int = 35) -> tuple[np.ndarray, np.ndarray]:
    frames = make_frames(num_frames, width, height)
    masks = np.stack([box_mask(width, height, 10 + t % 7, 8, 30 + t % 7, 24) for t in range(num_frames)])
    return frames, masks


def assert_same_frames(found: np.ndarray, expected: np.ndarray) -> None:
    """Equal up to one uint8 level where a difference far below 1e-4 in [-1, 1] meets a rounding boundary."""
    assert found.shape == expected.shape
    difference = np.abs(found.astype(int) - expected.astype(int))
    assert difference.max() <= 1
    assert (difference > 0).mean() < 1e-3


@pytest.mark.parametrize("backend", BACKEND_FILES)
@pytest.mark.parametrize("protocol", ["native", "release"])
def test_exported_backends_inpaint_the_frames_of_the_eager_run(weights, backend, protocol):
    frames, masks = clip(23)
    options = {"size": TINY_SIZE, "protocol": protocol, "max_references": None, "precision": "fp32"}  # exports run in fp32
    expected = inpaint_frames(frames, masks, weights["torch"], **options)
    found = inpaint_frames(frames, masks, weights[backend], backend=backend, **options)
    assert_same_frames(found, expected)
    if protocol == "native":
        assert not np.array_equal(expected, frames)  # the holes were filled, so a wrong model would show


def test_exported_model_objects_run_in_the_pipeline_too(weights):
    from sttn_lightning.models.exported import load_inference_model

    frames, masks = clip(6)
    model = load_inference_model(weights["onnxruntime"], "onnxruntime")
    eager = inpaint_frames(frames, masks, weights["torch"], size=TINY_SIZE, precision="fp32")  # exports run in fp32
    assert_same_frames(inpaint_frames(frames, masks, model, size=TINY_SIZE), eager)


def test_exported_backend_refuses_another_size_other_precisions_and_other_models(weights, tmp_path):
    frames, masks = clip(4)
    video = write_frame_folder(tmp_path / "frames", frames)
    mask = write_mask(tmp_path / "mask.png", masks[0])
    with pytest.raises(ExportedModelError, match=r"tiny.onnx: exported for the working size 64x32, the run asks for 432x240"):
        inpaint_video(video, mask, weights["onnxruntime"], tmp_path / "out", backend="onnxruntime", progress=False)
    with pytest.raises(InpaintError, match="precision: backend=onnxruntime runs at the precision the file was exported with"):
        inpaint_video(video, mask, weights["onnxruntime"], tmp_path / "out", backend="onnxruntime", precision="bf16")
    with pytest.raises(InpaintError, match="compile: only for backend=torch"):
        inpaint_video(video, mask, weights["onnxruntime"], tmp_path / "out", backend="onnxruntime", compile=True)
    with pytest.raises(InpaintError, match="backend: expected one of"):
        inpaint_video(video, mask, weights["onnxruntime"], tmp_path / "out", backend="tensorrt")
    other = other_onnx_model(tmp_path / "other.onnx")
    with pytest.raises(ExportedModelError, match="other.onnx: not an STTN generator exported by sttn-export"):
        inpaint_video(video, mask, other, tmp_path / "out", backend="onnxruntime", size=TINY_SIZE, progress=False)
    assert not (tmp_path / "out").exists()


def run_cli(cwd, *overrides):
    return subprocess.run([sys.executable, "-m", "sttn_lightning.inpaint", *overrides], cwd=cwd, capture_output=True, text=True)


@pytest.mark.slow
def test_cli_with_onnxruntime_backend_matches_eager_and_refuses_another_onnx_model(weights, tmp_path):
    frames, masks = clip(8)
    write_frame_folder(tmp_path / "clip", frames)
    write_mask(tmp_path / "hole.png", masks[0])
    common = ["video=clip", "mask=hole.png", "size=[64,32]", "progress=false"]
    result = run_cli(tmp_path, *common, f"ckpt={weights['onnxruntime']}", "output=onnx", "backend=onnxruntime",
                     "providers=[CPUExecutionProvider]")
    assert result.returncode == 0, result.stderr
    expected = inpaint_frames(frames, np.repeat(masks[:1], 8, axis=0), weights["torch"], size=TINY_SIZE, precision="fp32")
    assert_same_frames(read_png_folder(tmp_path / "onnx"), expected)

    other = other_onnx_model(tmp_path / "other.onnx")
    result = run_cli(tmp_path, *common, f"ckpt={other}", "output=bad", "backend=onnxruntime")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {other}: not an STTN generator exported by sttn-export")
    assert not (tmp_path / "bad").exists()
