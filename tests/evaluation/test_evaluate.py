"""`python -m sttn_lightning.evaluate` end to end on a 2-video dataset written in the test."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from sttn_lightning.evaluate import run
from sttn_lightning.errors import InputError
from sttn_lightning.evaluation import EvaluationError
from sttn_lightning.media import MediaError
from sttn_lightning.models import CheckpointError
from tests.evaluation.conftest import COUNTS, compose_evaluate, evaluate_overrides
from tests.inference.conftest import TINY_SIZE


def _cli(*overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline"}
    return subprocess.run([sys.executable, "-m", "sttn_lightning.evaluate", *overrides], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow  # a whole evaluation run in a child process, I3D included
def test_tiny_generator_end_to_end_writes_the_three_files(tmp_path, dataset, tiny_checkpoint, i3d_weights):
    output = tmp_path / "run"
    done = _cli(*evaluate_overrides(dataset, output, f"ckpt={tiny_checkpoint}", f"i3d={i3d_weights}", "save_frames=true"))
    assert done.returncode == 0, done.stderr
    metrics = json.loads((output / "metrics.json").read_text())["metrics"]
    assert metrics["videos"] == 2 and metrics["frames"] == sum(COUNTS.values())
    assert 0 < metrics["psnr"] < math.inf and 0 < metrics["ssim"] < 1
    assert metrics["vfid"] is not None and metrics["vfid"] >= 0
    assert metrics["ewarp"] > 0
    rows = list(csv.DictReader((output / "per_video.csv").open()))
    assert [row["video_id"] for row in rows] == sorted(COUNTS)
    assert "(this run)" in (output / "results.md").read_text()
    saved = sorted((output / "frames" / "bear").iterdir())
    assert len(saved) == COUNTS["bear"] and Image.open(saved[0]).size == TINY_SIZE


@pytest.mark.slow  # a whole evaluation run in a child process
def test_ground_truth_against_itself_scores_perfectly(tmp_path, dataset, i3d_weights):
    cfg = compose_evaluate(evaluate_overrides(dataset, tmp_path / "gt", f"results_dir={dataset / 'JPEGImages'}", f"i3d={i3d_weights}"))
    metrics = run(cfg)
    assert metrics["psnr"] == math.inf and metrics["hole_psnr"] == math.inf
    assert metrics["ssim"] == pytest.approx(1.0) and metrics["hole_ssim"] == pytest.approx(1.0)
    assert metrics["vfid"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["ewarp"] == metrics["ewarp_ground_truth"] > 0
    assert json.loads((tmp_path / "gt" / "metrics.json").read_text())["metrics"]["psnr"] == math.inf


def test_missing_weights_exit_2_before_any_work(tmp_path, dataset):
    output = tmp_path / "run"
    done = _cli(*evaluate_overrides(dataset, output, f"ckpt={tmp_path / 'nope.pth'}"))
    assert done.returncode == 2
    assert "nope.pth" in done.stderr and "Traceback" not in done.stderr
    assert not (output / "metrics.json").exists()


def _expect(tmp_path, overrides, error, match):
    with pytest.raises(error, match=match):
        run(compose_evaluate(overrides))
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_missing_i3d_weights_fail_before_any_work(tmp_path, dataset, tiny_checkpoint):
    overrides = evaluate_overrides(dataset, tmp_path / "run", f"ckpt={tiny_checkpoint}", f"i3d={tmp_path / 'i3d.pt'}")
    _expect(tmp_path, overrides, InputError, "i3d.pt")


def test_not_a_generator_checkpoint_fails_naming_it(tmp_path, dataset):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    _expect(tmp_path, evaluate_overrides(dataset, tmp_path / "run", f"ckpt={bad}"), CheckpointError, "bad.pth")


def test_mask_folder_that_does_not_match_its_video_fails_naming_it(tmp_path, dataset, tiny_checkpoint):
    extra = dataset / "test_masks" / "car" / "00099.png"
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(extra)
    overrides = evaluate_overrides(dataset, tmp_path / "run", f"ckpt={tiny_checkpoint}")
    _expect(tmp_path, overrides, MediaError, "car")


def test_dataset_without_the_expected_layout_fails(tmp_path, tiny_checkpoint):
    empty = tmp_path / "empty"
    empty.mkdir()
    _expect(tmp_path, evaluate_overrides(empty, tmp_path / "run", f"ckpt={tiny_checkpoint}"), MediaError, "empty")


def test_results_folder_with_missing_frames_fails_before_any_work(tmp_path, dataset):
    results = tmp_path / "results" / "bear"
    results.mkdir(parents=True)
    Image.fromarray(np.zeros((32, 64, 3), np.uint8)).save(results / "00000.png")
    overrides = evaluate_overrides(dataset, tmp_path / "run", f"results_dir={results.parent}")
    _expect(tmp_path, overrides, EvaluationError, "expected 6 result frames")


def test_ckpt_and_results_dir_are_exclusive(tmp_path, dataset, tiny_checkpoint):
    overrides = evaluate_overrides(dataset, tmp_path / "run", f"ckpt={tiny_checkpoint}", f"results_dir={dataset}")
    _expect(tmp_path, overrides, EvaluationError, "exactly one of")
