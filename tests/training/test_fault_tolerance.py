"""Runs that are killed, preempted, fed corrupt data or diverge cost minutes, not the run.

The kill and preemption tests start training in child processes (tiny model, tiny clips) and
compare what they leave behind with an uninterrupted run of the same config.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch

from tests.training.conftest import tiny_overrides
from tests.training.faults import killed_by, read_draws, run_training

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
    uninterrupted = run_training(plain, tmp_path / "plain" / "logs" / "train" / "runs" / "whole")
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]

    interrupted = _overrides(tiny_dataset, tmp_path / "killed", num_workers)
    runs = tmp_path / "killed" / "logs" / "train" / "runs"
    kill = ["+callbacks.kill._target_=tests.training.faults.SignalAt", "+callbacks.kill.step=6"]
    killed = run_training([*interrupted, *kill, *draws("killed.jsonl")], runs / "first")
    assert killed_by(killed, signal.SIGKILL), killed.stderr[-3000:]
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
