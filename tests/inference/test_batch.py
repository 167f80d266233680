"""Many videos per run: what counts as a batch, matching masks and outputs by stem, per-video failures."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from sttn_lightning.inference import batch
from sttn_lightning.inference.batch import inpaint_videos, is_batch, plan_batch
from sttn_lightning.inference.options import InpaintError
from tests.inference.conftest import (
    TINY_SIZE,
    box_mask,
    make_frames,
    read_png_folder,
    write_frame_folder,
    write_mask,
    write_video,
)

WIDTH, HEIGHT = 40, 24


@pytest.fixture
def inputs(tmp_path):
    """clips/ holding a frame folder 'a', a video 'b.mp4' and a frame folder 'c'; masks/ by stem."""
    clips = tmp_path / "clips"
    write_frame_folder(clips / "a", make_frames(4, WIDTH, HEIGHT, seed=1))
    write_video(clips / "b.mp4", make_frames(5, WIDTH, HEIGHT, seed=2))
    write_frame_folder(clips / "c", make_frames(3, WIDTH, HEIGHT, seed=3))
    masks = tmp_path / "masks"
    write_mask(masks / "a.png", box_mask(WIDTH, HEIGHT, 5, 5, 15, 12))
    for index in range(5):
        write_mask(masks / "b" / f"{index:03d}.png", box_mask(WIDTH, HEIGHT, 10, 5, 20, 15))
    write_video(masks / "c.mp4", np.repeat(box_mask(WIDTH, HEIGHT, 2, 2, 9, 9)[None, ..., None] * 255, 3, axis=0).repeat(3, axis=3))
    return clips, masks


def test_what_counts_as_a_batch(tmp_path, inputs):
    clips, _ = inputs
    assert is_batch(clips) and not is_batch(clips / "a") and not is_batch(clips / "b.mp4")
    assert is_batch(tmp_path / "clips" / "*") and not is_batch(tmp_path / "missing.mp4")
    listing = tmp_path / "list.txt"
    listing.write_text("# two of them\nclips/a\n\nclips/b.mp4\n")
    assert is_batch(listing)
    assert [job.video.name for job in plan_batch(listing, clips / "a" / "0000.png", tmp_path / "out")] == ["a", "b.mp4"]
    assert [job.video.name for job in plan_batch(tmp_path / "clips" / "[ab]*", clips / "a" / "0000.png", tmp_path / "out")] == ["a", "b.mp4"]


def test_a_folder_of_videos_with_masks_by_stem_gives_one_output_each(tmp_path, inputs, tiny_checkpoint, monkeypatch):
    clips, masks = inputs
    loads = []
    original = batch.load_model
    monkeypatch.setattr(batch, "load_model", lambda *args: loads.append(args) or original(*args))
    jobs = plan_batch(clips, masks, tmp_path / "out", output_format="png")
    assert [(job.video.name, job.mask.name, job.output.name) for job in jobs] == [("a", "a.png", "a"), ("b.mp4", "b", "b"), ("c", "c.mp4", "c")]
    summary = inpaint_videos(jobs, tiny_checkpoint, size=TINY_SIZE, progress=False)
    assert len(loads) == 1, "the model loads once for the whole batch"
    assert summary.failed == 0 and str(summary).endswith("3 done, 0 failed")
    assert [read_png_folder(tmp_path / "out" / stem).shape[0] for stem in "abc"] == [4, 5, 3]


def test_a_failing_video_is_reported_and_the_others_still_run(tmp_path, inputs, tiny_checkpoint):
    clips, masks = inputs
    (clips / "c" / "0001.png").write_bytes(b"not a png")
    result = subprocess.run(
        [sys.executable, "-m", "sttn_lightning.inpaint", f"video={clips}", f"mask={masks}", f"ckpt={tiny_checkpoint}",
         f"output={tmp_path / 'out'}", f"size=[{TINY_SIZE[0]},{TINY_SIZE[1]}]", "progress=false"],
        capture_output=True, text=True,
    )
    assert result.returncode == 2, result.stderr
    assert "| failed | " in result.stdout and "0001.png: expected a decodable image" in result.stdout
    assert result.stdout.strip().endswith("2 done, 1 failed")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.mp4", "b.mp4"]


def test_bad_batches_are_refused_before_anything_is_written(tmp_path, inputs):
    clips, masks = inputs
    (tmp_path / "empty").mkdir()
    with pytest.raises(InpaintError, match=r"empty: expected video files or folders of frames, found none"):
        plan_batch(tmp_path / "empty", masks, tmp_path / "out")
    (masks / "a.png").unlink()
    with pytest.raises(InpaintError, match=r"masks: expected one mask entry named 'a' .* found nothing"):
        plan_batch(clips, masks, tmp_path / "out")
    write_video(clips / "a.mp4", make_frames(2, WIDTH, HEIGHT))
    with pytest.raises(InpaintError, match=r"a.mp4: maps to the output 'a' like .*clips/a; rename one of them"):
        plan_batch(clips, clips / "a" / "0000.png", tmp_path / "out")
    (tmp_path / "taken").mkdir()
    with pytest.raises(InpaintError, match=r"taken: the output folder already exists; pass overwrite=true"):
        plan_batch(clips, clips / "a" / "0000.png", tmp_path / "taken")
    with pytest.raises(InpaintError, match=r"output_format: expected one of \('mp4', 'png'\)"):
        plan_batch(clips, masks, tmp_path / "out", output_format="gif")
    assert not (tmp_path / "out").exists()
