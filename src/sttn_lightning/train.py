"""Training entry point: ``sttn-train [overrides]`` or ``python -m sttn_lightning.train [overrides]`` (``conf/train.yaml``).

Builds the datamodule, the LightningModule, callbacks, loggers and trainer from the config,
validates the untrained network (so the run's first val/psnr is the starting point), fits,
and prints where the run's files are. Returns ``optimized_metric`` for sweepers. Usage errors
(a missing dataset, a bad value, a Hydra override error) end with one line and exit code 2
(``cli.run_command``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger
from omegaconf import DictConfig, OmegaConf

from sttn_lightning.callbacks import GeneratorExport, ValidationSamplePanel
from sttn_lightning.cli import CONFIG_PATH, RUN_FAULT_EXIT_CODE, Command, fail, run_command, tracebacks_requested, usage_errors
from sttn_lightning.errors import InputError
from sttn_lightning.lit_module import STTNLitModule, TrainingDiverged
from sttn_lightning.resilience import (
    PreemptionCheckpoint,
    requeue_slurm_job,
    resolve_ckpt_path,
    resume_wandb_run,
    slurm_resume_checkpoint,
)

# Lightning warns that manual-optimisation checkpoints hold the weights after the iteration's
# optimiser steps; that is the state a resume must continue from, so the warning is noise here.
warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization and every_n_train_steps")

COMMAND = Command(
    name="sttn-train",
    usage="sttn-train [+experiment=NAME] [group=choice ...] [key=value ...]   (sweeps: sttn-train -m ...)",
    summary="Train STTN; with no arguments, the tiny model on the embedded demo data on the CPU.",
    config_name="train",
    extra_groups={
        "+experiment": "the release's recipes (full model, DDP, 500k iterations)",
        "+hparams_search": "Optuna search maximising val/psnr (with -m)",
        "+debug": "short runs without logger or callbacks",
        "hydra/launcher": "how -m runs its jobs (slurm and submitit_* need the [sweep] extra)",
    },
)


def train(cfg: DictConfig) -> dict[str, dict[str, float]]:
    """Run one training job; returns the validation metrics before and after training."""
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    task_log_dir = Path(cfg.paths.log_dir) / cfg.task_name
    # a requeued SLURM job continues where its earlier attempts stopped (None elsewhere)
    requeued_from = slurm_resume_checkpoint(task_log_dir, Path(cfg.paths.output_dir))
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), task_log_dir) or requeued_from
    resume_wandb_run(cfg.get("logger"), ckpt_path)  # a resumed run logs into the same wandb run
    datamodule = hydra.utils.instantiate(cfg.data)
    model = hydra.utils.instantiate(cfg.model)
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    config = OmegaConf.to_container(cfg, resolve=True)
    for logger in loggers:
        logger.log_hyperparams(config)

    try:
        before: dict[str, float] = {}
        if cfg.get("validate_before_training") and ckpt_path is None:
            before = _as_floats(trainer.validate(model, datamodule=datamodule)[0])
        try:
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        except TrainingDiverged:
            if trainer.is_global_zero:
                print(_run_summary(trainer, before, _as_floats(trainer.callback_metrics)))
            raise
        after = _as_floats(trainer.callback_metrics)
        if trainer.is_global_zero:
            print(_run_summary(trainer, before, after))
            if any(isinstance(c, PreemptionCheckpoint) and c.should_requeue for c in trainer.callbacks):
                requeue_slurm_job()
    finally:
        if any(isinstance(logger, WandbLogger) for logger in loggers):
            import wandb

            wandb.finish()  # the next job of a multirun starts its own wandb run
    return {"before": before, "after": after}


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """One object per entry with a ``_target_`` in a group of named entries (callbacks, loggers); none gives []."""
    if not group:
        return []
    if not isinstance(group, DictConfig):
        raise TypeError(f"expected a config group of named entries (a mapping), found {type(group).__name__}")
    entries = [entry for entry in group.values() if isinstance(entry, DictConfig) and "_target_" in entry]
    return [hydra.utils.instantiate(entry) for entry in entries]


def _as_floats(metrics: Any) -> dict[str, float]:
    return {name: float(value) for name, value in metrics.items()}


def _run_summary(trainer: L.Trainer, before: dict[str, float], after: dict[str, float]) -> str:
    """Where the run's files are, and val/psnr at both ends."""
    lines = [f"Trained {trainer.global_step} iterations. Run directory: {trainer.default_root_dir}"]
    module = trainer.lightning_module
    if isinstance(module, STTNLitModule):
        lines.append(
            f"Skipped samples (unreadable clips replaced): {module.skipped_samples}. "
            f"Non-finite steps (optimiser steps skipped): {module.nonfinite_steps}"
        )
    if "val/psnr" in after:
        start = f"{before['val/psnr']:.2f} dB before training -> " if "val/psnr" in before else ""
        lines.append(f"Validation PSNR: {start}{after['val/psnr']:.2f} dB at iteration {trainer.global_step}")
    for callback in trainer.callbacks:
        if isinstance(callback, ModelCheckpoint):
            paths = (("Best checkpoint", callback.best_model_path), ("Last checkpoint", callback.last_model_path))
            lines += [f"{label}: {path}" for label, path in paths if path]
        elif isinstance(callback, GeneratorExport):
            lines.append(f"Exported generator ({{'netG': ...}} format): {callback.path}")
        elif isinstance(callback, ValidationSamplePanel) and callback.last_video_path is not None:
            lines.append(f"Sample video: {callback.last_video_path}")
        elif isinstance(callback, PreemptionCheckpoint) and callback.signal_name is not None:
            lines.append(
                f"Stopped by {callback.signal_name} at iteration {callback.iteration}: {callback.checkpoint_path} "
                "(resume with ckpt_path=last)"
            )
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            run_dir = Path(logger.experiment.dir).parent
            lines.append(f"wandb run: {run_dir} (offline runs upload with `wandb sync {run_dir}`)")
        elif logger.log_dir is not None:
            lines.append(f"{type(logger).__name__} logs: {logger.log_dir}")
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="train")
def train_job(cfg: DictConfig) -> float | None:
    """Hydra main; returns the value of ``optimized_metric`` after training (for sweepers)."""
    with usage_errors(COMMAND):
        try:
            metrics = train(cfg)
        except TrainingDiverged as error:
            if tracebacks_requested():
                raise
            fail(str(error), RUN_FAULT_EXIT_CODE)
        metric_name = cfg.get("optimized_metric")
        if metric_name is None:
            return None
        if metric_name not in metrics["after"]:
            raise InputError(f"optimized_metric: expected a logged metric {sorted(metrics['after'])}, found {metric_name!r}")
        return metrics["after"][metric_name]


def main() -> None:
    """The console script ``sttn-train``."""
    run_command(train_job, COMMAND)


if __name__ == "__main__":
    main()
