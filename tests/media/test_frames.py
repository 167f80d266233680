"""Frame readers: folders and zips of images and arrays in memory read exact frames; bad input names the file."""

import zipfile

import cv2
import numpy as np
import pytest

from sttn_lightning.errors import InputError
from sttn_lightning.media import ArrayFrames, FolderFrames, MediaError, Size, ZipFrames, open_frames
from tests.inference.conftest import make_frames, write_frame_folder


def _png(frame: np.ndarray) -> bytes:
    return cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes()


def _write_zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_media_error_is_the_packages_input_error():
    assert issubclass(MediaError, InputError)


def test_folder_frames_read_by_index_and_reject_a_frame_of_another_size(tmp_path):
    frames = make_frames(3, 30, 20)
    folder = write_frame_folder(tmp_path / "f", frames)
    (folder / "notes.txt").write_text("not a frame")
    (folder / "sub.png").mkdir()
    reader = FolderFrames(folder)
    assert (reader.num_frames, reader.size, reader.fps, reader.audio_path) == (3, Size(30, 20), None, None)
    assert np.array_equal(np.stack(reader.read([2, 0, 2])), frames[[2, 0, 2]])
    write_frame_folder(tmp_path / "g", make_frames(1, 31, 20))
    (tmp_path / "g" / "0000.png").rename(folder / "0003.png")
    with pytest.raises(MediaError, match=r"0003.png: expected a frame of 30x20 like 0000.png, found 31x20; give every frame one size"):
        FolderFrames(folder).read([3])


def test_frames_decode_to_rgb_whatever_their_depth_and_channels(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    cv2.imwrite(str(folder / "0.png"), np.full((2, 3), 100, np.uint8))  # grey
    cv2.imwrite(str(folder / "1.png"), np.full((2, 3), 0x1234, np.uint16))  # 16 bits: the high byte is kept
    bgra = np.zeros((2, 3, 4), np.uint8)
    bgra[..., 0], bgra[..., 2] = 7, 9  # blue 7, red 9, alpha 0
    cv2.imwrite(str(folder / "2.png"), bgra)
    grey, deep, alpha = FolderFrames(folder).read([0, 1, 2])
    for frame in (grey, deep, alpha):
        assert frame.shape == (2, 3, 3) and frame.dtype == np.uint8
    assert (grey == 100).all()
    assert (deep == 0x12).all()
    assert (alpha == [9, 0, 7]).all(), "RGB order, alpha dropped"


def test_reading_outside_the_video_names_the_valid_range(tmp_path):
    reader = FolderFrames(write_frame_folder(tmp_path / "f", make_frames(3, 8, 6)))
    with pytest.raises(IndexError, match=r"f: frame 3 is outside 0..2"):
        reader.read([0, 3])
    with pytest.raises(IndexError, match=r"frame -1 is outside"):
        reader.read([-1])


def test_folder_without_image_files_names_it(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(MediaError, match=r"empty: expected a folder of frames \(image files\), found no image files"):
        FolderFrames(tmp_path / "empty")


def test_undecodable_and_unreadable_frames_name_the_file(tmp_path):
    folder = write_frame_folder(tmp_path / "f", make_frames(3, 8, 6))
    (folder / "0002.png").write_bytes(b"garbage")
    reader = FolderFrames(folder)
    with pytest.raises(MediaError, match=r"f/0002.png: expected a decodable image, found an unreadable or corrupt file \(7 bytes\)"):
        reader.read([1, 2])
    (folder / "0000.png").write_bytes(b"garbage")
    with pytest.raises(MediaError, match=r"f/0000.png: expected an image, found an unreadable header"):
        FolderFrames(folder)


def test_zip_frames_read_image_members_in_name_order(tmp_path):
    frames = make_frames(3, 10, 6)
    members = {"readme.txt": b"not a frame", "00002.png": _png(frames[2]), "00000.png": _png(frames[0]), "00001.png": _png(frames[1])}
    reader = ZipFrames(_write_zip(tmp_path / "v.zip", members))
    assert (reader.num_frames, reader.size, reader.fps, reader.audio_path) == (3, Size(10, 6), None, None)
    assert np.array_equal(np.stack(reader.read([0, 1, 2])), frames)
    reader.close()
    assert np.array_equal(reader.read([1])[0], frames[1]), "a closed reader reopens on the next read"


def test_bad_zips_name_the_archive_and_member(tmp_path):
    (tmp_path / "a.zip").write_bytes(b"not a zip")
    with pytest.raises(MediaError, match=r"a.zip: expected a zip of image frames, found an unreadable file"):
        ZipFrames(tmp_path / "a.zip")
    with pytest.raises(MediaError, match=r"b.zip: expected a zip of image frames, found no image members"):
        ZipFrames(_write_zip(tmp_path / "b.zip", {"readme.txt": b"x"}))
    frames = make_frames(2, 10, 6)
    reader = ZipFrames(_write_zip(tmp_path / "c.zip", {"00000.png": _png(frames[0]), "00001.png": b"garbage"}))
    with pytest.raises(MediaError, match=r"c.zip:00001.png: expected a decodable image"):
        reader.read([1])
    wide = ZipFrames(_write_zip(tmp_path / "d.zip", {"00000.png": _png(frames[0]), "00001.png": _png(make_frames(1, 12, 6)[0])}))
    with pytest.raises(MediaError, match=r"d.zip:00001.png: expected a frame of 10x6 like .*d.zip:00000.png, found 12x6"):
        wide.read([1])


def test_array_frames_serve_the_array_and_check_its_layout():
    frames = make_frames(4, 10, 6)
    reader = ArrayFrames(frames)
    assert (reader.num_frames, reader.size, reader.fps, reader.audio_path) == (4, Size(10, 6), None, None)
    assert np.array_equal(np.stack(reader.read([3, 1])), frames[[3, 1]])
    for bad in (frames[0], frames.astype(np.float32), frames[..., :2], frames[:0]):
        with pytest.raises(MediaError, match=r"frames: expected a \(T, H, W, 3\) uint8 array with T >= 1"):
            ArrayFrames(bad)


def test_open_frames_picks_the_reader_by_what_is_there(tmp_path):
    frames = make_frames(2, 10, 6)
    assert isinstance(open_frames(write_frame_folder(tmp_path / "f", frames)), FolderFrames)
    assert isinstance(open_frames(str(_write_zip(tmp_path / "v.zip", {"0.png": _png(frames[0])}))), ZipFrames)
    with pytest.raises(MediaError, match=r"nowhere.mp4: expected a video file, a zip or a folder of frames, found nothing there"):
        open_frames(tmp_path / "nowhere.mp4")
