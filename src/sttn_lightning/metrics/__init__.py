"""Evaluation metrics of the STTN follow-up papers: PSNR/SSIM, VFID (I3D) and E_warp.

Each module's docstring states its exact definition. Model tensors in [-1, 1] become the
papers' uint8 frames with ``to_uint8_frames``; E_warp and I3D also take such uint8 frames.
"""

from sttn_lightning.metrics.ewarp import WarpErrorMean, dis_flow, ewarp, non_occluded_mask, warp
from sttn_lightning.metrics.i3d import (
    I3D_FEATURE_DIM,
    InceptionI3d,
    i3d_features,
    load_i3d,
    uint8_video_to_i3d_input,
    video_to_i3d_input,
)
from sttn_lightning.metrics.quality import (
    SSIM_WIN_SIZE,
    PerVideoScores,
    VideoPSNR,
    VideoSSIM,
    frame_psnr,
    frame_ssim,
    psnr,
    ssim,
    ssim_window,
    to_hole_masks,
    to_uint8_frames,
    uint8_frame_scores,
)
from sttn_lightning.metrics.vfid import feature_statistics, frechet_distance, vfid

__all__ = [
    "I3D_FEATURE_DIM",
    "SSIM_WIN_SIZE",
    "InceptionI3d",
    "PerVideoScores",
    "VideoPSNR",
    "VideoSSIM",
    "dis_flow",
    "ewarp",
    "feature_statistics",
    "frame_psnr",
    "frame_ssim",
    "frechet_distance",
    "i3d_features",
    "load_i3d",
    "non_occluded_mask",
    "psnr",
    "ssim",
    "ssim_window",
    "to_hole_masks",
    "to_uint8_frames",
    "uint8_frame_scores",
    "uint8_video_to_i3d_input",
    "video_to_i3d_input",
    "vfid",
    "warp",
    "WarpErrorMean",
]
