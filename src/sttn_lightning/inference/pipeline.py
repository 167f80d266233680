"""The streaming inpainting loop: frames in, windows through the generator, frames out.

Memory stays flat in the video's length. Windows run in frame order; a frame is decoded when
the first window needs it and dropped after the last one (or once written); encoder features
are cached per frame and shared by every window that reads the frame with the same crop;
a frame's blended prediction lives only until the frame is final and written.

Crops (protocol ``native``): windows are grouped by centre into segments of ``crop_segment``
frames. A segment has one crop, the context box (see ``roi.context_crop``) around the holes of
every frame its windows predict, so within a segment a frame is encoded once and its features
are reused; only frames read by two segments are encoded twice. Predictions are resized back
to the crop and blended at the frame's resolution, where only dilated-hole pixels change.
Protocol ``release`` is the release's pipeline: whole frames resized to the working size, which
is also the output size, one "crop" (the whole frame) for the whole video.

Memory held: the frames of the current window, its references and one sequential read-ahead
(at most READ_AHEAD + DECODE_CHUNK frames at the protocol's resolution), their features at the
working size, and the blended predictions of unfinished frames inside their hole boxes. What
grows with length is a hole box per frame (bytes) and, without a reference cap (the release's
rule: every ``reference_stride``-th frame of the video), the references: their frames and
features stay cached for the whole run (num_frames / reference_stride feature maps of
hidden x H/4 x W/4 values, 6.6 MB each in fp32 at 432x240) and each window's compute grows
with them. ``max_references`` bounds both; ``auto`` caps native runs at 10.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from sttn_lightning.data.masks import dilate_masks
from sttn_lightning.inference.arrays import ArrayFrames, ArrayMasks, MaskReader
from sttn_lightning.inference.errors import InpaintError
from sttn_lightning.inference.roi import Box, context_crop, mask_bbox, resize_like_release, to_working, union, working_to_box
from sttn_lightning.inference.video_io import FrameSource, MaskSource, check_output, open_frames, open_writer
from sttn_lightning.inference.windows import Window, blend, last_neighbour_window, plan_windows, to_pixels
from sttn_lightning.models import InpaintGenerator
from sttn_lightning.models.exported import BACKENDS, InferenceModel, load_inference_model

PROTOCOLS = ("native", "release")
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
NATIVE_MAX_REFERENCES = 10  # bounds native runs; covers every reference of videos up to ~100 frames
RELEASE_FPS = 24.0  # what the release writes, used when the input carries no frame rate
READ_AHEAD = 32  # needed frames up to this far past the last read are decoded in one sequential run
DECODE_CHUNK = 16  # the shortest sequential run: frames are decoded in order in batches, memory stays bounded
HOLE_SCAN_CHUNK = 8  # masks dilated at once while locating the holes before the run


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
    precision: str = "fp32"
    fps: float | None = None
    crf: int = 18
    overwrite: bool = False
    progress: bool = True
    backend: str = "torch"
    providers: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if len(self.size) != 2 or min(self.size) < 1:
            raise InpaintError(f"size: expected [width, height] of positive pixels, found {list(self.size)}")
        self.size = (int(self.size[0]), int(self.size[1]))
        if self.protocol not in PROTOCOLS:
            raise InpaintError(f"protocol: expected one of {PROTOCOLS}, found {self.protocol!r}")
        if self.precision not in PRECISIONS:
            raise InpaintError(f"precision: expected one of {tuple(PRECISIONS)}, found {self.precision!r}")
        if self.backend not in BACKENDS:
            raise InpaintError(f"backend: expected one of {BACKENDS}, found {self.backend!r}")
        if self.backend != "torch" and self.precision != "fp32":
            raise InpaintError(
                f"precision: backend={self.backend} runs at the precision the file was exported with; "
                f"pass precision=fp32 (found {self.precision})"
            )
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
    peak_device_mb: float | None = None

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")

    def __str__(self) -> str:
        device_memory = f", peak {self.device} memory {self.peak_device_mb:.0f} MB" if self.peak_device_mb is not None else ""
        return (
            f"{self.output}: {self.frames} frames in {self.seconds:.1f} s ({self.fps:.2f} frames/s), "
            f"{self.windows_run} windows run, protocol {self.protocol}, peak RSS {self.peak_rss_mb:.0f} MB{device_memory}"
        )


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


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
        raise InpaintError(f"device: expected auto, cpu, cuda or mps, found {name!r}")
    if not available[name]:
        raise InpaintError(f"device: {name} is not available on this machine; pass device=auto or device=cpu")
    return torch.device(name)


def check_working_size(size: tuple[int, int], generator: InpaintGenerator) -> None:
    """The feature map (a quarter of the working size) must hold at least one pixel per patch of every grid."""
    grids = generator.config["patch_grids"]
    rows, cols = max(grid[0] for grid in grids), max(grid[1] for grid in grids)
    if -(-size[0] // 4) < cols or -(-size[1] // 4) < rows:
        raise InpaintError(
            f"size: {size[0]}x{size[1]} is too small for the generator's patch grids {grids}: a quarter of it must be "
            f"at least {cols}x{rows} feature pixels; pass size=[{4 * cols},{4 * rows}] or larger"
        )


def _to_tensor(frame: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 RGB (H, W, 3) and {0, 1} mask (H, W) -> frame in [-1, 1] (3, H, W), mask (1, H, W)."""
    image = torch.tensor(frame).permute(2, 0, 1).float() / 255 * 2 - 1
    return image, torch.tensor(mask).float()[None]


@dataclass
class _Prepared:
    """A decoded frame at the protocol's resolution; its dilated holes are kept only inside their box."""

    frame: np.ndarray
    holes: Box | None
    hole_mask: np.ndarray | None  # uint8 {0, 1} over ``holes``

    def mask_in(self, box: Box) -> np.ndarray:
        """The {0, 1} hole mask over ``box``, which may cover the holes partly or not at all."""
        mask = np.zeros((box.height, box.width), np.uint8)
        overlap = self.holes.intersection(box) if self.holes is not None else None
        if overlap is not None:
            mask[overlap.relative(box).slices] = self.hole_mask[overlap.relative(self.holes).slices]
        return mask


class _FrameCache:
    """Decoded frames kept from first need to last use; reads sequentially, seeks only far ahead.

    Holds at most the frames of the current window, the references ahead of it and one
    sequential run (up to READ_AHEAD frames): a bound set by the options, not the video's length.
    """

    def __init__(self, source: FrameSource, prepare: Callable[[list[int], list[np.ndarray]], list[_Prepared]]):
        self._source = source
        self._prepare = prepare
        self._frames: dict[int, _Prepared] = {}
        self._cursor = 0  # every frame below it has been read

    def ensure(self, indices: set[int]) -> None:
        missing = sorted(index for index in indices if index not in self._frames)
        if not missing:
            return
        near = [index for index in missing if index < self._cursor + READ_AHEAD]
        run: list[int] = []
        if near:
            end = min(self._source.num_frames, max(max(near) + 1, self._cursor + DECODE_CHUNK))
            run = [index for index in range(self._cursor, end) if index not in self._frames]
            self._cursor = end
        far = [index for index in missing if index not in run]
        for indices_read in (run, far):
            if indices_read:
                for index, prepared in zip(indices_read, self._prepare(indices_read, self._source.read(indices_read))):
                    self._frames[index] = prepared

    def __getitem__(self, index: int) -> _Prepared:
        return self._frames[index]

    def evict(self, indices: Sequence[int]) -> None:
        for index in indices:
            self._frames.pop(index, None)


@dataclass
class _Plan:
    """Everything decided before the first frame is decoded: windows, crops, and when data is last used."""

    windows: list[Window]
    active: list[bool]  # windows that predict at least one frame with holes
    segment: list[int]
    crops: dict[int, Box]
    final_at: dict[int, list[int]] = field(default_factory=dict)  # window -> frames final after it
    frames_done_at: dict[int, list[int]] = field(default_factory=dict)
    features_done_at: dict[int, list[tuple[int, int]]] = field(default_factory=dict)


def _make_plan(holes: list[Box | None], frame_size: tuple[int, int], options: InpaintOptions) -> _Plan:
    num_frames = len(holes)
    windows = plan_windows(num_frames, options.neighbour_stride, options.reference_stride, options.max_references)
    active = [any(holes[index] is not None for index in window.neighbours) for window in windows]
    if options.protocol == "release":
        segment = [0] * len(windows)
        crops = {0: Box(0, 0, *frame_size)}
    else:
        segment = [window.centre // options.crop_segment for window in windows]
        boxes: dict[int, list[Box | None]] = {}
        for position, window in enumerate(windows):
            if active[position]:
                boxes.setdefault(segment[position], []).extend(holes[index] for index in window.neighbours)
        crops = {
            key: context_crop(union(value), frame_size, options.size, options.crop_margin) for key, value in boxes.items()
        }
    frame_last: dict[int, int] = {}
    feature_last: dict[tuple[int, int], int] = {}
    for position, window in enumerate(windows):
        if active[position]:
            for index in window.frames:
                frame_last[index] = position
                feature_last[(segment[position], index)] = position
    plan = _Plan(windows, active, segment, crops)
    for index, position in enumerate(last_neighbour_window(windows, num_frames)):
        plan.final_at.setdefault(position, []).append(index)
        frame_last[index] = max(frame_last.get(index, position), position)
    for index, position in frame_last.items():
        plan.frames_done_at.setdefault(position, []).append(index)
    for key, position in feature_last.items():
        plan.features_done_at.setdefault(position, []).append(key)
    return plan


class _Runner:
    """One run over one video: owns the caches and the generator calls."""

    def __init__(self, generator: InpaintGenerator, device: torch.device, options: InpaintOptions) -> None:
        self.generator = generator
        self.device = device
        self.options = options
        self.features: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}
        self.blended: dict[int, np.ndarray] = {}
        self.windows_run = 0

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=PRECISIONS[self.options.precision], enabled=self.options.precision != "fp32")

    def _encode(self, segment: int, crop: Box, indices: Sequence[int], frames: _FrameCache) -> None:
        todo = [index for index in indices if (segment, index) not in self.features]
        if not todo:
            return
        images, masks = zip(
            *(_to_tensor(*to_working(frames[i].frame[crop.slices], frames[i].mask_in(crop), self.options.size)) for i in todo)
        )
        image_batch = torch.stack(images).to(self.device)
        mask_batch = torch.stack(masks).to(self.device)
        with self._autocast():
            encoded = self.generator.encode(image_batch * (1 - mask_batch))
        for index, feature, mask in zip(todo, encoded, mask_batch):
            self.features[(segment, index)] = (feature, mask)

    def run_window(self, window: Window, segment: int, crop: Box, holes: list[Box | None], frames: _FrameCache) -> None:
        """Predict the window's neighbours and blend the results inside each frame's hole box."""
        self._encode(segment, crop, window.frames, frames)
        features = torch.stack([self.features[(segment, index)][0] for index in window.frames])
        masks = torch.stack([self.features[(segment, index)][1] for index in window.frames])
        with self._autocast():
            predicted = self.generator.decode_features(features[None], masks[None], len(window.neighbours))[0]
        pixels = ((predicted.float() + 1) / 2 * 255).permute(0, 2, 3, 1).cpu().numpy()
        for index, prediction in zip(window.neighbours, pixels):
            box = holes[index]
            if box is None:
                continue
            values = to_pixels(working_to_box(prediction, crop)[box.relative(crop).slices])
            self.blended[index] = blend(self.blended.get(index), values)
        self.windows_run += 1

    def finish(self, index: int, prepared: _Prepared) -> np.ndarray:
        """The output frame: the input with its hole pixels replaced by the blended prediction."""
        output = prepared.frame.copy()
        if prepared.holes is not None:
            region = output[prepared.holes.slices]
            holes = prepared.hole_mask.astype(bool)
            region[holes] = to_pixels(self.blended.pop(index))[holes]
        return output

    def evict_features(self, keys: Sequence[tuple[int, int]]) -> None:
        for key in keys:
            self.features.pop(key, None)


def _hole_masks(masks: MaskReader, indices: Sequence[int], size: tuple[int, int], dilation: int) -> np.ndarray:
    """Dilated {0, 1} hole masks (n, H, W) of the given frames at ``size``."""
    return dilate_masks(np.stack(masks.read(indices, size)), dilation)


def _locate_holes(masks: MaskReader, num_frames: int, size: tuple[int, int], dilation: int) -> list[Box | None]:
    """Every frame's hole box, found before the run so that crops and windows to skip are known up front."""
    return [
        mask_bbox(hole)
        for start in range(0, num_frames, HOLE_SCAN_CHUNK)
        for hole in _hole_masks(masks, range(start, min(start + HOLE_SCAN_CHUNK, num_frames)), size, dilation)
    ]


def _prepare(
    masks: MaskReader,
    frame_size: tuple[int, int],
    holes: list[Box | None],
    options: InpaintOptions,
    indices: list[int],
    decoded: list[np.ndarray],
) -> list[_Prepared]:
    """Decoded frames at the protocol's resolution (release: resized as the release, bicubic) with their holes."""
    if options.protocol == "release":
        decoded = [resize_like_release(frame, frame_size) for frame in decoded]
    prepared = []
    for index, frame in zip(indices, decoded):
        box = holes[index]
        if box is None:
            prepared.append(_Prepared(frame, None, None))
        else:
            hole_mask = _hole_masks(masks, [index], frame_size, options.mask_dilation)[0]
            prepared.append(_Prepared(frame, box, hole_mask[box.slices].copy()))
    return prepared


def _resolve_generator(
    generator: InferenceModel | str | os.PathLike | None, device: torch.device, options: InpaintOptions
) -> InferenceModel:
    if not isinstance(generator, (str, os.PathLike, type(None))):
        return generator.to(device).eval()
    if generator is None:
        raise InpaintError(
            "ckpt: expected a generator checkpoint (the official sttn.pth, an exported generator or a training "
            "checkpoint), found none; pass ckpt=PATH"
        )
    return load_inference_model(generator, options.backend, device, options.providers, options.size)


def run_pipeline(
    source: FrameSource,
    masks: MaskReader,
    model: InpaintGenerator,
    device: torch.device,
    options: InpaintOptions,
    write: Callable[[np.ndarray], None],
    advance: Callable[[int], object] = lambda count: None,
) -> int:
    """Stream ``source`` through ``model``, handing each finished uint8 frame to ``write`` in order.

    The output size is ``options.size`` for the release protocol, else the source's. ``advance``
    is told how many frames were written (a progress bar). Returns the number of windows run.
    """
    frame_size = options.size if options.protocol == "release" else source.size
    holes = _locate_holes(masks, source.num_frames, frame_size, options.mask_dilation)
    plan = _make_plan(holes, frame_size, options)
    runner = _Runner(model, device, options)
    frames = _FrameCache(source, partial(_prepare, masks, frame_size, holes, options))
    with torch.inference_mode():
        for position, window in enumerate(plan.windows):
            final = plan.final_at.get(position, [])
            frames.ensure(set(final) | (set(window.frames) if plan.active[position] else set()))
            if plan.active[position]:
                segment = plan.segment[position]
                runner.run_window(window, segment, plan.crops[segment], holes, frames)
            for index in final:
                write(runner.finish(index, frames[index]))
                advance(1)
            frames.evict(plan.frames_done_at.get(position, []))
            runner.evict_features(plan.features_done_at.get(position, []))
    return runner.windows_run


def inpaint_frames(
    frames: np.ndarray,
    masks: np.ndarray,
    generator: InferenceModel | str | os.PathLike,
    **options,
) -> np.ndarray:
    """Inpaint a clip held in memory: (T, H, W, 3) uint8 frames, (T, H, W) masks (non-zero = hole).

    The same pipeline as ``inpaint_video`` without files: returns (T, h, w, 3) uint8 frames,
    at ``size`` for the release protocol, else at the frames' size. ``progress`` defaults to off.
    """
    opts = InpaintOptions(**{"progress": False, **options})
    source = ArrayFrames(frames)
    hole_masks = ArrayMasks(masks, source.num_frames, source.size)
    device = resolve_device(opts.device)
    model = _resolve_generator(generator, device, opts)
    check_working_size(opts.size, model)
    written: list[np.ndarray] = []
    run_pipeline(source, hole_masks, model, device, opts, written.append)
    return np.stack(written)


def inpaint_video(
    video: str | os.PathLike,
    mask: str | os.PathLike,
    generator: InferenceModel | str | os.PathLike | None,
    output: str | os.PathLike,
    **options,
) -> InpaintSummary:
    """Inpaint the holes of ``video`` given by ``mask`` and write ``output``; returns a summary.

    ``video``: a video file or a folder of frames. ``mask``: one image for every frame, a folder
    of per-frame images or a mask video (non-zero = hole). ``generator``: a model or a checkpoint
    path for ``load_inference_model`` (an exported file with ``backend=onnxruntime`` or
    ``torch_export``). ``output``: a video file (source fps and audio kept) or a folder
    name for lossless PNG frames. ``options``: the fields of ``InpaintOptions``. Raises
    ``InpaintError`` (or another ``InputError``: ``CheckpointError``, ``ExportedModelError``) for bad input and leaves no output behind then.
    """
    opts = InpaintOptions(**options)
    started = time.perf_counter()
    output = Path(output)
    check_output(output, opts.overwrite)
    source = open_frames(video)
    masks = MaskSource(mask, source.num_frames, source.size, opts.mask_repeat)
    device = resolve_device(opts.device)
    model = _resolve_generator(generator, device, opts)
    check_working_size(opts.size, model)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    fps = opts.fps or source.fps or RELEASE_FPS
    frame_size = opts.size if opts.protocol == "release" else source.size
    progress = tqdm(total=source.num_frames, unit="frame", disable=not opts.progress, desc=output.name)
    with progress, open_writer(output, frame_size, fps, source.audio_path, opts.crf, opts.overwrite) as writer:
        windows_run = run_pipeline(source, masks, model, device, opts, writer.write, progress.update)
    peak_device = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return InpaintSummary(
        output=output,
        frames=source.num_frames,
        windows_run=windows_run,
        seconds=time.perf_counter() - started,
        peak_rss_mb=peak_rss_mb(),
        device=str(device),
        protocol=opts.protocol,
        peak_device_mb=peak_device,
    )
