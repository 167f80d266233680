"""Command line: `python -m sttn_lightning.inpaint video=IN mask=MASK ckpt=WEIGHTS output=OUT [option=value ...]`.

A thin Hydra main over ``inference.inpaint_video`` (one video) and ``inference.batch`` (a folder, glob
or list of videos); the options are documented in conf/inpaint.yaml.
Bad input ends the run with exit code 2 and a one-line message instead of a traceback.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from sttn_lightning.cli import BAD_INPUT_EXIT_CODE, CONFIG_DIR, fail
from sttn_lightning.errors import InputError
from sttn_lightning.inference import inpaint_video
from sttn_lightning.inference.batch import BatchSummary, inpaint_videos, is_batch, plan_batch

INPUT_KEYS = ("video", "mask", "ckpt", "output")


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="inpaint")
def main(cfg: DictConfig) -> None:
    missing = [key for key in INPUT_KEYS if OmegaConf.is_missing(cfg, key)]
    if missing:
        needed = ", ".join(f"{key}=" for key in missing)
        fail(f"missing {needed}; usage: python -m sttn_lightning.inpaint video=IN mask=MASK ckpt=WEIGHTS output=OUT")
    options = OmegaConf.to_container(cfg, resolve=True)
    video, mask, ckpt, output = (options.pop(key) for key in INPUT_KEYS)
    output_format = options.pop("output_format")
    try:
        if is_batch(video):
            jobs = plan_batch(video, mask, output, output_format, options["overwrite"])
            summary = inpaint_videos(jobs, ckpt, **options)
        else:
            summary = inpaint_video(video, mask, ckpt, output, **options)
    except InputError as error:
        fail(str(error))
    print(summary)
    if isinstance(summary, BatchSummary) and summary.failed:
        sys.exit(BAD_INPUT_EXIT_CODE)


if __name__ == "__main__":
    main()
