"""STTN's adversarial training as a LightningModule (manual optimisation, one iteration per batch).

Each iteration follows the release: the generator inpaints the masked clip, the discriminator
takes one step on real clips vs the detached composite ``gt * (1 - m) + pred * m``, then the
generator takes one step on hole L1 + valid L1 + the weighted adversarial loss of the composite.

Iteration counting: in manual optimisation Lightning's ``trainer.global_step`` counts every
``LightningOptimizer.step()`` call, which would make one batch two steps. Only the generator's
optimiser steps through ``LightningOptimizer.step()`` (counted, once per batch); the
discriminator's goes straight to ``trainer.strategy.optimizer_step``, the same path minus the
counting hooks (precision plugin, grad scaler and ``on_before_optimizer_step`` included). So
``global_step`` == iterations, and ``max_steps``, checkpoint intervals, the lr schedules and
the loggers' step all agree.

Faults that must not end a days-long run: a non-finite generator or discriminator loss skips
that optimiser step (no update; the iteration still counts) and is counted as
``train/nonfinite_steps``; after ``nonfinite_patience`` iterations in a row with one, the run
stops with ``TrainingDiverged`` naming the iteration and the last checkpoint saved before the
streak. Training clips the data module replaced because their frames could not be read arrive
as the batch's ``skipped`` messages: each path is logged once and counted as
``train/skipped_samples``. Both counters are saved in checkpoints.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ConstantLR, LRScheduler

from sttn_lightning.data.datasets import SKIPPED_KEY
from sttn_lightning.ema import frozen_copy, update_ema_
from sttn_lightning.metrics import VideoPSNR, VideoSSIM
from sttn_lightning.models import load_weights_into
from sttn_lightning.models.losses import discriminator_adv_loss, generator_adv_loss, hole_l1, valid_l1
from sttn_lightning.protocol import composite

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
SchedulerFactory = Callable[[Optimizer], LRScheduler]
_PROGRESS_BAR_KEYS = ("train/g_loss", "train/d_loss")
HEALTH_KEY = "training_health"  # the checkpoint entry of the fault counters

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The losses stayed non-finite for ``nonfinite_patience`` iterations; the message is one line."""


class STTNLitModule(LightningModule):
    """Generator + discriminator, their optimisers and schedules, validation metrics.

    ``g_optimizer``/``d_optimizer`` take parameters and ``g_scheduler``/``d_scheduler`` take an
    optimiser (Hydra ``_partial_``); a missing scheduler means a constant learning rate. Both
    schedulers step once per iteration. Options beyond the release: ``gradient_clip_val``
    (norm, both networks), ``d_warmup_iters`` (no discriminator updates and no adversarial
    term before that iteration), ``d_update_every`` (discriminator step every k-th iteration),
    ``ema_decay`` (an EMA copy ``generator_ema`` that validation and export use),
    ``init_generator`` (start from the weights of a generator file, e.g. the official
    ``sttn.pth``, to fine-tune; the architectures must match), ``nonfinite_patience``
    (iterations in a row with a non-finite loss before the run stops).
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        g_optimizer: OptimizerFactory,
        d_optimizer: OptimizerFactory,
        g_scheduler: SchedulerFactory | None = None,
        d_scheduler: SchedulerFactory | None = None,
        hole_weight: float = 1.0,
        valid_weight: float = 1.0,
        adv_weight: float = 0.01,
        gan_loss: str = "hinge",
        gradient_clip_val: float = 0.0,
        d_warmup_iters: int = 0,
        d_update_every: int = 1,
        ema_decay: float | None = None,
        init_generator: str | None = None,
        nonfinite_patience: int = 10,
    ) -> None:
        super().__init__()
        if d_update_every < 1:
            raise ValueError(f"d_update_every must be >= 1, got {d_update_every}")
        if d_warmup_iters < 0:
            raise ValueError(f"d_warmup_iters must be >= 0, got {d_warmup_iters}")
        if nonfinite_patience < 1:
            raise ValueError(f"nonfinite_patience must be >= 1, got {nonfinite_patience}")
        self.automatic_optimization = False
        self.save_hyperparameters(
            ignore=["generator", "discriminator", "g_optimizer", "d_optimizer", "g_scheduler", "d_scheduler"],
            logger=False,
        )
        self.generator = generator
        if init_generator is not None:
            load_weights_into(generator, init_generator)
        self.discriminator = discriminator
        self.generator_ema = frozen_copy(generator) if ema_decay is not None else None
        self._g_optimizer = g_optimizer
        self._d_optimizer = d_optimizer
        self._g_scheduler = g_scheduler
        self._d_scheduler = d_scheduler
        self.val_psnr = VideoPSNR()
        self.val_ssim = VideoSSIM()
        self.nonfinite_steps = 0  # optimiser steps skipped for a non-finite loss, over the whole run
        self.skipped_samples = 0  # unreadable training clips replaced by others, over the whole run
        self._nonfinite_streak = 0  # iterations in a row with a non-finite loss
        self._streak_checkpoint: str | None = None  # the newest checkpoint when the streak began
        self._reported_skips: set[str] = set()

    @property
    def inference_generator(self) -> nn.Module:
        """The generator validation and export use: the EMA copy when there is one."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    def forward(self, masked_frames: Tensor, masks: Tensor) -> Tensor:
        return self.inference_generator(masked_frames, masks)

    def configure_optimizers(self) -> tuple[list[Optimizer], list[LRScheduler]]:
        g_opt = self._g_optimizer(self.generator.parameters())
        d_opt = self._d_optimizer(self.discriminator.parameters())
        schedulers = [
            factory(optimizer) if factory is not None else ConstantLR(optimizer, factor=1.0, total_iters=0)
            for optimizer, factory in ((g_opt, self._g_scheduler), (d_opt, self._d_scheduler))
        ]
        return [g_opt, d_opt], schedulers

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        frames, masks = batch["frames"], batch["masks"]
        if SKIPPED_KEY in batch:
            self._record_skipped(batch[SKIPPED_KEY])
        g_opt, d_opt = self.optimizers()
        iteration = self.global_step  # iterations completed before this batch
        adversarial = iteration >= self.hparams.d_warmup_iters and self.hparams.adv_weight > 0
        update_d = adversarial and (iteration - self.hparams.d_warmup_iters) % self.hparams.d_update_every == 0

        pred = self.generator(frames * (1 - masks), masks)
        comp = composite(pred, frames, masks)
        # the learning rates this iteration's steps use
        logs = {"lr-G": g_opt.param_groups[0]["lr"], "lr-D": d_opt.param_groups[0]["lr"]}
        nonfinite: list[str] = []
        if update_d:
            logs["train/d_loss"] = self._discriminator_step(d_opt, frames, comp.detach(), nonfinite)
        logs.update(self._generator_step(g_opt, pred, comp, frames, masks, adversarial, nonfinite))

        with warnings.catch_warnings():
            # both schedules follow the iteration count, also while the discriminator waits
            # (warm-up, update ratio): torch's warning about stepping a schedule of an
            # optimiser that has not stepped yet does not apply
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
            for scheduler in self.lr_schedulers():
                scheduler.step()
        if self.generator_ema is not None and "g_loss" not in nonfinite:
            update_ema_(self.generator_ema, self.generator, self.hparams.ema_decay)
        self._track_nonfinite(iteration, nonfinite, logs)
        batch_size = frames.shape[0]
        for name, value in logs.items():
            self.log(name, value, prog_bar=name in _PROGRESS_BAR_KEYS, batch_size=batch_size)
        self.log("train/nonfinite_steps", float(self.nonfinite_steps), batch_size=batch_size)
        self.log("train/skipped_samples", float(self.skipped_samples), batch_size=batch_size)

    def _finite(self, loss: Tensor) -> bool:
        """Whether ``loss`` is finite on every process (all of them skip the step together)."""
        return self.trainer.strategy.reduce_boolean_decision(bool(torch.isfinite(loss).all()), all=True)

    def _discriminator_step(self, d_opt: LightningOptimizer, real: Tensor, fake: Tensor, nonfinite: list[str]) -> Tensor:
        with self.toggled_optimizer(d_opt):
            d_loss = discriminator_adv_loss(self.discriminator(real), self.discriminator(fake), self.hparams.gan_loss)
            if not self._finite(d_loss):
                nonfinite.append("d_loss")
                return d_loss.detach()
            d_opt.zero_grad(set_to_none=True)
            self.manual_backward(d_loss)
            # not d_opt.step(): that would count as a second global step for this batch; the backward
            # pass already ran (manual optimisation), so the optimiser needs no closure
            self.trainer.strategy.optimizer_step(d_opt.optimizer, closure=lambda: None)
        return d_loss.detach()

    def _generator_step(
        self,
        g_opt: LightningOptimizer,
        pred: Tensor,
        comp: Tensor,
        frames: Tensor,
        masks: Tensor,
        adversarial: bool,
        nonfinite: list[str],
    ) -> dict[str, Tensor]:
        with self.toggled_optimizer(g_opt):
            hole = hole_l1(pred, frames, masks)
            valid = valid_l1(pred, frames, masks)
            g_loss = self.hparams.hole_weight * hole + self.hparams.valid_weight * valid
            logs = {"train/hole_l1": hole.detach(), "train/valid_l1": valid.detach()}
            if adversarial:
                adv = generator_adv_loss(self.discriminator(comp), self.hparams.gan_loss)
                g_loss = g_loss + self.hparams.adv_weight * adv
                logs["train/adv"] = adv.detach()
            if self._finite(g_loss):
                g_opt.zero_grad(set_to_none=True)
                self.manual_backward(g_loss)
                g_opt.step()
            else:
                nonfinite.append("g_loss")
                _count_iteration_without_step(g_opt)
        logs["train/g_loss"] = g_loss.detach()
        return logs

    def _track_nonfinite(self, iteration: int, nonfinite: list[str], logs: dict[str, Tensor]) -> None:
        """Count skipped steps; stop the run after ``nonfinite_patience`` iterations in a row with one."""
        if not nonfinite:
            self._nonfinite_streak = 0
            return
        if self._nonfinite_streak == 0:
            self._streak_checkpoint = self._newest_checkpoint()
        self._nonfinite_streak += 1
        self.nonfinite_steps += len(nonfinite)
        values = ", ".join(f"{name}={float(logs['train/' + name]):g}" for name in nonfinite)
        log.warning("Iteration %d: non-finite loss (%s); optimiser step skipped", iteration + 1, values)
        if self._nonfinite_streak >= self.hparams.nonfinite_patience:
            raise TrainingDiverged(
                f"Training stopped at iteration {iteration + 1}: {self._nonfinite_streak} iterations in a row with a "
                f"non-finite loss ({values}); last good checkpoint: {self._streak_checkpoint or 'none saved'}"
            )

    def _newest_checkpoint(self) -> str | None:
        """The most recently written checkpoint of this run, else the one it resumed from."""
        paths = {
            Path(path)
            for callback in self.trainer.checkpoint_callbacks
            for path in (getattr(callback, "last_model_path", ""), getattr(callback, "best_model_path", ""))
            if path
        }
        written = [path for path in paths if path.is_file()]
        if written:
            return str(max(written, key=lambda path: path.stat().st_mtime))
        return str(self.trainer.ckpt_path) if self.trainer.ckpt_path else None

    def _record_skipped(self, skipped: Sequence[str]) -> None:
        """Count the batch's unreadable reads (summed over processes); log each file's message once."""
        messages = [message for entry in skipped for message in entry.split("\n") if message]
        for message in messages:
            if message not in self._reported_skips:
                self._reported_skips.add(message)
                log.warning("Skipped an unreadable training clip (replaced by another): %s", message)
        count = self.trainer.strategy.reduce(torch.tensor(float(len(messages)), device=self.device), reduce_op="sum")
        self.skipped_samples += int(count.item())

    def on_before_optimizer_step(self, optimizer: Optimizer) -> None:
        # Called after the grad scaler has unscaled the gradients (16-mixed), so the threshold
        # means the same under every precision.
        if self.hparams.gradient_clip_val > 0:
            self.clip_gradients(
                optimizer, gradient_clip_val=self.hparams.gradient_clip_val, gradient_clip_algorithm="norm"
            )

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Tensor]:
        frames, masks = batch["frames"], batch["masks"]
        masked = frames * (1 - masks)
        pred = self.inference_generator(masked, masks).float()
        comp = composite(pred, frames, masks)
        self.val_psnr.update(comp, frames)
        self.val_ssim.update(comp, frames)
        batch_size = frames.shape[0]
        self.log("val/hole_l1", hole_l1(pred, frames, masks), sync_dist=True, batch_size=batch_size)
        self.log("val/psnr", self.val_psnr, prog_bar=True, batch_size=batch_size)
        self.log("val/ssim", self.val_ssim, batch_size=batch_size)
        return {"masked_frames": masked, "output": comp, "target": frames}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["generator_config"] = self.generator.config
        checkpoint[HEALTH_KEY] = {
            "nonfinite_steps": self.nonfinite_steps,
            "skipped_samples": self.skipped_samples,
            "nonfinite_streak": self._nonfinite_streak,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        health = checkpoint.get(HEALTH_KEY, {})
        self.nonfinite_steps = int(health.get("nonfinite_steps", 0))
        self.skipped_samples = int(health.get("skipped_samples", 0))
        self._nonfinite_streak = int(health.get("nonfinite_streak", 0))


def _count_iteration_without_step(optimizer: LightningOptimizer) -> None:
    """Advance ``global_step`` as ``optimizer.step()`` would, without stepping.

    The hooks are the ones Lightning's manual-optimisation loop installs around every
    ``LightningOptimizer.step()`` (they count it); calling the precision plugin instead would
    make the fp16 grad scaler assert on an optimiser without gradients.
    """
    optimizer._on_before_step()
    optimizer._on_after_step()
