"""Running an exported generator: ONNX files through onnxruntime, ``torch.export`` programs through torch.

An export is two files (see ``models/exporting.py``): the window part (transformer + decoder)
at the path the user names, ``sttn.onnx``, and the frame encoder next to it,
``sttn.encoder.onnx``; two graphs because onnxruntime runs every node of a graph whatever
outputs are asked for. Both carry the same metadata record (architecture, working size,
precision, an export id that ties the pair together). ``OnnxGenerator`` and
``ExportedProgramGenerator`` offer what the inference pipeline uses of ``InpaintGenerator``
(``encode``, ``decode_features``, ``config``, ``to``, ``eval``) with torch tensors in and out,
and ``load_inference_model`` picks the eager generator or one of them from a ``backend`` name.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sttn_lightning.errors import InputError
from sttn_lightning.models.checkpoint import load_generator
from sttn_lightning.models.generator import FEATURE_STRIDE, InpaintGenerator

BACKENDS = ("torch", "onnxruntime", "torch_export")
FORMAT_SUFFIXES = {"onnx": ".onnx", "torch_export": ".pt2"}  # export format -> file suffix
BACKEND_FORMATS = {"onnxruntime": "onnx", "torch_export": "torch_export"}
METADATA_KEY = "sttn_lightning"  # ONNX metadata_props key; ``.json`` appended for a .pt2's extra file
METADATA_KIND = "sttn_lightning.exported_generator"
METADATA_VERSION = 1
EXPORT_DTYPES = {"fp32": torch.float32, "fp16": torch.float16}
DEFAULT_PROVIDERS = ("CPUExecutionProvider",)
PART_INPUTS = {"encoder": ("masked_frames",), "window": ("features", "masks", "num_outputs")}  # graph input names


class ExportedModelError(InputError):
    """A file that is not (this part of) an exported STTN generator, or a run it does not fit."""


def encoder_path(window_path: str | os.PathLike) -> Path:
    """Where the encoder of the export whose window part is ``window_path`` lives: ``x.onnx`` -> ``x.encoder.onnx``."""
    path = Path(window_path)
    return path.with_name(f"{path.stem}.encoder{path.suffix}")


def _read_part(path: Path, kind: str, load: Callable[[Path], tuple[Any, str | None]]) -> tuple[Any, dict]:
    """One file of an export, loaded, and its export metadata."""
    if not path.is_file():
        raise ExportedModelError(f"{path}: no such exported model file")
    try:
        part, text = load(path)
    except Exception as error:  # onnxruntime raises its own Fail/InvalidProtobuf types, not subclasses of one base
        message = " ".join(str(error).split())
        raise ExportedModelError(f"{path}: not a readable {kind}: {message}") from error
    try:
        metadata = json.loads(text) if text else None
    except json.JSONDecodeError:
        metadata = None
    if not isinstance(metadata, dict) or metadata.get("kind") != METADATA_KIND:
        raise ExportedModelError(
            f"{path}: not an STTN generator exported by sttn-export: its metadata holds no '{METADATA_KEY}' record; "
            "export one with `sttn-export ckpt=WEIGHTS format=onnx output=sttn.onnx`"
        )
    if metadata.get("version") != METADATA_VERSION:
        raise ExportedModelError(
            f"{path}: export metadata version {metadata.get('version')!r}, this library reads {METADATA_VERSION}; export again"
        )
    return part, metadata


class _ExportedGenerator(ABC):
    """What the pipeline uses of ``InpaintGenerator``, over an exported encoder and window part.

    Subclasses run the two parts; inputs are cast to that precision and outputs back
    to the caller's dtype and device, so the object stands in for the eager generator.
    """

    def __init__(self, path: Path, kind: str, load: Callable[[Path], tuple[Any, str | None]]) -> None:
        """Reads the export whose window part is ``path``.

        ``load`` turns one file of ``kind`` into (runnable part, metadata text); a file that does
        not load, holds no export metadata, or is not this part of this export is refused naming it.
        """
        self.path = path
        window, self.metadata = _read_part(path, kind, load)
        if self.metadata["part"] != "window":
            raise ExportedModelError(
                f"{path}: is the {self.metadata['part']} part of an export; pass the window part "
                f"(the file named in output= at export time) as ckpt="
            )
        encoder, encoder_metadata = _read_part(encoder_path(path), kind, load)
        if encoder_metadata["part"] != "encoder" or encoder_metadata["export_id"] != self.metadata["export_id"]:
            raise ExportedModelError(
                f"{encoder_path(path)}: is not the encoder exported together with {path} (export ids "
                f"{encoder_metadata.get('export_id')} and {self.metadata['export_id']}); export both again"
            )
        self.parts = {"encoder": encoder, "window": window}
        self.dtype = EXPORT_DTYPES[self.metadata["precision"]]
        width, height = self.metadata["size"]
        self.size = (int(width), int(height))

    @property
    def config(self) -> dict:
        """The exported generator's constructor arguments (patch grids as tuples, like ``InpaintGenerator.config``)."""
        config = dict(self.metadata["generator_config"])
        config["patch_grids"] = tuple(tuple(grid) for grid in config["patch_grids"])
        return config

    def eval(self) -> _ExportedGenerator:
        return self

    def encode(self, masked_frames: Tensor) -> Tensor:
        """(n, 3, H, W) at the exported size -> (n, hidden, ceil(H/4), ceil(W/4))."""
        width, height = self.size
        if masked_frames.dim() != 4 or tuple(masked_frames.shape[1:]) != (3, height, width):
            raise ValueError(
                f"{self.path}: exported for frames (n, 3, {height}, {width}), found {tuple(masked_frames.shape)}"
            )
        features = self._run("encoder", masked_frames.to(self.dtype))
        return features.to(device=masked_frames.device, dtype=masked_frames.dtype)

    def decode_features(self, features: Tensor, masks: Tensor, num_outputs: int | None = None) -> Tensor:
        """(b, t, hidden, h, w) features, (b, t, 1, H, W) masks -> (b, num_outputs or t, 3, H, W) frames."""
        b, t = features.shape[:2]
        num_outputs = t if num_outputs is None else num_outputs
        if not 1 <= num_outputs <= t:
            raise ValueError(f"num_outputs: expected 1 to {t} frames of the clip, found {num_outputs}")
        width, height = self.size
        expected = (self.config["hidden_channels"], -(-height // FEATURE_STRIDE), -(-width // FEATURE_STRIDE))
        if tuple(features.shape[2:]) != expected or tuple(masks.shape) != (b, t, 1, height, width):
            raise ValueError(
                f"{self.path}: exported for features (b, t, {expected[0]}, {expected[1]}, {expected[2]}) and masks "
                f"(b, t, 1, {height}, {width}), found {tuple(features.shape)} and {tuple(masks.shape)}"
            )
        count = torch.tensor(num_outputs, dtype=torch.int64)
        clips = [
            self._run("window", features[i : i + 1].to(self.dtype), masks[i : i + 1].to(self.dtype), count)
            for i in range(b)
        ]
        return torch.cat(clips).to(device=features.device, dtype=features.dtype)

    @abstractmethod
    def _run(self, part: str, *inputs: Tensor) -> Tensor:
        """Runs a part at the exported precision on the inputs ``PART_INPUTS[part]`` names.

        ``encoder``: (n, 3, H, W) frames; ``window``: one clip (1, t, ...) and the count of frames to decode.
        """


class OnnxGenerator(_ExportedGenerator):
    """An ONNX export run by onnxruntime with the given execution providers (tensors go through host memory)."""

    def __init__(self, path: str | os.PathLike, providers: Sequence[str] = DEFAULT_PROVIDERS) -> None:
        import onnxruntime

        def load(file: Path) -> tuple[Any, str | None]:
            session = onnxruntime.InferenceSession(str(file), providers=list(providers))
            return session, session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)

        super().__init__(Path(path), "ONNX model", load)

    def to(self, device: str | torch.device) -> OnnxGenerator:
        """onnxruntime picks its device from the providers; outputs follow the inputs' device."""
        return self

    def _run(self, part: str, *inputs: Tensor) -> Tensor:
        session = self.parts[part]
        declared = {node.name for node in session.get_inputs()}  # an unused input (masks) may be pruned by the exporter
        feeds = {name: value.detach().cpu().numpy() for name, value in zip(PART_INPUTS[part], inputs)}
        (output,) = session.run(None, {name: value for name, value in feeds.items() if name in declared})
        return torch.from_numpy(output)


class ExportedProgramGenerator(_ExportedGenerator):
    """A ``torch.export`` export (two .pt2 programs) run by torch, on the device given to ``to``."""

    def __init__(self, path: str | os.PathLike) -> None:
        def load(file: Path) -> tuple[torch.export.ExportedProgram, str | None]:
            extra_files = {f"{METADATA_KEY}.json": ""}
            program = torch.export.load(file, extra_files=extra_files)
            return program, extra_files[f"{METADATA_KEY}.json"] or None

        super().__init__(Path(path), "torch.export program (.pt2)", load)
        self._modules = {name: program.module() for name, program in self.parts.items()}
        self.device = torch.device("cpu")

    def to(self, device: str | torch.device) -> ExportedProgramGenerator:
        """Moves both programs' weights and device-bound constants (``move_to_device_pass``)."""
        device = torch.device(device)
        if device != self.device:
            self.parts = {
                name: torch.export.passes.move_to_device_pass(program, device) for name, program in self.parts.items()
            }
            self._modules = {name: program.module() for name, program in self.parts.items()}
            self.device = device
        return self

    def _run(self, part: str, *inputs: Tensor) -> Tensor:
        # the frame count stays a host scalar, as it was traced
        return self._modules[part](*(value.to(self.device) if value.dim() else value for value in inputs))


InferenceModel = InpaintGenerator | OnnxGenerator | ExportedProgramGenerator


def load_inference_model(
    ckpt: str | os.PathLike,
    backend: str = "torch",
    device: str | torch.device = "cpu",
    providers: Sequence[str] | None = None,
    size: Sequence[int] | None = None,
) -> InferenceModel:
    """The generator of ``ckpt`` for ``backend``: torch (eager, any checkpoint ``load_generator`` reads),
    onnxruntime (an ONNX export, run with ``providers``, default CPU) or torch_export (a .pt2 export).

    ``size`` (width, height), when given, must be the size an exported model was made for.
    Raises ``ExportedModelError`` (or ``CheckpointError``) naming the file or option.
    """
    if backend not in BACKENDS:
        raise ExportedModelError(f"backend: expected one of {BACKENDS}, found {backend!r}")
    if providers is not None and backend != "onnxruntime":
        raise ExportedModelError(f"providers: only used with backend=onnxruntime, found backend={backend}; pass providers=null")
    if backend == "torch":
        return load_generator(ckpt, device=device)
    path = Path(ckpt)
    suffix = FORMAT_SUFFIXES[BACKEND_FORMATS[backend]]
    if path.suffix != suffix:
        raise ExportedModelError(
            f"{path}: backend={backend} runs an exported {suffix} file (sttn-export format={BACKEND_FORMATS[backend]}), "
            f"found a {path.suffix or 'suffix-less'} file"
        )
    if backend == "onnxruntime":
        model: OnnxGenerator | ExportedProgramGenerator = OnnxGenerator(path, _check_providers(providers))
    else:
        model = ExportedProgramGenerator(path).to(device)
    if size is not None and tuple(int(n) for n in size) != model.size:
        raise ExportedModelError(
            f"{path}: exported for the working size {model.size[0]}x{model.size[1]}, the run asks for "
            f"{size[0]}x{size[1]}; pass size=[{model.size[0]},{model.size[1]}] or export again with size=[{size[0]},{size[1]}]"
        )
    return model


def _check_providers(providers: Sequence[str] | None) -> list[str]:
    try:
        import onnxruntime
    except ImportError as error:
        raise ExportedModelError(
            "backend=onnxruntime needs the onnxruntime package: pip install 'sttn-lightning[export]'"
        ) from error
    if providers is None:
        return list(DEFAULT_PROVIDERS)
    available = onnxruntime.get_available_providers()
    unknown = [name for name in providers if name not in available]
    if not providers or unknown:
        raise ExportedModelError(
            f"providers: expected a non-empty list of onnxruntime execution providers among {available}, "
            f"found {list(providers)}"
        )
    return list(providers)
