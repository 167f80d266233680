"""The base install (no ``[train]`` extra) inpaints and evaluates: both commands run with the training packages absent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sttn_lightning.models import InpaintGenerator, export_generator
from tests.data.conftest import write_frames_dataset, write_mask_folders
from tests.inference.conftest import TINY_GENERATOR, box_mask, make_frames, write_frame_folder, write_mask

TRAIN_EXTRA = ("lightning", "pytorch_lightning", "albumentations", "wandb", "decord", "rich")
# runs a console script's main with the [train] packages made unimportable (as in an environment without them)
WITHOUT_TRAIN_EXTRA = (
    "import sys\n"
    f"sys.modules.update(dict.fromkeys({TRAIN_EXTRA!r}))\n"
    "command, sys.argv = sys.argv[1], sys.argv[1:]\n"
    "__import__(f'sttn_lightning.{command}', fromlist=['main']).main()\n"
)


def run_without_train_extra(command: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_TRAIN_EXTRA, command, *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_inpaint_and_evaluate_need_nothing_from_the_train_extra(tmp_path: Path) -> None:
    checkpoint = export_generator(InpaintGenerator(**TINY_GENERATOR).eval(), tmp_path / "tiny.pth")
    write_frame_folder(tmp_path / "clip", make_frames(4, 33, 21))
    write_mask(tmp_path / "hole.png", box_mask(33, 21, 5, 5, 15, 12))
    inpainted = run_without_train_extra(
        "inpaint", "video=clip", "mask=hole.png", f"ckpt={checkpoint}", "output=result", "size=[64,32]", "progress=false",
        cwd=tmp_path,
    )
    assert inpainted.returncode == 0, inpainted.stderr[-3000:]
    write_frames_dataset(tmp_path / "dataset", {"bear": 5}, {"test": ["bear"]})
    write_mask_folders(tmp_path / "dataset", {"bear": 5})
    evaluated = run_without_train_extra(
        "evaluate", f"ckpt={checkpoint}", "data=youtube_vos", "data.root=dataset", "size=[64,32]", "device=cpu",
        "progress=false", "hydra.run.dir=report", cwd=tmp_path,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert (tmp_path / "report" / "results.md").is_file()
