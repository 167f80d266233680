"""Where a run computes, in which precision, and what it costs the host: ``device=``, ``precision=``, host memory.

Shared by inference and evaluation; portable (no ``resource`` on Windows, where it does not exist).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
import warnings

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


# glibc's mallopt parameters (mallopt(3))
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 2**20  # buffers below it come from the heap and are reused once freed (the most 64-bit glibc accepts)
TRIM_THRESHOLD = 128 * 2**20  # freed memory the heap keeps (default 128 KiB; with 64 MiB a 1080p run still faulted pages back)


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (Linux), which has mallopt; else None."""
    name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
    library = ctypes.CDLL(name) if name else None
    return library if library is not None and hasattr(library, "mallopt") else None


@functools.cache
def keep_freed_host_memory() -> bool:
    """Let this process reuse freed frame-sized host buffers instead of returning them to the system; once per process.

    A streaming run allocates buffers of the same few sizes for every frame. With glibc's
    defaults, a buffer above its mmap threshold is fresh pages from the system and freed memory at
    the heap's top goes back, so frames paid page faults and zeroing for memory just freed
    (docs/performance.md). Kept memory is bounded by TRIM_THRESHOLD. Returns whether the setting
    was made (False where the C library is not glibc: macOS, Windows, musl).
    """
    glibc = _glibc()
    return glibc is not None and bool(glibc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and glibc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512_BF16 or AMX); without them bf16 autocast is emulated and slow."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: bf16 on CUDA devices that support it, else fp16 there; bf16 on CPUs with native bf16; else fp32.

    An explicit ``bf16`` on a CPU without native bf16 is honoured with a warning, since it runs
    an order of magnitude slower than fp32 there (docs/performance.md).
    """
    if precision != "auto" and precision not in PRECISIONS:
        raise InputError(f"precision: expected auto or one of {tuple(PRECISIONS)}, found {precision!r}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if device.type == "cpu" and cpu_has_native_bf16():
            return "bf16"
        return "fp32"
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        warnings.warn(
            "precision=bf16 on a CPU without native bf16 instructions (AVX512_BF16 or AMX) runs about 10x slower "
            "than fp32 (docs/performance.md); pass precision=auto or precision=fp32",
            RuntimeWarning,
            stacklevel=2,
        )
    return precision
