"""STTN's spatio-temporal patch discriminator: six Conv3d layers scoring every frame region of a clip.

Key names equal the release's (``conv.0`` ... ``conv.10``; the five spectral-norm convs store
``weight_orig`` / ``weight_u`` / ``weight_v``, which is the layout of
``torch.nn.utils.spectral_norm``; the parametrize variant would rename them). Unlike the
release, which folded a whole batch into one clip, each clip of a batch is scored on its own.
"""

from __future__ import annotations

from torch import Tensor, nn

KERNEL = (3, 5, 5)
STRIDE = (1, 2, 2)


class Discriminator(nn.Module):
    """(b, t, in_channels, H, W) clips -> (b, t, 4 * base_channels, h', w') realness scores."""

    def __init__(self, in_channels: int = 3, base_channels: int = 64, spectral_norm: bool = True) -> None:
        super().__init__()
        widths = [in_channels, base_channels, 2 * base_channels] + [4 * base_channels] * 4
        layers: list[nn.Module] = []
        for index, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
            is_last = index == len(widths) - 2
            conv = nn.Conv3d(
                c_in,
                c_out,
                KERNEL,
                stride=STRIDE,
                padding=1 if index == 0 else (1, 2, 2),
                bias=is_last or not spectral_norm,
            )
            nn.init.normal_(conv.weight, 0.0, 0.02)
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)
            if is_last:
                layers.append(conv)
            else:
                layers.append(nn.utils.spectral_norm(conv) if spectral_norm else conv)
                layers.append(nn.LeakyReLU(0.2, inplace=True))
        self.conv = nn.Sequential(*layers)

    def forward(self, clips: Tensor) -> Tensor:
        # Conv3d wants (b, C, t, H, W); time stays a convolution axis, clips stay batch entries.
        scores = self.conv(clips.transpose(1, 2))
        return scores.transpose(1, 2)

