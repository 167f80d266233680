"""`python -m sttn_lightning.export`: writes both parts with a parity line; bad input exits 2 with one line, writes nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from sttn_lightning.models import InpaintGenerator, export_generator
from sttn_lightning.models.exported import load_inference_model

TINY = dict(base_channels=8, hidden_channels=16, num_blocks=1, patch_grids=((1, 1), (2, 2)))


def run_cli(cwd, *overrides):
    return subprocess.run([sys.executable, "-m", "sttn_lightning.export", *overrides], cwd=cwd, capture_output=True, text=True)


@pytest.fixture
def weights(tmp_path):
    return export_generator(InpaintGenerator(**TINY), tmp_path / "weights" / "tiny.pth")


@pytest.mark.slow
def test_cli_exports_both_parts_from_relative_paths_and_checks_them_against_eager(tmp_path, weights):
    result = run_cli(tmp_path, "ckpt=weights/tiny.pth", "format=torch_export", "output=out/tiny.pt2", "size=[36,20]")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "wrote out/tiny.pt2 (transformer + decoder) and out/tiny.encoder.pt2 (frame encoder) for 36x20 fp32"
    assert lines[1].startswith("largest difference from the eager generator on a 5-frame window: ")
    assert float(lines[1].rsplit(" ", 1)[1]) < 1e-4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["tiny.encoder.pt2", "tiny.pt2"]
    assert load_inference_model(tmp_path / "out" / "tiny.pt2", "torch_export").size == (36, 20)


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides, message",
    [
        (["format=tflite"], "error: format: expected one of ('onnx', 'torch_export'), found 'tflite'"),
        (["size=[4,4]"], "error: size: 4x4 is too small for the generator's patch grids ((1, 1), (2, 2)): pass size=[8,8] or larger"),
        (["precision=int8"], "error: precision: expected one of ('fp32', 'fp16'), found 'int8'"),
        (["ckpt=notes.pth"], "error: notes.pth: holds no generator: expected 'netG'"),
        (["ckpt=missing.pth"], "error: missing.pth: no such checkpoint file"),
        (["output=existing.onnx"], "error: output: existing.onnx already exist(s); pass overwrite=true to replace"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, weights, overrides, message):
    torch.save({"notes": torch.zeros(1), "epoch": 3}, tmp_path / "notes.pth")
    (tmp_path / "existing.onnx").write_bytes(b"keep")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli(tmp_path, "ckpt=weights/tiny.pth", "output=out.onnx", "size=[36,20]", *overrides)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "existing.onnx").read_bytes() == b"keep"


@pytest.mark.slow
def test_cli_without_required_keys_names_them(tmp_path):
    result = run_cli(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: missing ckpt=, output=; usage: sttn-export ckpt=WEIGHTS format=onnx|torch_export output=PATH [option=value ...]"
    )
