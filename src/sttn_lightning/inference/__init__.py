"""Video inpainting with a trained generator, streamed frame by frame (no Lightning needed)."""

from sttn_lightning.inference.options import InpaintError, InpaintOptions, InpaintSummary
from sttn_lightning.inference.pipeline import inpaint_frames, inpaint_video
from sttn_lightning.inference.runner import FinishedFrame, run_pipeline

__all__ = ["FinishedFrame", "InpaintError", "InpaintOptions", "InpaintSummary", "inpaint_frames", "inpaint_video", "run_pipeline"]
