"""Shared test settings: offline wandb, deterministic seeds, few threads."""

import os

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    yield
