"""`python -m sttn_lightning.inpaint` from another directory: success, and bad input with exit code 2."""

from __future__ import annotations

import subprocess
import sys

from sttn_lightning.devices import cpu_has_native_bf16
from tests.inference.conftest import box_mask, make_frames, read_png_folder, write_frame_folder, write_mask


def run_cli(cwd, *overrides):
    return subprocess.run([sys.executable, "-m", "sttn_lightning.inpaint", *overrides], cwd=cwd, capture_output=True, text=True)


def test_cli_inpaints_relative_paths_from_any_directory_and_writes_nothing_else(tmp_path, tiny_checkpoint):
    frames = make_frames(4, 33, 21)
    write_frame_folder(tmp_path / "clip", frames)
    write_mask(tmp_path / "hole.png", box_mask(33, 21, 5, 5, 15, 12))
    result = run_cli(
        tmp_path, "video=clip", "mask=hole.png", f"ckpt={tiny_checkpoint}", "output=result", "size=[64,32]", "progress=false"
    )
    assert result.returncode == 0, result.stderr
    assert "4 frames" in result.stdout and "peak RSS" in result.stdout
    precision = "bf16" if cpu_has_native_bf16() else "fp32"  # precision=auto, the default
    assert f"cpu {precision}" in result.stdout
    assert read_png_folder(tmp_path / "result").shape == frames.shape
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip", "hole.png", "result", "weights"]


def test_cli_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path, tiny_checkpoint):
    write_mask(tmp_path / "hole.png", box_mask(33, 21, 5, 5, 15, 12))
    result = run_cli(tmp_path, "video=missing.mp4", "mask=hole.png", f"ckpt={tiny_checkpoint}", "output=out.mp4")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: missing.mp4: expected a video file, a zip or a folder of frames, found nothing there"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hole.png", "weights"]
