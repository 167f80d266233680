"""Training callbacks: sample panels of the validation output and export in the release's format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import WandbLogger
from PIL import Image
from torch import Tensor

from sttn_lightning.metrics import to_uint8_frames
from sttn_lightning.models import export_generator


def sample_panel(masked_frames: Tensor, output: Tensor, target: Tensor) -> np.ndarray:
    """One clip's (t, 3, H, W) tensors in [-1, 1] -> uint8 (t, H, 3W, 3): masked | output | target."""
    if not masked_frames.shape == output.shape == target.shape:
        raise ValueError(
            f"panel parts must share a shape, found {tuple(masked_frames.shape)}, {tuple(output.shape)}, "
            f"{tuple(target.shape)}"
        )
    return np.concatenate([to_uint8_frames(part) for part in (masked_frames, output, target)], axis=2)


class ValidationSamplePanel(Callback):
    """Saves the first validation clip as a panel (masked input | output | ground truth) each validation.

    Files: ``<output_dir>/step_<iteration>.png`` (the frames stacked vertically) and ``.gif``
    (the clip at ``fps``). With a WandbLogger the clip is also logged as a video
    (``val/sample``) and the PNG as an image (``val/sample_frames``). The GIF is encoded here
    because ``wandb.Video`` needs moviepy to encode raw arrays itself.
    """

    def __init__(self, output_dir: str | Path, fps: int = 4) -> None:
        self.output_dir = Path(output_dir)
        self.fps = fps
        self.last_video_path: Path | None = None

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if batch_idx != 0 or trainer.sanity_checking or not trainer.is_global_zero:
            return
        frames = sample_panel(outputs["masked_frames"][0], outputs["output"][0], outputs["target"][0])
        self.output_dir.mkdir(parents=True, exist_ok=True)
        stem = self.output_dir / f"step_{trainer.global_step:07d}"
        still = np.concatenate(list(frames), axis=0)
        Image.fromarray(still).save(stem.with_suffix(".png"))
        clip = [Image.fromarray(frame) for frame in frames]
        clip[0].save(
            stem.with_suffix(".gif"), save_all=True, append_images=clip[1:], duration=1000 // self.fps, loop=0
        )
        self.last_video_path = stem.with_suffix(".gif")
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_video("val/sample", [str(self.last_video_path)], step=trainer.global_step, format=["gif"])
                logger.log_image("val/sample_frames", [still], step=trainer.global_step)


class GeneratorExport(Callback):
    """Writes the generator as ``{'netG': state_dict, 'generator_config': ...}`` at each checkpoint and at the end.

    That is the format of the release's ``sttn.pth``, so tools built for it can use the trained
    weights. The EMA generator is exported when the module keeps one.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _export(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.is_global_zero:
            export_generator(pl_module.inference_generator, self.path)

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        self._export(trainer, pl_module)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._export(trainer, pl_module)
