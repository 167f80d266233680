"""The working-size protocol's image filters as torch ops, so frames can stay on an accelerator.

Each function reproduces its namesake in ``protocol.py`` (OpenCV and PIL on NumPy arrays), which
decides which implementation serves a tensor. A filter is its taps along each axis (source pixels
and weights, found once per pair of sizes and device) applied as gathers and elementwise products,
so no matmul precision setting of a device can change a result.

- ``resize_crop``: OpenCV's INTER_AREA when an axis shrinks (true area averaging when none grows,
  its two-tap emulation on both axes when one does), else INTER_LINEAR; in float32, so a uint8
  pixel may be a grey level off OpenCV's fixed point;
- ``hole_preserving_resize``: hole wherever each axis's crop filter weighs a hole pixel (the protocol's only implementation);
- ``resize_masks``: PIL's nearest, which OpenCV's INTER_NEAREST_EXACT is since OpenCV 5; exact;
- ``resize_frame``: PIL's bicubic in its fixed point, passes in Pillow 13's order; exact;
- ``dilate_holes``: OpenCV's 3x3-cross dilation; exact.

Exact against OpenCV 5 and Pillow 13: OpenCV 4 computes INTER_NEAREST_EXACT in fixed point, Pillow 12
always resizes the columns first.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from functools import lru_cache, partial, reduce
from operator import add

import numpy as np
import torch
import torch.nn.functional as F

Taps = list[list[tuple[int, float]]]  # per output pixel along an axis: (source index, weight) pairs
PIL_PRECISION_BITS = 22  # PIL's fixed point for 8-bit images: 32 - 8 - 2 bits


def _float32(value: float) -> float:
    """``value`` rounded to float32, as OpenCV's casts round it."""
    return struct.unpack("f", struct.pack("f", value))[0]


def _area_taps(source: int, target: int) -> Taps:
    """OpenCV's true area averaging along an axis that does not grow (its ``computeResizeAreaTab``)."""
    scale = 1 / (target / source)
    taps = []
    for pixel in range(target):
        start = pixel * scale
        end, cell = start + scale, min(scale, source - start)
        last = min(math.floor(end), source - 1)
        first = min(math.ceil(start), last)
        tap = [(first - 1, (first - start) / cell)] if first - start > 1e-3 else []
        tap += [(index, 1 / cell) for index in range(first, last)]
        taps.append(tap + [(last, min(end - last, 1, cell) / cell)] if end - last > 1e-3 else tap)
    return taps


def _two_taps(source: int, target: int, kind: str) -> Taps:
    """Two taps per output pixel: INTER_LINEAR's as OpenCV computes them (``linear``), or INTER_AREA's emulation of area
    averaging when an axis grows (``area-linear``)."""
    inverse = target / source
    scale = 1 / inverse
    taps = []
    for pixel in range(target):
        if kind == "area-linear":
            index = math.floor(pixel * scale)
            fraction = _float32((pixel + 1) - (index + 1) * inverse)
            fraction = fraction - math.floor(fraction) if fraction > 0 else 0.0
        else:  # OpenCV rounds the position to float32
            position = _float32((pixel + 0.5) * scale - 0.5)
            index = math.floor(position)
            fraction = position - index
        if index < 0 or index >= source - 1:
            index, fraction = min(max(index, 0), source - 1), 0.0
        taps.append([(index, 1 - fraction), (index + 1, fraction)] if fraction else [(index, 1.0)])
    return taps


def _bicubic_taps(source: int, target: int) -> Taps:
    """PIL's antialiased bicubic taps (Keys' kernel, a = -0.5), weights in its fixed point."""
    scale = source / target
    stretch = max(scale, 1.0)
    taps = []
    for pixel in range(target):
        center = (pixel + 0.5) * scale
        low, high = max(int(center - 2 * stretch + 0.5), 0), min(int(center + 2 * stretch + 0.5), source)
        weights = [_keys((index - center + 0.5) * (1.0 / stretch)) for index in range(low, high)]
        total = reduce(add, weights) or 1.0  # summed in order, as PIL does
        fixed = [int(weight / total * (1 << PIL_PRECISION_BITS) + math.copysign(0.5, weight)) for weight in weights]
        taps.append([(low + offset, float(weight)) for offset, weight in enumerate(fixed)])
    return taps


def _keys(x: float, a: float = -0.5) -> float:
    """Keys' cubic convolution kernel, as PIL writes it."""
    x = abs(x)
    if x < 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    return (((x - 5) * x + 8) * x - 4) * a if x < 2 else 0.0


def _nearest_taps(source: int, target: int) -> Taps:
    """PIL's nearest: from half a step in, a step of the scale per pixel, added up in double and truncated."""
    scale, position, taps = source / target, source / target * 0.5, []
    for _ in range(target):
        taps.append([(min(math.floor(position), source - 1), 1.0)])
        position += scale
    return taps


TAPS: dict[str, Callable[[int, int], Taps]] = {"area": _area_taps, "bicubic": _bicubic_taps, "nearest": _nearest_taps}
TAPS |= {kind: partial(_two_taps, kind=kind) for kind in ("area-linear", "linear")}


@lru_cache(maxsize=256)
def _padded_taps(kind: str, source: int, target: int) -> tuple[np.ndarray, np.ndarray]:
    """(target, K) source indices and float64 weights of the ``kind`` filter on the host, short taps padded with their first
    index and zero weights (so each row's minimum and maximum are its first and last source index)."""
    taps = TAPS[kind](source, target)
    width = max(map(len, taps))
    indices = [[index for index, _ in tap] + [tap[0][0]] * (width - len(tap)) for tap in taps]
    weights = [[weight for _, weight in tap] + [0.0] * (width - len(tap)) for tap in taps]
    return np.array(indices), np.array(weights)


@lru_cache(maxsize=256)
def _tap_tensors(kind: str, source: int, target: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``_padded_taps`` on ``device``: weights float32, or int32 in PIL's fixed point (``bicubic``)."""
    indices, weights = _padded_taps(kind, source, target)
    dtype = torch.int32 if kind == "bicubic" else torch.float32
    with torch.inference_mode(False):  # kept for later calls, which may track gradients: not inference tensors
        return torch.from_numpy(indices).to(device), torch.from_numpy(weights).to(device, dtype)


def _resample(values: torch.Tensor, axis: int, kind: str, target: int) -> torch.Tensor:
    """``values`` filtered along ``axis`` (0: rows, 1: columns) to ``target`` pixels."""
    indices, weights = _tap_tensors(kind, values.shape[axis], target, values.device)
    weights = weights.view(*weights.shape, *[1] * (values.dim() - axis - 1))
    result = values.index_select(axis, indices[:, 0]) * weights[:, 0]
    for tap in range(1, indices.shape[1]):
        result.addcmul_(values.index_select(axis, indices[:, tap]), weights[:, tap])
    return result


def _crop_filter(height: int, width: int, size: Sequence[int]) -> str:
    """The filter of OpenCV's resize in ``resize_crop``: INTER_AREA when an axis shrinks, else INTER_LINEAR."""
    if size[0] < width or size[1] < height:
        return "area-linear" if size[0] > width or size[1] > height else "area"
    return "linear"


def resize_crop(image: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """A native crop (H, W[, C]), uint8 or float32, at ``size`` (width, height): area filter when shrinking, bilinear when enlarging."""
    height, width = image.shape[:2]
    if (width, height) == tuple(size):
        return image
    kind = _crop_filter(height, width, size)
    values = _resample(_resample(image.float(), 0, kind, size[1]), 1, kind, size[0])
    if image.dtype != torch.uint8:
        return values
    return values.add_(0.5).floor_().clamp_(0, 255).to(torch.uint8)  # halves up, as OpenCV's fixed point and halving area filter


def _taps_meeting(mask: torch.Tensor, axis: int, target: int, span: slice) -> tuple[slice, torch.Tensor] | None:
    """The outputs along ``axis`` whose taps reach into ``span``, with their (outputs, K) source indices; None for an empty span."""
    first, last = span.start, span.stop - 1
    if first > last:
        return None
    if mask.shape[axis] == target:
        return span, torch.arange(first, last + 1, device=mask.device)[:, None]
    kind = "area" if target < mask.shape[axis] else "linear"  # resize_crop's filter along this axis; all its taps weigh > 0
    indices = _padded_taps(kind, mask.shape[axis], target)[0]  # on the host: locating the outputs waits for no device
    lowest, highest = indices[:, 0], indices.max(axis=1)  # both rise with the output
    start, stop = int(np.searchsorted(highest, first)), int(np.searchsorted(lowest, last, side="right"))
    if start >= stop:
        return None
    return slice(start, stop), _tap_tensors(kind, mask.shape[axis], target, mask.device)[0][start:stop]


def _hole_span(mask: torch.Tensor) -> tuple[slice, slice]:
    """The rows and the columns from the first to the last holding a hole (empty slices without holes)."""
    spans = []
    for axis in (0, 1):
        occupied = mask.amax(dim=1 - axis).nonzero()[:, 0]
        spans.append(slice(int(occupied[0]), int(occupied[-1]) + 1) if occupied.numel() else slice(0, 0))
    return spans[0], spans[1]


def hole_preserving_resize(mask: torch.Tensor, size: Sequence[int], within: tuple[slice, slice] | None = None) -> torch.Tensor:
    """A {0, 1} uint8 (H, W) mask at ``size`` (width, height): hole where the crop filter of each axis weighs a hole pixel.

    A working pixel's source pixels are a rectangle (its row taps by its column taps), so it is
    hole if the maximum over that rectangle is 1. Only working pixels whose rectangle meets the
    region ``within``, (rows, columns) slices holding every hole pixel, are computed; without it the
    region is located in ``mask`` (which waits for an accelerator to finish its queued work).
    """
    if (mask.shape[1], mask.shape[0]) == tuple(size):
        return mask.clone()
    working = mask.new_zeros((size[1], size[0]))
    row_span, column_span = _hole_span(mask) if within is None else within
    rows, columns = _taps_meeting(mask, 0, size[1], row_span), _taps_meeting(mask, 1, size[0], column_span)
    if rows is None or columns is None:
        return working
    (row_outputs, row_taps), (column_outputs, column_taps) = rows, columns
    across = mask.index_select(0, row_taps.flatten()).view(*row_taps.shape, -1).amax(dim=1).t()  # (W, rows), gathered by row
    working[row_outputs, column_outputs] = across.index_select(0, column_taps.flatten()).view(*column_taps.shape, -1).amax(dim=1).t()
    return working


def resize_masks(masks: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """{0, 1} uint8 masks (t, H, W) at ``size`` by nearest neighbour, as the release resizes its masks."""
    if (masks.shape[2], masks.shape[1]) == tuple(size):
        return masks
    rows = _tap_tensors("nearest", masks.shape[1], size[1], masks.device)[0][:, 0]
    columns = _tap_tensors("nearest", masks.shape[2], size[0], masks.device)[0][:, 0]
    return masks.index_select(1, rows).index_select(2, columns)


def resize_frame(frame: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """A whole uint8 RGB frame (H, W, 3) at ``size`` as PIL's bicubic resizes it: one axis, then the other, rounding between."""
    height, width = frame.shape[:2]
    if (width, height) == tuple(size):
        return frame
    values, passes = frame.int(), [(1, width, size[0]), (0, height, size[1])]
    if height - size[1] > max(2 * (width - size[0]), 0):  # Pillow 13 runs the rows first when they shrink most
        passes.reverse()
    for axis, source, target in passes:
        if source != target:  # PIL skips a pass that keeps the size
            values = _resample(values, axis, "bicubic", target).add_(1 << (PIL_PRECISION_BITS - 1))
            values = values.bitwise_right_shift_(PIL_PRECISION_BITS).clamp_(0, 255)
    return values.to(torch.uint8)


def dilate_holes(masks: torch.Tensor, iterations: int) -> torch.Tensor:
    """{0, 1} uint8 masks (H, W) or (t, H, W) grown by a 3x3 cross ``iterations`` times (nothing beyond the border); a new tensor."""
    grown = masks
    for _ in range(iterations):
        padded = F.pad(grown, (1, 1, 1, 1))
        neighbours = (padded[..., :-2, 1:-1], padded[..., 2:, 1:-1], padded[..., 1:-1, :-2], padded[..., 1:-1, 2:])
        grown = reduce(torch.maximum, neighbours, grown)
    return grown if grown is not masks else masks.clone()
