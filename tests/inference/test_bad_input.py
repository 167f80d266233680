"""Every kind of bad input fails with a message naming the input and the fix, and leaves no output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sttn_lightning.inference import InpaintError, inpaint_video
from sttn_lightning.media import MediaError
from sttn_lightning.models import CheckpointError
from tests.inference.conftest import TINY_SIZE, box_mask, make_frames, read_png_folder, write_frame_folder, write_mask


@pytest.fixture
def clip(tmp_path):
    """A 6-frame 40x24 frame folder and a box mask image."""
    frames = make_frames(6, 40, 24)
    video = write_frame_folder(tmp_path / "frames", frames)
    mask = write_mask(tmp_path / "mask.png", box_mask(40, 24, 10, 5, 20, 15))
    return frames, video, mask


def run(video, mask, generator, output, **options):
    return inpaint_video(video, mask, generator, output, size=TINY_SIZE, progress=False, **options)


def assert_nothing_written(folder):
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.startswith("out")]
    assert leftovers == []


def test_missing_video(tmp_path, clip, tiny_generator):
    with pytest.raises(MediaError, match=r"nope.mp4: expected a video file, a zip or a folder of frames, found nothing there"):
        run(tmp_path / "nope.mp4", clip[2], tiny_generator, tmp_path / "out")
    assert_nothing_written(tmp_path)


def test_corrupt_video(tmp_path, clip, tiny_generator):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(MediaError, match=r"broken.mp4: expected a readable input video.*re-encode"):
        run(broken, clip[2], tiny_generator, tmp_path / "out.mp4")
    assert_nothing_written(tmp_path)


def test_empty_frame_folder(tmp_path, clip, tiny_generator):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match=r"empty: expected a folder of frames .* found no image files"):
        run(tmp_path / "empty", clip[2], tiny_generator, tmp_path / "out")


def test_missing_mask_and_missing_checkpoint(tmp_path, clip):
    with pytest.raises(MediaError, match=r"nomask.png: expected a mask image, folder of masks or mask video, found nothing there"):
        run(clip[1], tmp_path / "nomask.png", tmp_path / "x.pth", tmp_path / "out")
    with pytest.raises(CheckpointError, match=r"x.pth: no such checkpoint file"):
        run(clip[1], clip[2], tmp_path / "x.pth", tmp_path / "out")
    assert_nothing_written(tmp_path)


def test_mask_count_must_match_unless_the_last_mask_is_repeated(tmp_path, clip, tiny_generator):
    frames, video, _ = clip
    for index in range(4):
        write_mask(tmp_path / "masks" / f"{index}.png", box_mask(40, 24, 10, 5, 20, 15))
    with pytest.raises(MediaError, match=r"masks: expected 6 masks, one per frame of .*frames, found 4; pass mask_repeat=last"):
        run(video, tmp_path / "masks", tiny_generator, tmp_path / "out")
    assert_nothing_written(tmp_path)
    run(video, tmp_path / "masks", tiny_generator, tmp_path / "out", mask_repeat="last")
    assert read_png_folder(tmp_path / "out").shape == frames.shape


def test_mask_of_another_aspect_ratio(tmp_path, clip, tiny_generator):
    wrong = write_mask(tmp_path / "square.png", np.ones((30, 30), np.uint8))
    with pytest.raises(MediaError, match=r"square.png: expected masks of 40x24 .* found 30x30; resize or pad"):
        run(clip[1], wrong, tiny_generator, tmp_path / "out")
    assert_nothing_written(tmp_path)


def test_mask_of_the_same_aspect_is_resized_nearest(tmp_path, clip, tiny_generator):
    frames, video, _ = clip
    double = write_mask(tmp_path / "double.png", box_mask(80, 48, 20, 10, 40, 30))
    run(video, double, tiny_generator, tmp_path / "out", mask_dilation=0)
    output = read_png_folder(tmp_path / "out")
    outside = np.ones((24, 40), bool)
    outside[5:15, 10:20] = False
    assert np.array_equal(output[:, outside], frames[:, outside])


def test_empty_mask_returns_the_input_exactly(tmp_path, clip, tiny_generator):
    frames, video, _ = clip
    empty = write_mask(tmp_path / "empty.png", np.zeros((24, 40), np.uint8))
    summary = run(video, empty, tiny_generator, tmp_path / "out")
    assert summary.windows_run == 0
    assert np.array_equal(read_png_folder(tmp_path / "out"), frames)


def test_all_hole_mask_is_inpainted_everywhere(tmp_path, clip, tiny_generator):
    frames, video, _ = clip
    full = write_mask(tmp_path / "full.png", np.ones((24, 40), np.uint8))
    summary = run(video, full, tiny_generator, tmp_path / "out")
    output = read_png_folder(tmp_path / "out")
    assert summary.windows_run == 2 and output.shape == frames.shape
    assert not np.array_equal(output, frames)


def test_checkpoint_that_is_not_a_generator(tmp_path, clip):
    torch.save({"optimizer": {"lr": 1.0}}, tmp_path / "opt.pth")
    with pytest.raises(CheckpointError, match=r"opt.pth: holds no generator"):
        run(clip[1], clip[2], tmp_path / "opt.pth", tmp_path / "out")
    assert_nothing_written(tmp_path)


def test_existing_output_is_refused_unless_overwrite(tmp_path, clip, tiny_generator):
    frames, video, mask = clip
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(MediaError, match=r"out: the output already exists; pass overwrite=true"):
        run(video, mask, tiny_generator, tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"
    run(video, mask, tiny_generator, tmp_path / "out", overwrite=True)
    assert read_png_folder(tmp_path / "out").shape == frames.shape


def test_a_failure_mid_stream_leaves_no_partial_output(tmp_path, clip, tiny_generator):
    video = write_frame_folder(tmp_path / "long", make_frames(20, 40, 24))
    (video / "0017.png").write_bytes(b"not a png")  # read by the 4th window, after frames 0-9 were written
    with pytest.raises(MediaError, match=r"0017.png: expected a decodable image"):
        run(video, clip[2], tiny_generator, tmp_path / "new" / "out.mp4")
    assert not (tmp_path / "new").exists()


def test_unknown_output_suffix_and_bad_options(tmp_path, clip, tiny_generator):
    _, video, mask = clip
    with pytest.raises(MediaError, match=r"out.gif: expected a video file"):
        run(video, mask, tiny_generator, tmp_path / "out.gif")
    with pytest.raises(InpaintError, match=r"protocol: expected one of"):
        run(video, mask, tiny_generator, tmp_path / "out", protocol="fast")
    with pytest.raises(InpaintError, match=r"size: 16x16 is too small .* pass size=\[32,32\]"):
        inpaint_video(video, mask, tiny_generator, tmp_path / "out", size=(16, 16), progress=False)
    assert_nothing_written(tmp_path)
