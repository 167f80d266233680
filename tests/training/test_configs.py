"""Every training config composes; mistakes in overrides fail with Hydra's own message."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from sttn_lightning.cli import CONFIG_MODULE


def _compose(*overrides: str):
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


def test_default_run_is_the_tiny_model_on_demo_data_on_the_cpu() -> None:
    cfg = _compose()
    assert cfg.model.generator.num_blocks < 8
    assert cfg.data.demo is not None
    assert cfg.trainer.accelerator == "cpu"
    assert cfg.logger.wandb.offline is True
    assert cfg.optimized_metric == "val/psnr"
    assert "experiment" not in cfg and "debug" not in cfg


@pytest.mark.parametrize(
    ("experiment", "decay_step"), [("youtube_vos", 150_000), ("davis", 300_000)]
)
def test_experiments_hold_the_release_recipe(experiment: str, decay_step: int) -> None:
    cfg = _compose(f"+experiment={experiment}")
    assert (cfg.data.height, cfg.data.width, cfg.data.num_frames, cfg.data.batch_size) == (240, 432, 5, 8)
    assert cfg.trainer.max_steps == 500_000
    model = cfg.model
    assert (model.hole_weight, model.valid_weight, model.adv_weight, model.gan_loss) == (1.0, 1.0, 0.01, "hinge")
    assert model.generator.num_blocks == 8 and model.generator.hidden_channels == 256
    for optimizer in (model.g_optimizer, model.d_optimizer):
        assert optimizer.lr == 1e-4 and list(optimizer.betas) == [0.0, 0.99]
    for scheduler in (model.g_scheduler, model.d_scheduler):
        assert scheduler.lr_lambda.step == decay_step and scheduler.lr_lambda.cap == 300_000
    assert cfg.trainer.strategy.find_unused_parameters is True


def test_release_model_config_builds_the_released_network_sizes() -> None:
    cfg = _compose("model=sttn")
    generator = instantiate(cfg.model.generator)
    discriminator = instantiate(cfg.model.discriminator)
    assert sum(p.numel() for p in generator.parameters()) == 16_556_163
    assert sum(p.numel() for p in discriminator.parameters()) == 17_832_256


def test_optuna_search_maximises_val_psnr() -> None:
    cfg = _compose("+hparams_search=optuna")
    sweeper = cfg.hydra.sweeper
    assert sweeper.direction == "maximize" and cfg.optimized_metric == "val/psnr"
    assert set(sweeper.params) == {"model.g_optimizer.lr", "model.d_optimizer.lr", "model.adv_weight"}
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler"


def test_slurm_launcher_extends_the_plugin_config() -> None:
    cfg = _compose("+experiment=youtube_vos", "hydra/launcher=slurm", "hydra.launcher.partition=gpu")
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    assert launcher["_target_"].endswith("submitit_launcher.SlurmLauncher")
    assert launcher["partition"] == "gpu"
    assert cfg.trainer.devices == 8
    assert launcher["gpus_per_node"] == launcher["tasks_per_node"] == "${trainer.devices}"


@pytest.mark.parametrize("debug", ["default", "fast_dev_run"])
def test_debug_configs_compose(debug: str) -> None:
    cfg = _compose(f"+debug={debug}")
    assert cfg.task_name == "debug" and not cfg.logger and not cfg.callbacks


@pytest.mark.parametrize("trainer", ["default", "cpu", "gpu", "ddp", "ddp_cpu"])
def test_trainer_configs_compose(trainer: str) -> None:
    assert _compose(f"trainer={trainer}").trainer._target_ == "lightning.pytorch.trainer.Trainer"


@pytest.mark.parametrize("logger", ["wandb", "csv", "none"])
def test_logger_configs_compose(logger: str) -> None:
    _compose(f"logger={logger}")


def test_misspelt_key_is_refused_by_hydra() -> None:
    with pytest.raises(ConfigCompositionException, match=r"Could not override 'model.adv_wieght'"):
        _compose("model.adv_wieght=0.1")


def test_unknown_experiment_is_refused_by_hydra() -> None:
    with pytest.raises(Exception, match=r"Could not find 'experiment/youtube'"):
        _compose("+experiment=youtube")
