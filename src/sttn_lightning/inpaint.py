"""Command line: `python -m sttn_lightning.inpaint video=IN mask=MASK ckpt=WEIGHTS output=OUT [option=value ...]`.

A thin Hydra main over ``inference.inpaint_video``; the options are documented in conf/inpaint.yaml.
Bad input ends the run with exit code 2 and a one-line message instead of a traceback.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from sttn_lightning.cli import CONFIG_DIR, fail
from sttn_lightning.errors import InputError
from sttn_lightning.inference import inpaint_video

INPUT_KEYS = ("video", "mask", "ckpt", "output")


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="inpaint")
def main(cfg: DictConfig) -> None:
    missing = [key for key in INPUT_KEYS if OmegaConf.is_missing(cfg, key)]
    if missing:
        needed = ", ".join(f"{key}=" for key in missing)
        fail(f"missing {needed}; usage: python -m sttn_lightning.inpaint video=IN mask=MASK ckpt=WEIGHTS output=OUT")
    options = OmegaConf.to_container(cfg, resolve=True)
    inputs = [options.pop(key) for key in INPUT_KEYS]
    try:
        summary = inpaint_video(*inputs, **options)
    except InputError as error:
        fail(str(error))
    print(summary)


if __name__ == "__main__":
    main()
