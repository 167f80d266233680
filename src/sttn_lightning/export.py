"""Command line: ``sttn-export ckpt=WEIGHTS format=onnx|torch_export output=PATH [option=value ...]``.

A thin Hydra main over ``models.exporting.export_parts`` (also ``python -m sttn_lightning.export``);
options are documented in conf/export.yaml and listed by ``--help``. Bad input (the checkpoint,
format, size, precision or an existing output) ends the run with exit code 2 and a one-line
message before anything is written (``cli.run_command``).
"""

from __future__ import annotations

import logging
import warnings

import hydra
from omegaconf import DictConfig

from sttn_lightning.cli import CONFIG_PATH, Command, require, run_command, usage_errors
from sttn_lightning.models import load_generator
from sttn_lightning.models.exported import BACKEND_FORMATS, load_inference_model
from sttn_lightning.models.exporting import export_parts, max_difference

INPUT_KEYS = ("ckpt", "output")
FORMAT_BACKENDS = {format: backend for backend, format in BACKEND_FORMATS.items()}
# the ONNX exporter's per-pass progress notes, its registry's notes on torchvision ops this model does not
# use, and its warnings about dimension names and pytree internals: noise for someone exporting a model
QUIET_LOGGERS = ("onnxscript", "onnx_ir", "torch.onnx")
QUIET_WARNING_MODULES = r"(torch\.onnx|copyreg)"
COMMAND = Command(
    name="sttn-export",
    usage="sttn-export ckpt=WEIGHTS format=onnx|torch_export output=PATH [option=value ...]",
    summary="Export the generator's encoder and window parts as ONNX or torch.export programs for a fixed working size.",
    config_name="export",
)


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="export")
def export(cfg: DictConfig) -> None:
    require(cfg, INPUT_KEYS, COMMAND)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=QUIET_WARNING_MODULES)
    size = tuple(cfg.size)
    with usage_errors(COMMAND):
        generator = load_generator(cfg.ckpt)
        window, encoder = export_parts(generator, cfg.output, cfg.format, size, cfg.precision, cfg.overwrite)
    print(f"wrote {window} (transformer + decoder) and {encoder} (frame encoder) for {size[0]}x{size[1]} {cfg.precision}")
    if cfg.check_frames > 0:
        exported = load_inference_model(window, FORMAT_BACKENDS[cfg.format], size=size)
        difference = max_difference(generator, exported, cfg.check_frames)
        print(f"largest difference from the eager generator on a {cfg.check_frames}-frame window: {difference:.2e}")


def main() -> None:
    """The console script ``sttn-export``."""
    run_command(export, COMMAND)


if __name__ == "__main__":
    main()
