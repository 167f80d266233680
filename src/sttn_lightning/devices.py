"""Where a run computes and what it costs in memory: device choice and peak resident memory."""

from __future__ import annotations

import sys

import torch

from sttn_lightning.errors import InputError


def resolve_device(name: str) -> torch.device:
    """'auto' picks cuda, then mps, then cpu; an explicit device must be available."""
    available = {
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
        "cpu": True,
    }
    if name == "auto":
        return torch.device(next(kind for kind in ("cuda", "mps", "cpu") if available[kind]))
    if name not in available:
        raise InputError(f"device: expected auto, cpu, cuda or mps, found {name!r}")
    if not available[name]:
        raise InputError(f"device: {name} is not available on this machine; pass device=auto or device=cpu")
    return torch.device(name)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10
