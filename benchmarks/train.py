"""Training speed of STTNLitModule in a Lightning Trainer vs a plain PyTorch loop, in one run.

Both sides build the same networks, optimisers and schedules from the project's model configs
and run the same iteration (generator forward, discriminator step on real vs detached
composite, generator step on hole L1 + valid L1 + adversarial, both schedules stepped) on the
same pre-made batches. Lightning runs as in training minus the progress bar, loggers and
checkpoints, which are I/O rather than per-iteration framework cost (its ``self.log`` calls
stay). The two sides alternate ``--repeats`` times and the fastest of each is kept, which
damps noise from other processes on the machine.

    python benchmarks/train.py                 # tiny and full model on the CPU, prints a Markdown table
    python benchmarks/train.py --device cuda   # the same at the training resolution on a GPU, with peak memory
"""

from __future__ import annotations

import argparse
import time

import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from lightning.pytorch import Callback, Trainer
from omegaconf import DictConfig

from sttn_lightning.cli import CONFIG_MODULE
from sttn_lightning.lit_module import STTNLitModule
from sttn_lightning.models import discriminator_adv_loss, generator_adv_loss, hole_l1, valid_l1
from sttn_lightning.protocol import composite

# (model config, batch, frames, height, width, timed iterations): the tiny model at the demo
# resolution; the full model at a small resolution so a CPU finishes a few iterations in seconds
CASES = (
    ("sttn_tiny", 2, 5, 120, 216, 20),
    ("sttn", 1, 5, 64, 112, 3),
)
GPU_CASES = (  # the release's training clips: 5 frames at 432x240
    ("sttn_tiny", 8, 5, 240, 432, 20),
    ("sttn", 2, 5, 240, 432, 10),
)
WARMUP_ITERATIONS = 2


def model_config(name: str) -> DictConfig:
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        return compose("train", overrides=[f"model={name}"]).model


def make_batches(count: int, batch: int, frames: int, height: int, width: int) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    clips = torch.rand(batch, frames, 3, height, width, generator=generator) * 2 - 1
    masks = (torch.rand(batch, frames, 1, height, width, generator=generator) > 0.7).float()
    return [{"frames": clips, "masks": masks} for _ in range(count)]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop_seconds(cfg: DictConfig, batches: list[dict[str, torch.Tensor]], device: torch.device) -> float:
    """Seconds per iteration of the hand-written loop (after the warm-up iterations)."""
    torch.manual_seed(0)
    generator, discriminator = instantiate(cfg.generator).to(device), instantiate(cfg.discriminator).to(device)
    g_opt = instantiate(cfg.g_optimizer)(generator.parameters())
    d_opt = instantiate(cfg.d_optimizer)(discriminator.parameters())
    schedulers = [instantiate(cfg.g_scheduler)(g_opt), instantiate(cfg.d_scheduler)(d_opt)]
    start = 0.0
    for index, batch in enumerate(batches):
        if index == WARMUP_ITERATIONS:
            _synchronize(device)
            start = time.perf_counter()
        frames, masks = batch["frames"].to(device), batch["masks"].to(device)
        pred = generator(frames * (1 - masks), masks)
        comp = composite(pred, frames, masks)
        d_loss = discriminator_adv_loss(discriminator(frames), discriminator(comp.detach()), cfg.gan_loss)
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        discriminator.requires_grad_(False)
        g_loss = cfg.hole_weight * hole_l1(pred, frames, masks) + cfg.valid_weight * valid_l1(pred, frames, masks)
        g_loss = g_loss + cfg.adv_weight * generator_adv_loss(discriminator(comp), cfg.gan_loss)
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        discriminator.requires_grad_(True)
        for scheduler in schedulers:
            scheduler.step()
    _synchronize(device)
    return (time.perf_counter() - start) / (len(batches) - WARMUP_ITERATIONS)


class _IterationClock(Callback):
    def __init__(self) -> None:
        self.start = 0.0
        self.end = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == WARMUP_ITERATIONS:
            _synchronize(pl_module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        _synchronize(pl_module.device)
        self.end = time.perf_counter()


def lightning_seconds(cfg: DictConfig, batches: list[dict[str, torch.Tensor]], device: torch.device) -> float:
    """Seconds per iteration of STTNLitModule under a Trainer (after the warm-up iterations)."""
    torch.manual_seed(0)
    module: STTNLitModule = instantiate(cfg)
    clock = _IterationClock()
    trainer = Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu", devices=1, max_steps=len(batches), max_epochs=-1, limit_val_batches=0,
        num_sanity_val_steps=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[clock],
    )
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    if trainer.global_step != len(batches):
        raise RuntimeError(f"expected {len(batches)} iterations, Lightning ran {trainer.global_step}")
    return (clock.end - clock.start) / (len(batches) - WARMUP_ITERATIONS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each side; the fastest counts")
    parser.add_argument("--models", nargs="+", default=[case[0] for case in CASES], help="model configs to time")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    rows = []
    for name, batch, frames, height, width, iterations in (
        case for case in (GPU_CASES if device.type == "cuda" else CASES) if case[0] in args.models
    ):
        cfg = model_config(name)
        batches = make_batches(iterations + WARMUP_ITERATIONS, batch, frames, height, width)
        plain, lightning = [], []
        for _ in range(args.repeats):
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            plain.append(plain_loop_seconds(cfg, batches, device))
            lightning.append(lightning_seconds(cfg, batches, device))
        best_plain, best_lightning = min(plain), min(lightning)
        overhead = 100.0 * (best_lightning / best_plain - 1.0)
        memory = f" {torch.cuda.max_memory_allocated(device) / 2**20:.0f} |" if device.type == "cuda" else ""
        rows.append(
            f"| {name} | {batch}x{frames}x{height}x{width} | {iterations} | {1 / best_plain:.3f} | "
            f"{1 / best_lightning:.3f} | {overhead:+.1f}% |{memory}"
        )
    where = f"GPU {torch.cuda.get_device_name(device)}" if device.type == "cuda" else f"{torch.get_num_threads()} CPU threads"
    print(f"torch {torch.__version__}, {where}, fp32, best of {args.repeats} alternating runs")
    header = "| model | batch x frames x H x W | timed iterations | plain it/s | Lightning it/s | Lightning overhead |"
    print(header + (" peak GPU MiB |" if device.type == "cuda" else ""))
    print("|---|---|---|---|---|---|" + ("---|" if device.type == "cuda" else ""))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
