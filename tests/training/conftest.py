"""Compose-API fixtures for the training tests: a tiny frame-folder dataset and tiny configs.

Configs are composed with Hydra's compose API from the installed sttn_lightning.conf (conf/, the
same files the CLI uses), pointed at a dataset written into tmp_path, with the tiny model and a CPU trainer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from hydra import compose, initialize_config_module
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from sttn_lightning.cli import CONFIG_MODULE

HEIGHT, WIDTH, NUM_FRAMES = 32, 48, 8
TRAIN_VIDEOS, TEST_VIDEOS = ("a", "b"), ("c",)


def tiny_clip(seed: int) -> np.ndarray:
    """(t, H, W, 3) uint8: a colour gradient with a square that moves one pixel per frame."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.0, 1.0, WIDTH, dtype=np.float32)[None, :, None]
    background = 40 + 150 * ramp * rng.uniform(0.3, 1.0, size=(1, 1, 3)) + rng.uniform(0, 50, size=(1, 1, 3))
    frames = np.repeat(np.repeat(background, HEIGHT, axis=0)[None], NUM_FRAMES, axis=0)
    colour = rng.uniform(0, 255, size=3)
    for t in range(NUM_FRAMES):
        frames[t, 8:20, 10 + t : 22 + t] = colour
    return frames.astype(np.uint8)


def write_tiny_dataset(root: Path) -> Path:
    """The frame-folder layout: root/JPEGImages/<id>/00000.jpg ..., root/train.json, root/test.json."""
    splits = {"train": TRAIN_VIDEOS, "test": TEST_VIDEOS}
    for seed, video_id in enumerate(TRAIN_VIDEOS + TEST_VIDEOS):
        folder = root / "JPEGImages" / video_id
        folder.mkdir(parents=True)
        for index, frame in enumerate(tiny_clip(seed)):
            cv2.imwrite(str(folder / f"{index:05d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    for split, ids in splits.items():
        (root / f"{split}.json").write_text(json.dumps({video_id: NUM_FRAMES for video_id in ids}))
    return root


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny_dataset"))


def tiny_overrides(dataset: Path, workdir: Path) -> list[str]:
    """Command-line overrides that make any training config run in seconds on the CPU."""
    return [
        f"data.root={dataset}",
        "data.layout=frames",
        "data.frames_dir=JPEGImages",
        f"data.height={HEIGHT}",
        f"data.width={WIDTH}",
        "data.num_frames=3",
        "data.batch_size=2",
        "data.num_workers=0",
        "data.pin_memory=false",
        "data.persistent_workers=false",
        "data.demo=null",
        f"data.cache_dir={workdir / 'cache'}",
        "model=sttn_tiny",
        "trainer=cpu",
        "trainer.max_steps=2",
        "++trainer.enable_model_summary=false",
        "logger=csv",
        f"paths.log_dir={workdir / 'logs'}",
        f"paths.output_dir={workdir / 'run'}",
    ]


ComposeTrain = Callable[..., DictConfig]


@pytest.fixture
def compose_train(tiny_dataset: Path, tmp_path: Path) -> ComposeTrain:
    """compose_train(*overrides, workdir=tmp_path) -> the training config, ready for `train(cfg)`.

    The tiny overrides come first, so the test's own overrides win.
    """

    def _compose(*overrides: str, workdir: Path = tmp_path) -> DictConfig:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            cfg = compose(
                "train", overrides=[*tiny_overrides(tiny_dataset, workdir), *overrides], return_hydra_config=True
            )
        HydraConfig.instance().set_config(cfg)  # so ${hydra:...} resolves as in a real run
        with open_dict(cfg):
            del cfg["hydra"]
        return cfg

    return _compose
