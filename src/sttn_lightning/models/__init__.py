"""Plain-torch STTN networks, losses, checkpoint I/O and exports (no Lightning, no Hydra)."""

from sttn_lightning.models.checkpoint import CheckpointError, export_generator, load_generator, load_weights_into
from sttn_lightning.models.discriminator import Discriminator
from sttn_lightning.models.exported import ExportedModelError, ExportedProgramGenerator, OnnxGenerator, load_inference_model
from sttn_lightning.models.exporting import ExportError, export_parts
from sttn_lightning.models.generator import InpaintGenerator
from sttn_lightning.models.losses import discriminator_adv_loss, generator_adv_loss, hole_l1, valid_l1

__all__ = [
    "CheckpointError",
    "Discriminator",
    "ExportError",
    "ExportedModelError",
    "ExportedProgramGenerator",
    "InpaintGenerator",
    "OnnxGenerator",
    "discriminator_adv_loss",
    "export_generator",
    "export_parts",
    "generator_adv_loss",
    "hole_l1",
    "load_generator",
    "load_inference_model",
    "load_weights_into",
    "valid_l1",
]
