"""One evaluation over a test set: every video streamed through the protocol into a scoring sink.

The protocol of the follow-up papers (reference sections 4-5): ground-truth frames resized to the
working size as the release resizes them, masks resized nearest and dilated, the generator run
with the release's window rules through the inference pipeline, results composited with the
dilated masks, and every metric computed on those full composited frames. Nothing holds a whole
video: frames flow from the reader through the pipeline into ``VideoScorer`` (and, when asked,
a PNG writer). Everything that can be checked is checked before the first video is run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from sttn_lightning.errors import InputError
from sttn_lightning.evaluation.scoring import DatasetScores, VideoScorer
from sttn_lightning.inference import InpaintOptions, run_pipeline
from sttn_lightning.media import FolderFrames, FrameReader, MaskReader, MaskSet, Size, VideoCollection, open_writer
from sttn_lightning.metrics import InceptionI3d
from sttn_lightning.models import InpaintGenerator
from sttn_lightning.protocol import composite, resize_frame, working_holes

CHUNK = 8  # frames read, resized and scored together when results come from saved frames

# result, ground truth (both uint8 (H, W, 3) at the working size) and the (H, W) dilated holes
FrameSink = Callable[[np.ndarray, np.ndarray, np.ndarray], None]


class EvaluationError(InputError):
    """Evaluation inputs that do not fit together; the message names the file and the fix."""


class ResultSource(Protocol):
    """Where result frames come from; each is emitted composited, beside its ground truth and holes."""

    def validate(self, collection: VideoCollection) -> None: ...

    def stream(self, video_id: str, truth: FrameReader, masks: MaskReader, size: Size, dilation: int, emit: FrameSink) -> None: ...


class GeneratorResults:
    """Results of a generator run through the inference pipeline with the release's protocol."""

    def __init__(self, generator: InpaintGenerator, options: Mapping[str, Any]) -> None:
        self.generator = generator
        self.options = dict(options)

    def validate(self, collection: VideoCollection) -> None:
        """A generator can inpaint any video of the collection."""

    def stream(self, video_id: str, truth: FrameReader, masks: MaskReader, size: Size, dilation: int, emit: FrameSink) -> None:
        options = InpaintOptions(**{**self.options, "size": size, "mask_dilation": dilation, "protocol": "release"})
        device = options.resolve_device()
        run_pipeline(
            truth, masks, self.generator, device, options,
            lambda finished: emit(finished.output, finished.input, finished.holes),
        )


class FolderResults:
    """Frames saved earlier, ``<root>/<video_id>/<frame>.png|jpg`` (any method's output), resized to the working size."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise EvaluationError(f"{self.root}: expected a folder of result folders <video_id>/00000.png, found nothing there")

    def validate(self, collection: VideoCollection) -> None:
        for video_id in collection.video_ids:
            folder = self.root / video_id
            found = FolderFrames(folder).num_frames if folder.is_dir() else 0
            if found != collection.num_frames(video_id):
                raise EvaluationError(
                    f"{folder}: expected {collection.num_frames(video_id)} result frames like "
                    f"{collection.video_path(video_id)}, found {found}"
                )

    def stream(self, video_id: str, truth: FrameReader, masks: MaskReader, size: Size, dilation: int, emit: FrameSink) -> None:
        results = FolderFrames(self.root / video_id)
        for start in range(0, truth.num_frames, CHUNK):
            indices = range(start, min(start + CHUNK, truth.num_frames))
            holes = working_holes(np.stack(masks.read(indices)), size, dilation)
            for result, frame, hole in zip(results.read(indices), truth.read(indices), holes):
                frame = resize_frame(frame, size)
                emit(composite(resize_frame(result, size), frame, hole[..., None]), frame, hole)


def evaluate_dataset(
    collection: VideoCollection,
    mask_set: MaskSet,
    results: ResultSource,
    size: Size = Size(432, 240),
    mask_dilation: int = 4,
    i3d: InceptionI3d | None = None,
    with_ewarp: bool = True,
    save_dir: Path | None = None,
    progress: bool = True,
) -> DatasetScores:
    """Score every video of ``collection`` with fixed masks from ``mask_set``; optionally save the results as PNGs.

    Results are composited into the resized ground truth with the dilated holes (the protocol),
    which leaves a generator's output unchanged and makes saved frames of any method comparable.
    """
    results.validate(collection)
    mask_set.validate(collection)
    scores = DatasetScores()
    for video_id in tqdm(collection.video_ids, unit="video", desc="evaluate", disable=not progress):
        truth = collection.reader(video_id)
        masks = mask_set.reader(video_id, truth.num_frames, truth.size)
        scorer = VideoScorer(video_id, i3d, with_ewarp)
        if save_dir is None:
            results.stream(video_id, truth, masks, size, mask_dilation, scorer.add)
        else:
            with open_writer(save_dir / video_id, size, fps=truth.fps or 24.0, overwrite=True) as writer:

                def score_and_save(result: np.ndarray, frame: np.ndarray, holes: np.ndarray) -> None:
                    scorer.add(result, frame, holes)
                    writer.write(result)

                results.stream(video_id, truth, masks, size, mask_dilation, score_and_save)
        collection.close()
        scores.videos.append(scorer.scores())
    return scores
