"""The working-size protocol, once: how frames and masks are brought to the model and back.

Training, validation, inference and evaluation all call these functions, so a frame means the
same thing wherever it meets the model:

- frames: ``resize_frame`` is the release's (PIL bicubic) for whole frames; the native protocol's
  crops go down with an area filter and up bilinearly (``resize_crop``), and predictions return
  to the crop bilinearly, as pixel values of their hole box (``prediction_pixels``);
- masks: ``resize_masks`` is the release's nearest neighbour; ``hole_preserving_resize`` is the
  native protocol's (a working pixel is hole if any source pixel under it was, so thin holes
  cannot vanish in a downscale and leak what they cover); ``dilate_holes`` is the release's
  3x3-cross dilation;
- values: ``to_model_input`` maps uint8 RGB to [-1, 1] and ``hide_holes`` zeroes the holes there;
  ``to_pixel_values`` maps the model's output back to [0, 255]; ``truncate_pixels`` clips and
  truncates as the release's uint8 conversion does; ``composite`` keeps known pixels and takes
  hole pixels from the prediction;
- sizes: ``check_working_size`` refuses a working size too small for the generator's patch grids.

The frame and mask functions take NumPy arrays or tensors (a tensor comes back for a tensor).
OpenCV and PIL define the filters and run them on CPU memory; a tensor on an accelerator goes
through ``resampling``, the same filters as torch ops, so the inference pipeline keeps its frames
on the device (``torch_kernels()`` sends CPU tensors there too, to measure or test that path).
``hole_preserving_resize`` is a maximum, not a filter: ``resampling``'s torch ops serve it everywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import cv2
import numpy as np
import torch
from PIL import Image

from sttn_lightning import resampling
from sttn_lightning.media.size import Size
from sttn_lightning.models.generator import FEATURE_STRIDE, min_working_size

CROSS_KERNEL = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)
RELEASE_DILATION = 4  # iterations of the cross dilation in the release's test protocol

Array = TypeVar("Array", np.ndarray, torch.Tensor)
_torch_kernels_on_cpu = False  # set by torch_kernels()


@contextmanager
def torch_kernels() -> Iterator[None]:
    """Inside the block, CPU tensors are filtered by ``resampling``'s torch ops, as tensors on an accelerator are."""
    global _torch_kernels_on_cpu
    previous, _torch_kernels_on_cpu = _torch_kernels_on_cpu, True
    try:
        yield
    finally:
        _torch_kernels_on_cpu = previous


def _on_any_device(torch_version: Callable) -> Callable[[Callable], Callable]:
    """A NumPy function of one array that also takes a tensor: on the CPU through its NumPy view, elsewhere through ``torch_version``."""

    def wrap(numpy_version: Callable) -> Callable:
        @functools.wraps(numpy_version)
        def run(array, *args):
            if not isinstance(array, torch.Tensor):
                return numpy_version(array, *args)
            if array.device.type != "cpu" or _torch_kernels_on_cpu:
                return torch_version(array, *args)
            return torch.from_numpy(numpy_version(array.numpy(), *args))

        return run

    return wrap


def check_working_size(size: Sequence[int], patch_grids: Sequence[Sequence[int]], error: type[Exception]) -> None:
    """Raise ``error`` unless the feature map of ``size`` (a quarter of it, rounded up) holds a pixel per patch of every grid."""
    min_width, min_height = min_working_size(patch_grids)
    width, height = (-(-side // FEATURE_STRIDE) * FEATURE_STRIDE for side in size[:2])  # as the encoder pads it
    if width < min_width or height < min_height:
        raise error(
            f"size: {size[0]}x{size[1]} is too small for the generator's patch grids {patch_grids}: "
            f"pass size=[{min_width},{min_height}] or larger"
        )


@_on_any_device(resampling.resize_frame)
def resize_frame(frame: Array, size: Size | Sequence[int]) -> Array:
    """A whole uint8 RGB frame (H, W, 3) at ``size`` (width, height), as the release resizes (PIL bicubic)."""
    if Size.of(frame) == tuple(size):
        return frame
    return np.array(Image.fromarray(frame).resize(tuple(size), Image.BICUBIC))


@_on_any_device(resampling.resize_crop)
def resize_crop(image: Array, size: Size | Sequence[int]) -> Array:
    """A native crop (H, W[, C]) at ``size``: area filter when shrinking, bilinear when enlarging."""
    if Size.of(image) == tuple(size):
        return image
    shrinking = size[0] < image.shape[1] or size[1] < image.shape[0]
    return cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


@functools.lru_cache(maxsize=256)
def _linear_taps(
    source: int, target: int, start: int, stop: int, device: torch.device, channels: int = 1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, slice]:
    """The bilinear taps of outputs ``start``..``stop - 1``: at (i + 0.5) * source / target - 0.5, clamped, as F.interpolate's.

    Lower and upper source indices and the upper weights, on ``device``, for an axis whose pixels
    are ``channels`` consecutive values each (indices count values from the first source pixel
    under the outputs, weights repeat per value); then the source pixels under the outputs.
    Computed on the host once per arguments (a hole box that stays put reuses them; the device is
    never asked for indices).
    """
    with torch.inference_mode(False):  # kept for later calls, which may track gradients: not inference tensors
        outputs = torch.arange(start, stop, dtype=torch.float32)
        position = ((outputs + 0.5) * (source / target) - 0.5).clamp(min=0)
        lower = position.floor().clamp(max=source - 1)
        low, high, weight = lower.long(), (lower + 1).clamp(max=source - 1).long(), (position - lower).clamp(0, 1)
        first, last = int(low[0]), int(high[-1])
        low, high = ((((index - first) * channels)[:, None] + torch.arange(channels)).flatten() for index in (low, high))
        return low.to(device), high.to(device), weight.repeat_interleave(channels).to(device), slice(first, last + 1)


def prediction_pixels(prediction: torch.Tensor, size: Size | Sequence[int], region: tuple[slice, slice]) -> torch.Tensor:
    """The (rows, columns) ``region`` of the model's (h, w, C) output as pixel values of a crop of ``size``; a new tensor.

    Bilinear without antialiasing (OpenCV's INTER_LINEAR), computed only at the region's pixels
    from the source pixels under them, so the cost follows the holes and not the crop.
    """
    rows, columns = region
    height, width, channels = prediction.shape
    if (width, height) == tuple(size):
        return to_pixel_values(prediction[rows, columns])
    row_low, row_high, row_weight, source_rows = _linear_taps(height, size[1], rows.start, rows.stop, prediction.device)
    column_low, column_high, column_weight, source_columns = _linear_taps(
        width, size[0], columns.start, columns.stop, prediction.device, channels
    )
    # along the columns, then the rows, each pass a gather of whole values along an axis of rows (h, w * C): a CPU
    # gathers there several times faster than pixels along the middle axis of (h, w, C)
    source = to_pixel_values(prediction[source_rows, source_columns]).reshape(source_rows.stop - source_rows.start, -1)
    across = source.index_select(1, column_low).lerp_(source.index_select(1, column_high), column_weight)
    rows_out = across.index_select(0, row_low).lerp_(across.index_select(0, row_high), row_weight[:, None])
    return rows_out.view(len(row_low), -1, channels)


@_on_any_device(resampling.resize_masks)
def resize_masks(masks: Array, size: Size | Sequence[int]) -> Array:
    """{0, 1} masks (t, H, W) at ``size`` by nearest neighbour, as the release resizes its masks.

    PIL's nearest, which OpenCV's INTER_NEAREST_EXACT reproduces (plain INTER_NEAREST rounds differently).
    """
    if Size.of(masks[0]) == tuple(size):
        return masks
    return np.stack([cv2.resize(mask, tuple(size), interpolation=cv2.INTER_NEAREST_EXACT) for mask in masks])


def hole_preserving_resize(mask: Array, size: Size | Sequence[int], within: tuple[slice, slice] | None = None) -> Array:
    """A {0, 1} (H, W) mask at ``size`` where a pixel is hole if any source pixel under it was.

    "Under it": weighed by ``resize_crop``'s filter along each axis (area where the axis shrinks,
    bilinear where it grows), one axis at a time. (OpenCV's area filter on both axes at once, when
    one grows, emulates area averaging with two taps and skips pixels.) The torch ops of
    ``resampling`` on every device: a maximum over each pixel's taps, exact and cheaper than filtering.
    ``within``: (rows, columns) slices known to hold every hole pixel, which spares locating them.
    """
    if isinstance(mask, torch.Tensor):
        return resampling.hole_preserving_resize(mask, size, within)
    return resampling.hole_preserving_resize(torch.from_numpy(mask), size, within).numpy()


@_on_any_device(resampling.dilate_holes)
def dilate_holes(masks: Array, iterations: int) -> Array:
    """{0, 1} masks (H, W) or (t, H, W) grown by a 3x3 cross ``iterations`` times."""
    if iterations <= 0:
        return masks.copy()
    if masks.ndim == 2:
        return cv2.dilate(masks, CROSS_KERNEL, iterations=iterations)
    return np.stack([cv2.dilate(mask, CROSS_KERNEL, iterations=iterations) for mask in masks])


def working_holes(masks: np.ndarray, size: Size | Sequence[int], dilation: int = RELEASE_DILATION) -> np.ndarray:
    """The release protocol's holes: masks (t, H, W) resized nearest to ``size``, then dilated."""
    return dilate_holes(resize_masks((masks > 0).astype(np.uint8), size), dilation)


def to_model_input(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 RGB (..., H, W, 3) to the model's float (..., 3, H, W) in [-1, 1]."""
    values = torch.as_tensor(frames).movedim(-1, -3).float()  # one new tensor, then scaled in place
    return values.div_(255).mul_(2).sub_(1)


def hide_holes(values: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
    """The encoder's input: model input ``values`` (n, 3, H, W) with 0 at every hole (``holes`` (n, H, W), non-zero), in place.

    The release's ``frames * (1 - masks)`` up to the sign of zero (which no sum the model makes can
    see). On a CPU, values laid out channels last (``to_model_input``'s) have each hole pixel
    zeroed as one element, several times faster there than a product broadcast over the channels.
    """
    channels_last = values.permute(0, 2, 3, 1)
    if values.device.type == "cpu" and channels_last.is_contiguous():
        array = channels_last.numpy()
        pixels = array.view(f"V{array.shape[-1] * array.itemsize}")[..., 0]  # a pixel's values as one element
        pixels[holes.numpy() > 0] = np.zeros((), pixels.dtype)
        return values
    return values.masked_fill_(holes[:, None] > 0, 0)


def to_pixel_values(output: Array) -> Array:
    """The model's output in [-1, 1] to pixel values in [0, 255] (float; blending happens at this scale).

    (output + 1) * 127.5 is the release's (output + 1) / 2 * 255 to the bit: halving is exact, so
    both round the same product once; scaled in place, one new array instead of three.
    """
    values = output + 1
    values *= 127.5
    return values


def truncate_pixels(values: torch.Tensor) -> torch.Tensor:
    """Pixel values clipped to [0, 255] and truncated in place, the release's uint8 conversion kept in float for blending."""
    return values.clamp_(0, 255).floor_()  # floor is truncation once non-negative, and vectorised where trunc is not


def composite(prediction: Array, frame: Array, holes: Array, in_place: bool = False) -> Array:
    """Hole pixels (non-zero in ``holes``) from ``prediction``, every other pixel from ``frame``.

    Tensors: any shapes that broadcast (with ``in_place``, to ``frame``'s). NumPy arrays: one
    (H, W, C) image of one shape and dtype, holes (H, W, 1) uint8; OpenCV's masked copy (several
    times faster there than a masked copy in NumPy or ``torch.where``). A new array, or with
    ``in_place`` ``frame`` itself (a view into a larger image included), rewritten at the holes.
    """
    if isinstance(prediction, torch.Tensor):
        result = torch.where(holes > 0, prediction, frame)
        return frame.copy_(result) if in_place else result
    if prediction.shape != frame.shape or prediction.dtype != frame.dtype or holes.shape != (*frame.shape[:2], 1):
        raise ValueError(
            f"composite: expected a prediction like the frame {frame.shape} {frame.dtype} and holes {(*frame.shape[:2], 1)}, "
            f"found {prediction.shape} {prediction.dtype} and {holes.shape}"
        )
    result = frame if in_place else frame.copy()
    cv2.copyTo(np.ascontiguousarray(prediction), holes[..., 0], result)  # writes into ``result``: same size and type
    return result
