"""The embedded demo dataset: written once, atomically, then read like any frame-folder dataset."""

import json
import threading

import numpy as np
import pytest

from sttn_lightning.data import DataError, VideoInpaintingDataModule, generate_demo_dataset
from sttn_lightning.media import Size, VideoCollection

TINY = {"num_videos": 3, "num_frames": 6, "height": 24, "width": 40, "num_test_videos": 1}


def test_generation_writes_the_frame_folder_layout(tmp_path):
    root = generate_demo_dataset(tmp_path / "demo", **TINY)
    train = VideoCollection(root, split="train")
    train.validate()
    assert len(train.video_ids) == 2 and train.frame_size(train.video_ids[0]) == Size(40, 24)
    test_ids = list(json.loads((root / "test.json").read_text()))
    assert len(test_ids) == 1 and (root / "test_masks" / test_ids[0]).is_dir()
    clip = train.read(train.video_ids[0], range(6)).astype(float)
    assert np.abs(np.diff(clip, axis=0)).mean() > 1, "the camera moves"


def test_generation_is_idempotent_and_leaves_no_temporary_folders(tmp_path):
    root = generate_demo_dataset(tmp_path / "demo", **TINY)
    frame = next((root / "JPEGImages").iterdir()) / "00000.jpg"
    stamp = frame.stat().st_mtime_ns
    generate_demo_dataset(tmp_path / "demo", **TINY)
    assert frame.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]


def test_racing_writers_end_with_one_dataset(tmp_path):
    errors = []

    def write():
        try:
            generate_demo_dataset(tmp_path / "demo", **TINY)
        except Exception as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]
    assert len(list((tmp_path / "demo" / "JPEGImages").iterdir())) == 3


def test_other_settings_in_the_same_folder_are_an_error(tmp_path):
    generate_demo_dataset(tmp_path / "demo", **TINY)
    with pytest.raises(DataError, match=r"demo.json: expected a demo dataset made with .*'num_frames': 7"):
        generate_demo_dataset(tmp_path / "demo", **{**TINY, "num_frames": 7})


def test_a_folder_with_other_content_is_not_overwritten(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "mine.txt").write_text("keep")
    with pytest.raises(DataError, match="demo: expected a missing or empty folder for the demo dataset, found other files"):
        generate_demo_dataset(tmp_path / "demo", **TINY)
    assert [p.name for p in (tmp_path / "demo").iterdir()] == ["mine.txt"]


def test_datamodule_generates_and_reads_the_demo(tmp_path):
    datamodule = VideoInpaintingDataModule(tmp_path / "demo", demo=TINY, num_frames=5, height=24, width=40, batch_size=2)
    datamodule.prepare_data()
    datamodule.setup()
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["frames"].shape == (2, 5, 3, 24, 40)
    val_batch = next(iter(datamodule.val_dataloader()))
    assert val_batch["masks"].shape == (1, 5, 1, 24, 40) and val_batch["masks"].sum() > 0
