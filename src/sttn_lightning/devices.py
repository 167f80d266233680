"""Where a run computes and what it costs the host: the ``device=`` option and peak memory.

Shared by inference and evaluation; portable (no ``resource`` on Windows, where it does not exist).
"""

from __future__ import annotations

import sys

import torch

from sttn_lightning.errors import InputError

KINDS = ("cuda", "mps", "cpu")  # the order `auto` tries them in


class DeviceError(InputError):
    """``device=`` names a device that is not valid or not on this machine."""


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    return True


def resolve_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; ``cpu``, ``cuda``, ``cuda:N`` and ``mps`` must exist here."""
    if name == "auto":
        return torch.device(next(kind for kind in KINDS if _available(kind)))
    kind, _, index = str(name).partition(":")
    if kind not in KINDS or (":" in str(name) and (kind != "cuda" or not index.isdigit())):
        raise DeviceError(f"device: expected auto, cpu, cuda, cuda:N (N a GPU index) or mps, found {name!r}")
    if not _available(kind):
        raise DeviceError(f"device: {name} is not available on this machine; pass device=auto or device=cpu")
    if index:
        count = torch.cuda.device_count()
        if int(index) >= count:
            raise DeviceError(
                f"device: {name} does not exist; this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
            )
    return torch.device(name)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB."""
    if sys.platform == "win32":
        import psutil  # a dependency on Windows only (pyproject.toml)

        return psutil.Process().memory_info().peak_wset / 2**20
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux
