"""Writing a generator as an ONNX or ``torch.export`` export: the frame encoder and the window part.

The inference pipeline calls the generator in two steps: ``encode`` once per frame and
``decode_features`` (transformer + decoder) once per window, on the window's frames and its
references. Each step becomes one graph with the working size fixed and the frame count
dynamic (no upper bound: a release-protocol window reads every reference of the video); the
window part takes the number of leading frames to decode as a scalar input, so references are
attended to but not decoded, as in eager inference. The two files are written together,
atomically (temporary files then renames, nothing left behind on failure), and carry the same
metadata record (see ``models/exported.py``).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from sttn_lightning.models.checkpoint import write_atomically
from sttn_lightning.models.exported import (
    EXPORT_DTYPES,
    FORMAT_SUFFIXES,
    METADATA_KEY,
    METADATA_KIND,
    METADATA_VERSION,
    PART_INPUTS,
    ExportedModelError,
    encoder_path,
)
from sttn_lightning.models.generator import FEATURE_STRIDE, InpaintGenerator
from sttn_lightning.protocol import check_working_size

ONNX_EXPORTER_PACKAGES = ("onnx", "onnxscript")  # what torch.onnx.export(dynamo=True) imports
EXAMPLE_FRAMES = 3  # traced example length; any count >= 1 runs (examples of 0 or 1 would be specialised)


class ExportError(ExportedModelError):
    """Bad export options (format, size, precision, output); nothing has been written."""


def _generator_part(generator: InpaintGenerator, submodules: tuple[str, ...]) -> InpaintGenerator:
    """A shallow copy of ``generator`` holding only the named submodules (sharing their weights).

    ``torch.export`` stores every parameter of the module it exports, used or not, so each part
    is given only the weights it runs.
    """
    part = copy.copy(generator)
    part._modules = {name: module for name, module in generator._modules.items() if name in submodules}
    return part


class _Encoder(nn.Module):
    def __init__(self, generator: InpaintGenerator) -> None:
        super().__init__()
        self.generator = _generator_part(generator, ("encoder",))

    def forward(self, masked_frames: Tensor) -> Tensor:
        return self.generator.encode(masked_frames)


class _Window(nn.Module):
    def __init__(self, generator: InpaintGenerator) -> None:
        super().__init__()
        self.generator = _generator_part(generator, ("transformer", "decoder"))

    def forward(self, features: Tensor, masks: Tensor, num_outputs: Tensor) -> Tensor:
        count = num_outputs.item()
        torch._check(count >= 1)  # tells the tracer the data-dependent count is a valid slice length
        torch._check(count <= features.shape[1])
        return self.generator.decode_features(features, masks, count)


def check_export_options(
    generator_config: dict, output: str | os.PathLike, format: str, size: Sequence[int], precision: str, overwrite: bool
) -> tuple[Path, Path]:
    """Validate the options before any work; returns the (window, encoder) paths to write."""
    if format not in FORMAT_SUFFIXES:
        raise ExportError(f"format: expected one of {tuple(FORMAT_SUFFIXES)}, found {format!r}")
    missing = [name for name in ONNX_EXPORTER_PACKAGES if format == "onnx" and importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(f"format=onnx needs {', '.join(missing)}: pip install 'sttn-lightning[export]'")
    if precision not in EXPORT_DTYPES:
        raise ExportError(f"precision: expected one of {tuple(EXPORT_DTYPES)}, found {precision!r}")
    if len(size) != 2 or min(size) < 1:
        raise ExportError(f"size: expected [width, height] of positive pixels, found {list(size)}")
    check_working_size(size, generator_config["patch_grids"], ExportError)
    window = Path(output)
    if window.suffix != FORMAT_SUFFIXES[format]:
        raise ExportError(f"output: format={format} writes a {FORMAT_SUFFIXES[format]} file, found {window}")
    paths = (window, encoder_path(window))
    existing = [str(path) for path in paths if path.exists()]
    if existing and not overwrite:
        raise ExportError(f"output: {' and '.join(existing)} already exist(s); pass overwrite=true to replace")
    return paths


def export_parts(
    generator: InpaintGenerator,
    output: str | os.PathLike,
    format: str = "onnx",
    size: Sequence[int] = (432, 240),
    precision: str = "fp32",
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Export ``generator`` for frames of ``size`` (width, height); returns the (window, encoder) paths.

    ``format``: ``onnx`` (``torch.onnx.export(dynamo=True)``) or ``torch_export`` (``.pt2``
    programs of ``torch.export``). ``output`` names the window part; the encoder goes next to it
    (``encoder_path``). ``precision``: the weights' and inputs' dtype, fp32 or fp16.
    """
    window_path, encoder_file = check_export_options(generator.config, output, format, size, precision, overwrite)
    width, height = int(size[0]), int(size[1])
    dtype = EXPORT_DTYPES[precision]
    model = copy.deepcopy(generator).to(device="cpu", dtype=dtype).eval()
    h, w = -(-height // FEATURE_STRIDE), -(-width // FEATURE_STRIDE)
    frames = torch.zeros(EXAMPLE_FRAMES, 3, height, width, dtype=dtype)
    features = torch.zeros(1, EXAMPLE_FRAMES, model.config["hidden_channels"], h, w, dtype=dtype)
    masks = torch.zeros(1, EXAMPLE_FRAMES, 1, height, width, dtype=dtype)
    count = torch.tensor(EXAMPLE_FRAMES - 1, dtype=torch.int64)
    frame_axis = {0: torch.export.Dim("frames", min=1)}
    window_axis = {1: torch.export.Dim("window_frames", min=1)}
    record = {
        "kind": METADATA_KIND,
        "version": METADATA_VERSION,
        "export_id": uuid.uuid4().hex,
        "generator_config": {**model.config, "patch_grids": [list(grid) for grid in model.config["patch_grids"]]},
        "size": [width, height],
        "precision": precision,
        "format": format,
        "torch": torch.__version__,
    }
    parts = {  # file -> (part, module, example inputs, their dynamic frame axes, output name)
        encoder_file: ("encoder", _Encoder(model), (frames,), (frame_axis,), "features"),
        window_path: ("window", _Window(model), (features, masks, count), (window_axis, window_axis, None), "frames"),
    }
    writers: dict[Path, Callable[[Path], None]] = {}
    for path, (part, module, args, dynamic, output_name) in parts.items():
        metadata = json.dumps({**record, "part": part, "file": path.name})
        if format == "onnx":
            writers[path] = _onnx_writer(module.eval(), args, dynamic, list(PART_INPUTS[part]), output_name, metadata)
        else:
            writers[path] = _program_writer(module.eval(), args, dynamic, metadata)
    write_atomically(writers)
    return window_path, encoder_file


def _onnx_writer(module: nn.Module, args: tuple, dynamic: tuple, inputs: list[str], output: str, metadata: str):
    with torch.no_grad():
        program = torch.onnx.export(
            module,
            args,
            dynamo=True,
            dynamic_shapes=dynamic,
            input_names=inputs,
            output_names=[output],
            optimize=True,
            verbose=False,
        )
    program.model.metadata_props[METADATA_KEY] = metadata
    return lambda path: program.save(str(path))


def _program_writer(module: nn.Module, args: tuple, dynamic: tuple, metadata: str):
    with torch.no_grad():
        program = torch.export.export(module, args, dynamic_shapes=dynamic)
    program.example_inputs = None  # the traced zeros would be stored in the file (tens of MB at 432x240)

    def write(path: Path) -> None:
        with open(path, "wb") as file:  # a file object: the archive's folder is then not named after the temporary file
            torch.export.save(program, file, extra_files={f"{METADATA_KEY}.json": metadata})

    return write


def max_difference(generator: InpaintGenerator, exported, num_frames: int, seed: int = 0) -> float:
    """Largest absolute difference between eager and exported frames on one random window.

    ``exported``: an ``OnnxGenerator`` or ``ExportedProgramGenerator``. The window holds
    ``num_frames`` frames in [-1, 1] at the exported size with random holes; the first half of
    them are decoded (the rest act as references), as inference windows do. Both run in float32
    on the CPU, so an fp16 export's difference includes its rounding.
    """
    width, height = exported.size
    rng = torch.Generator().manual_seed(seed)
    frames = torch.rand(num_frames, 3, height, width, generator=rng) * 2 - 1
    masks = (torch.rand(1, num_frames, 1, height, width, generator=rng) > 0.7).float()
    num_outputs = max(1, num_frames // 2)
    model = generator.to(device="cpu", dtype=torch.float32).eval()
    with torch.inference_mode():
        masked = frames * (1 - masks[0])
        expected = model.decode_features(model.encode(masked)[None], masks, num_outputs)
        found = exported.decode_features(exported.encode(masked)[None], masks, num_outputs)
    return (expected - found).abs().max().item()
