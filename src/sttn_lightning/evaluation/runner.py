"""One evaluation over a test set: results from a generator (or saved frames), scored per video.

The protocol of the follow-up papers (reference sections 4-5): ground-truth frames resized to
the working size as the release resizes them, masks resized nearest and dilated, the generator
run with the release's window rules, results composited with the dilated masks, and every
metric computed on those full composited frames. Everything that can be checked is checked
before the first video is run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image
from tqdm import tqdm

from sttn_lightning.errors import InputError
from sttn_lightning.data import DataError, VideoSource
from sttn_lightning.data.masks import MaskSet, dilate_masks, resize_masks
from sttn_lightning.data.sources import FrameFolderSource
from sttn_lightning.evaluation.scoring import DatasetScores, score_video
from sttn_lightning.inference.pipeline import inpaint_frames
from sttn_lightning.inference.roi import resize_like_release
from sttn_lightning.metrics import InceptionI3d
from sttn_lightning.models import InpaintGenerator


class EvaluationError(InputError):
    """Evaluation inputs that do not fit together; the message names the file and the fix."""


class ResultSource(Protocol):
    """Where result frames come from: (T, h, w, 3) uint8 at the working size for one video."""

    def validate(self, source: VideoSource) -> None: ...

    def results(self, video_id: str, frames: np.ndarray, masks: np.ndarray) -> np.ndarray: ...


class GeneratorResults:
    """Results of a generator run through the inference pipeline with the release's window protocol."""

    def __init__(self, generator: InpaintGenerator, options: Mapping[str, Any]) -> None:
        self.generator = generator
        self.options = {**options, "protocol": "release"}

    def validate(self, source: VideoSource) -> None:
        """A generator can inpaint any video of the source."""

    def results(self, video_id: str, frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
        return inpaint_frames(frames, masks, self.generator, **self.options)


class FolderResults:
    """Frames saved earlier, ``<root>/<video_id>/<frame>.png|jpg`` (any method's output), resized to the working size."""

    def __init__(self, root: str | Path, size: tuple[int, int]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise EvaluationError(f"{self.root}: expected a folder of result folders <video_id>/00000.png, found nothing there")
        self.size = tuple(size)
        self._frames = FrameFolderSource(self.root, frames_dir=".")

    def validate(self, source: VideoSource) -> None:
        for video_id in source.video_ids:
            folder = self.root / video_id
            found = self._frames.num_frames(video_id) if folder.is_dir() else 0
            if found != source.num_frames(video_id):
                raise EvaluationError(
                    f"{folder}: expected {source.num_frames(video_id)} result frames like {source.video_path(video_id)}, "
                    f"found {found}"
                )

    def results(self, video_id: str, frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
        return np.stack([resize_like_release(frame, self.size) for frame in self._frames.read_all(video_id)])


def working_holes(masks: np.ndarray, size: tuple[int, int], dilation: int) -> np.ndarray:
    """A video's masks (T, H, W) at ``size`` (width, height), resized and dilated exactly as the pipeline does."""
    return dilate_masks(resize_masks((masks > 0).astype(np.uint8), (size[1], size[0])), dilation)


def _save_frames(folder: Path, frames: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{index:05d}.png")


def evaluate_dataset(
    source: VideoSource,
    mask_set: MaskSet,
    results: ResultSource,
    size: tuple[int, int] = (432, 240),
    mask_dilation: int = 4,
    i3d: InceptionI3d | None = None,
    with_ewarp: bool = True,
    save_dir: Path | None = None,
    progress: bool = True,
) -> DatasetScores:
    """Score every video of ``source`` with fixed masks from ``mask_set``; optionally save the results as PNGs.

    Results are composited into the resized ground truth with the dilated holes (the protocol),
    which leaves a generator's output unchanged and makes saved frames of any method comparable.
    """
    if not source.video_ids:
        raise DataError(f"{source.location}: expected at least one test video, found none")
    results.validate(source)
    scores = DatasetScores()
    for video_id in tqdm(source.video_ids, unit="video", desc="evaluate", disable=not progress):
        frames = source.read_all(video_id)
        masks = mask_set.read(video_id, len(frames), source.frame_size(video_id))
        truth = np.stack([resize_like_release(frame, size) for frame in frames])
        holes = working_holes(masks, size, mask_dilation)
        result = np.where(holes[..., None] > 0, results.results(video_id, frames, masks), truth)
        scores.add(score_video(video_id, result, truth, holes, i3d, with_ewarp))
        if save_dir is not None:
            _save_frames(save_dir / video_id, result)
    return scores
