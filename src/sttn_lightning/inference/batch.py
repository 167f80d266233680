"""Many videos in one run: inputs from a folder, a glob or a list file; masks and outputs matched by stem.

What makes a batch: ``video=`` naming a folder whose entries are video files or folders of
frames (a folder holding images stays one video), a glob pattern, or a ``.txt`` list of paths
(one per line, relative to the list's folder, ``#`` comments). ``mask=`` is one image for every
video or a folder with one entry per input stem (an image, a folder of per-frame masks or a mask
video); ``output=`` is a folder receiving ``<stem>.mp4`` or ``<stem>/`` PNG frames. Everything is
matched and checked before the model loads; then a video that fails on bad input is reported
and the others still run.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from sttn_lightning.errors import InputError
from sttn_lightning.inference.options import InpaintError, InpaintOptions
from sttn_lightning.inference.pipeline import inpaint_video, load_model
from sttn_lightning.media.collection import VIDEO_SUFFIXES
from sttn_lightning.media.images import IMAGE_SUFFIXES, is_image_name
from sttn_lightning.models.exported import InferenceModel

OUTPUT_FORMATS = {"mp4": ".mp4", "png": ""}
GLOB_CHARACTERS = "*?["


@dataclass(frozen=True)
class Job:
    """One video of a batch with the mask and output matched to it."""

    video: Path
    mask: Path
    output: Path


@dataclass
class BatchSummary:
    """Per video: done (with its run summary) or failed (with the one-line reason)."""

    rows: list[tuple[Job, str, str]] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(status == "failed" for _, status, _ in self.rows)

    def __str__(self) -> str:
        lines = ["| video | status | output or reason |", "|---|---|---|"]
        lines += [f"| {job.video} | {status} | {detail} |" for job, status, detail in self.rows]
        lines.append(f"{len(self.rows) - self.failed} done, {self.failed} failed")
        return "\n".join(lines)


def is_batch(video: str | os.PathLike) -> bool:
    """Whether ``video=`` names many videos (see the module docstring) rather than one."""
    path = Path(video)
    if path.exists():
        if path.is_file():
            return path.suffix.lower() == ".txt"
        return not any(entry.is_file() and is_image_name(entry.name) for entry in path.iterdir())
    return any(character in str(video) for character in GLOB_CHARACTERS)


def _is_video_input(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in VIDEO_SUFFIXES


def batch_inputs(video: str | os.PathLike) -> list[Path]:
    """The videos a batch names, in order."""
    path = Path(video)
    if path.is_file() and path.suffix.lower() != ".txt":
        raise InpaintError(f"{path}: expected a folder of videos, a glob or a .txt list of videos, found one video file")
    if path.is_file():
        lines = [line.strip() for line in path.read_text().splitlines()]
        inputs = [path.parent / line for line in lines if line and not line.startswith("#")]
        missing = [item for item in inputs if not item.exists()]
        if missing:
            raise InpaintError(f"{path}: lists {missing[0]}, expected a video file or a folder of frames, found nothing there")
    elif path.is_dir():
        inputs = sorted(entry for entry in path.iterdir() if _is_video_input(entry))
    else:
        inputs = sorted(Path(match) for match in glob.glob(str(video)) if _is_video_input(Path(match)))
    if not inputs:
        raise InpaintError(f"{video}: expected video files or folders of frames, found none")
    return inputs


def _mask_for(stem: str, mask: Path) -> Path:
    """The entry of a mask folder for one input stem: an image, a folder or a mask video."""
    matches = [
        entry for entry in mask.iterdir()
        if (entry.is_dir() and entry.name == stem)
        or (entry.is_file() and entry.stem == stem and entry.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
    ]
    if len(matches) != 1:
        found = "nothing" if not matches else " and ".join(sorted(entry.name for entry in matches))
        raise InpaintError(f"{mask}: expected one mask entry named {stem!r} (an image, a folder or a mask video), found {found}")
    return matches[0]


def plan_batch(
    video: str | os.PathLike, mask: str | os.PathLike, output: str | os.PathLike, output_format: str = "mp4", overwrite: bool = False
) -> list[Job]:
    """Match every input to its mask and output; refuses what cannot work before anything runs."""
    if output_format not in OUTPUT_FORMATS:
        raise InpaintError(f"output_format: expected one of {tuple(OUTPUT_FORMATS)}, found {output_format!r}")
    inputs = batch_inputs(video)
    mask, output = Path(mask), Path(output)
    if not mask.exists():
        raise InpaintError(f"{mask}: expected a mask image or a folder of masks named like the inputs, found nothing there")
    if output.suffix:
        raise InpaintError(f"{output}: expected a folder name (without suffix) for the batch's outputs, found suffix {output.suffix!r}")
    if output.exists() and not overwrite:
        raise InpaintError(f"{output}: the output folder already exists; pass overwrite=true to replace its outputs or choose another output=")
    jobs, seen = [], {}
    for item in inputs:
        stem = item.name if item.is_dir() else item.stem
        if stem in seen:
            raise InpaintError(f"{item}: maps to the output {stem!r} like {seen[stem]}; rename one of them")
        seen[stem] = item
        item_mask = _mask_for(stem, mask) if mask.is_dir() else mask
        jobs.append(Job(item, item_mask, output / f"{stem}{OUTPUT_FORMATS[output_format]}"))
    return jobs


def inpaint_videos(jobs: Sequence[Job], generator: InferenceModel | str | os.PathLike | None, **options) -> BatchSummary:
    """Inpaint every job with one loaded model; bad input of one video is reported, the others still run."""
    opts = InpaintOptions(**options)
    model, _ = load_model(generator, opts)
    summary = BatchSummary()
    for job in tqdm(jobs, unit="video", desc="videos", disable=not opts.progress):
        try:
            result = inpaint_video(job.video, job.mask, model, job.output, **options)
        except InputError as error:
            summary.rows.append((job, "failed", " ".join(str(error).splitlines())))
        else:
            summary.rows.append((job, "done", str(result)))
    return summary
