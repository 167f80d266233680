"""Video collections: the three layouts read the same frames; splits and list files select videos; bad
input names the file; readers are per process, bounded and never pickled."""

import json
import pickle
import zipfile

import numpy as np
import pytest
from torch.utils.data import DataLoader, Dataset

from sttn_lightning.media import (
    FolderFrames,
    MediaError,
    Size,
    VideoCollection,
    ZipFrames,
    detect_layout,
    open_eval_set,
    read_split_file,
)
from sttn_lightning.media import collection as collection_module
from sttn_lightning.media.masks import FolderMaskSet, GeneratedMaskSet
from sttn_lightning.media.video import DecordVideo, StreamedVideo
from tests.data.conftest import COUNTS, HEIGHT, SPLIT, WIDTH, tiny_video, write_frames_dataset, write_mask_folders


@pytest.mark.parametrize("fixture, layout, reader_type", [("frames_root", "frames", FolderFrames), ("zip_root", "zip", ZipFrames)])
def test_lossless_layouts_read_exact_frames(request, fixture, layout, reader_type):
    root = request.getfixturevalue(fixture)
    videos = VideoCollection(root, split="train")
    assert videos.layout == layout == detect_layout(root)
    assert isinstance(videos.reader("b"), reader_type)
    videos.validate()
    assert videos.video_ids == SPLIT["train"] and len(videos.video_ids) == 3
    assert videos.num_frames("b") == COUNTS["b"]
    assert videos.frame_size("b") == Size(WIDTH, HEIGHT)
    expected = tiny_video(1, COUNTS["b"])
    np.testing.assert_array_equal(videos.read("b", [0, 4, 8]), expected[[0, 4, 8]])
    np.testing.assert_array_equal(videos.read("b", np.arange(COUNTS["b"])), expected)


@pytest.mark.parametrize("access, reader_type", [("random", DecordVideo), ("sequential", StreamedVideo)])
def test_video_files_decode_only_the_asked_frames(video_root, access, reader_type):
    videos = VideoCollection(video_root, access=access)
    assert videos.layout == "video"
    videos.validate()
    assert videos.video_ids == sorted(COUNTS)
    assert isinstance(videos.reader("d"), reader_type)
    assert videos.num_frames("d") == COUNTS["d"]
    assert videos.frame_size("d") == Size(WIDTH, HEIGHT)
    frames = videos.read("d", [1, 7])
    assert frames.shape == (2, HEIGHT, WIDTH, 3) and frames.dtype == np.uint8
    expected = tiny_video(3, COUNTS["d"])[[1, 7]].astype(float)
    assert np.abs(frames - expected).mean() < 6


def test_two_files_for_one_video_id_name_both(video_root):
    (video_root / "a.avi").write_bytes(b"")
    with pytest.raises(MediaError, match=r"a\.(mp4|avi): expected one video file per id, found also .*a\.(avi|mp4)"):
        VideoCollection(video_root)


def test_split_missing_uses_every_video_and_list_file_restricts(frames_root, tmp_path):
    assert VideoCollection(frames_root, split="val").video_ids == sorted(COUNTS)
    assert VideoCollection(frames_root, split="test").video_ids == SPLIT["test"]
    list_file = tmp_path / "ids.txt"
    list_file.write_text("c\na\n\n")
    assert VideoCollection(frames_root, split="train", list_file=list_file).video_ids == ["a", "c"]


def test_list_file_naming_a_video_outside_the_split(frames_root, tmp_path):
    list_file = tmp_path / "ids.txt"
    list_file.write_text("a\nd\n")
    with pytest.raises(MediaError, match=r"ids.txt: lists video 'd', expected it among the 3 videos of .*JPEGImages, found it absent"):
        VideoCollection(frames_root, split="train", list_file=list_file)


def test_split_files_json_object_json_list_or_text(tmp_path):
    (tmp_path / "counts.json").write_text(json.dumps({"a": 8, "b": None}))
    assert read_split_file(tmp_path / "counts.json") == {"a": 8, "b": None}
    (tmp_path / "ids.json").write_text(json.dumps(["b", "a"]))
    assert read_split_file(tmp_path / "ids.json") == {"b": None, "a": None}
    (tmp_path / "ids.txt").write_text(" b \n\na\n")
    assert list(read_split_file(tmp_path / "ids.txt")) == ["b", "a"]


def test_bad_split_files_name_the_file(tmp_path):
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(MediaError, match=r"broken.json: expected JSON \{video_id: num_frames\}, found invalid JSON"):
        read_split_file(tmp_path / "broken.json")
    (tmp_path / "number.json").write_text("3")
    with pytest.raises(MediaError, match=r"number.json: expected a JSON object or list of video ids, found int"):
        read_split_file(tmp_path / "number.json")
    with pytest.raises(MediaError, match=r"absent.txt: expected a readable split file, found"):
        read_split_file(tmp_path / "absent.txt")


def test_davis_style_subfolder(tmp_path):
    write_frames_dataset(tmp_path / "download", {"bear": 6}, None)
    (tmp_path / "davis" / "JPEGImages").mkdir(parents=True)
    (tmp_path / "download" / "JPEGImages").rename(tmp_path / "davis" / "JPEGImages" / "480p")
    videos = VideoCollection(tmp_path / "davis", frames_dir="JPEGImages/480p")
    assert videos.video_ids == ["bear"] and videos.num_frames("bear") == 6


def test_readers_are_per_process_and_not_pickled(zip_root):
    videos = VideoCollection(zip_root, split="train")
    videos.read("a", [0])
    assert list(videos._readers) == ["a"]
    clone = pickle.loads(pickle.dumps(videos))
    assert not clone._readers
    np.testing.assert_array_equal(clone.read("a", [2]), videos.read("a", [2]))


def test_open_readers_are_bounded_and_closed_when_dropped(zip_root, monkeypatch):
    monkeypatch.setattr(collection_module, "MAX_OPEN_READERS", 2)
    videos = VideoCollection(zip_root)
    first = videos.reader("a")
    for video_id in ["a", "b", "c"]:
        videos.read(video_id, [0])
    assert list(videos._readers) == ["b", "c"] and first._zip is None
    for video_id in ["a", "d"]:
        videos.read(video_id, [0])
    assert list(videos._readers) == ["a", "d"]
    last = videos.reader("d")
    videos.validate()
    assert not videos._readers and last._zip is None


def test_missing_root_names_it(tmp_path):
    with pytest.raises(MediaError, match="nowhere: expected a dataset folder, found nothing there"):
        VideoCollection(tmp_path / "nowhere")


def test_folder_without_videos(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match="empty: expected .*empty/JPEGImages with frame folders or zips, or video files .*neither"):
        detect_layout(tmp_path / "empty")
    with pytest.raises(MediaError, match="empty: expected"):
        VideoCollection(tmp_path / "empty")


def test_explicit_layout_without_its_folder(tmp_path):
    (tmp_path / "root").mkdir()
    with pytest.raises(MediaError, match=r"root/JPEGImages: expected a folder of videos \(zip layout\), found nothing there"):
        VideoCollection(tmp_path / "root", layout="zip")


def test_empty_split_names_the_split(frames_root):
    (frames_root / "train.json").write_text("{}")
    with pytest.raises(MediaError, match="split 'train' of .*JPEGImages: expected at least one video, found none"):
        VideoCollection(frames_root, split="train")


def test_listed_but_absent_video_names_both_files(frames_root):
    (frames_root / "train.json").write_text(json.dumps({"a": 8, "ghost": 5, "phantom": 2}))
    with pytest.raises(MediaError, match=r"train.json: lists video 'ghost' \(2 missing in all\), expected .*JPEGImages/ghost to"):
        VideoCollection(frames_root, split="train")


def test_listed_count_differs_from_folder(frames_root):
    (frames_root / "train.json").write_text(json.dumps({"a": 12}))
    videos = VideoCollection(frames_root, split="train")
    with pytest.raises(MediaError, match=r"train.json: expected 12 frames for 'a' as listed, found 8 in .*JPEGImages/a"):
        videos.validate()


def test_corrupt_zip_fails_at_validation(zip_root):
    (zip_root / "JPEGImages" / "a.zip").write_bytes(b"not a zip")
    videos = VideoCollection(zip_root, split="train")
    with pytest.raises(MediaError, match=r"a.zip: expected a zip of image frames, found an unreadable file"):
        videos.validate()


def test_undecodable_image_fails_at_read_naming_the_file(frames_root, zip_root):
    (frames_root / "JPEGImages" / "a" / "00003.png").write_bytes(b"garbage")
    videos = VideoCollection(frames_root, split="train")
    videos.validate()
    with pytest.raises(MediaError, match=r"JPEGImages/a/00003.png: expected a decodable image"):
        videos.read("a", [2, 3])
    with zipfile.ZipFile(zip_root / "JPEGImages" / "c.zip", "a") as archive:
        archive.writestr("00008.png", b"garbage")
    with pytest.raises(MediaError, match=r"c.zip:00008.png: expected a decodable image"):
        VideoCollection(zip_root, split="train").read("c", [8])


def test_undecodable_first_frame_fails_at_validation(frames_root):
    (frames_root / "JPEGImages" / "b" / "00000.png").write_bytes(b"garbage")
    with pytest.raises(MediaError, match=r"JPEGImages/b/00000.png: expected an image, found an unreadable header"):
        VideoCollection(frames_root, split="train").validate()


@pytest.mark.parametrize("access, decoder", [("random", "decord"), ("sequential", "ffmpeg")])
def test_undecodable_video_file(video_root, access, decoder):
    (video_root / "b.mp4").write_bytes(b"garbage")
    with pytest.raises(MediaError, match=rf"b.mp4: expected a readable input video, found a file {decoder} cannot"):
        VideoCollection(video_root, access=access).validate()


def test_unknown_layout(frames_root):
    with pytest.raises(MediaError, match=r"data.layout: expected one of \('auto', 'frames', 'zip', 'video'\), found 'tar'"):
        VideoCollection(frames_root, layout="tar")


def test_eval_set_checks_videos_and_masks_up_front(frames_root, tmp_path):
    videos, masks = open_eval_set(frames_root, masks="moving", cache_dir=tmp_path / "cache")
    assert videos.video_ids == SPLIT["test"] and videos.access == "sequential"
    assert isinstance(masks, GeneratedMaskSet)
    write_mask_folders(frames_root, {"d": COUNTS["d"] - 1})
    with pytest.raises(MediaError, match=r"test_masks/d: expected 10 masks, one per frame of video 'd', found 9"):
        open_eval_set(frames_root)
    (frames_root / "test.json").write_text(json.dumps({"d": 11}))
    with pytest.raises(MediaError, match=r"test.json: expected 11 frames for 'd' as listed, found 10"):
        open_eval_set(frames_root, masks="folder")


def test_eval_set_reads_its_mask_folders(frames_root):
    write_mask_folders(frames_root, {"d": COUNTS["d"]})
    videos, masks = open_eval_set(frames_root)
    assert isinstance(masks, FolderMaskSet)
    reader = masks.reader("d", videos.num_frames("d"), videos.frame_size("d"))
    assert reader.count == COUNTS["d"] and reader.size == Size(WIDTH, HEIGHT)


def test_video_workers_forked_after_reads_in_the_parent_do_not_hang(video_root):
    videos = VideoCollection(video_root)
    videos.read("a", [0, 1])
    loader = DataLoader(_Frames(videos), batch_size=None, num_workers=2, timeout=60)
    shapes = [batch.shape for batch in loader]
    assert shapes == [(1, HEIGHT, WIDTH, 3)] * len(COUNTS)


class _Frames(Dataset):
    def __init__(self, videos):
        self.videos = videos

    def __len__(self):
        return len(self.videos.video_ids)

    def __getitem__(self, index):
        return self.videos.read(self.videos.video_ids[index], [index])
