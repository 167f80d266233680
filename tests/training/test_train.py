"""`train(cfg)` end to end on the tiny dataset: experiments, logging and media, export, resume."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

from sttn_lightning.models import load_generator
from sttn_lightning.train import train
from tests.training.conftest import ComposeTrain


@pytest.mark.parametrize("experiment", [None, "youtube_vos", "davis"])
def test_fast_dev_run_of_every_experiment(compose_train: ComposeTrain, experiment: str | None) -> None:
    chosen = [f"+experiment={experiment}"] if experiment else []
    # the tiny overrides come first; the experiment must not bring back the full model or DDP
    cfg = compose_train(*chosen, "+debug=fast_dev_run", "model=sttn_tiny", "trainer=cpu")
    metrics = train(cfg)
    assert math.isfinite(metrics["after"]["val/psnr"])


@pytest.mark.slow  # a whole training run with wandb, checkpoints, export and samples
def test_training_run_logs_metrics_media_and_exports(compose_train: ComposeTrain, tmp_path: Path) -> None:
    cfg = compose_train(
        "logger=wandb",
        "trainer.max_steps=4",
        "trainer.val_check_interval=2",
        "callbacks.last_checkpoint.every_n_train_steps=2",
        "model.ema_decay=0.5",
    )
    metrics = train(cfg)
    run_dir = tmp_path / "run"

    for when in ("before", "after"):
        assert {"val/psnr", "val/ssim", "val/hole_l1"} <= set(metrics[when])
        assert all(math.isfinite(v) for v in metrics[when].values())
    offline_runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1
    media = offline_runs[0] / "files" / "media"
    assert len(list((media / "videos").glob("**/*.gif"))) == 3  # before training, iterations 2 and 4
    assert len(list((media / "images").glob("**/*.png"))) == 3
    assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == [
        "step_0000000.png", "step_0000002.png", "step_0000004.png"
    ]
    checkpoints = {p.name for p in (run_dir / "checkpoints").iterdir()}
    assert "last.ckpt" in checkpoints and any(name.startswith("best-") for name in checkpoints)

    exported = load_generator(run_dir / "generator.pth")
    from_checkpoint = load_generator(run_dir / "checkpoints" / "last.ckpt")  # the EMA weights
    for key, value in exported.state_dict().items():
        assert torch.equal(value, from_checkpoint.state_dict()[key])


class ResumeProbe(Callback):
    """Records what a resumed run starts from (instances register in `runs`)."""

    runs: list[ResumeProbe] = []

    def __init__(self) -> None:
        self.start_step: int | None = None
        self.optimizer_states: list[dict] = []
        self.scheduler_epochs: list[int] = []
        self.data_state: dict | None = None
        self.batches = 0
        ResumeProbe.runs.append(self)

    def on_train_start(self, trainer, pl_module) -> None:
        self.start_step = trainer.global_step
        self.optimizer_states = [copy.deepcopy(opt.state_dict()) for opt in trainer.optimizers]
        self.scheduler_epochs = [config.scheduler.last_epoch for config in trainer.lr_scheduler_configs]
        self.data_state = trainer.datamodule.state_dict()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batches += 1


def _assert_same_state(actual, expected) -> None:
    if isinstance(expected, torch.Tensor):
        assert torch.equal(actual, expected)
    elif isinstance(expected, dict):
        assert actual.keys() == expected.keys()
        for key in expected:
            _assert_same_state(actual[key], expected[key])
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            _assert_same_state(a, e)
    else:
        assert actual == expected


def test_resume_from_last_continues_at_the_right_iteration(compose_train: ComposeTrain, tmp_path: Path) -> None:
    ResumeProbe.runs.clear()
    runs = tmp_path / "logs" / "train" / "runs"
    probe = "+callbacks.probe._target_=tests.training.test_train.ResumeProbe"
    first = compose_train(
        "trainer.max_steps=3",
        "callbacks.last_checkpoint.every_n_train_steps=3",
        probe,
        f"paths.output_dir={runs / 'a'}",
    )
    train(first)
    saved = torch.load(runs / "a" / "checkpoints" / "last.ckpt", weights_only=False)
    assert saved["global_step"] == 3

    second = compose_train("trainer.max_steps=5", "ckpt_path=last", probe, f"paths.output_dir={runs / 'b'}")
    metrics = train(second)

    resumed = ResumeProbe.runs[1]
    assert resumed.start_step == 3
    assert resumed.batches == 2
    assert metrics["before"] == {}  # no validation of an untrained network when resuming
    _assert_same_state(resumed.optimizer_states, saved["optimizer_states"])
    assert resumed.scheduler_epochs == [3, 3]
    # one batch per epoch: the checkpoint closed epoch 2, so the resumed stream starts epoch 3
    assert saved["VideoInpaintingDataModule"] == {"seed": 0, "epoch": 2, "batches_done": 1}
    assert (resumed.data_state["seed"], resumed.data_state["epoch"]) == (0, 3)
    assert torch.load(runs / "b" / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 5
