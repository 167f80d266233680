"""Command line: ``sttn-inpaint video=IN mask=MASK ckpt=WEIGHTS output=OUT [option=value ...]``.

A thin Hydra main over ``inference.inpaint_video`` (one video) and ``inference.batch`` (a folder, glob
or list of videos; also ``python -m sttn_lightning.inpaint``); the options are documented in
conf/inpaint.yaml and listed by ``--help``. Bad input ends the run with exit code 2, a fault while
writing (disk full, encoder exited) with exit code 1, SIGINT / SIGTERM with 130 / 143, each with a
one-line message and no partial output.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from sttn_lightning.cli import BAD_INPUT_EXIT_CODE, CONFIG_PATH, Command, require, run_command, usage_errors
from sttn_lightning.inference import inpaint_video
from sttn_lightning.inference.batch import BatchSummary, inpaint_videos, is_batch, plan_batch
from sttn_lightning.interrupts import command_exit_codes

INPUT_KEYS = ("video", "mask", "ckpt", "output")
COMMAND = Command(
    name="sttn-inpaint",
    usage="sttn-inpaint video=IN mask=MASK ckpt=WEIGHTS output=OUT [option=value ...]",
    summary="Inpaint the holes of a video with a trained STTN generator, at the video's own resolution.",
    config_name="inpaint",
)


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="inpaint")
def inpaint(cfg: DictConfig) -> None:
    require(cfg, INPUT_KEYS, COMMAND)
    with usage_errors(COMMAND), command_exit_codes():
        options = OmegaConf.to_container(cfg, resolve=True)
        video, mask, ckpt, output = (options.pop(key) for key in INPUT_KEYS)
        output_format = options.pop("output_format")
        if is_batch(video):
            summary = inpaint_videos(plan_batch(video, mask, output, output_format, options["overwrite"]), ckpt, **options)
        else:
            summary = inpaint_video(video, mask, ckpt, output, **options)
    print(summary)
    if isinstance(summary, BatchSummary) and summary.failed:
        sys.exit(BAD_INPUT_EXIT_CODE)


def main() -> None:
    """The console script ``sttn-inpaint``."""
    run_command(inpaint, COMMAND)


if __name__ == "__main__":
    main()
