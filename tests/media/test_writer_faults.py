"""Writer faults: an impossible output is refused before anything exists; a write error or an encoder
that exits raises OutputFault with the frame index and leaves nothing (hidden temporaries included),
and a pre-existing output stays as it was."""

from __future__ import annotations

import errno
import io

import pytest

from sttn_lightning.errors import InputError, OutputFault
from sttn_lightning.media import MediaError, Size, check_output, open_writer
from sttn_lightning.media import writers
from tests.inference.conftest import make_frames


def listing(folder):
    """Every entry below ``folder``, hidden ones included."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize("output", ["notes.txt/out", "notes.txt/deeper/out.mp4"])
def test_output_below_a_regular_file_is_refused_before_anything_is_created(tmp_path, output):
    (tmp_path / "notes.txt").write_text("notes")
    expected = rf"{output}: cannot write the output there: .*notes.txt is a file, not a folder; choose another output="
    with pytest.raises(MediaError, match=expected):
        check_output(tmp_path / output, overwrite=True)
    with pytest.raises(MediaError, match=expected):
        open_writer(tmp_path / output, Size(10, 6), 25.0)
    assert listing(tmp_path) == ["notes.txt"]


def test_a_fault_is_not_bad_input():
    fault = OutputFault("out.mp4", "No space left on device", 7)
    assert not isinstance(fault, InputError)
    assert str(fault) == "out.mp4: writing the output failed at frame 7: No space left on device; the partial output was removed"


@pytest.mark.parametrize("when", ["mid-stream", "at the end"])
def test_encoder_exit_is_a_fault_with_the_frame_reached_and_keeps_the_old_output(tmp_path, when):
    (tmp_path / "o.mp4").write_bytes(b"old")
    frames = make_frames(60, 16, 8)
    writer = open_writer(tmp_path / "o.mp4", Size(16, 8), 25.0, overwrite=True)
    with pytest.raises(OutputFault) as caught, writer:
        for frame in frames[:3]:
            writer.write(frame)
        writer._process.kill()
        writer._process.wait()
        if when == "mid-stream":
            for frame in frames[3:]:  # the pipe's buffer may take a few before the write fails
                writer.write(frame)
    fault = caught.value
    assert fault.path == tmp_path / "o.mp4" and "the ffmpeg encoder exited (killed by SIGKILL)" in fault.cause
    assert (fault.frame >= 3 and fault.frame < 60) if when == "mid-stream" else fault.frame == 3
    assert str(fault).startswith(f"{tmp_path / 'o.mp4'}: writing the output failed at frame {fault.frame}: ")
    assert listing(tmp_path) == ["o.mp4"] and (tmp_path / "o.mp4").read_bytes() == b"old"


class CappedFile(io.FileIO):
    """A file on a disk that fills up after ``capacity`` bytes (shared by every file of a test)."""

    capacity = 0

    def write(self, data):
        if len(data) > CappedFile.capacity:
            raise OSError(errno.ENOSPC, "No space left on device")
        CappedFile.capacity -= len(data)
        return super().write(data)


def test_full_disk_while_writing_png_frames_removes_the_folder_and_keeps_the_old_one(tmp_path, monkeypatch):
    frames = make_frames(5, 32, 16)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "00000.png").write_bytes(b"old")
    frame_bytes = len(writers.cv2.imencode(".png", frames[0][..., ::-1], [writers.cv2.IMWRITE_PNG_COMPRESSION, 1])[1])
    CappedFile.capacity = 2 * frame_bytes + frame_bytes // 2  # room for two frames and a half
    monkeypatch.setattr(writers, "open", lambda path, mode: CappedFile(path, mode.replace("b", "")), raising=False)
    with pytest.raises(OutputFault) as caught, open_writer(tmp_path / "out", Size(32, 16), 25.0, overwrite=True) as writer:
        for frame in frames:
            writer.write(frame)
    assert caught.value.frame == 2 and caught.value.cause.startswith("No space left on device (free some space")
    assert listing(tmp_path) == ["out", "out/00000.png"] and (tmp_path / "out" / "00000.png").read_bytes() == b"old"


def test_overwrite_replaces_an_existing_folder_only_when_the_new_one_is_complete(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale.png").write_bytes(b"old")
    with open_writer(tmp_path / "out", Size(10, 6), 25.0, overwrite=True) as writer:
        writer.write(make_frames(1, 10, 6)[0])
        assert (tmp_path / "out" / "stale.png").exists()
    assert listing(tmp_path) == ["out", "out/00000.png"]
