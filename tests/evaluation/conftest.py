"""A 2-video frame-folder dataset with fixed masks, a tiny generator and a random-weight I3D file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from sttn_lightning.cli import CONFIG_MODULE
from sttn_lightning.metrics import InceptionI3d
from sttn_lightning.models import InpaintGenerator, export_generator
from tests.data.conftest import write_frames_dataset, write_mask_folders
from tests.inference.conftest import TINY_GENERATOR, TINY_SIZE

COUNTS = {"bear": 6, "car": 7}


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "dataset"
    write_frames_dataset(root, COUNTS, {"test": list(COUNTS)})
    write_mask_folders(root, COUNTS)
    return root


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return export_generator(InpaintGenerator(**TINY_GENERATOR).eval(), tmp_path / "tiny.pth")


@pytest.fixture(scope="session")
def i3d_weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("i3d") / "i3d_random.pt"
    torch.manual_seed(0)
    torch.save(InceptionI3d().state_dict(), path)
    return path


def evaluate_overrides(dataset: Path, output: Path, *extra: str) -> list[str]:
    """Command-line overrides that evaluate the test dataset at the tiny generator's working size."""
    return [
        "data=youtube_vos",
        f"data.root={dataset}",
        f"size=[{TINY_SIZE[0]},{TINY_SIZE[1]}]",
        "device=cpu",
        "progress=false",
        f"hydra.run.dir={output}",
        f"output_dir={output}",
        *extra,
    ]


def compose_evaluate(overrides: list[str]) -> DictConfig:
    """The evaluate config as the CLI would build it, with the Hydra runtime set so that its interpolations resolve."""
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        cfg = compose("evaluate", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as @hydra.main hands it over
    return cfg
