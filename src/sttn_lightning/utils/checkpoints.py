"""Which checkpoint `ckpt_path` names: a file, a run directory, or `last`."""

from __future__ import annotations

from pathlib import Path

LAST_CHECKPOINT_NAME = "last.ckpt"


def newest_last_checkpoint(directory: Path) -> Path | None:
    """The most recently modified ``last.ckpt`` anywhere under ``directory``, or None."""
    candidates = [path for path in directory.rglob(LAST_CHECKPOINT_NAME) if path.is_file()]
    return max(candidates, key=lambda path: path.stat().st_mtime, default=None)


def resolve_ckpt_path(ckpt_path: str | None, task_log_dir: Path) -> Path | None:
    """Turn the ``ckpt_path`` setting into a checkpoint file (None: start from scratch).

    - ``None``: no checkpoint;
    - ``"last"``: the newest ``last.ckpt`` under ``task_log_dir`` (``paths.log_dir/task_name``,
      which holds every run and multirun of the task, the current one included);
    - a directory (e.g. an earlier run's): the newest ``last.ckpt`` under it;
    - a file: that file.
    """
    if ckpt_path is None:
        return None
    search_dir = task_log_dir if ckpt_path == "last" else Path(ckpt_path)
    if ckpt_path != "last" and search_dir.is_file():
        return search_dir
    if not search_dir.is_dir():
        raise FileNotFoundError(
            f"ckpt_path={ckpt_path!r}: expected a checkpoint file, a run directory or 'last', "
            f"but {search_dir} does not exist"
        )
    found = newest_last_checkpoint(search_dir)
    if found is None:
        raise FileNotFoundError(f"ckpt_path={ckpt_path!r}: no {LAST_CHECKPOINT_NAME} anywhere under {search_dir}")
    return found
