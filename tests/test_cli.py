"""The three commands as users type them, run in-process: --help pages, one-line usage errors, quoting, own configs."""

from __future__ import annotations

import sys
from importlib import resources

import pytest
import torch
from hydra.errors import MissingConfigException
from omegaconf import OmegaConf

from sttn_lightning import evaluate, inpaint, train
from sttn_lightning.cli import BAD_INPUT_EXIT_CODE, CONFIG_MODULE, options
from sttn_lightning.models import InpaintGenerator, export_generator
from tests.inference.conftest import TINY_GENERATOR, box_mask, make_frames, read_png_folder, write_frame_folder, write_mask

COMMANDS = {"sttn-train": train, "sttn-inpaint": inpaint, "sttn-evaluate": evaluate}
TRAINING_GROUPS = ("model", "trainer", "logger", "callbacks", "+experiment", "+hparams_search", "+debug", "hydra/launcher")


def run(monkeypatch, module, *args: str) -> int:
    """Run a command's console-script main with ``args``; returns its exit code."""
    monkeypatch.setattr(sys, "argv", [module.COMMAND.name, *args])
    try:
        module.main()
    except SystemExit as exit_:
        return exit_.code
    return 0


def usage_error(monkeypatch, capsys, module, *args: str) -> str:
    """The one stderr line of a usage error (exit code 2, no traceback)."""
    assert run(monkeypatch, module, *args) == BAD_INPUT_EXIT_CODE
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    return errors[0]


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("name", COMMANDS)
def test_help_shows_usage_every_option_with_default_and_doc_on_one_screen(monkeypatch, capsys, name, flag):
    module = COMMANDS[name]
    assert run(monkeypatch, module, flag) == 0
    page = capsys.readouterr().out
    lines = page.splitlines()
    assert lines[0].startswith(f"usage: {name} ") and len(lines) <= 50
    config = OmegaConf.create((resources.files(CONFIG_MODULE) / f"{module.COMMAND.config_name}.yaml").read_text())
    for key in set(config) - {"defaults", "hydra"}:
        line = next(line for line in lines if line.split()[:1] == [key])
        default = "required" if OmegaConf.is_missing(config, key) else str(line.split()[1])
        assert default in line and len(line.split()) > 2, line  # key, default, then its documentation
    if name == "sttn-inpaint":
        assert "config groups" not in page
    if name == "sttn-evaluate":
        assert "  data " in page and not any(f"  {group} " in page for group in TRAINING_GROUPS)
    if name == "sttn-train":
        assert all(f"  {group} " in page for group in TRAINING_GROUPS)
        assert "sttn_tiny*" in page and "youtube_vos" in page and "slurm" in page


@pytest.mark.parametrize("config_name", ["train", "inpaint", "evaluate"])
def test_every_top_level_option_has_a_one_line_doc(config_name):
    config = OmegaConf.create((resources.files(CONFIG_MODULE) / f"{config_name}.yaml").read_text())
    documented = {key: doc for key, _, doc in options(config_name)}
    assert set(documented) == set(config) - {"defaults", "hydra"}
    assert all(documented.values()), documented


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("sttn-inpaint", ["data=davis"], "Could not override 'data'"),
        ("sttn-evaluate", ["data=nosuch"], "Could not find 'data/nosuch' Available options in 'data': davis"),
        ("sttn-train", ["+experiment=nosuch"], "Could not find 'experiment/nosuch'"),
        ("sttn-train", ["model.adv_wieght=1"], "Could not override 'model.adv_wieght'"),
        ("sttn-inpaint", ["video=my clip (1).mp4"], "cannot parse the override 'video=my clip (1).mp4'"),
        ("sttn-inpaint", ["video=a,b.mp4"], "Ambiguous value for argument 'video=a,b.mp4'"),
        ("sttn-inpaint", ["video=in.mp4"], "missing mask=, ckpt=, output=; usage: sttn-inpaint video=IN"),
        ("sttn-evaluate", ["ckpt=???"], "Missing mandatory value: ckpt"),
    ],
)
def test_hydra_errors_are_one_line_and_exit_2(monkeypatch, capsys, name, args, message):
    line = usage_error(monkeypatch, capsys, COMMANDS[name], *args)
    assert message in line and "Config search path" not in line
    if "parse" in message or "Ambiguous" in message:
        assert "'video=\"my clip (1).mp4\"'" in line  # tells the user how to quote


def test_hydra_full_error_gives_the_traceback(monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    monkeypatch.setattr(sys, "argv", ["sttn-train", "+experiment=nosuch"])
    with pytest.raises(MissingConfigException):
        train.main()


def test_training_errors_are_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    args = [f"data.root={tmp_path / 'nothing'}", "data.demo=null", "logger=none", "callbacks=none", f"paths.log_dir={tmp_path}"]
    assert f"{tmp_path / 'nothing'}: expected" in usage_error(monkeypatch, capsys, train, *args)
    line = usage_error(monkeypatch, capsys, train, "optimized_metric=val/nosuch", "+debug=fast_dev_run",
                       f"paths.cache_dir={tmp_path}", "data.demo.num_videos=2", "data.demo.num_test_videos=1",
                       "data.demo.num_frames=6", f"paths.log_dir={tmp_path}")
    assert "optimized_metric: expected a logged metric" in line and "'val/nosuch'" in line


@pytest.fixture
def checkpoint(tmp_path):
    return export_generator(InpaintGenerator(**TINY_GENERATOR).eval(), tmp_path / "weights" / "tiny.pth")


@pytest.mark.parametrize(
    ("folder", "video_arg", "output_arg", "output_name"),
    [
        ("my clip (1)", 'video="my clip (1)"', "output='out put'", "out put"),
        ("a,b [c]", "video='a,b [c]'", 'output="out,[1]"', "out,[1]"),
        ("it's \"here\"", "video='it\\'s \"here\"'", "output=\"it's out\"", "it's out"),
    ],
)
def test_paths_with_spaces_commas_brackets_and_quotes_work_quoted(
    monkeypatch, capsys, tmp_path, checkpoint, folder, video_arg, output_arg, output_name
):
    frames = make_frames(3, 33, 21)
    write_frame_folder(tmp_path / folder, frames)
    write_mask(tmp_path / "hole (1).png", box_mask(33, 21, 5, 5, 15, 12))
    monkeypatch.chdir(tmp_path)
    args = [video_arg, "mask='hole (1).png'", f"ckpt={checkpoint}", output_arg, "size=[64,32]", "progress=false", "device=cpu"]
    assert run(monkeypatch, inpaint, *args) == 0, capsys.readouterr().err
    assert read_png_folder(tmp_path / output_name).shape == frames.shape


def test_cuda_index_reaches_the_device_check(monkeypatch, capsys, tmp_path, checkpoint):
    write_frame_folder(tmp_path / "clip", make_frames(3, 33, 21))
    write_mask(tmp_path / "hole.png", box_mask(33, 21, 5, 5, 15, 12))
    monkeypatch.chdir(tmp_path)
    count = torch.cuda.device_count()
    args = ["video=clip", "mask=hole.png", f"ckpt={checkpoint}", "output=out", "size=[64,32]", f"device=cuda:{count}"]
    line = usage_error(monkeypatch, capsys, inpaint, *args)
    assert line.startswith(f"error: device: cuda:{count} ")


@pytest.mark.parametrize("flag", ["searchpath", "config-dir"])
def test_a_users_own_experiment_composes_with_the_packaged_groups(monkeypatch, capsys, tmp_path, flag):
    experiment = tmp_path / "my_conf" / "experiment"
    experiment.mkdir(parents=True)
    (experiment / "my_exp.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /model: sttn\n  - override /logger: csv\n\ntrainer:\n  max_steps: 7\n"
    )
    monkeypatch.chdir(tmp_path)
    where = ["hydra.searchpath=[file://my_conf]"] if flag == "searchpath" else ["--config-dir", "my_conf"]
    assert run(monkeypatch, train, *where, "+experiment=my_exp", "--cfg", "job") == 0
    composed = OmegaConf.create(capsys.readouterr().out)
    assert composed.trainer.max_steps == 7 and composed.model.generator.num_blocks == 8 and "csv" in composed.logger
