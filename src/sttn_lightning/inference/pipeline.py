"""The two ways into the streaming pipeline: files (``inpaint_video``) and clips in memory (``inpaint_frames``).

Both check every input before any work, then run ``runner.run_pipeline``; nothing here holds a
whole video.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from sttn_lightning.devices import peak_rss_mb
from sttn_lightning.inference.options import RELEASE_FPS, InpaintError, InpaintOptions, InpaintSummary
from sttn_lightning.inference.background import BackgroundConsumer
from sttn_lightning.inference.runner import FinishedFrame, run_pipeline
from sttn_lightning.media import ArrayFrames, ArrayMasks, MediaError, check_masks, check_output, open_frames, open_masks, open_writer
from sttn_lightning.models.exported import InferenceModel, load_inference_model
from sttn_lightning.protocol import check_working_size


def load_model(generator: InferenceModel | str | os.PathLike | None, options: InpaintOptions) -> tuple[InferenceModel, torch.device]:
    """The model, as given or loaded for ``options.backend``, in eval mode on the resolved device; its working size checked."""
    device = options.resolve_device()
    if generator is None:
        raise InpaintError(
            "ckpt: expected a generator checkpoint (the official sttn.pth, an exported generator or a training "
            "checkpoint), found none; pass ckpt=PATH"
        )
    if isinstance(generator, (str, os.PathLike)):
        model = load_inference_model(generator, options.backend, device, options.providers, options.size)
    else:
        model = generator.to(device).eval()
    check_working_size(options.size, model.config["patch_grids"], InpaintError)
    return model, device


def inpaint_frames(frames: np.ndarray, masks: np.ndarray, generator: InferenceModel | str | os.PathLike, **options) -> np.ndarray:
    """Inpaint a clip held in memory: (T, H, W, 3) uint8 frames, (T, H, W) masks (non-zero = hole).

    The same pipeline as ``inpaint_video`` without files (and without a progress bar): returns (T, h, w, 3)
    uint8 frames, at ``size`` for the release protocol, else at the frames' size.
    """
    opts = InpaintOptions(**options)
    source = ArrayFrames(frames)
    hole_masks = ArrayMasks(masks)
    if len(masks) != source.num_frames or hole_masks.size != source.size:
        raise MediaError(
            f"masks: expected an array of shape {(source.num_frames, source.size.height, source.size.width)} "
            f"(one mask per frame), found {masks.shape}"
        )
    model, device = load_model(generator, opts)
    width, height = opts.output_size(source.size)
    written = np.empty((source.num_frames, height, width, 3), np.uint8)  # filled in place: no list to stack at the end
    run_pipeline(source, hole_masks, model, device, opts, lambda finished: written.__setitem__(finished.index, finished.output))
    return written


def inpaint_video(
    video: str | os.PathLike,
    mask: str | os.PathLike,
    generator: InferenceModel | str | os.PathLike | None,
    output: str | os.PathLike,
    **options,
) -> InpaintSummary:
    """Inpaint the holes of ``video`` given by ``mask`` and write ``output``; returns a summary.

    ``video``: a video file or a folder of frames. ``mask``: one image for every frame, a folder
    of per-frame images or a mask video (non-zero = hole). ``generator``: a model, a checkpoint path
    for ``load_generator`` or, with ``backend=onnxruntime|torch_export``, an exported file. ``output``: a video file (source fps and audio kept) or a folder
    name for lossless PNG frames. ``options``: the fields of ``InpaintOptions``. Raises an
    ``InputError`` (``InpaintError``, ``MediaError``, ``CheckpointError``) for bad input and leaves
    no output behind then.
    """
    opts = InpaintOptions(**options)
    started = time.perf_counter()
    output = Path(output)
    check_output(output, opts.overwrite)
    source = open_frames(video)
    masks = check_masks(open_masks(mask), source.num_frames, source.size, source.path, opts.mask_repeat)
    model, device = load_model(generator, opts)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    fps = opts.fps or source.fps or RELEASE_FPS
    with (
        tqdm(total=source.num_frames, unit="frame", disable=not opts.progress, desc=output.name) as progress,
        open_writer(output, opts.output_size(source.size), fps, source.audio_path, opts.crf, opts.overwrite) as writer,
        BackgroundConsumer(writer.write) as background,
    ):

        def write(finished: FinishedFrame) -> None:
            background.put(finished.output)
            progress.update(1)

        windows_run = run_pipeline(source, masks, model, device, opts, write)
    source.close()
    return InpaintSummary(
        output=output,
        frames=source.num_frames,
        windows_run=windows_run,
        seconds=time.perf_counter() - started,
        peak_rss_mb=peak_rss_mb(),
        device=str(device),
        protocol=opts.protocol,
        precision=opts.precision,
        peak_device_mb=torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
    )
