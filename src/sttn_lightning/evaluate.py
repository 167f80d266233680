"""Command line: ``sttn-evaluate ckpt=WEIGHTS data=davis [i3d=I3D] [option=value ...]``.

A thin Hydra main over ``evaluation.evaluate_dataset`` (also ``python -m sttn_lightning.evaluate``);
options are documented in conf/evaluate.yaml and listed by ``--help``. Inputs are all checked
(weights, dataset layout, masks against videos, saved results) before the first video runs; bad
input ends with exit code 2 and a one-line message, a fault while writing with exit code 1,
SIGINT / SIGTERM with 130 / 143 (docs/inference.md, exit codes).
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from sttn_lightning.cli import CONFIG_PATH, Command, run_command, usage_errors
from sttn_lightning.devices import resolve_device
from sttn_lightning.evaluation import EvaluationError, FolderResults, GeneratorResults, evaluate_dataset, write_report
from sttn_lightning.interrupts import command_exit_codes
from sttn_lightning.media import Size, check_folder, open_eval_set
from sttn_lightning.metrics import load_i3d
from sttn_lightning.models import load_generator

INFERENCE_KEYS = ("neighbour_stride", "reference_stride", "max_references", "device", "precision")
COMMAND = Command(
    name="sttn-evaluate",
    usage="sttn-evaluate ckpt=WEIGHTS | results_dir=PATH  data=davis|youtube_vos [i3d=I3D] [option=value ...]",
    summary="Score a generator (or saved results) on a test set with the follow-up papers' protocol.",
    config_name="evaluate",
    usage_errors=(FileNotFoundError, ValueError),  # also from the libraries that read the inputs
)


def run(cfg: DictConfig) -> dict:
    """Check every input, evaluate the test set, write the report; returns the dataset values."""
    if (cfg.ckpt is None) == (cfg.results_dir is None):
        raise EvaluationError("expected exactly one of ckpt=WEIGHTS (run a generator) or results_dir=PATH (saved frames)")
    output_dir = Path(cfg.output_dir)
    check_folder(output_dir, output_dir)
    size = Size(*cfg.size)
    device = resolve_device(cfg.device)
    if cfg.ckpt is not None:
        results = GeneratorResults(load_generator(cfg.ckpt, device=device), {key: cfg[key] for key in INFERENCE_KEYS} | {"progress": False})
        method = Path(cfg.ckpt).name
    else:
        results = FolderResults(cfg.results_dir)
        method = Path(cfg.results_dir).name
    i3d = load_i3d(cfg.i3d, device=device) if cfg.i3d is not None else None
    collection, mask_set = _eval_set(cfg.data)
    scores = evaluate_dataset(
        collection, mask_set, results, size, cfg.mask_dilation, i3d, cfg.ewarp,
        output_dir / "frames" if cfg.save_frames else None, cfg.progress,
    )
    summary = scores.summary()
    settings = OmegaConf.to_container(cfg, resolve=True) | {"data_root": str(collection.location)}
    paths = write_report(output_dir, summary, [video.row() for video in scores.videos], settings, method, cfg.dataset)
    print(paths["results.md"].read_text())
    print("report: " + ", ".join(str(path) for path in paths.values()))
    return summary


def _eval_set(data: DictConfig):
    """The data config's evaluation split and fixed masks, read through the media layer (no DataModule)."""
    if data.get("demo") is not None:
        from sttn_lightning.data.demo import generate_demo_dataset

        generate_demo_dataset(data.root, **data.demo)
    return open_eval_set(
        data.root, data.layout, data.frames_dir, data.eval_split, data.eval_list, data.eval_masks,
        data.eval_mask_root, data.eval_mask_seed, data.eval_mask_box, data.cache_dir,
    )


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="evaluate")
def evaluate(cfg: DictConfig) -> None:
    with usage_errors(COMMAND), command_exit_codes():
        run(cfg)


def main() -> None:
    """The console script ``sttn-evaluate``."""
    run_command(evaluate, COMMAND)


if __name__ == "__main__":
    main()
