"""Plain-torch STTN networks, losses and checkpoint I/O (no Lightning, no Hydra); exports: see exporting, exported."""

from sttn_lightning.models.checkpoint import CheckpointError, export_generator, load_generator, load_weights_into
from sttn_lightning.models.discriminator import Discriminator
from sttn_lightning.models.generator import InpaintGenerator
from sttn_lightning.models.losses import discriminator_adv_loss, generator_adv_loss, hole_l1, valid_l1

__all__ = [
    "CheckpointError",
    "Discriminator",
    "InpaintGenerator",
    "discriminator_adv_loss",
    "export_generator",
    "generator_adv_loss",
    "hole_l1",
    "load_generator",
    "load_weights_into",
    "valid_l1",
]
