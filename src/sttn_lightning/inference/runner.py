"""The streaming loop: a plan's windows through the generator, finished frames out in order.

Encoder features are cached per (crop segment, frame) and shared by every window that reads the
frame with the same crop; a frame's blended prediction lives only inside its hole box and only
until the frame is final. What grows with the video's length is a hole box per frame (bytes)
and, without a reference cap, the cached references (see docs/inference.md, memory).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from sttn_lightning.devices import PRECISIONS, keep_freed_host_memory
from sttn_lightning.inference.frame_cache import FrameCache, Holes, Prepared
from sttn_lightning.inference.options import InpaintOptions
from sttn_lightning.inference.plan import FeatureKey, WindowStep, crops_by_frame, make_plan
from sttn_lightning.inference.roi import Box
from sttn_lightning.inference.windows import blend
from sttn_lightning.media import FrameReader, MaskReader, Size
from sttn_lightning.models.exported import InferenceModel
from sttn_lightning.protocol import composite, hide_holes, hole_preserving_resize, prediction_pixels, to_model_input, truncate_pixels


@dataclass
class FinishedFrame:
    """An output frame with what it was made from: the input at the protocol's resolution and its holes."""

    index: int
    output: np.ndarray  # uint8 RGB (H, W, 3), on the host
    source: Prepared  # on the run's device

    @property
    def input(self) -> np.ndarray:
        """The frame the model was given, at the protocol's resolution, on the host."""
        return self.source.frame.cpu().numpy()

    @property
    def holes(self) -> np.ndarray:
        """The dilated {0, 1} holes over the whole frame, on the host."""
        return self.source.mask_in(Box(0, 0, *Size.of(self.output))).cpu().numpy()


@contextmanager
def intra_op_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads set to ``count`` inside the block."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def cudnn_autotuning() -> Iterator[None]:
    """cuDNN times its algorithms for each new convolution shape inside the block (``cudnn.benchmark``).

    A run meets few shapes (encoder batches of up to a window's frames, a window per length), so the
    timing is paid a few times; cuDNN's untimed first choice was several times slower and held GBs of
    workspace for some of them in fp32.
    """
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


class WindowRunner:
    """The generator calls of one run: encoding with feature reuse, windows, blending, the paste-back.

    Everything runs on the device, from the prepared frames to the pasted-back output frame;
    a finished frame is the one copy back to the host.
    """

    def __init__(self, generator: InferenceModel, device: torch.device, options: InpaintOptions) -> None:
        self.device = device
        self.options = options
        # compile=true: each new window shape compiles once (interior windows share one shape)
        self.encode = torch.compile(generator.encode) if options.compile else generator.encode
        self.decode = torch.compile(generator.decode_features) if options.compile else generator.decode_features
        self.features: dict[FeatureKey, tuple[torch.Tensor, torch.Tensor]] = {}
        self.blended: dict[int, torch.Tensor] = {}  # (h, w, 3) float32 over each frame's hole box
        self.model_threads = torch.get_num_threads()
        # on a CPU the runner's own short tensor ops (run_window's, finish's) take one thread: when other jobs or the
        # reader thread share the CPU, intra-op threads of such ops spend far longer waiting for each other than working
        self.own_threads = 1 if device.type == "cpu" else self.model_threads

    @contextmanager
    def _model_call(self) -> Iterator[None]:
        """The generator's calls: under autocast, with every intra-op thread."""
        dtype = PRECISIONS[self.options.precision]  # the resolved precision; None: fp32, no autocast
        with intra_op_threads(self.model_threads), torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
            yield

    def _encode(self, segment: int, crop: Box, indices: Sequence[int], frames: FrameCache) -> None:
        todo = [index for index in indices if (segment, index) not in self.features]
        if not todo:
            return
        size = self.options.size
        holes = torch.stack([hole_preserving_resize(frames[i].mask_in(crop), size, frames[i].holes_within(crop)) for i in todo])
        image_batch = hide_holes(to_model_input(torch.stack([frames[i].take_crop(segment) for i in todo])), holes)
        with self._model_call():
            encoded = self.encode(image_batch)
        for index, feature, mask in zip(todo, encoded, holes.float()[:, None]):
            self.features[(segment, index)] = (feature, mask)

    def run_window(self, step: WindowStep, frames: FrameCache) -> None:
        """Predict the window's neighbours and blend the results inside each frame's hole box, on the device."""
        window, crop = step.window, step.crop
        with intra_op_threads(self.own_threads):
            self._encode(step.segment, crop, window.frames, frames)
            features, masks = map(torch.stack, zip(*(self.features[(step.segment, index)] for index in window.frames)))
            with self._model_call():
                predicted = self.decode(features[None], masks[None], len(window.neighbours))[0]
            for index, prediction in zip(window.neighbours, predicted.float().permute(0, 2, 3, 1)):
                box = frames[index].holes
                if box is None:
                    continue
                pixels = prediction_pixels(prediction, (crop.width, crop.height), box.relative(crop).slices)
                self.blended[index] = blend(self.blended.get(index), truncate_pixels(pixels))  # truncated per window, as the release

    def finish(self, index: int, prepared: Prepared) -> np.ndarray:
        """The output frame: the input with its hole pixels replaced by the blended prediction, copied to the host."""
        with intra_op_threads(self.own_threads):
            output = prepared.frame.clone()
            if prepared.holes is not None:
                region = output[prepared.holes.slices]
                # running averages of whole values in [0, 255]: the cast truncates as the release's conversion does
                blended, holes = self.blended.pop(index), prepared.hole_mask[..., None]
                if region.device.type == "cpu":  # NumPy's cast and OpenCV's masked copy, several times faster there than torch's
                    composite(blended.numpy().astype(np.uint8), region.numpy(), holes.numpy(), in_place=True)
                else:
                    composite(blended.to(torch.uint8), region, holes, in_place=True)
            return output.cpu().numpy()


def run_pipeline(
    source: FrameReader,
    masks: MaskReader,
    model: InferenceModel,
    device: torch.device,
    options: InpaintOptions,
    emit: Callable[[FinishedFrame], None],
) -> int:
    """Stream ``source`` through ``model``, handing each finished frame to ``emit`` in order.

    The output size is ``options.size`` for the release protocol, else the source's. Returns the
    number of windows run.
    """
    keep_freed_host_memory()  # every frame's buffers have the same sizes: reuse them rather than fault in fresh pages
    frame_size = options.output_size(source.size)
    holes = Holes(masks, frame_size, options.mask_dilation)
    boxes = holes.boxes(source.num_frames)
    plan = make_plan(boxes, frame_size, options)
    runner = WindowRunner(model, device, options)
    frame_cache = FrameCache(source, holes, boxes, crops_by_frame(plan), options.size, device)
    with closing(frame_cache) as frames, torch.inference_mode(), cudnn_autotuning():
        for step in plan:
            frames.ensure(step.decode)
            if step.runs:
                runner.run_window(step, frames)
            for index in step.finishes:
                emit(FinishedFrame(index, runner.finish(index, frames[index]), frames[index]))
            frames.release(step.frames_released)
            for key in step.features_released:
                runner.features.pop(key, None)
    return sum(step.runs for step in plan)
