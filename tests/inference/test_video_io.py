"""Frame and mask sources, and the atomic writers."""

from __future__ import annotations

import decord
import numpy as np
import pytest

from sttn_lightning.inference import InpaintError, video_io
from sttn_lightning.inference.video_io import FfmpegVideoWriter, MaskSource, PngFolderWriter, open_frames
from tests.inference.conftest import box_mask, make_frames, read_png_folder, write_frame_folder, write_mask, write_video


def test_folder_frames_read_by_index_and_reject_a_frame_of_another_size(tmp_path):
    frames = make_frames(3, 30, 20)
    folder = write_frame_folder(tmp_path / "f", frames)
    source = open_frames(folder)
    assert (source.num_frames, source.size, source.fps, source.audio_path) == (3, (30, 20), None, None)
    assert np.array_equal(np.stack(source.read([2, 0])), frames[[2, 0]])
    write_frame_folder(tmp_path / "g", make_frames(1, 31, 20))
    (tmp_path / "g" / "0000.png").rename(folder / "0003.png")
    with pytest.raises(InpaintError, match=r"0003.png: expected a frame of 30x20 .* found 31x20"):
        open_frames(folder).read([3])


@pytest.fixture
def decoder_starts(monkeypatch) -> list[int]:
    """The first frame of every ffmpeg decoder started, in order."""
    starts = []

    class CountedStream(video_io._DecodeStream):
        def __init__(self, path, size, start):
            starts.append(start)
            super().__init__(path, size, start)

    monkeypatch.setattr(video_io, "_DecodeStream", CountedStream)
    return starts


def test_video_frames_equal_decord_and_the_pipeline_pattern_never_seeks(tmp_path, decoder_starts):
    video = write_video(tmp_path / "v.mp4", make_frames(60, 32, 16))
    expected = decord.VideoReader(str(video)).get_batch(list(range(60))).asnumpy()
    source = open_frames(video)
    assert (source.num_frames, source.size, source.fps, source.audio_path) == (60, (32, 16), 25.0, video)
    for start in range(0, 60, 10):  # sequential runs, each with a reference further ahead
        assert np.array_equal(np.stack(source.read(list(range(start, start + 10)))), expected[start : start + 10])
        if start + 25 < 60:
            assert np.array_equal(source.read([start + 25])[0], expected[start + 25])
    assert decoder_starts == [0, 25]
    assert np.array_equal(np.stack(source.read([3, 1, 3])), expected[[3, 1, 3]])
    assert decoder_starts == [0, 25, 1]  # behind every decoder: one restarts exactly there


def test_a_video_that_stops_decoding_names_the_file_and_frame(tmp_path):
    video = write_video(tmp_path / "v.mp4", make_frames(4, 32, 16))
    source = open_frames(video)
    video.write_bytes(video.read_bytes()[:200])
    with pytest.raises(InpaintError, match=r"v.mp4: frame 0 could not be decoded .* truncated or corrupt"):
        source.read([0])


def test_mask_video_masks_any_non_zero_pixel(tmp_path):
    masks = np.stack([box_mask(64, 32, 4 * t, 2, 4 * t + 10, 12) for t in range(4)])
    video = write_video(tmp_path / "m.mp4", np.repeat(masks[..., None] * 255, 3, axis=3))
    source = MaskSource(video, 4, (64, 32))
    read = np.stack(source.read([0, 3], (64, 32)))
    assert np.array_equal(read, masks[[0, 3]])


def test_mask_folder_with_more_masks_than_frames_is_an_error_even_when_repeating(tmp_path):
    for index in range(5):
        write_mask(tmp_path / "m" / f"{index}.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(InpaintError, match=r"expected 3 masks, one per frame of the video, found 5; remove the extra masks"):
        MaskSource(tmp_path / "m", 3, (8, 8), mask_repeat="last")


def test_repeated_last_mask_and_nearest_resize(tmp_path):
    write_mask(tmp_path / "m" / "0.png", box_mask(4, 2, 0, 0, 1, 1))
    write_mask(tmp_path / "m" / "1.png", box_mask(4, 2, 3, 1, 4, 2))
    source = MaskSource(tmp_path / "m", 3, (8, 4), mask_repeat="last")
    last = source.read([2], (8, 4))[0]
    assert np.array_equal(last, box_mask(8, 4, 6, 2, 8, 4))


def test_png_writer_moves_into_place_only_on_success(tmp_path):
    frame = make_frames(1, 10, 6)[0]
    with PngFolderWriter(tmp_path / "out") as writer:
        writer.write(frame)
        assert not (tmp_path / "out").exists() and writer.temporary.is_dir()
    assert np.array_equal(read_png_folder(tmp_path / "out")[0], frame)
    with pytest.raises(RuntimeError), PngFolderWriter(tmp_path / "out2") as writer:
        writer.write(frame)
        raise RuntimeError("stop")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_video_writer_rejects_a_frame_of_another_size_and_cleans_up(tmp_path):
    writer = FfmpegVideoWriter(tmp_path / "o.mp4", (10, 6), fps=25.0)
    with pytest.raises(InpaintError, match=r"o.mp4: expected frames of 10x6, found 12x6"), writer:
        writer.write(np.zeros((6, 12, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []
