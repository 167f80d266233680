"""The run's plan, decided before the first frame is decoded: one record per window, in run order.

Each record says what the window needs decoded, whether the model runs at all (a window whose
frames have no holes is skipped), which crop it sees, which frames are final after it, and which
decoded frames and encoder features nobody reads afterwards. Reading the records top to bottom
is the whole schedule; memory stays bounded because everything is released at its last use.

Crops (protocol ``native``): windows are grouped by centre into segments of ``crop_segment``
frames. A segment has one crop, the context box (``roi.context_crop``) around the holes of every
frame its windows predict, so within a segment a frame is encoded once and its features are
reused; consecutive segments with the same crop (holes that stay put) are one segment.
Protocol ``release``: one crop, the whole (resized) frame, for the whole video.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sttn_lightning.inference.options import InpaintOptions
from sttn_lightning.inference.roi import Box, context_crop, union
from sttn_lightning.inference.windows import Window, plan_windows
from sttn_lightning.media import Size

FeatureKey = tuple[int, int]  # (crop segment, frame index): encoder features are per frame and crop


@dataclass(frozen=True)
class WindowStep:
    """One window of the plan and the bookkeeping that goes with it."""

    window: Window
    runs: bool  # predicts at least one frame with holes, so the model runs
    segment: int
    crop: Box | None  # the crop the model sees (None when the window does not run)
    decode: frozenset[int]  # frames that must be decoded before the step
    finishes: tuple[int, ...]  # frames final after the step, in order
    frames_released: tuple[int, ...]  # decoded frames no later step reads
    features_released: tuple[FeatureKey, ...]  # encoder features no later step reads


def _merge_equal_crops(segments: list[int], crops: dict[int, Box]) -> list[int]:
    """Each window's segment, consecutive segments with the same crop merged into their first (static holes: all of them)."""
    merged: dict[int, int] = {}
    previous = None
    for segment in sorted(set(segments)):
        same = previous is not None and segment in crops and crops.get(previous) == crops[segment]
        merged[segment] = merged[previous] if same else segment
        previous = segment
    return [merged[segment] for segment in segments]


def make_plan(holes: list[Box | None], frame_size: Size, options: InpaintOptions) -> list[WindowStep]:
    """Every window of a video with its crop and the last uses of frames and features."""
    windows = plan_windows(len(holes), options.neighbour_stride, options.reference_stride, options.max_references)
    runs = [any(holes[index] is not None for index in window.neighbours) for window in windows]
    if options.protocol == "release":
        segments = [0] * len(windows)
        crops = {0: Box(0, 0, *frame_size)}
    else:
        segments = [window.centre // options.crop_segment for window in windows]
        hole_boxes: dict[int, list[Box | None]] = {}
        for window, segment, window_runs in zip(windows, segments, runs):
            if window_runs:
                hole_boxes.setdefault(segment, []).extend(holes[index] for index in window.neighbours)
        crops = {segment: context_crop(union(boxes), frame_size, options.size, options.crop_margin) for segment, boxes in hole_boxes.items()}
        segments = _merge_equal_crops(segments, crops)

    finish_at: dict[int, int] = {}  # frame -> the last window predicting it: the frame is final after it
    frame_last: dict[int, int] = {}
    feature_last: dict[FeatureKey, int] = {}
    for position, (window, segment, window_runs) in enumerate(zip(windows, segments, runs)):
        finish_at.update(dict.fromkeys(window.neighbours, position))
        if window_runs:
            frame_last.update(dict.fromkeys(window.frames, position))
            feature_last.update(dict.fromkeys(((segment, index) for index in window.frames), position))
    finishes: dict[int, list[int]] = defaultdict(list)  # by position, as are the releases
    for index, position in finish_at.items():
        finishes[position].append(index)
        frame_last[index] = max(frame_last.get(index, position), position)
    frames_released: dict[int, list[int]] = defaultdict(list)
    for index, position in frame_last.items():
        frames_released[position].append(index)
    features_released: dict[int, list[FeatureKey]] = defaultdict(list)
    for key, position in feature_last.items():
        features_released[position].append(key)

    return [
        WindowStep(
            window=window,
            runs=window_runs,
            segment=segment,
            crop=crops[segment] if window_runs else None,
            decode=frozenset(finishes[position]) | (frozenset(window.frames) if window_runs else frozenset()),
            finishes=tuple(finishes[position]),
            frames_released=tuple(frames_released[position]),
            features_released=tuple(features_released[position]),
        )
        for position, (window, segment, window_runs) in enumerate(zip(windows, segments, runs))
    ]


def crops_by_frame(plan: list[WindowStep]) -> dict[int, dict[int, Box]]:
    """The crops the model sees of each frame, by segment: every frame a running window reads, with the window's crop."""
    crops: dict[int, dict[int, Box]] = defaultdict(dict)
    for step in plan:
        if step.runs:
            for index in step.window.frames:
                crops[index][step.segment] = step.crop
    return dict(crops)
