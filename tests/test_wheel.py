"""The wheel as a user installs it: every config and module inside, and the console scripts working from it.

The wheel is built from a copy of the checkout without build isolation (nothing downloads) and
installed with ``--no-deps`` into a fresh virtual environment whose only other packages are this
interpreter's site-packages (linked, not copied, and without their ``.pth`` files, so an editable
install of the checkout is not importable there). The commands run from a folder outside the
checkout with no PYTHONPATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from sttn_lightning.models import InpaintGenerator, export_generator
from tests.data.conftest import write_frames_dataset, write_mask_folders
from tests.inference.conftest import TINY_GENERATOR, box_mask, make_frames, read_png_folder, write_frame_folder, write_mask

CHECKOUT = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ("pyproject.toml", "setup.py", "README.md", "src", "conf")
SCRIPTS = ("sttn-train", "sttn-inpaint", "sttn-evaluate")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in BUILD_INPUTS:
        path = CHECKOUT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    dist = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (built,) = dist.glob("sttn_lightning-*.whl")
    return built


def test_wheel_holds_every_config_module_and_console_script(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(name).decode() for name in names if name.endswith("entry_points.txt"))
    configs = {f"sttn_lightning/conf/{path.relative_to(CHECKOUT / 'conf').as_posix()}" for path in (CHECKOUT / "conf").rglob("*.yaml")}
    modules = {f"sttn_lightning/{path.relative_to(CHECKOUT / 'src' / 'sttn_lightning').as_posix()}"
               for path in (CHECKOUT / "src" / "sttn_lightning").rglob("*.py")}
    assert len(configs) > 20 and configs <= names, sorted(configs - names)
    assert modules <= names, sorted(modules - names)
    for script in SCRIPTS:
        assert f"{script} = sttn_lightning." in entry_points


def fresh_environment(root: Path, wheel: Path) -> Path:
    """A virtual environment holding only the wheel, the test interpreter's packages linked in; returns its bin/."""
    venv.EnvBuilder(with_pip=False).create(root)
    scripts = root / ("Scripts" if os.name == "nt" else "bin")
    python = scripts / ("python.exe" if os.name == "nt" else "python")
    own_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True
    ).stdout.strip()
    shared = [path for path in sys.path if path.endswith("site-packages") and Path(path).is_dir()]
    (Path(own_site) / "test-interpreter-packages.pth").write_text("\n".join(shared) + "\n")
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)]
    result = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return scripts


@pytest.mark.slow
def test_installed_wheel_runs_all_three_commands_outside_the_checkout(tmp_path: Path, wheel: Path) -> None:
    scripts = fresh_environment(tmp_path / "venv", wheel)
    work = tmp_path / "work"
    work.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "HYDRA_FULL_ERROR")}
    env["WANDB_MODE"] = "offline"

    def run(script: str, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([str(scripts / script), *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        return result

    where = run("python", "-c", "import sttn_lightning, sttn_lightning.conf as c; print(sttn_lightning.__file__, c.__file__)")
    assert all(Path(path).is_relative_to(tmp_path / "venv") for path in where.stdout.split()), where.stdout

    assert run("sttn-inpaint", "--help").stdout.startswith("usage: sttn-inpaint video=IN")

    checkpoint = export_generator(InpaintGenerator(**TINY_GENERATOR).eval(), work / "tiny.pth")
    frames = make_frames(4, 33, 21)
    write_frame_folder(work / "clip", frames)
    write_mask(work / "hole.png", box_mask(33, 21, 5, 5, 15, 12))
    run("sttn-inpaint", "video=clip", "mask=hole.png", f"ckpt={checkpoint}", "output=result", "size=[64,32]", "progress=false")
    assert read_png_folder(work / "result").shape == frames.shape

    demo = ["data.demo.num_videos=2", "data.demo.num_test_videos=1", "data.demo.num_frames=6", "paths.cache_dir=cache"]
    trained = run("sttn-train", "+debug=fast_dev_run", *demo, "paths.log_dir=logs")
    assert "Trained 1 iterations" in trained.stdout

    counts = {"bear": 5}
    write_frames_dataset(work / "dataset", counts, {"test": list(counts)})
    write_mask_folders(work / "dataset", counts)
    run("sttn-evaluate", f"ckpt={checkpoint}", "data=youtube_vos", "data.root=dataset", "size=[64,32]", "device=cpu",
        "progress=false", "hydra.run.dir=report")
    assert (work / "report" / "results.md").is_file() and (work / "report" / "metrics.json").is_file()
