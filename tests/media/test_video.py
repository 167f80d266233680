"""Video files: probing and forward-only ffmpeg pipes without decord, decord for scattered reads, mask videos."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from sttn_lightning.media import MediaError, Size, open_frames, open_masks
from sttn_lightning.media import video as video_module
from sttn_lightning.media.masks import VideoMasks
from sttn_lightning.media.video import DecordVideo, StreamedVideo, open_video, probe
from tests.inference.conftest import box_mask, make_frames, write_video
from tests.media.conftest import reference_decode


@pytest.fixture
def no_decord(monkeypatch):
    """``import decord`` fails, as where it is not installed."""
    monkeypatch.setitem(sys.modules, "decord", None)


@pytest.fixture
def decoder_starts(monkeypatch) -> list[int]:
    """The first frame of every ffmpeg decoder started, in order."""
    starts = []

    class CountedStream(video_module._DecodeStream):
        def __init__(self, path, size, start):
            starts.append(start)
            super().__init__(path, size, start)

    monkeypatch.setattr(video_module, "_DecodeStream", CountedStream)
    return starts


@pytest.mark.parametrize("fps, expected_fps", [("25", 25.0), ("30000/1001", 29.97)])
def test_probe_without_decord_gives_count_size_and_rate(tmp_path, no_decord, fps, expected_fps):
    video = write_video(tmp_path / "v.mp4", make_frames(7, 31, 17), fps=fps)  # odd size: 4:4:4
    assert probe(video) == (7, Size(31, 17), expected_fps)
    reader = open_frames(video, "random")
    assert isinstance(reader, StreamedVideo), "without decord the pipes serve random access too"
    assert (reader.num_frames, reader.size, reader.fps, reader.audio_path) == (7, Size(31, 17), expected_fps, video)


def test_probe_names_the_file_and_its_role(tmp_path):
    (tmp_path / "m.mp4").write_bytes(b"garbage")
    with pytest.raises(MediaError, match=r"m.mp4: expected a readable mask video, found a file ffmpeg cannot read .*re-encode it"):
        probe(tmp_path / "m.mp4", "mask")


def test_sequential_runs_with_references_ahead_never_seek(tmp_path, decoder_starts):
    video = write_video(tmp_path / "v.mp4", make_frames(60, 32, 16))
    expected = reference_decode(video)
    assert expected.shape == (60, 16, 32, 3)
    reader = open_frames(video)
    assert isinstance(reader, StreamedVideo)
    assert (reader.num_frames, reader.size, reader.fps, reader.audio_path) == (60, Size(32, 16), 25.0, video)
    for start in range(0, 60, 10):  # sequential runs, each with a reference further ahead
        assert np.array_equal(np.stack(reader.read(list(range(start, start + 10)))), expected[start : start + 10])
        if start + 25 < 60:
            assert np.array_equal(reader.read([start + 25])[0], expected[start + 25])
    assert decoder_starts == [0, 25]
    assert np.array_equal(np.stack(reader.read([3, 1, 3])), expected[[3, 1, 3]])
    assert decoder_starts == [0, 25, 1]  # behind every decoder: one restarts exactly there
    reader.close()
    assert np.array_equal(reader.read([59])[0], expected[59]), "a closed reader starts a new decoder"


def test_scattered_reads_without_decord_equal_the_reference(tmp_path, no_decord, decoder_starts):
    video = write_video(tmp_path / "v.mp4", make_frames(30, 32, 16, seed=1))
    expected = reference_decode(video)
    reader = open_frames(video, "random")
    indices = [20, 3, 17, 3, 29, 0, 11]
    assert np.array_equal(np.stack(reader.read(indices)), expected[indices])
    # ascending 0, 3, 11, ...: a second decoder starts at 3 while a slot is free, then the nearest skips forward
    assert decoder_starts == [0, 3]
    assert np.array_equal(np.stack(reader.read([25, 5])), expected[[25, 5]])
    assert decoder_starts == [0, 3, 5]  # the decoder that reached the last frame was closed, freeing a slot


def test_decord_serves_random_access_where_installed(tmp_path):
    pytest.importorskip("decord")
    video = write_video(tmp_path / "v.mp4", make_frames(20, 32, 16))
    expected = reference_decode(video)
    reader = open_video(video, "random")
    assert isinstance(reader, DecordVideo)
    assert (reader.num_frames, reader.size, reader.fps, reader.audio_path) == (20, Size(32, 16), 25.0, video)
    assert np.array_equal(np.stack(reader.read([13, 2, 19])), expected[[13, 2, 19]])
    assert isinstance(open_video(video, "sequential"), StreamedVideo)
    (tmp_path / "bad.mp4").write_bytes(b"garbage")
    with pytest.raises(MediaError, match=r"bad.mp4: expected a readable mask video, found a file decord cannot decode"):
        DecordVideo(tmp_path / "bad.mp4", "mask")


def test_a_video_that_stops_decoding_names_the_file_and_frame(tmp_path):
    video = write_video(tmp_path / "v.mp4", make_frames(4, 32, 16))
    reader = open_frames(video)
    video.write_bytes(video.read_bytes()[:200])
    with pytest.raises(MediaError, match=r"v.mp4: frame 0 could not be decoded .* truncated or corrupt"):
        reader.read([0])


def test_mask_video_masks_any_non_zero_pixel(tmp_path):
    masks = np.stack([box_mask(64, 32, 4 * t, 2, 4 * t + 10, 12) for t in range(4)])
    video = write_video(tmp_path / "m.mp4", np.repeat(masks[..., None] * 255, 3, axis=3))
    reader = open_masks(video)
    assert isinstance(reader, VideoMasks)
    assert (reader.count, reader.size) == (4, Size(64, 32))
    read = np.stack(reader.read([0, 3, 9]))
    assert read.dtype == np.uint8
    assert np.array_equal(read, masks[[0, 3, 3]]), "past the last mask the last one repeats"
