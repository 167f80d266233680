"""Evaluation against its environment: an impossible output_dir is refused before any work, a full
disk while writing the report keeps the old one whole, and a file-size limit while saving frames
ends `python -m sttn_lightning.evaluate` with exit code 1, one line and nothing half-written."""

from __future__ import annotations

import errno
import os
import pathlib
import resource
import signal
import subprocess
import sys

import pytest

from sttn_lightning.errors import OutputFault
from sttn_lightning.evaluate import run
from sttn_lightning.evaluation import write_report
from sttn_lightning.media import MediaError
from tests.evaluation.conftest import compose_evaluate, evaluate_overrides
from tests.evaluation.test_report import SUMMARY


def listing(folder):
    """Every entry below ``folder``, hidden ones included."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_output_dir_below_a_regular_file_fails_before_any_work(tmp_path, dataset, tiny_checkpoint):
    (tmp_path / "notes.txt").write_text("notes")
    overrides = evaluate_overrides(dataset, tmp_path / "hydra", f"ckpt={tiny_checkpoint}", f"output_dir={tmp_path / 'notes.txt' / 'run'}")
    with pytest.raises(MediaError, match=r"notes.txt/run: cannot write the output there: .*notes.txt is a file, not a folder"):
        run(compose_evaluate(overrides))


def test_full_disk_while_writing_the_report_keeps_the_old_report_whole(tmp_path, monkeypatch):
    first = write_report(tmp_path, SUMMARY, [], {"run": 1}, "a.pth", "davis")
    old = {name: path.read_text() for name, path in first.items()}
    write_text = pathlib.Path.write_text

    def full_disk(path, text):
        if "per_video" in path.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_text(path, text)

    monkeypatch.setattr(pathlib.Path, "write_text", full_disk)
    with pytest.raises(OutputFault, match=r"per_video.csv: writing the output failed: No space left on device \(free some space"):
        write_report(tmp_path, SUMMARY, [], {"run": 2}, "b.pth", "davis")
    assert listing(tmp_path) == sorted(old)
    assert {name: (tmp_path / name).read_text() for name in old} == old


@pytest.mark.slow
def test_file_size_limit_while_saving_frames_exits_1_and_leaves_nothing(tmp_path, dataset, tiny_checkpoint):
    output = tmp_path / "run"

    def limit_file_size() -> None:  # below one saved PNG frame: the first one fails
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    overrides = evaluate_overrides(dataset, output, f"ckpt={tiny_checkpoint}", "save_frames=true", "ewarp=false", "hydra.output_subdir=null")
    done = subprocess.run(
        [sys.executable, "-m", "sttn_lightning.evaluate", *overrides],
        capture_output=True, text=True, env={**os.environ, "WANDB_MODE": "offline"}, preexec_fn=limit_file_size, timeout=300,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {output / 'frames' / 'bear'}: writing the output failed at frame 0: File too large")
    assert listing(output) == []
