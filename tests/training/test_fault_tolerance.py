"""Runs that are killed, preempted, fed corrupt data or diverge cost minutes, not the run.

The kill and preemption tests start training in child processes (tiny model, tiny clips) and
compare what they leave behind with an uninterrupted run of the same config.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sttn_lightning.models.checkpoint import CheckpointError
from sttn_lightning.utils.checkpoints import resolve_ckpt_path
from tests.training.conftest import tiny_overrides
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
from sttn_lightning.utils.checkpoints import AtomicCheckpointIO

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
    else:
        resume = ["ckpt_path=last"]
    second = run_training([*overrides, *resume, f"+callbacks.draws.path={tmp_path / 'second.jsonl'}"], runs / "second", env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert sorted(read_draws(tmp_path / "second.jsonl")) == list(range(4, STEPS))
    assert torch.load(runs / "second" / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == STEPS
