"""Evaluation metrics of the STTN follow-up papers: PSNR/SSIM, VFID (I3D) and E_warp.

Each module's docstring states its exact definition. Model tensors in [-1, 1] become the
papers' uint8 frames with ``to_uint8_frames``; E_warp and I3D also take such uint8 frames.
"""

from sttn_lightning.metrics.ewarp import WarpErrorMean, dis_flow, ewarp
from sttn_lightning.metrics.i3d import InceptionI3d, i3d_features, load_i3d, uint8_video_to_i3d_input
from sttn_lightning.metrics.quality import VideoPSNR, VideoSSIM, psnr, ssim, ssim_window, to_uint8_frames, uint8_frame_scores
from sttn_lightning.metrics.vfid import vfid

__all__ = [
    "InceptionI3d",
    "VideoPSNR",
    "VideoSSIM",
    "WarpErrorMean",
    "dis_flow",
    "ewarp",
    "i3d_features",
    "load_i3d",
    "psnr",
    "ssim",
    "ssim_window",
    "to_uint8_frames",
    "uint8_frame_scores",
    "uint8_video_to_i3d_input",
    "vfid",
]
