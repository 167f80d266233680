"""Regions of interest: the crop the model sees around the holes, and the way back to the frame.

The native protocol runs the model on a crop around the holes rather than on the whole frame
squeezed to the working size. The crop keeps the working aspect (so nothing is stretched),
adds context around the holes, and is never smaller than the working size while the frame
allows it, so small holes are inpainted at the frame's own pixel scale instead of upsampled.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Box:
    """A pixel rectangle, ``right`` and ``bottom`` exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def slices(self) -> tuple[slice, slice]:
        """Row and column slices selecting the box from an (H, W, ...) array."""
        return slice(self.top, self.bottom), slice(self.left, self.right)

    def intersection(self, other: Box) -> Box | None:
        """The overlap of two boxes, or None when they do not overlap."""
        box = Box(max(self.left, other.left), max(self.top, other.top), min(self.right, other.right), min(self.bottom, other.bottom))
        return box if box.width > 0 and box.height > 0 else None

    def grown(self, margin: int, limit: Box) -> Box:
        """The box with ``margin`` more pixels on each side, clipped to ``limit`` (which it must overlap)."""
        return Box(self.left - margin, self.top - margin, self.right + margin, self.bottom + margin).intersection(limit)

    def relative(self, outer: Box) -> Box:
        """This box in the coordinates of ``outer``'s top-left corner."""
        return Box(self.left - outer.left, self.top - outer.top, self.right - outer.left, self.bottom - outer.top)


def mask_bbox(mask: np.ndarray) -> Box | None:
    """The tight box around the non-zero pixels of an (H, W) mask of non-negative values, or None when it has none."""
    rows = np.flatnonzero(mask.max(axis=1))  # a maximum is vectorised where ``any`` of uint8 is not
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.max(axis=0))
    return Box(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def union(boxes: Iterable[Box | None]) -> Box | None:
    """The smallest box holding every given box (None entries are skipped); None if there are none."""
    present = [box for box in boxes if box is not None]
    if not present:
        return None
    lefts, tops, rights, bottoms = zip(*((box.left, box.top, box.right, box.bottom) for box in present))
    return Box(min(lefts), min(tops), max(rights), max(bottoms))


def _place(length: int, hole_start: int, hole_end: int, limit: int) -> int:
    """Where a span of ``length`` (>= the hole's) starts: centred on the hole, covering it, inside [0, limit)."""
    start = (hole_start + hole_end) / 2 - length / 2
    lowest = max(0, hole_end - length)
    highest = min(limit - length, hole_start)
    return int(min(max(math.floor(start), lowest), highest))


def context_crop(holes: Box, frame_size: tuple[int, int], working_size: tuple[int, int], margin: float) -> Box:
    """The crop around ``holes`` that the model inpaints, in frame pixels.

    ``margin`` is the context added on each side, as a fraction of the holes' width and
    height. The crop then grows to the working aspect, and to at least ``working_size``
    (width, height); it is clipped to the frame (the only case where the aspect may change)
    and shifted inside it, always covering ``holes``.
    """
    frame_w, frame_h = frame_size
    work_w, work_h = working_size
    width = holes.width * (1 + 2 * margin)
    height = holes.height * (1 + 2 * margin)
    aspect = work_w / work_h
    width, height = max(width, height * aspect), max(height, width / aspect)
    width, height = max(width, work_w), max(height, work_h)
    width = max(holes.width, min(frame_w, math.ceil(width)))
    height = max(holes.height, min(frame_h, math.ceil(height)))
    left = _place(width, holes.left, holes.right, frame_w)
    top = _place(height, holes.top, holes.bottom, frame_h)
    return Box(left, top, left + width, top + height)
