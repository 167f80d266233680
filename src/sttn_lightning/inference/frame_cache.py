"""Decoded frames at the protocol's resolution with their dilated holes and their crops at the working size, on the run's
device from first need to last use.

The cache reads sequentially and seeks only far ahead: it holds at most the frames of the current
window, the references ahead of it, one sequential run (READ_AHEAD frames) and one chunk read
ahead in the background, a bound set by the options and not by the video's length. A frame's
holes are kept only inside their box. A frame crosses to the device once, as decoded uint8; its
resize (release protocol), the dilation of its holes and the resize of each crop the model will
see of it run there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from sttn_lightning.inference.roi import Box, mask_bbox
from sttn_lightning.media import FrameReader, MaskReader, Size
from sttn_lightning.protocol import dilate_holes, resize_crop, resize_frame, resize_masks

READ_AHEAD = 32  # needed frames up to this far past the last read are decoded in one sequential run
DECODE_CHUNK = 16  # the shortest sequential run: frames are decoded in order in batches, memory stays bounded
HOLE_SCAN_CHUNK = 8  # masks read at once while locating the holes before the run


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """``array`` as a tensor on ``device``, sharing its memory on the CPU; a read-only array (a user's
    memory-mapped clip) is copied first, as torch has no read-only tensors."""
    return torch.from_numpy(np.require(array, requirements="W")).to(device)


class Holes:
    """A video's dilated holes at the protocol's frame size: boxes located before the run, pixels dilated inside them."""

    def __init__(self, masks: MaskReader, frame_size: Size, dilation: int) -> None:
        self.masks = masks
        self.frame_size = frame_size
        self.dilation = dilation

    def _undilated(self, indices: Sequence[int], device: torch.device) -> list[torch.Tensor]:
        """uint8 {0, 1} (H, W) holes at the frame size on ``device`` (the reader's masks are {0, 1} already)."""
        return [resize_masks(to_device(mask[None], device), self.frame_size)[0] for mask in self.masks.read(indices)]

    def read_in(self, indices: Sequence[int], boxes: Sequence[Box], device: torch.device) -> list[torch.Tensor]:
        """The dilated holes of the given frames inside their ``boxes`` (which hold every hole pixel within reach), on ``device``."""
        return [dilate_holes(hole[box.slices], self.dilation) for hole, box in zip(self._undilated(indices, device), boxes)]

    def boxes(self, num_frames: int) -> list[Box | None]:
        """Every frame's dilated-hole box, known before the run: the holes' box grown a pixel per side per cross dilation."""
        frame = Box(0, 0, *self.frame_size)
        return [
            box and box.grown(self.dilation, frame)
            for start in range(0, num_frames, HOLE_SCAN_CHUNK)
            for hole in self._undilated(range(start, min(start + HOLE_SCAN_CHUNK, num_frames)), torch.device("cpu"))
            for box in [mask_bbox(hole.numpy())]
        ]


@dataclass
class Prepared:
    """A decoded frame at the protocol's resolution on the run's device; its dilated holes are kept only inside their box."""

    frame: torch.Tensor  # uint8 RGB (H, W, 3)
    holes: Box | None
    hole_mask: torch.Tensor | None  # uint8 {0, 1} over ``holes``, on the frame's device
    crops: dict[int, torch.Tensor]  # uint8 RGB at the working size, by crop segment, until the model's encoder takes them

    def take_crop(self, segment: int) -> torch.Tensor:
        """The frame's crop of ``segment`` at the working size, no longer held here (the encoder reads it once)."""
        return self.crops.pop(segment)

    def _overlap(self, box: Box) -> Box | None:
        """The part of the hole box inside ``box``, in frame coordinates; None if they do not meet."""
        return self.holes.intersection(box) if self.holes is not None else None

    def holes_within(self, box: Box) -> tuple[slice, slice]:
        """The (rows, columns) of ``box`` that may hold holes: the hole box's part inside it (empty slices if none)."""
        overlap = self._overlap(box)
        return overlap.relative(box).slices if overlap is not None else (slice(0, 0), slice(0, 0))

    def mask_in(self, box: Box) -> torch.Tensor:
        """The {0, 1} hole mask over ``box``, which may cover the holes partly or not at all."""
        mask = self.frame.new_zeros((box.height, box.width))
        overlap = self._overlap(box)
        if overlap is not None:
            mask[overlap.relative(box).slices] = self.hole_mask[overlap.relative(self.holes).slices]
        return mask


class FrameCache:
    """Frames prepared for the run on ``device`` (resized for the release protocol, holes attached, crops resized), by index.

    Decoding and preparing run in one reader thread, which prepares the next sequential chunk while
    the windows run: an accelerator does not wait for it, and on a CPU the crops' area filter (the
    costliest host work per frame) runs beside the runner's own single-threaded work. ``crops``
    are each frame's crops by segment (``plan.crops_by_frame``), resized to ``working_size``. Every
    read goes through that thread, so the reader is never used from two threads at once.
    """

    def __init__(
        self,
        source: FrameReader,
        holes: Holes,
        boxes: list[Box | None],
        crops: Mapping[int, Mapping[int, Box]],
        working_size: Size,
        device: torch.device,
    ) -> None:
        self._source = source
        self._device = device
        self._holes = holes  # at the protocol's frame size: the release's working size, else the source's
        self._boxes = boxes
        self._crops = crops
        self._working_size = working_size
        self._frames: dict[int, Prepared] = {}
        self._cursor = 0  # every frame below it has been read or is being read ahead
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sttn-reader")
        self._ahead: Future[dict[int, Prepared]] | None = None  # the chunk being read ahead
        self._ahead_indices: set[int] = set()  # its frames
        self._ahead_start = 0  # where it starts: a sequential run on demand reaches READ_AHEAD frames past this, no further

    def _prepare(self, indices: list[int]) -> dict[int, Prepared]:
        """Decode and prepare frames (runs in the reader thread; touches no state of the cache)."""
        with_holes = [index for index in indices if self._boxes[index] is not None]
        holes = dict(zip(with_holes, self._holes.read_in(with_holes, [self._boxes[index] for index in with_holes], self._device)))
        size = self._holes.frame_size  # resize_frame returns a frame already at this size itself
        frames = ((index, resize_frame(to_device(frame, self._device), size)) for index, frame in zip(indices, self._source.read(indices)))
        return {
            index: Prepared(frame, self._boxes[index], holes.get(index), self._resized_crops(frame, self._crops.get(index, {})))
            for index, frame in frames
        }

    def _resized_crops(self, frame: torch.Tensor, crops: Mapping[int, Box]) -> dict[int, torch.Tensor]:
        """``frame``'s ``crops`` (by segment) at the working size (the whole frame of the release protocol is already)."""
        return {segment: resize_crop(frame[crop.slices], self._working_size) for segment, crop in crops.items()}

    def ensure(self, indices: Iterable[int]) -> None:
        """Have ``indices`` prepared: from the chunk read ahead, else a sequential run for those near the cursor and seeks
        for the rest; then keep one chunk past the cursor being read ahead."""
        wanted = {index for index in indices if index not in self._frames}
        read_to = self._ahead_start if self._ahead is not None else self._cursor
        if self._ahead is not None and not wanted.isdisjoint(self._ahead_indices):
            self._frames.update(self._ahead.result())
            self._ahead = None
            wanted -= self._frames.keys()
        if wanted:
            near = [index for index in wanted if index < read_to + READ_AHEAD]
            if near:
                end = min(self._source.num_frames, max(max(near) + 1, self._cursor + DECODE_CHUNK))
                wanted.update(index for index in range(self._cursor, end) if index not in self._frames)
                self._cursor = max(self._cursor, end)
            self._frames.update(self._reader.submit(self._prepare, sorted(wanted)).result())
        if self._ahead is None:
            end = min(self._source.num_frames, self._cursor + DECODE_CHUNK)
            self._ahead_indices = {index for index in range(self._cursor, end) if index not in self._frames}
            self._ahead_start, self._cursor = self._cursor, end
            if self._ahead_indices:
                self._ahead = self._reader.submit(self._prepare, sorted(self._ahead_indices))

    def __getitem__(self, index: int) -> Prepared:
        return self._frames[index]

    def release(self, indices: Iterable[int]) -> None:
        for index in indices:
            self._frames.pop(index, None)

    def close(self) -> None:
        """Stop reading ahead; waits for a read in progress, which ends with the source."""
        self._reader.shutdown(wait=True, cancel_futures=True)
