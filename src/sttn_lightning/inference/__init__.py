"""Video inpainting with a trained generator, streamed frame by frame (no Lightning needed)."""

from sttn_lightning.inference.errors import InpaintError
from sttn_lightning.inference.pipeline import InpaintOptions, InpaintSummary, inpaint_frames, inpaint_video

__all__ = ["InpaintError", "InpaintOptions", "InpaintSummary", "inpaint_frames", "inpaint_video"]
