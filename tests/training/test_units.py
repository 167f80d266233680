"""Pure pieces of the training code, against hand-computed values."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from sttn_lightning.callbacks import sample_panel
from sttn_lightning.ema import frozen_copy, update_ema_
from sttn_lightning.models.checkpoint import CheckpointError
from sttn_lightning.schedules import StepDecay
from sttn_lightning.protocol import composite
from sttn_lightning.resilience import resolve_ckpt_path


@pytest.mark.parametrize(
    ("iteration", "expected"),
    [(0, 1.0), (149_999, 1.0), (150_000, 0.1), (299_999, 0.1), (300_000, 0.01), (499_999, 0.01)],
)
def test_youtube_vos_step_decay(iteration: int, expected: float) -> None:
    assert StepDecay(step=150_000, gamma=0.1, cap=300_000)(iteration) == pytest.approx(expected)


def test_davis_step_decay_drops_once_at_300k() -> None:
    factors = [StepDecay(step=300_000, gamma=0.1, cap=300_000)(i) for i in (0, 299_999, 300_000, 499_999)]
    assert factors == pytest.approx([1.0, 1.0, 0.1, 0.1])


def test_step_decay_drives_lambda_lr() -> None:
    optimizer = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=1e-4)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, StepDecay(step=2, gamma=0.5, cap=4))
    lrs = []
    for _ in range(7):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([1e-4, 1e-4, 5e-5, 5e-5, 2.5e-5, 2.5e-5, 2.5e-5])


def test_step_decay_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="step must be positive"):
        StepDecay(step=0)


def test_update_ema_blends_parameters_and_copies_buffers() -> None:
    model = nn.BatchNorm1d(2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([1.0, 3.0]))
        model.running_mean.copy_(torch.tensor([7.0, 8.0]))
    average = frozen_copy(model)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([3.0, 5.0]))
    update_ema_(average, model, decay=0.75)
    assert average.weight.tolist() == pytest.approx([1.5, 3.5])  # 0.75 * old + 0.25 * new
    assert average.running_mean.tolist() == [7.0, 8.0]
    assert not any(p.requires_grad for p in average.parameters())


def test_composite_takes_holes_from_prediction() -> None:
    frames = torch.tensor([1.0, 2.0, 3.0])
    pred = torch.tensor([-1.0, -2.0, -3.0])
    masks = torch.tensor([0.0, 1.0, 0.0])
    assert composite(pred, frames, masks).tolist() == [1.0, -2.0, 3.0]


def test_sample_panel_places_parts_side_by_side() -> None:
    masked = torch.full((2, 3, 4, 5), -1.0)
    output = torch.zeros(2, 3, 4, 5)
    target = torch.ones(2, 3, 4, 5)
    panel = sample_panel(masked, output, target)
    assert panel.shape == (2, 4, 15, 3) and panel.dtype == np.uint8
    assert (panel[:, :, :5] == 0).all() and (panel[:, :, 5:10] == 128).all() and (panel[:, :, 10:] == 255).all()


def _touch(path: Path, mtime: float) -> Path:
    """A minimal training checkpoint at ``path``, modified at ``mtime``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {}, "global_step": 0, "loops": {}}, path)
    os.utime(path, (mtime, mtime))
    return path


def test_resolve_ckpt_path_rules(tmp_path: Path) -> None:
    task_dir = tmp_path / "logs" / "train"
    older = _touch(task_dir / "runs" / "r1" / "checkpoints" / "last.ckpt", 1_000)
    newer = _touch(task_dir / "multiruns" / "m1" / "0" / "checkpoints" / "last.ckpt", 2_000)
    best = _touch(task_dir / "runs" / "r1" / "checkpoints" / "best.ckpt", 3_000)
    assert resolve_ckpt_path(None, task_dir) is None
    assert resolve_ckpt_path("last", task_dir) == newer
    assert resolve_ckpt_path(str(task_dir / "runs" / "r1"), task_dir) == older
    assert resolve_ckpt_path(str(best), task_dir) == best


def test_resolve_ckpt_path_errors_name_the_place(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="expected a loadable last.ckpt under"):
        resolve_ckpt_path(str(tmp_path), tmp_path / "nothing")
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_ckpt_path("last", tmp_path / "nothing")
