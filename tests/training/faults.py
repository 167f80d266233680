"""Faults injected into training runs by the fault-tolerance tests, and a child-process runner.

The callbacks are added to a run with ``+callbacks.<name>._target_=tests.training.faults.<Class>``;
the runner starts ``python -m sttn_lightning.train`` with this checkout's sources first on the path.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer

ROOT = Path(__file__).resolve().parents[2]


class SignalAt(Callback):
    """Sends the signal ``name`` (SIGKILL, SIGTERM, ...) to this process at iteration ``step``.

    ``when="end"``: once iteration ``step`` has finished; ``when="start"``: as the iteration after
    ``step`` begins, i.e. in the middle of iteration ``step + 1``.
    """

    def __init__(self, step: int, name: str = "SIGKILL", when: str = "end") -> None:
        if when not in ("start", "end"):
            raise ValueError(f"when: expected 'start' or 'end', found {when!r}")
        self.step = step
        self.signum = signal.Signals[name]
        self.when = when

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx) -> None:
        if self.when == "start" and trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx) -> None:
        if self.when == "end" and trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


class RandomDraws(Callback):
    """Draws from the global torch, NumPy and Python streams before each iteration; appends them to ``path``.

    Training itself draws nothing from them, so this is what shows that a resumed run's global
    streams continue where the interrupted run's were.
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx) -> None:
        draw = {"step": trainer.global_step, "torch": torch.rand(1).item(), "numpy": float(np.random.rand()),
                "python": random.random()}
        with self.path.open("a") as file:
            file.write(json.dumps(draw) + "\n")


def read_draws(path: Path) -> dict[int, dict]:
    return {draw["step"]: draw for draw in map(json.loads, path.read_text().splitlines())}


def start_training(overrides: Sequence[str], run_dir: Path, env: dict | None = None) -> subprocess.Popen:
    """Start ``python -m sttn_lightning.train`` in a child process, its run directory at ``run_dir``."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    child_env = {**os.environ, **(env or {})}
    child_env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), child_env.get("PYTHONPATH", "")])
    child_env["WANDB_MODE"] = "offline"
    child_env["OMP_NUM_THREADS"] = "1"  # the same arithmetic in every child, however many cores
    command = [sys.executable, "-m", "sttn_lightning.train", *overrides, f"hydra.run.dir={run_dir}"]
    return subprocess.Popen(
        command, cwd=run_dir.parent, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(child: subprocess.Popen, timeout: float = 120) -> subprocess.CompletedProcess:
    """Wait for a child started by ``start_training``; its exit status and output."""
    stdout, stderr = child.communicate(timeout=timeout)
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


def run_training(overrides: Sequence[str], run_dir: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """``start_training`` and ``finish``."""
    return finish(start_training(overrides, run_dir, env))


def killed_by(result: subprocess.CompletedProcess, signum: int) -> bool:
    return result.returncode == -signum
