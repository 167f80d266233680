"""The knobs of an inpainting run, checked before any work, the error bad input raises and the summary a run returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from sttn_lightning.devices import PRECISIONS, resolve_device, resolve_precision
from sttn_lightning.errors import InputError
from sttn_lightning.media import Size
from sttn_lightning.models.exported import BACKENDS

PROTOCOLS = ("native", "release")
NATIVE_MAX_REFERENCES = 10  # bounds native runs; covers every reference of videos up to ~100 frames
RELEASE_FPS = 24.0  # what the release writes, used when the input carries no frame rate


class InpaintError(InputError):
    """Bad inference input or output; the message names the path, what was expected and the fix."""


@dataclass
class InpaintOptions:
    """Every knob of a run; see conf/inpaint.yaml for their documentation."""

    size: Sequence[int] = (432, 240)
    protocol: str = "native"
    neighbour_stride: int = 5
    reference_stride: int = 10
    max_references: int | str | None = "auto"
    mask_dilation: int = 4
    mask_repeat: str = "error"
    crop_margin: float = 0.5
    crop_segment: int = 50
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    backend: str = "torch"
    providers: Sequence[str] | None = None
    fps: float | None = None
    crf: int = 18
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if len(self.size) != 2 or min(self.size) < 1:
            raise InpaintError(f"size: expected [width, height] of positive pixels, found {list(self.size)}")
        self.size = Size(int(self.size[0]), int(self.size[1]))
        if self.protocol not in PROTOCOLS:
            raise InpaintError(f"protocol: expected one of {PROTOCOLS}, found {self.protocol!r}")
        if self.precision != "auto" and self.precision not in PRECISIONS:
            raise InpaintError(f"precision: expected auto or one of {tuple(PRECISIONS)}, found {self.precision!r}")
        if self.backend not in BACKENDS:
            raise InpaintError(f"backend: expected one of {BACKENDS}, found {self.backend!r}")
        if self.backend != "torch" and self.precision not in ("auto", "fp32"):
            raise InpaintError(
                f"precision: backend={self.backend} runs at the precision the file was exported with; "
                f"pass precision=auto or fp32 (found {self.precision})"
            )
        if self.backend != "torch" and self.compile:
            raise InpaintError(f"compile: only for backend=torch, found backend={self.backend}; pass compile=false")
        if self.max_references == "auto":
            self.max_references = NATIVE_MAX_REFERENCES if self.protocol == "native" else None
        elif self.max_references is not None and (isinstance(self.max_references, str) or self.max_references < 0):
            raise InpaintError(f"max_references: expected 'auto', null or an integer >= 0, found {self.max_references!r}")
        for name in ("neighbour_stride", "reference_stride", "crop_segment"):
            if getattr(self, name) < 1:
                raise InpaintError(f"{name}: expected an integer >= 1, found {getattr(self, name)!r}")
        if self.mask_dilation < 0 or self.crop_margin < 0:
            raise InpaintError(
                f"mask_dilation and crop_margin: expected values >= 0, found {self.mask_dilation!r} and {self.crop_margin!r}"
            )

    def resolve_device(self) -> torch.device:
        """The device to run on; ``precision`` becomes the one used there (``auto`` resolved; exports: fp32)."""
        device = resolve_device(self.device)
        # an exported model runs at the precision it was exported with: no autocast around it
        self.precision = resolve_precision(self.precision, device) if self.backend == "torch" else "fp32"
        return device

    def output_size(self, source_size: Size) -> Size:
        """The release protocol writes at the working size; the native one at the source's."""
        return self.size if self.protocol == "release" else source_size


@dataclass
class InpaintSummary:
    """What a run did and what it cost."""

    output: Path
    frames: int
    windows_run: int
    seconds: float
    peak_rss_mb: float
    device: str
    protocol: str
    precision: str
    peak_device_mb: float | None = None

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")

    def __str__(self) -> str:
        device_memory = f", peak {self.device} memory {self.peak_device_mb:.0f} MB" if self.peak_device_mb is not None else ""
        return (
            f"{self.output}: {self.frames} frames in {self.seconds:.1f} s ({self.fps:.2f} frames/s), "
            f"{self.windows_run} windows run, protocol {self.protocol}, {self.device} {self.precision}, "
            f"peak RSS {self.peak_rss_mb:.0f} MB{device_memory}"
        )
