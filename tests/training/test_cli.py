"""`python -m sttn_lightning.train` as users run it: two-process DDP, a grid multirun, an Optuna sweep.

Each test is one subprocess (a python + Lightning start costs seconds), with the tiny settings.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from tests.training.conftest import tiny_overrides

pytestmark = pytest.mark.slow  # child-process training runs (DDP, multirun, Optuna)


def _run_train(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "sttn_lightning.train", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_two_process_ddp_on_cpu(tiny_dataset: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "ddp"
    result = _run_train(
        *tiny_overrides(tiny_dataset, tmp_path), "trainer=ddp_cpu", "trainer.max_steps=3",
        f"hydra.run.dir={run_dir}", "paths.output_dir=" + str(run_dir), cwd=tmp_path,
    )
    assert "MEMBER: 2/2" in result.stdout + result.stderr
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 3
    assert "Validation PSNR" in result.stdout


def _sweep_overrides(dataset: Path, workdir: Path, sweep_dir: Path) -> list[str]:
    # each job writes into its own ${hydra:runtime.output_dir}, so output_dir stays as configured
    overrides = [o for o in tiny_overrides(dataset, workdir) if not o.startswith("paths.output_dir=")]
    return ["-m", *overrides, f"hydra.sweep.dir={sweep_dir}"]


def test_grid_multirun_gives_each_job_its_own_run(tiny_dataset: Path, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "grid"
    result = _run_train(
        *_sweep_overrides(tiny_dataset, tmp_path, sweep_dir), "logger=wandb", "model.adv_weight=0.01,0.05", cwd=tmp_path
    )
    assert result.stdout.count("Validation PSNR") == 2
    wandb_runs = sorted(sweep_dir.glob("*/wandb/offline-run-*"))
    assert [run.parent.parent.name for run in wandb_runs] == ["0", "1"]
    for job in ("0", "1"):
        assert (sweep_dir / job / "checkpoints" / "last.ckpt").is_file()


def test_optuna_sweep_returns_the_metric(tiny_dataset: Path, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "optuna"
    _run_train(
        *_sweep_overrides(tiny_dataset, tmp_path, sweep_dir), "+hparams_search=optuna",
        "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.n_startup_trials=1", cwd=tmp_path,
    )
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert math.isfinite(results["best_value"])
    assert set(results["best_params"]) == {"model.g_optimizer.lr", "model.d_optimizer.lr", "model.adv_weight"}
