"""data.on_bad_sample: a training clip whose frames cannot be read is skipped (reported, replaced
reproducibly) or stops the run with its path; validation and test data always stop with it."""

from pathlib import Path

import pytest
import torch

from sttn_lightning.data import DataError, VideoInpaintingDataModule
from sttn_lightning.media import MediaError
from sttn_lightning.data.datasets import MAX_REPLACEMENTS, SKIPPED_KEY
from tests.data.conftest import COUNTS


def _datamodule(root, tmp_path, **overrides):
    settings = {"num_frames": 4, "batch_size": 2, "height": 24, "width": 32, "cache_dir": tmp_path / "cache", **overrides}
    return VideoInpaintingDataModule(root, **settings)


def _corrupt(folder: Path) -> None:
    """Every frame after the first undecodable (the first one keeps setup's header check happy)."""
    for frame in sorted(folder.iterdir())[1:]:
        frame.write_bytes(b"not a jpeg")


def _keys_of(dataset, video_id):
    return [(0, index) for index in range(len(dataset)) if dataset.video_ids[index % len(dataset.video_ids)] == video_id]


def test_skip_replaces_an_undecodable_clip_by_another_and_reports_its_path(frames_root, tmp_path):
    datamodule = _datamodule(frames_root, tmp_path)
    datamodule.setup("fit")
    _corrupt(frames_root / "JPEGImages" / "a")
    dataset = datamodule.datasets["train"]
    (key,) = _keys_of(dataset, "a")

    sample = dataset[key]
    assert sample["video_id"] in {"b", "c"}
    assert f"{frames_root / 'JPEGImages' / 'a'}/" in sample[SKIPPED_KEY]
    assert "expected a decodable image" in sample[SKIPPED_KEY]
    again = dataset[key]  # the replacement is drawn from the sample's own stream: reproducible
    assert again["video_id"] == sample["video_id"] and torch.equal(again["frames"], sample["frames"])
    (healthy,) = _keys_of(dataset, "b")
    assert dataset[healthy][SKIPPED_KEY] == ""


def test_skip_covers_frames_deleted_after_setup_and_reaches_the_batch(frames_root, tmp_path):
    datamodule = _datamodule(frames_root, tmp_path, batch_size=3, num_workers=2)
    datamodule.setup("fit")
    for frame in (frames_root / "JPEGImages" / "b").iterdir():
        frame.unlink()
    batch = next(iter(datamodule.train_dataloader()))
    assert "b" not in batch["video_id"]
    messages = [line for entry in batch[SKIPPED_KEY] for line in entry.splitlines()]
    assert len(messages) == 1 and messages[0].startswith(f"{frames_root / 'JPEGImages' / 'b'}: expected a folder of frames")


def test_skip_covers_a_single_frame_deleted_after_setup(frames_root, tmp_path):
    datamodule = _datamodule(frames_root, tmp_path, batch_size=3, on_bad_sample="skip")
    datamodule.setup("fit")
    (frames_root / "JPEGImages" / "b" / "00003.png").unlink()
    dataset = datamodule.datasets["train"]
    (key,) = _keys_of(dataset, "b")
    sample = dataset[key]
    assert sample["video_id"] != "b"
    assert f"{frames_root / 'JPEGImages' / 'b'}: expected the 9 frames counted at set-up, found 8" in sample[SKIPPED_KEY]


def test_error_stops_with_the_path(frames_root, tmp_path):
    datamodule = _datamodule(frames_root, tmp_path, on_bad_sample="error")
    datamodule.setup("fit")
    _corrupt(frames_root / "JPEGImages" / "a")
    dataset = datamodule.datasets["train"]
    with pytest.raises(MediaError, match=rf"{frames_root / 'JPEGImages' / 'a'}/\d+\.png: expected a decodable"):
        dataset[_keys_of(dataset, "a")[0]]


def test_validation_data_always_stops_with_the_path(frames_root, tmp_path):
    datamodule = _datamodule(frames_root, tmp_path, on_bad_sample="skip")
    datamodule.setup("fit")
    _corrupt(frames_root / "JPEGImages" / "d")  # the validation split
    with pytest.raises(MediaError, match=rf"{frames_root / 'JPEGImages' / 'd'}/\d+\.png: expected a decodable"):
        next(iter(datamodule.val_dataloader()))
    assert not hasattr(datamodule.datasets["val"], "on_bad_sample"), "validation has no skip policy"


def test_a_dataset_gone_as_a_whole_stops_the_run(frames_root, tmp_path):
    datamodule = _datamodule(frames_root, tmp_path)
    datamodule.setup("fit")
    for video_id in ("a", "b", "c"):
        _corrupt(frames_root / "JPEGImages" / video_id)
    with pytest.raises(DataError, match=rf"expected a readable clip within {MAX_REPLACEMENTS} replacements"):
        datamodule.datasets["train"][0]


def test_short_videos_and_the_setup_check_are_unchanged_by_skip(frames_root, tmp_path):
    with pytest.raises(DataError, match="expected at least data.num_frames=9 frames"):
        _datamodule(frames_root, tmp_path, num_frames=9, on_bad_sample="skip").setup("fit")
    (frames_root / "JPEGImages" / "a" / "00007.png").unlink()  # 7 frames where train.json lists 8
    with pytest.raises(MediaError, match=r"train.json: expected 8 frames for 'a' as listed, found 7"):
        _datamodule(frames_root, tmp_path, on_bad_sample="skip").setup("fit")
    assert COUNTS["a"] == 8


def test_the_policy_is_checked(frames_root, tmp_path):
    with pytest.raises(DataError, match=r"data.on_bad_sample: expected one of \('skip', 'error'\), found 'ignore'"):
        _datamodule(frames_root, tmp_path, on_bad_sample="ignore")


def test_a_bad_setting_is_not_taken_for_a_bad_sample(frames_root, tmp_path):
    crop = [{"name": "CenterCrop", "height": 16, "width": 16}]  # changes the clip size: a config error
    datamodule = _datamodule(frames_root, tmp_path, augmentations=crop, on_bad_sample="skip")
    datamodule.setup("fit")
    with pytest.raises(DataError, match=r"data.augmentations: expected clips of 32x24 after augmentation"):
        datamodule.datasets["train"][0]
