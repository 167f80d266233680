"""Runs that are killed, preempted, fed corrupt data or diverge cost minutes, not the run.

The kill and preemption tests start training in child processes (tiny model, tiny clips) and
compare what they leave behind with an uninterrupted run of the same config.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import hydra
import pytest
import torch
from lightning.pytorch import Callback
from lightning.pytorch.plugins import MixedPrecision
from omegaconf import OmegaConf

from sttn_lightning import lit_module
from sttn_lightning.media import MediaError
from sttn_lightning.lit_module import HEALTH_KEY, TrainingDiverged
from sttn_lightning.models.checkpoint import CheckpointError
from sttn_lightning.resilience import WANDB_RUN_ID_KEY, AtomicCheckpointIO, resolve_ckpt_path, slurm_resume_checkpoint
from sttn_lightning.train import train
from tests.training.conftest import ComposeTrain, tiny_overrides
from tests.training.faults import ROOT, finish, killed_by, read_draws, run_training, start_training

EVERY = 4  # checkpoint interval (iterations)
STEPS = 8


def _overrides(dataset: Path, workdir: Path, num_workers: int) -> list[str]:
    overrides = [o for o in tiny_overrides(dataset, workdir) if not o.startswith("paths.output_dir")]
    return [
        *overrides,
        # 2 videos x 3 clips = 3 batches per epoch: the checkpoint at iteration 4 is mid-epoch
        "data.samples_per_video=3",
        f"data.num_workers={num_workers}",
        f"data.persistent_workers={num_workers > 0}",
        f"trainer.max_steps={STEPS}",
        "trainer.deterministic=true",
        "validate_before_training=false",
        f"callbacks.last_checkpoint.every_n_train_steps={EVERY}",
        "~callbacks.progress_bar",
        "~callbacks.sample_panel",
        "~callbacks.model_checkpoint",
        "logger=none",
    ]


def _weights(checkpoint: Path) -> dict:
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    return {"global_step": saved["global_step"], "state_dict": saved["state_dict"],
            "optimizers": saved["optimizer_states"]}


def _assert_identical(actual, expected, where: str = "") -> None:
    if isinstance(expected, torch.Tensor):
        assert torch.equal(actual, expected), f"{where} differs"
    elif isinstance(expected, dict):
        assert actual.keys() == expected.keys(), where
        for key in expected:
            _assert_identical(actual[key], expected[key], f"{where}/{key}")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), where
        for index, (a, e) in enumerate(zip(actual, expected)):
            _assert_identical(a, e, f"{where}/{index}")
    else:
        assert actual == expected, where


@pytest.mark.slow
@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_killed_run_resumed_with_ckpt_path_last_ends_bit_identical(tiny_dataset: Path, tmp_path: Path, num_workers: int) -> None:
    def draws(name: str) -> list[str]:
        return ["+callbacks.draws._target_=tests.training.faults.RandomDraws", f"+callbacks.draws.path={tmp_path / name}"]

    plain = [*_overrides(tiny_dataset, tmp_path / "plain", num_workers), *draws("whole.jsonl")]
    uninterrupted = start_training(plain, tmp_path / "plain" / "logs" / "train" / "runs" / "whole")
    interrupted = _overrides(tiny_dataset, tmp_path / "killed", num_workers)
    runs = tmp_path / "killed" / "logs" / "train" / "runs"
    kill = ["+callbacks.kill._target_=tests.training.faults.SignalAt", "+callbacks.kill.step=6"]
    killed = finish(start_training([*interrupted, *kill, *draws("killed.jsonl")], runs / "first"))
    assert killed_by(killed, signal.SIGKILL), killed.stderr[-3000:]
    uninterrupted = finish(uninterrupted)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    assert _weights(runs / "first" / "checkpoints" / "last.ckpt")["global_step"] == EVERY  # 5 and 6 are lost

    resumed = run_training([*interrupted, "ckpt_path=last", *draws("resumed.jsonl")], runs / "second")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    expected = _weights(tmp_path / "plain" / "logs" / "train" / "runs" / "whole" / "checkpoints" / "last.ckpt")
    assert expected["global_step"] == STEPS
    _assert_identical(_weights(runs / "second" / "checkpoints" / "last.ckpt"), expected)
    # the global torch / NumPy / Python streams continue where they were at the checkpoint
    whole, after_resume = read_draws(tmp_path / "whole.jsonl"), read_draws(tmp_path / "resumed.jsonl")
    assert sorted(after_resume) == list(range(EVERY, STEPS))
    assert all(after_resume[step] == whole[step] for step in after_resume)


# --- atomic checkpoints -------------------------------------------------------------------------

_KILL_MID_WRITE = """
import os, signal, sys, torch
from sttn_lightning.resilience import AtomicCheckpointIO

io = AtomicCheckpointIO()
io.save_checkpoint({"global_step": 1, "state_dict": {}, "loops": {}}, sys.argv[1])
real_save = torch.save

def save_half_then_die(obj, file, *args, **kwargs):
    real_save(obj, file, *args, **kwargs)
    file.truncate(file.tell() // 2)  # half of the new checkpoint is on disk
    file.flush()
    os.kill(os.getpid(), signal.SIGKILL)

torch.save = save_half_then_die
io.save_checkpoint({"global_step": 2, "state_dict": {"w": torch.ones(1000)}, "loops": {}}, sys.argv[1])
"""


def test_a_kill_during_a_checkpoint_write_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    target = tmp_path / "checkpoints" / "last.ckpt"
    result = subprocess.run(
        [sys.executable, "-c", _KILL_MID_WRITE, str(target)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])},
        capture_output=True, text=True, timeout=60,
    )
    assert killed_by(result, signal.SIGKILL), result.stderr
    assert torch.load(target, weights_only=True)["global_step"] == 1  # whole, and the previous version
    leftovers = [path for path in target.parent.iterdir() if path != target]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".last.ckpt.")  # the torn temporary file
    assert resolve_ckpt_path("last", tmp_path) == target  # which a resume never picks


@pytest.mark.parametrize("trainer", ["default", "gpu", "ddp", "ddp_cpu"])
def test_every_trainer_writes_checkpoints_atomically(compose_train: ComposeTrain, trainer: str) -> None:
    cfg = compose_train(f"trainer={trainer}")
    assert OmegaConf.select(cfg, "trainer.plugins.0._target_") == "sttn_lightning.resilience.AtomicCheckpointIO"
    if trainer in ("default", "ddp_cpu"):  # the ones this machine can build
        built = hydra.utils.instantiate(cfg.trainer, logger=False)
        assert isinstance(built.strategy.checkpoint_io, AtomicCheckpointIO)


def test_ckpt_path_last_takes_the_newest_checkpoint_that_loads_and_says_what_it_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runs = tmp_path / "logs" / "train" / "runs"
    good = runs / "older" / "checkpoints" / "last.ckpt"
    good.parent.mkdir(parents=True)
    torch.save({"global_step": 4, "state_dict": {"w": torch.ones(100)}, "loops": {}}, good)
    truncated = runs / "newer" / "checkpoints" / "last.ckpt"
    truncated.parent.mkdir(parents=True)
    truncated.write_bytes(good.read_bytes()[:200])  # what a non-atomic writer leaves when killed
    foreign = runs / "newest" / "checkpoints" / "last.ckpt"
    foreign.parent.mkdir(parents=True)
    torch.save({"netG": {}}, foreign)
    for age, path in enumerate((good, truncated, foreign)):
        os.utime(path, (1_000 + age, 1_000 + age))

    with caplog.at_level(logging.WARNING):
        assert resolve_ckpt_path("last", tmp_path / "logs" / "train") == good
    skipped = [record.getMessage() for record in caplog.records]
    assert any(f"skipping {foreign} because it is not a training checkpoint (no state_dict" in m for m in skipped)
    assert any(f"skipping {truncated} because it does not load" in m for m in skipped)
    with pytest.raises(CheckpointError, match="expected a training checkpoint, but it does not load"):
        resolve_ckpt_path(str(truncated), tmp_path)


# --- preemption ---------------------------------------------------------------------------------

_FAKE_SCONTROL = """#!/bin/sh
echo "$@" >> "{log}"
"""


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGUSR1"])
def test_a_preempted_run_saves_at_the_current_iteration_exits_cleanly_and_resumes(
    tiny_dataset: Path, tmp_path: Path, signal_name: str
) -> None:
    overrides = [
        *_overrides(tiny_dataset, tmp_path, num_workers=0),
        f"callbacks.last_checkpoint.every_n_train_steps={STEPS}",  # no periodic checkpoint before the end
        "+callbacks.draws._target_=tests.training.faults.RandomDraws",
    ]
    runs = tmp_path / "logs" / "train" / "runs"
    env: dict[str, str] = {}
    if signal_name == "SIGUSR1":  # inside a SLURM job: the run requeues itself with scontrol
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        scontrol = bin_dir / "scontrol"
        scontrol.write_text(_FAKE_SCONTROL.format(log=tmp_path / "scontrol.log"))
        scontrol.chmod(0o755)
        env = {"SLURM_JOB_ID": "4242", "SLURM_PROCID": "0", "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    # the signal arrives in the middle of iteration 4
    preempt = ["+callbacks.kill._target_=tests.training.faults.SignalAt", "+callbacks.kill.step=3",
               f"+callbacks.kill.name={signal_name}", "+callbacks.kill.when=start"]
    first = run_training([*overrides, *preempt, f"+callbacks.draws.path={tmp_path / 'first.jsonl'}"], runs / "first", env=env)

    assert first.returncode == 0, first.stderr[-3000:]
    saved = torch.load(runs / "first" / "checkpoints" / "last.ckpt", weights_only=False)
    assert saved["global_step"] == 4
    assert f"Stopped by {signal_name} at iteration 4: {runs / 'first' / 'checkpoints' / 'last.ckpt'}" in first.stdout
    assert sorted(read_draws(tmp_path / "first.jsonl")) == [0, 1, 2, 3]

    if signal_name == "SIGUSR1":
        assert (tmp_path / "scontrol.log").read_text() == "requeue 4242\n"
        resume = []  # the requeued job runs the same command line again, without ckpt_path
        env["SLURM_RESTART_COUNT"] = "1"  # what SLURM sets in a requeued job
    else:
        resume = ["ckpt_path=last"]
    second = run_training([*overrides, *resume, f"+callbacks.draws.path={tmp_path / 'second.jsonl'}"], runs / "second", env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert sorted(read_draws(tmp_path / "second.jsonl")) == list(range(4, STEPS))
    assert torch.load(runs / "second" / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == STEPS


# --- corrupt samples ----------------------------------------------------------------------------


def _dataset_with_corrupt_video(tiny_dataset: Path, tmp_path: Path, video_id: str) -> Path:
    """A copy of the tiny dataset whose video ``video_id`` has undecodable frames after the first."""
    root = tmp_path / "data"
    shutil.copytree(tiny_dataset, root)
    for frame in sorted((root / "JPEGImages" / video_id).iterdir())[1:]:
        frame.write_bytes(b"\xff\xd8 truncated")
    return root


def test_unreadable_training_clips_are_skipped_logged_once_counted_and_summarised(
    compose_train: ComposeTrain, tiny_dataset: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture,
) -> None:
    root = _dataset_with_corrupt_video(tiny_dataset, tmp_path, "a")
    cfg = compose_train(f"data.root={root}", "trainer.max_steps=3", "validate_before_training=false")
    with caplog.at_level(logging.WARNING, logger="sttn_lightning.lit_module"):
        metrics = train(cfg)
    # a clip of "a" in every batch of 2 (2 training videos): at least one unreadable read per iteration
    skipped = int(metrics["after"]["train/skipped_samples"])
    assert skipped >= 3
    warnings = [r.getMessage() for r in caplog.records if "Skipped an unreadable training clip" in r.getMessage()]
    assert warnings and all(f"{root / 'JPEGImages' / 'a'}/" in message for message in warnings)
    assert len(warnings) == len(set(warnings))  # each path once, however often it is met
    assert f"Skipped samples (unreadable clips replaced): {skipped}. Non-finite steps (optimiser steps skipped): 0" in capsys.readouterr().out


def test_on_bad_sample_error_stops_training_with_the_path(compose_train: ComposeTrain, tiny_dataset: Path, tmp_path: Path) -> None:
    root = _dataset_with_corrupt_video(tiny_dataset, tmp_path, "a")
    cfg = compose_train(f"data.root={root}", "data.on_bad_sample=error", "validate_before_training=false")
    with pytest.raises(MediaError, match=rf"{root / 'JPEGImages' / 'a'}/\d+\.jpg: expected a decodable"):
        train(cfg)


def test_validation_stops_with_the_path_even_when_training_skips(compose_train: ComposeTrain, tiny_dataset: Path, tmp_path: Path) -> None:
    root = _dataset_with_corrupt_video(tiny_dataset, tmp_path, "c")  # the validation video
    with pytest.raises(MediaError, match=rf"{root / 'JPEGImages' / 'c'}/\d+\.jpg: expected a decodable"):
        train(compose_train(f"data.root={root}", "data.on_bad_sample=skip"))


# --- non-finite losses --------------------------------------------------------------------------


class PoisonLosses(Callback):
    """Makes the generator / discriminator loss NaN in the given iterations (1-based)."""

    def __init__(self, g_iterations: Iterable[int] = (), d_iterations: Iterable[int] = ()) -> None:
        self.g_iterations, self.d_iterations = set(g_iterations), set(d_iterations)
        self.poison_d = False
        self.hole_weight: float | None = None
        self.snapshots: dict[int, dict[str, dict[str, torch.Tensor]]] = {}

    def _state(self, pl_module) -> dict[str, dict[str, torch.Tensor]]:
        g_opt, d_opt = pl_module.optimizers()
        # parameters only: the discriminator's spectral-norm vectors move with every forward pass
        return {
            "generator": {k: v.detach().clone() for k, v in pl_module.generator.named_parameters()},
            "generator_ema": {k: v.clone() for k, v in pl_module.generator_ema.named_parameters()},
            "discriminator": {k: v.detach().clone() for k, v in pl_module.discriminator.named_parameters()},
            "g_steps": {"n": torch.tensor(sum(int(s.get("step", 0)) for s in g_opt.optimizer.state.values()))},
            "d_steps": {"n": torch.tensor(sum(int(s.get("step", 0)) for s in d_opt.optimizer.state.values()))},
        }

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        iteration = trainer.global_step + 1
        if self.hole_weight is None:
            self.hole_weight = pl_module.hparams.hole_weight
        pl_module.hparams.hole_weight = math.nan if iteration in self.g_iterations else self.hole_weight
        self.poison_d = iteration in self.d_iterations
        self.snapshots[iteration - 1] = self._state(pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        self.snapshots[trainer.global_step] = self._state(pl_module)


def _changed(before: dict, after: dict, part: str) -> bool:
    return any(not torch.equal(before[part][key], after[part][key]) for key in before[part])


def _precision(name: str) -> dict:
    """Trainer arguments for ``name``; fp16 gets its grad scaler on the CPU too (Lightning would fall back to bf16)."""
    if name == "16-mixed":
        # a small initial scale: the default 2**16 overflows and skips the first steps by design
        return {"plugins": [MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu", init_scale=16.0))]}
    return {"precision": name}


@pytest.mark.parametrize("precision", ["32", "bf16-mixed", "16-mixed"])
def test_a_non_finite_loss_skips_that_optimiser_step_and_training_goes_on(
    compose_train: ComposeTrain, monkeypatch: pytest.MonkeyPatch, precision: str
) -> None:
    poison = PoisonLosses(g_iterations=[2], d_iterations=[4])
    real_d_loss = lit_module.discriminator_adv_loss
    monkeypatch.setattr(
        lit_module, "discriminator_adv_loss",
        lambda *args: real_d_loss(*args) * (math.nan if poison.poison_d else 1.0),
    )
    cfg = compose_train("trainer.max_steps=5", "validate_before_training=false", "callbacks=none",
                        "model.nonfinite_patience=2", "~trainer.plugins", "~trainer.precision")
    model = hydra.utils.instantiate(cfg.model)
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=[poison], logger=False, **_precision(precision))
    assert trainer.precision in (precision, f"{precision}-true")
    trainer.fit(model, datamodule=hydra.utils.instantiate(cfg.data))

    assert trainer.global_step == 5  # skipped steps still count as iterations
    assert model.nonfinite_steps == 2 and trainer.callback_metrics["train/nonfinite_steps"] == 2.0
    snaps = poison.snapshots
    # iteration 2: generator loss NaN -> no generator (or EMA) update, no Adam step; D trains
    assert not _changed(snaps[1], snaps[2], "generator") and not _changed(snaps[1], snaps[2], "generator_ema")
    assert snaps[2]["g_steps"]["n"] == snaps[1]["g_steps"]["n"] and _changed(snaps[1], snaps[2], "discriminator")
    # iteration 4: discriminator loss NaN -> no discriminator update; G trains
    assert not _changed(snaps[3], snaps[4], "discriminator") and snaps[4]["d_steps"]["n"] == snaps[3]["d_steps"]["n"]
    assert _changed(snaps[3], snaps[4], "generator")
    for iteration in (1, 3, 5):
        assert _changed(snaps[iteration - 1], snaps[iteration], "generator"), iteration
        assert _changed(snaps[iteration - 1], snaps[iteration], "discriminator"), iteration
    for state in snaps[5].values():
        assert all(torch.isfinite(value.float()).all() for value in state.values())


@pytest.mark.parametrize("precision", ["32", "bf16-mixed"])
def test_patience_runs_out_with_one_line_naming_the_iteration_and_the_last_good_checkpoint(
    compose_train: ComposeTrain, tmp_path: Path, capsys: pytest.CaptureFixture, precision: str
) -> None:
    cfg = compose_train(
        "trainer.max_steps=10", f"trainer.precision={precision}", "validate_before_training=false",
        "callbacks.last_checkpoint.every_n_train_steps=2", "model.nonfinite_patience=3",
        "+callbacks.poison._target_=tests.training.test_fault_tolerance.PoisonLosses",
        "+callbacks.poison.g_iterations=[3,4,5,6,7,8,9,10]",
    )
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    with pytest.raises(TrainingDiverged) as stopped:
        train(cfg)
    message = str(stopped.value)
    assert message == (
        f"Training stopped at iteration 5: 3 iterations in a row with a non-finite loss (g_loss=nan); "
        f"last good checkpoint: {checkpoint}"
    )
    assert "\n" not in message
    assert "Non-finite steps (optimiser steps skipped): 3" in capsys.readouterr().out
    assert torch.load(checkpoint, weights_only=False)[HEALTH_KEY]["nonfinite_steps"] == 2  # saved at iteration 4


# --- wandb --------------------------------------------------------------------------------------


def test_a_resumed_run_logs_into_the_same_wandb_run(compose_train: ComposeTrain, tmp_path: Path) -> None:
    runs = tmp_path / "logs" / "train" / "runs"
    common = ["logger=wandb", "validate_before_training=false", "callbacks.last_checkpoint.every_n_train_steps=2"]
    train(compose_train(*common, "trainer.max_steps=2", f"paths.output_dir={runs / 'first'}"))
    saved = torch.load(runs / "first" / "checkpoints" / "last.ckpt", weights_only=True)  # still weights-only safe
    (first_run,) = (runs / "first" / "wandb").glob("offline-run-*")
    run_id = first_run.name.rsplit("-", 1)[1]
    assert saved[WANDB_RUN_ID_KEY] == run_id  # the id travels inside the checkpoint being resumed

    # the resumed run has its own directory; ckpt_path=last finds the checkpoint, the id comes with it
    second = compose_train(*common, "trainer.max_steps=4", "ckpt_path=last", f"paths.output_dir={runs / 'second'}")
    train(second)
    (second_run,) = (runs / "second" / "wandb").glob("offline-run-*")
    assert second_run.name.endswith(f"-{run_id}")
    assert (second.logger.wandb.id, second.logger.wandb.resume) == (run_id, "allow")  # what wandb.init gets, online too


def test_only_a_requeued_slurm_job_resumes_from_its_earlier_attempts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task_dir = tmp_path / "logs" / "train"
    first, second, third = (task_dir / "runs" / name for name in ("first", "second", "third"))
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert slurm_resume_checkpoint(task_dir, first) is None and not (task_dir / "slurm").exists()  # not SLURM

    monkeypatch.setenv("SLURM_JOB_ID", "77")
    assert slurm_resume_checkpoint(task_dir, first) is None  # first attempt: recorded
    checkpoint = first / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir(parents=True)
    torch.save({"state_dict": {}, "global_step": 3, "loops": {}}, checkpoint)
    assert slurm_resume_checkpoint(task_dir, second) is None  # a later run in the same allocation starts afresh
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    assert slurm_resume_checkpoint(task_dir, third) == checkpoint  # the requeued job finds it
    assert (task_dir / "slurm" / "77.runs").read_text().splitlines() == [str(first), str(second), str(third)]
