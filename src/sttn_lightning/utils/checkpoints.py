"""Checkpoint files a resume can trust: written atomically, and found by `ckpt_path` only when they load.

A kill (SIGKILL, node failure, full disk) in the middle of ``torch.save`` leaves a truncated
file; ``AtomicCheckpointIO`` writes to a temporary file beside the target and renames it over
the target only once it is complete and flushed to disk, so a checkpoint path always holds a
whole checkpoint or its previous version. ``resolve_ckpt_path`` still checks each candidate
(files written by other tools, or before this existed) and takes the newest one that loads.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO

from sttn_lightning.models.checkpoint import CheckpointError, write_atomically

LAST_CHECKPOINT_NAME = "last.ckpt"
# entries every Lightning training checkpoint has; a file without them cannot resume a run
_REQUIRED_KEYS = ("state_dict", "global_step", "loops")

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint I/O, writing through a temporary file (flushed to disk) and an atomic rename."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, found {storage_options!r}")

        def write(temporary: Path) -> None:
            with open(temporary, "wb") as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())

        path = Path(path)
        write_atomically({path: write})
        # the rename itself is durable once the folder's entry is on disk
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def checkpoint_problem(path: Path) -> str | None:
    """Why ``path`` cannot resume a run (unreadable, truncated, not a training checkpoint), or None.

    Loads with ``mmap=True``: the tensors are not read, so checking a large checkpoint is cheap.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except Exception as error:  # torch raises many types for truncated or foreign files
        return f"it does not load ({type(error).__name__}: {' '.join(str(error).splitlines())})"
    if not isinstance(checkpoint, dict):
        return f"it holds a {type(checkpoint).__name__}, not a training checkpoint"
    missing = [key for key in _REQUIRED_KEYS if key not in checkpoint]
    if missing:
        return f"it is not a training checkpoint (no {', '.join(missing)})"
    return None


def newest_loadable_checkpoint(directories: list[Path], label: str) -> Path | None:
    """The newest ``last.ckpt`` under ``directories`` that loads; each newer one skipped is logged with why."""
    candidates = {path for directory in directories for path in directory.rglob(LAST_CHECKPOINT_NAME) if path.is_file()}
    for path in sorted(candidates, key=lambda path: path.stat().st_mtime, reverse=True):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        log.warning("%s: skipping %s because %s", label, path, problem)
    return None


def resolve_ckpt_path(ckpt_path: str | None, task_log_dir: Path) -> Path | None:
    """Turn the ``ckpt_path`` setting into a checkpoint file (None: start from scratch).

    - ``None``: no checkpoint;
    - ``"last"``: the newest loadable ``last.ckpt`` under ``task_log_dir``
      (``paths.log_dir/task_name``, which holds every run and multirun of the task, the current
      one included); newer ones that do not load are skipped with a warning saying why;
    - a directory (e.g. an earlier run's): the same, under that directory;
    - a file: that file, which must load.
    """
    if ckpt_path is None:
        return None
    search_dir = task_log_dir if ckpt_path == "last" else Path(ckpt_path)
    if ckpt_path != "last" and search_dir.is_file():
        problem = checkpoint_problem(search_dir)
        if problem is not None:
            raise CheckpointError(f"ckpt_path={ckpt_path!r}: expected a training checkpoint, but {problem}")
        return search_dir
    if not search_dir.is_dir():
        raise CheckpointError(
            f"ckpt_path={ckpt_path!r}: expected a checkpoint file, a run directory or 'last', "
            f"but {search_dir} does not exist"
        )
    found = newest_loadable_checkpoint([search_dir], f"ckpt_path={ckpt_path!r}")
    if found is None:
        raise CheckpointError(
            f"ckpt_path={ckpt_path!r}: expected a loadable {LAST_CHECKPOINT_NAME} under {search_dir}, found none"
        )
    log.info("ckpt_path=%r: resuming from %s", ckpt_path, found)
    return found
