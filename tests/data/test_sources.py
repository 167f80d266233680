"""Video sources: the three layouts read the same frames; bad input names the file."""

import json
import pickle
import zipfile

import numpy as np
import pytest
from torch.utils.data import DataLoader, Dataset

from sttn_lightning.data import DataError, FrameFolderSource, VideoFileSource, ZipSource, build_source, detect_layout, sources
from tests.data.conftest import COUNTS, HEIGHT, SPLIT, WIDTH, tiny_video, write_frames_dataset


@pytest.mark.parametrize("fixture, kind", [("frames_root", FrameFolderSource), ("zip_root", ZipSource)])
def test_lossless_layouts_read_exact_frames(request, fixture, kind):
    root = request.getfixturevalue(fixture)
    source = build_source(root, split="train")
    assert isinstance(source, kind)
    source.validate()
    assert source.video_ids == SPLIT["train"]
    assert source.num_frames("b") == COUNTS["b"]
    assert source.frame_size("b") == (HEIGHT, WIDTH)
    expected = tiny_video(1, COUNTS["b"])
    np.testing.assert_array_equal(source.read("b", [0, 4, 8]), expected[[0, 4, 8]])
    np.testing.assert_array_equal(source.read_all("b"), expected)


def test_video_files_decode_only_the_asked_frames(video_root):
    source = build_source(video_root)
    assert isinstance(source, VideoFileSource)
    source.validate()
    assert source.video_ids == sorted(COUNTS)
    assert source.num_frames("d") == COUNTS["d"]
    assert source.frame_size("d") == (HEIGHT, WIDTH)
    frames = source.read("d", [1, 7])
    assert frames.shape == (2, HEIGHT, WIDTH, 3) and frames.dtype == np.uint8
    expected = tiny_video(3, COUNTS["d"])[[1, 7]].astype(float)
    assert np.abs(frames - expected).mean() < 6


def test_split_missing_uses_every_video_and_list_file_restricts(frames_root, tmp_path):
    assert build_source(frames_root, split="val").video_ids == sorted(COUNTS)
    list_file = tmp_path / "ids.txt"
    list_file.write_text("c\na\n")
    assert build_source(frames_root, split="train", list_file=list_file).video_ids == ["a", "c"]


def test_davis_style_subfolder(tmp_path):
    write_frames_dataset(tmp_path / "download", {"bear": 6}, None)
    (tmp_path / "davis" / "JPEGImages").mkdir(parents=True)
    (tmp_path / "download" / "JPEGImages").rename(tmp_path / "davis" / "JPEGImages" / "480p")
    source = build_source(tmp_path / "davis", frames_dir="JPEGImages/480p")
    assert source.video_ids == ["bear"] and source.num_frames("bear") == 6


def test_zip_handles_are_per_process_and_not_pickled(zip_root):
    source = build_source(zip_root, split="train")
    source.read("a", [0])
    assert source._handles
    clone = pickle.loads(pickle.dumps(source))
    assert clone._handles == {}
    np.testing.assert_array_equal(clone.read("a", [2]), source.read("a", [2]))


def test_open_handles_are_bounded(zip_root, monkeypatch):
    monkeypatch.setattr(sources, "MAX_OPEN_HANDLES", 2)
    source = build_source(zip_root)
    for video_id in ["a", "b", "c", "a", "d"]:
        source.read(video_id, [0])
    assert list(source._handles) == ["a", "d"]
    source.validate()
    assert not source._handles


def test_missing_root_names_it(tmp_path):
    with pytest.raises(DataError, match="nowhere.*found nothing"):
        build_source(tmp_path / "nowhere")


def test_folder_without_videos(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: expected.*found neither"):
        detect_layout(tmp_path / "empty")


def test_empty_split_names_the_split(frames_root):
    (frames_root / "train.json").write_text("{}")
    with pytest.raises(DataError, match="split 'train' of .*JPEGImages: expected at least one video, found none"):
        build_source(frames_root, split="train")


def test_listed_but_absent_video_names_both_files(frames_root):
    (frames_root / "train.json").write_text(json.dumps({"a": 8, "ghost": 5}))
    with pytest.raises(DataError, match=r"train.json: lists video 'ghost'.*JPEGImages/ghost to exist"):
        build_source(frames_root, split="train")


def test_listed_count_differs_from_folder(frames_root):
    (frames_root / "train.json").write_text(json.dumps({"a": 12}))
    source = build_source(frames_root, split="train")
    with pytest.raises(DataError, match=r"train.json: expected 12 frames for 'a' as listed, found 8 in .*JPEGImages/a"):
        source.validate()


def test_corrupt_zip_fails_at_validation(zip_root):
    (zip_root / "JPEGImages" / "a.zip").write_bytes(b"not a zip")
    source = build_source(zip_root, split="train")
    with pytest.raises(DataError, match=r"a.zip: expected a zip of JPEG/PNG frames, found an unreadable file"):
        source.validate()


def test_undecodable_image_fails_at_read_naming_the_file(frames_root, zip_root):
    (frames_root / "JPEGImages" / "a" / "00003.png").write_bytes(b"garbage")
    source = build_source(frames_root, split="train")
    source.validate()
    with pytest.raises(DataError, match=r"JPEGImages/a/00003.png: expected a decodable JPEG/PNG image"):
        source.read("a", [2, 3])
    with zipfile.ZipFile(zip_root / "JPEGImages" / "c.zip", "a") as archive:
        archive.writestr("00008.png", b"garbage")
    with pytest.raises(DataError, match=r"c.zip:00008.png: expected a decodable JPEG/PNG image"):
        build_source(zip_root, split="train").read("c", [8])


def test_undecodable_first_frame_fails_at_validation(frames_root):
    (frames_root / "JPEGImages" / "b" / "00000.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"JPEGImages/b/00000.png: expected a JPEG/PNG image, found an unreadable header"):
        build_source(frames_root, split="train").validate()


def test_undecodable_video_file(video_root):
    (video_root / "b.mp4").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"b.mp4: expected a decodable video"):
        build_source(video_root).validate()


def test_unknown_layout(frames_root):
    with pytest.raises(DataError, match="data.layout: expected one of"):
        build_source(frames_root, layout="tar")


def test_video_workers_forked_after_reads_in_the_parent_do_not_hang(video_root):
    source = build_source(video_root)
    source.read("a", [0, 1])
    loader = DataLoader(_Frames(source), batch_size=None, num_workers=2, timeout=60)
    shapes = [batch.shape for batch in loader]
    assert shapes == [(1, HEIGHT, WIDTH, 3)] * len(COUNTS)


class _Frames(Dataset):
    def __init__(self, source):
        self.source = source

    def __len__(self):
        return len(self.source)

    def __getitem__(self, index):
        return self.source.read(self.source.video_ids[index], [index])
