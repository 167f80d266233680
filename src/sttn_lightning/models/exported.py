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
from collections.abc import Sequence
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


class ExportedModelError(InputError):
    """A file that is not (this part of) an exported STTN generator, or a run it does not fit."""


def encoder_path(window_path: str | os.PathLike) -> Path:
    """Where the encoder of the export whose window part is ``window_path`` lives: ``x.onnx`` -> ``x.encoder.onnx``."""
    path = Path(window_path)
    return path.with_name(f"{path.stem}.encoder{path.suffix}")


def _read_onnx(path: Path, providers: Sequence[str]) -> tuple[Any, dict]:
    """An onnxruntime session over ``path`` and the file's export metadata (refused if it has none)."""
    import onnxruntime

    if not path.is_file():
        raise ExportedModelError(f"{path}: no such exported model file")
    try:
        session = onnxruntime.InferenceSession(str(path), providers=list(providers))
    except Exception as error:  # onnxruntime raises its own Fail/InvalidProtobuf types, not subclasses of one base
        message = " ".join(str(error).split())
        raise ExportedModelError(f"{path}: not a readable ONNX model: {message}") from error
    text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    return session, _parse_metadata(text, path)


def _read_program(path: Path) -> tuple[torch.export.ExportedProgram, dict]:
    """The ``torch.export`` program in ``path`` and its export metadata (refused if it has none)."""
    if not path.is_file():
        raise ExportedModelError(f"{path}: no such exported model file")
    extra_files = {f"{METADATA_KEY}.json": ""}
    try:
        program = torch.export.load(path, extra_files=extra_files)
    except Exception as error:
        message = " ".join(str(error).split())
        raise ExportedModelError(f"{path}: not a readable torch.export program (.pt2): {message}") from error
    return program, _parse_metadata(extra_files[f"{METADATA_KEY}.json"] or None, path)


def _parse_metadata(text: str | None, path: Path) -> dict:
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
    return metadata


def _check_window(path: Path, metadata: dict) -> None:
    if metadata["part"] != "window":
        raise ExportedModelError(
            f"{path}: is the {metadata['part']} part of an export; pass the window part "
            f"(the file named in output= at export time) as ckpt="
        )


def _check_encoder(window_path: Path, window: dict, encoder_file: Path, encoder: dict) -> None:
    if encoder["part"] != "encoder" or encoder["export_id"] != window["export_id"]:
        raise ExportedModelError(
            f"{encoder_file}: is not the encoder exported together with {window_path} (export ids "
            f"{encoder.get('export_id')} and {window['export_id']}); export both again"
        )


class _ExportedGenerator(ABC):
    """What the pipeline uses of ``InpaintGenerator``, over an exported encoder and window part.

    Subclasses run the two parts; inputs are cast to that precision and outputs back
    to the caller's dtype and device, so the object stands in for the eager generator.
    """

    def __init__(self, path: Path, metadata: dict) -> None:
        self.path = path
        self.metadata = metadata
        self.dtype = EXPORT_DTYPES[metadata["precision"]]
        width, height = metadata["size"]
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
        features = self._run_encoder(masked_frames.to(self.dtype))
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
        clips = [
            self._run_window(features[i : i + 1].to(self.dtype), masks[i : i + 1].to(self.dtype), num_outputs)
            for i in range(b)
        ]
        return torch.cat(clips).to(device=features.device, dtype=features.dtype)

    @abstractmethod
    def _run_encoder(self, masked_frames: Tensor) -> Tensor:
        """The encoder part on (n, 3, H, W) frames at the exported precision."""

    @abstractmethod
    def _run_window(self, features: Tensor, masks: Tensor, num_outputs: int) -> Tensor:
        """The window part on one clip (1, t, ...) at the exported precision."""


class OnnxGenerator(_ExportedGenerator):
    """An ONNX export run by onnxruntime with the given execution providers (tensors go through host memory)."""

    def __init__(self, path: str | os.PathLike, providers: Sequence[str] = DEFAULT_PROVIDERS) -> None:
        path = Path(path)
        self.window_session, metadata = _read_onnx(path, providers)
        _check_window(path, metadata)
        self.encoder_session, encoder_metadata = _read_onnx(encoder_path(path), providers)
        _check_encoder(path, metadata, encoder_path(path), encoder_metadata)
        super().__init__(path, metadata)

    def to(self, device: str | torch.device) -> OnnxGenerator:
        """onnxruntime picks its device from the providers; outputs follow the inputs' device."""
        return self

    def _run(self, session: Any, feeds: dict[str, Any]) -> Tensor:
        declared = {node.name for node in session.get_inputs()}  # an unused input (masks) may be pruned by the exporter
        (output,) = session.run(None, {name: value for name, value in feeds.items() if name in declared})
        return torch.from_numpy(output)

    def _run_encoder(self, masked_frames: Tensor) -> Tensor:
        return self._run(self.encoder_session, {"masked_frames": masked_frames.detach().cpu().numpy()})

    def _run_window(self, features: Tensor, masks: Tensor, num_outputs: int) -> Tensor:
        feeds = {
            "features": features.detach().cpu().numpy(),
            "masks": masks.detach().cpu().numpy(),
            "num_outputs": torch.tensor(num_outputs, dtype=torch.int64).numpy(),
        }
        return self._run(self.window_session, feeds)


class ExportedProgramGenerator(_ExportedGenerator):
    """A ``torch.export`` export (two .pt2 programs) run by torch, on the device given to ``to``."""

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path)
        window, metadata = _read_program(path)
        _check_window(path, metadata)
        encoder, encoder_metadata = _read_program(encoder_path(path))
        _check_encoder(path, metadata, encoder_path(path), encoder_metadata)
        super().__init__(path, metadata)
        self._programs = {"encoder": encoder, "window": window}
        self._modules = {name: program.module() for name, program in self._programs.items()}
        self.device = torch.device("cpu")

    def to(self, device: str | torch.device) -> ExportedProgramGenerator:
        """Moves both programs' weights and device-bound constants (``move_to_device_pass``)."""
        device = torch.device(device)
        if device != self.device:
            self._programs = {
                name: torch.export.passes.move_to_device_pass(program, device) for name, program in self._programs.items()
            }
            self._modules = {name: program.module() for name, program in self._programs.items()}
            self.device = device
        return self

    def _run_encoder(self, masked_frames: Tensor) -> Tensor:
        return self._modules["encoder"](masked_frames.to(self.device))

    def _run_window(self, features: Tensor, masks: Tensor, num_outputs: int) -> Tensor:
        count = torch.tensor(num_outputs, dtype=torch.int64)
        return self._modules["window"](features.to(self.device), masks.to(self.device), count)


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
