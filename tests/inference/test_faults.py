"""`python -m sttn_lightning.inpaint` against its environment, in child processes on the CPU with the tiny
generator: an impossible or read-only output (exit 2, nothing created), a file-size limit standing in for
a full disk (exit 1, the frame reached named, nothing left, a pre-existing output untouched), and
SIGINT / SIGTERM mid-run (exit 130 / 143 within seconds, nothing new left, the old output untouched,
no ffmpeg process behind)."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.inference.conftest import box_mask, make_frames, write_frame_folder, write_mask, write_video

pytestmark = pytest.mark.slow

FLAT_FRAMES = 6  # frames whose PNG is tiny; the noisy ones after them are large


def listing(folder: Path) -> list[str]:
    """Every entry below ``folder``, hidden ones included."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def inpaint_command(*overrides: str) -> list[str]:
    return [sys.executable, "-m", "sttn_lightning.inpaint", *overrides, "progress=false", "device=cpu"]


def file_size_limit(limit: int):
    """A preexec_fn: files larger than ``limit`` bytes fail with EFBIG (SIGXFSZ ignored, so nothing is killed)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return apply


def unprivileged() -> list[str]:
    """A command prefix that makes folder permissions apply: root's DAC override dropped, when run as root."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: folder permissions cannot be made to apply")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.fixture
def clip(tmp_path: Path, tiny_checkpoint: Path) -> dict[str, Path]:
    """A frame folder whose first FLAT_FRAMES frames are flat grey (tiny PNGs), the rest noisy (large ones)."""
    frames = make_frames(16, 192, 128)
    frames[:FLAT_FRAMES] = 128
    write_frame_folder(tmp_path / "clip", frames)
    write_mask(tmp_path / "hole.png", box_mask(192, 128, 60, 40, 120, 80))
    return {"video": tmp_path / "clip", "mask": tmp_path / "hole.png", "ckpt": tiny_checkpoint}


def inputs(clip: dict[str, Path]) -> list[str]:
    return [f"{key}={path}" for key, path in clip.items()] + ["size=[64,32]"]


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("notes.txt/out.mp4", "notes.txt is a file, not a folder"),
        ("locked/out.mp4", "no permission to write in {tmp}/locked"),
        ("locked/new/out", "no permission to create {tmp}/locked/new in {tmp}/locked"),
        ("out.gif", "expected a video file"),
    ],
)
def test_impossible_output_exits_2_with_one_line_and_creates_nothing(tmp_path, clip, output, reason):
    (tmp_path / "notes.txt").write_text("notes")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked").chmod(0o555)
    before = listing(tmp_path)
    prefix = unprivileged() if output.startswith("locked") else []
    done = subprocess.run(prefix + inpaint_command(*inputs(clip), f"output={output}"), cwd=tmp_path, capture_output=True, text=True)
    (tmp_path / "locked").chmod(0o755)
    assert done.returncode == 2, done.stderr
    line = one_error_line(done.stderr)
    assert line.startswith(f"error: {output}: ") and reason.format(tmp=tmp_path) in line
    assert listing(tmp_path) == before


@pytest.mark.parametrize("output", ["out", "out.mp4"])
def test_file_size_limit_mid_run_exits_1_names_the_frame_and_keeps_the_old_output(tmp_path, clip, output):
    old = tmp_path / output
    if output == "out":
        old.mkdir()
        (old / "00000.png").write_bytes(b"old")
    else:
        old.write_bytes(b"old")
    before = listing(tmp_path)
    limit = 40_000  # above a flat frame's PNG, below a noisy one's; the mp4 reaches it after a few noisy frames
    done = subprocess.run(
        inpaint_command(*inputs(clip), f"output={output}", "overwrite=true"),
        cwd=tmp_path, capture_output=True, text=True, preexec_fn=file_size_limit(limit), timeout=120,
    )
    assert done.returncode == 1, done.stderr
    line = one_error_line(done.stderr)
    assert line.startswith(f"error: {output}: writing the output failed at frame ")
    assert "a file-size limit was reached" in line and line.endswith("the partial output was removed")
    if output == "out":
        assert f"at frame {FLAT_FRAMES}: File too large (a file-size limit was reached" in line
    else:  # ffmpeg is killed by SIGXFSZ (subprocess restores its default action) once the file outgrows the limit
        assert "the ffmpeg encoder exited (" in line
    assert listing(tmp_path) == before
    assert (old / "00000.png" if output == "out" else old).read_bytes() == b"old"


def ffmpeg_children(pid: int) -> list[int]:
    """The ffmpeg processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit() and "ffmpeg" in stat.split(")")[0] and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads child processes from /proc")
@pytest.mark.parametrize(
    ("signum", "to_group", "ignored_at_start"),
    [
        (signal.SIGINT, True, False),  # Ctrl-C in a terminal: the whole foreground process group
        (signal.SIGTERM, False, False),  # kill PID
        (signal.SIGINT, False, True),  # kill -INT PID of a background job `&` of a script (SIGINT ignored)
    ],
    ids=["ctrl-c", "sigterm", "sigint-to-background-job"],
)
def test_signal_mid_run_exits_fast_removes_the_partial_output_and_stops_ffmpeg(tmp_path, tiny_checkpoint, signum, to_group, ignored_at_start):
    write_video(tmp_path / "clip.mp4", make_frames(80, 432, 240))  # the clip: long enough to be caught mid-run
    write_mask(tmp_path / "hole.png", box_mask(432, 240, 100, 60, 300, 180))
    (tmp_path / "out.mp4").write_bytes(b"old")
    before = listing(tmp_path)
    overrides = [f"video={tmp_path / 'clip.mp4'}", f"mask={tmp_path / 'hole.png'}", f"ckpt={tiny_checkpoint}", "output=out.mp4", "overwrite=true"]
    child = subprocess.Popen(
        inpaint_command(*overrides), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignored_at_start else None,
    )
    deadline = time.monotonic() + 60
    ffmpeg: list[int] = []
    while time.monotonic() < deadline and child.poll() is None:  # mid-run: an encoder and a decoder are running
        ffmpeg = sorted(set(ffmpeg) | set(ffmpeg_children(child.pid)))
        if len(ffmpeg) >= 2 and any(name.startswith(".out.partial-") for name in os.listdir(tmp_path)):
            break
        time.sleep(0.1)
    time.sleep(1.0)
    assert child.poll() is None, "the run ended before it could be interrupted"
    ffmpeg = sorted(set(ffmpeg) | set(ffmpeg_children(child.pid)))
    sent = time.monotonic()
    os.killpg(child.pid, signum) if to_group else os.kill(child.pid, signum)
    _, stderr = child.communicate(timeout=30)
    took = time.monotonic() - sent
    assert child.returncode == 128 + signum, stderr
    assert took < 3.0, f"took {took:.1f} s to stop"
    assert one_error_line(stderr) == f"error: interrupted by {signal.Signals(signum).name}; the partial output was removed"
    assert listing(tmp_path) == before and (tmp_path / "out.mp4").read_bytes() == b"old"
    assert len(ffmpeg) >= 2 and not [pid for pid in ffmpeg if alive(pid)]
