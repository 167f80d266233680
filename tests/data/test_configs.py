"""The data configs compose with paths/default and instantiate the datamodule."""

import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from sttn_lightning.cli import CONFIG_MODULE
from sttn_lightning.data import VideoInpaintingDataModule


def _compose(name, *overrides):
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        return compose(config_name=None, overrides=[f"+data={name}", "+paths=default", *overrides])


@pytest.mark.parametrize(
    "name, root, frames_dir",
    [("youtube_vos", "data/youtube-vos", "JPEGImages"), ("davis", "data/davis", "JPEGImages/480p"), ("video_folder", "data/videos", "JPEGImages")],
)
def test_release_recipes(monkeypatch, name, root, frames_dir):
    monkeypatch.delenv("STTN_DATA_DIR", raising=False)
    data = _compose(name).data
    assert data._target_ == "sttn_lightning.data.VideoInpaintingDataModule"
    assert (data.root, data.frames_dir) == (root, frames_dir)
    assert (data.height, data.width, data.num_frames, data.batch_size) == (240, 432, 5, 8)
    assert list(data.augmentations) == [{"name": "HorizontalFlip", "p": 0.5}]


def test_demo_config_instantiates_and_loads(tmp_path):
    config = _compose("demo", f"paths.cache_dir={tmp_path}", "data.demo.num_videos=3", "data.demo.num_test_videos=1")
    datamodule = instantiate(config.data)
    assert isinstance(datamodule, VideoInpaintingDataModule) and datamodule.root == tmp_path / "demo"
    datamodule.prepare_data()
    datamodule.setup("fit")
    assert next(iter(datamodule.train_dataloader()))["frames"].shape == (2, 5, 3, 120, 216)
