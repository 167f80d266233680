"""A deliberately naive re-statement of the released STTN generator's maths (test oracle).

Written from the reference facts, not for speed: separate query/key/value convs, a Python loop
over heads, patches unfolded with view/permute into tokens ordered (frame, patch row, patch col)
with values ordered (channel, row, col), scores divided by sqrt(64 * h * w), one softmax over all
t * grid tokens of a clip, heads concatenated. No hole masking (the release's had no effect).
Only the release's geometry is supported: H and W multiples of 4 and feature maps that the
patch grids divide. State-dict keys equal the release's, so it loads a model's weights strictly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

RELEASE_PATCH_GRIDS = ((1, 1), (3, 3), (6, 6), (12, 12))


class OracleAttention(nn.Module):
    def __init__(self, channels: int, patch_grids) -> None:
        super().__init__()
        self.patch_grids = patch_grids
        self.query_embedding = nn.Conv2d(channels, channels, 1)
        self.key_embedding = nn.Conv2d(channels, channels, 1)
        self.value_embedding = nn.Conv2d(channels, channels, 1)
        self.output_linear = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2))

    def forward(self, x: Tensor, b: int) -> Tensor:
        bt, c, h, w = x.shape
        t = bt // b
        d = c // len(self.patch_grids)
        queries = self.query_embedding(x).chunk(len(self.patch_grids), dim=1)
        keys = self.key_embedding(x).chunk(len(self.patch_grids), dim=1)
        values = self.value_embedding(x).chunk(len(self.patch_grids), dim=1)
        outputs = []
        for (rows, cols), query, key, value in zip(self.patch_grids, queries, keys, values):
            ph, pw = h // rows, w // cols

            def to_tokens(y: Tensor) -> Tensor:
                y = y.view(b, t, d, rows, ph, cols, pw).permute(0, 1, 3, 5, 2, 4, 6).contiguous()
                return y.view(b, t * rows * cols, d * ph * pw)

            q, k, v = to_tokens(query), to_tokens(key), to_tokens(value)
            scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.size(-1))
            attended = torch.matmul(F.softmax(scores, dim=-1), v)
            attended = attended.view(b, t, rows, cols, d, ph, pw).permute(0, 1, 4, 2, 5, 3, 6).contiguous()
            outputs.append(attended.view(bt, d, h, w))
        return self.output_linear(torch.cat(outputs, dim=1))


class OracleFeedForward(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=2, dilation=2),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(0.2),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class OracleBlock(nn.Module):
    def __init__(self, channels: int, patch_grids) -> None:
        super().__init__()
        self.attention = OracleAttention(channels, patch_grids)
        self.feed_forward = OracleFeedForward(channels)

    def forward(self, x: Tensor, b: int) -> Tensor:
        x = x + self.attention(x, b)
        return x + self.feed_forward(x)


class OracleDeconv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


class ReleaseOracleGenerator(nn.Module):
    def __init__(self, base: int = 64, hidden: int = 256, num_blocks: int = 8, patch_grids=RELEASE_PATCH_GRIDS):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, base, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(base, base, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(base, 2 * base, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * base, hidden, 3, padding=1),
            nn.LeakyReLU(0.2),
        )
        self.transformer = nn.ModuleList(OracleBlock(hidden, patch_grids) for _ in range(num_blocks))
        self.decoder = nn.Sequential(
            OracleDeconv(hidden, 2 * base),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * base, base, 3, padding=1),
            nn.LeakyReLU(0.2),
            OracleDeconv(base, base),
            nn.LeakyReLU(0.2),
            nn.Conv2d(base, 3, 3, padding=1),
        )

    def forward(self, masked_frames: Tensor, masks: Tensor) -> Tensor:
        b, t, c, h, w = masked_frames.shape
        x = self.encoder(masked_frames.view(b * t, c, h, w))
        for block in self.transformer:
            x = block(x, b)
        return torch.tanh(self.decoder(x)).view(b, t, 3, h, w)
