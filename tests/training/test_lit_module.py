"""STTNLitModule in a real Trainer on the tiny dataset: iteration counting, updates, options."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch import Callback, Trainer
from omegaconf import DictConfig

from sttn_lightning.lit_module import STTNLitModule
from sttn_lightning.models import InpaintGenerator, export_generator, load_generator
from tests.training.conftest import ComposeTrain


class BatchRecorder(Callback):
    """Which iteration each training batch ran at, and the logged losses."""

    def __init__(self) -> None:
        self.iterations: list[int] = []
        self.logged: list[dict[str, float]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.iterations.append(trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.logged.append({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")})


def _fit(cfg: DictConfig, model: STTNLitModule | None = None) -> tuple[Trainer, STTNLitModule, BatchRecorder]:
    recorder = BatchRecorder()
    model = model if model is not None else instantiate(cfg.model)
    trainer = instantiate(cfg.trainer, callbacks=[recorder], logger=False, enable_checkpointing=False)
    trainer.fit(model, datamodule=instantiate(cfg.data))
    return trainer, model, recorder


def _adam_steps(optimizer: torch.optim.Optimizer) -> int:
    return int(next(iter(optimizer.state.values()))["step"])


def test_one_batch_is_one_iteration_and_both_networks_learn(compose_train: ComposeTrain, tmp_path: Path) -> None:
    cfg = compose_train("trainer.max_steps=3", "model.ema_decay=0.5")
    model = instantiate(cfg.model)
    g_before = [p.detach().clone() for p in model.generator.parameters()]
    d_before = [p.detach().clone() for p in model.discriminator.parameters()]

    trainer, model, recorder = _fit(cfg, model)

    assert recorder.iterations == [0, 1, 2]
    assert trainer.global_step == 3
    g_opt, d_opt = (opt.optimizer for opt in model.optimizers())
    assert _adam_steps(g_opt) == _adam_steps(d_opt) == 3
    assert [s.last_epoch for s in model.lr_schedulers()] == [3, 3]
    for logged in recorder.logged:
        assert {"train/g_loss", "train/d_loss", "train/hole_l1", "train/valid_l1", "train/adv"} <= set(logged)
        assert all(math.isfinite(v) for v in logged.values())
    assert any(not torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, model.discriminator.parameters()))
    ema = model.generator_ema.state_dict()
    assert any(not torch.equal(ema[k], v) for k, v in model.generator.state_dict().items())

    path = tmp_path / "module.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=False)
    prefixes = {key.split(".")[0] for key in checkpoint["state_dict"]}
    assert {"generator", "discriminator", "generator_ema"} <= prefixes
    assert checkpoint["generator_config"] == model.generator.config
    assert checkpoint["global_step"] == 3
    loaded = load_generator(path)  # prefers the EMA weights
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, ema[key])


def test_discriminator_warmup_and_update_ratio(compose_train: ComposeTrain) -> None:
    cfg = compose_train("trainer.max_steps=6", "model.d_warmup_iters=2", "model.d_update_every=2")
    trainer, model, recorder = _fit(cfg)
    assert trainer.global_step == 6 and recorder.iterations == list(range(6))
    g_opt, d_opt = (opt.optimizer for opt in model.optimizers())
    assert _adam_steps(g_opt) == 6
    assert _adam_steps(d_opt) == 2  # iterations 2 and 4
    assert "train/adv" not in recorder.logged[0] and "train/adv" in recorder.logged[2]


class GradNormRecorder(STTNLitModule):
    """Records each network's gradient norm right after the module's own clipping."""

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        super().on_before_optimizer_step(optimizer)
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        total = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))
        self.norms = getattr(self, "norms", []) + [float(total)]


def test_gradient_clipping_bounds_both_networks(compose_train: ComposeTrain) -> None:
    cfg = compose_train("trainer.max_steps=2", "model.gradient_clip_val=0.001")
    model = instantiate(cfg.model, _target_=f"{__name__}.GradNormRecorder")
    _fit(cfg, model)
    assert len(model.norms) == 4
    assert max(model.norms) <= 0.001 * (1 + 1e-4)


def test_bf16_mixed_precision_trains(compose_train: ComposeTrain) -> None:
    cfg = compose_train("trainer.max_steps=2", "trainer.precision=bf16-mixed")
    trainer, _, recorder = _fit(cfg)
    assert trainer.global_step == 2
    assert all(math.isfinite(v) for logged in recorder.logged for v in logged.values())


def test_init_generator_starts_from_the_weights_of_a_file(compose_train: ComposeTrain, tmp_path: Path) -> None:
    source = instantiate(compose_train().model.generator)
    for parameter in source.parameters():
        parameter.data.normal_()
    path = export_generator(source, tmp_path / "start.pth")
    model = instantiate(compose_train(f"model.init_generator={path}", "model.ema_decay=0.9").model)
    for name, tensor in source.state_dict().items():
        assert torch.equal(model.generator.state_dict()[name], tensor), name
        assert torch.equal(model.generator_ema.state_dict()[name], tensor), name


def test_init_generator_of_another_architecture_names_the_file(compose_train: ComposeTrain, tmp_path: Path) -> None:
    path = export_generator(InpaintGenerator(base_channels=4, hidden_channels=8, num_blocks=1), tmp_path / "other.pth")
    with pytest.raises(InstantiationException, match=r"CheckpointError.*other\.pth: weights do not fit"):
        instantiate(compose_train(f"model.init_generator={path}").model)
