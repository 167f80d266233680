"""Generator checkpoint I/O: the official ``{'netG': sd}`` file, bare state dicts, Lightning checkpoints.

One loader for every place that needs a generator (inference, evaluation, fine-tuning), so all
of them accept the same files and fail with the same clear messages.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sttn_lightning.errors import InputError
from sttn_lightning.models.generator import InpaintGenerator

LIGHTNING_GENERATOR_PREFIXES = ("generator_ema.", "generator.")  # EMA weights preferred
_BLOCK_KEY = re.compile(r"transformer\.(\d+)\.attention\.query_embedding\.weight")
_MAX_LISTED_KEYS = 20


class CheckpointError(InputError):
    """A file that cannot be turned into a generator; the message names the file and the cause."""


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu", **overrides: Any) -> InpaintGenerator:
    """Build an ``InpaintGenerator`` from ``path`` and load its weights strictly.

    Accepts the official release file ``{'netG': state_dict}`` (also this project's exports,
    which add ``'generator_config'``), a bare generator state dict, or a Lightning checkpoint
    whose ``state_dict`` holds ``generator.`` / ``generator_ema.`` keys (EMA preferred) next to
    a top-level ``generator_config``. Without a stored config, channel widths and block count
    are read from the tensor shapes. ``overrides`` replace config entries (e.g.
    ``mask_attention=True``). Returns the model on ``device`` in eval mode. Raises
    ``CheckpointError`` naming the file on any problem.
    """
    path = Path(path)
    payload = _read(path)
    state_dict, stored_config = _generator_state(payload, path)
    config = dict(stored_config) if stored_config is not None else infer_generator_config(state_dict, path)
    config.update(overrides)
    try:
        model = InpaintGenerator(**config)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: cannot build InpaintGenerator from config {config}: {error}") from error
    _load_strictly(model, state_dict, path)
    return model.to(device).eval()


def load_weights_into(model: InpaintGenerator, path: str | os.PathLike) -> InpaintGenerator:
    """Load the generator weights of ``path`` (any format ``load_generator`` reads) into ``model``.

    For fine-tuning a model built from a config: the file's weights must fit the model's
    architecture exactly, else ``CheckpointError`` names the file and the keys that differ.
    """
    path = Path(path)
    state_dict, _ = _generator_state(_read(path), path)
    _load_strictly(model, state_dict, path)
    return model


def export_generator(model: InpaintGenerator, path: str | os.PathLike) -> Path:
    """Write ``{'netG': state_dict, 'generator_config': model.config}`` atomically (temp file + rename).

    The ``netG`` entry keeps the release's layout, so tools that read ``torch.load(f)['netG']``
    load it too.
    """
    path = Path(path)
    payload = {
        "netG": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        "generator_config": model.config,
    }
    write_atomically({path: lambda temporary: torch.save(payload, temporary)})
    return path


def write_atomically(writers: Mapping[Path, Callable[[Path], None]]) -> None:
    """Each writer fills a temporary file next to its target; all are renamed once all succeeded.

    A failure while writing leaves no temporary file and no target touched; one while renaming removes
    the targets already renamed, so no mismatched set is left. A kill leaves every target whole (its
    previous version or the new one). The files get the usual permissions (umask), not mkstemp's 0600.
    """
    umask = os.umask(0)  # read by setting it: restored at once
    os.umask(umask)
    temporary: dict[Path, Path] = {}
    renamed: list[Path] = []
    try:
        for path, write in writers.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
            os.close(handle)
            temporary[path] = Path(name)
            write(temporary[path])
            os.chmod(temporary[path], 0o666 & ~umask)
        for path, temp in temporary.items():
            os.replace(temp, path)
            renamed.append(path)
    except BaseException:
        for path in (*temporary.values(), *renamed):
            path.unlink(missing_ok=True)
        raise


def infer_generator_config(state_dict: Mapping[str, Tensor], path: str | os.PathLike = "<state dict>") -> dict:
    """Channel widths and block count read from tensor shapes (patch grids cannot be inferred)."""
    required = ("encoder.0.weight", "encoder.6.weight")
    missing = [key for key in required if key not in state_dict]
    if missing:
        raise CheckpointError(
            f"{path}: does not hold an InpaintGenerator state dict: missing {missing}; "
            f"found keys {_listing(sorted(state_dict))}"
        )
    blocks = [int(match.group(1)) for key in state_dict if (match := _BLOCK_KEY.fullmatch(key))]
    return {
        "base_channels": int(state_dict["encoder.0.weight"].shape[0]),
        "hidden_channels": int(state_dict["encoder.6.weight"].shape[0]),
        "num_blocks": max(blocks) + 1 if blocks else 0,
    }


def _read(path: Path) -> Any:
    """torch.load with weights_only=True.

    A well-formed file that pickles objects beyond tensors and containers (e.g. a Lightning
    checkpoint's hyper-parameters) is rejected by that loader with "Unsupported global"; only
    such a file is retried with full unpickling, with a warning. Corrupted files never reach it.
    """
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as safe_error:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(safe_error))
        if found is None:
            raise CheckpointError(
                f"{path}: not a readable torch checkpoint (corrupted or not a torch file): {safe_error}"
            ) from safe_error
        warnings.warn(
            f"{path}: pickles {found.group(1)}, which weights_only loading refuses; loading it with full "
            "unpickling, which runs code stored in the file - only load checkpoints you trust",
            stacklevel=3,
        )
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:
            raise CheckpointError(f"{path}: not a readable torch checkpoint: {error}") from error
    except Exception as error:
        raise CheckpointError(f"{path}: not a readable torch checkpoint (corrupted or truncated): {error}") from error


def _generator_state(payload: Any, path: Path) -> tuple[dict[str, Tensor], Mapping | None]:
    """The generator's state dict (prefixes stripped) and the stored config, if any."""
    if not isinstance(payload, Mapping):
        raise CheckpointError(f"{path}: expected a dict checkpoint, found {type(payload).__name__}")
    config = payload.get("generator_config")
    if "netG" in payload:
        state = payload["netG"]
    elif isinstance(payload.get("state_dict"), Mapping):
        full = payload["state_dict"]
        state = {}
        for prefix in LIGHTNING_GENERATOR_PREFIXES:
            state = {key[len(prefix) :]: value for key, value in full.items() if key.startswith(prefix)}
            if state:
                break
        if not state:
            prefixes = sorted({key.split(".", 1)[0] for key in full})
            raise CheckpointError(
                f"{path}: Lightning checkpoint holds no generator: no 'generator.' or 'generator_ema.' "
                f"keys in its state_dict (found prefixes {prefixes})"
            )
    elif payload and all(isinstance(value, Tensor) for value in payload.values()):
        state = payload
    else:
        raise CheckpointError(
            f"{path}: holds no generator: expected 'netG', a Lightning 'state_dict' or a bare generator "
            f"state dict; found top-level keys {_listing(sorted(map(str, payload)))}"
        )
    if not isinstance(state, Mapping) or not all(isinstance(value, Tensor) for value in state.values()):
        raise CheckpointError(f"{path}: the generator entry is not a state dict of tensors")
    state = dict(state)
    if state and all(key.startswith("module.") for key in state):  # saved from DataParallel
        state = {key[len("module.") :]: value for key, value in state.items()}
    if config is not None and not isinstance(config, Mapping):
        raise CheckpointError(f"{path}: 'generator_config' must be a dict, found {type(config).__name__}")
    return state, config


def _load_strictly(model: InpaintGenerator, state_dict: Mapping[str, Tensor], path: Path) -> None:
    """``model.load_state_dict(state_dict)``, refused with every key that differs named when the weights do not fit."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = [
        f"{key}: file {tuple(state_dict[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in expected
        if key in state_dict and state_dict[key].shape != expected[key].shape
    ]
    if missing or unexpected or mismatched:
        raise CheckpointError(
            f"{path}: weights do not fit InpaintGenerator({model.config}): "
            f"missing keys {_listing(missing)}; unexpected keys {_listing(unexpected)}; "
            f"shape mismatches {_listing(mismatched)}"
        )
    model.load_state_dict(state_dict)


def _listing(items: list[str]) -> str:
    shown = items[:_MAX_LISTED_KEYS]
    more = len(items) - len(shown)
    return str(shown) + (f" and {more} more" if more else "")
