"""Build the objects of config groups that hold several named entries (callbacks, loggers)."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """One object per entry with a ``_target_`` in ``group``; an empty or missing group gives []."""
    if not group:
        return []
    if not isinstance(group, DictConfig):
        raise TypeError(f"expected a config group of named entries (a mapping), found {type(group).__name__}")
    entries = [entry for entry in group.values() if isinstance(entry, DictConfig) and "_target_" in entry]
    return [hydra.utils.instantiate(entry) for entry in entries]
