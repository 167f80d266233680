"""Output writers: PNG folders and ffmpeg videos appear only when complete; existing outputs are refused."""

from __future__ import annotations

import numpy as np
import pytest

from sttn_lightning.media import MediaError, Size, check_output, open_writer
from sttn_lightning.media.video import probe
from sttn_lightning.media.writers import FfmpegVideoWriter, PngFolderWriter
from tests.inference.conftest import has_audio, make_frames, read_png_folder, write_video
from tests.media.conftest import reference_decode


def test_png_writer_moves_into_place_only_on_success(tmp_path):
    frames = make_frames(2, 10, 6)
    with PngFolderWriter(tmp_path / "out") as writer:
        for frame in frames:
            writer.write(frame)
        assert not (tmp_path / "out").exists() and writer.temporary.is_dir()
        assert writer.temporary.parent == tmp_path and writer.temporary.name.startswith(".out.partial-")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["00000.png", "00001.png"]
    assert np.array_equal(read_png_folder(tmp_path / "out"), frames)
    with pytest.raises(RuntimeError), PngFolderWriter(tmp_path / "out2") as writer:
        writer.write(frames[0])
        raise RuntimeError("stop")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_abort_removes_the_parent_folders_the_writer_created(tmp_path):
    (tmp_path / "kept").mkdir()
    writer = open_writer(tmp_path / "kept" / "new" / "deeper" / "out", Size(10, 6), 25.0)
    assert isinstance(writer, PngFolderWriter)
    writer.write(make_frames(1, 10, 6)[0])
    writer.abort()
    assert list(tmp_path.iterdir()) == [tmp_path / "kept"] and not any((tmp_path / "kept").iterdir())


def test_video_writer_keeps_size_rate_and_audio(tmp_path):
    frames = make_frames(5, 31, 17)  # odd size: encoded 4:4:4
    source = write_video(tmp_path / "source.mp4", frames, audio=True)
    writer = open_writer(tmp_path / "out" / "o.mp4", Size(31, 17), 12.5, audio_path=source, crf=0)
    assert isinstance(writer, FfmpegVideoWriter)
    with writer:
        for frame in frames:
            writer.write(frame)
        assert not (tmp_path / "out" / "o.mp4").exists() and writer.temporary.suffix == ".mp4"
    assert writer.count == 5
    assert probe(tmp_path / "out" / "o.mp4") == (5, Size(31, 17), 12.5)
    assert has_audio(tmp_path / "out" / "o.mp4")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["o.mp4"]
    written = reference_decode(tmp_path / "out" / "o.mp4").astype(int)
    assert np.abs(written - frames).mean() < 2, "crf 0 at 4:4:4 loses only the colour conversion's rounding"


def test_video_writer_without_audio_source_writes_none(tmp_path):
    with open_writer(tmp_path / "o.mp4", Size(16, 8), 25.0) as writer:
        writer.write(make_frames(1, 16, 8)[0])
    assert probe(tmp_path / "o.mp4") == (1, Size(16, 8), 25.0)
    assert not has_audio(tmp_path / "o.mp4")


def test_video_writer_rejects_a_frame_of_another_size_and_cleans_up(tmp_path):
    writer = FfmpegVideoWriter(tmp_path / "o.mp4", Size(10, 6), fps=25.0)
    with pytest.raises(MediaError, match=r"o.mp4: expected frames of 10x6, found 12x6"), writer:
        writer.write(np.zeros((6, 12, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused_unless_overwriting(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.png").write_bytes(b"old")
    (tmp_path / "o.mp4").write_bytes(b"old")
    for path in (tmp_path / "out", tmp_path / "o.mp4"):
        with pytest.raises(MediaError, match=rf"{path.name}: the output already exists; pass overwrite=true to replace it"):
            check_output(path, overwrite=False)
        check_output(path, overwrite=True)
    frame = make_frames(1, 10, 6)[0]
    with open_writer(tmp_path / "out", Size(10, 6), 25.0, overwrite=True) as writer:
        writer.write(frame)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["00000.png"]
    with open_writer(tmp_path / "o.mp4", Size(10, 6), 25.0, overwrite=True) as writer:
        writer.write(frame)
    assert probe(tmp_path / "o.mp4")[0] == 1


def test_output_suffix_must_be_a_video_or_none(tmp_path):
    expected = r"out.txt: expected a video file \(.mp4, .* or a folder name without suffix for PNG frames, found suffix '.txt'"
    with pytest.raises(MediaError, match=expected):
        check_output(tmp_path / "out.txt", overwrite=True)
    with pytest.raises(MediaError, match=r"found suffix '.gif'"):
        open_writer(tmp_path / "out.gif", Size(10, 6), 25.0)
    assert list(tmp_path.iterdir()) == []
