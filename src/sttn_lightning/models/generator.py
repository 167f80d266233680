"""STTN's inpainting generator: per-frame conv encoder, multi-scale patch transformer, conv decoder.

With default arguments the module is the released architecture: identical ``state_dict`` key
names and shapes, so the official ``sttn.pth`` weights load strictly, and the same maths.
The implementation differs from the release only where it is faster and numerically equivalent:

* the query/key/value 1x1 convs run as one conv with concatenated weights (the three
  parameters, and so the three state-dict keys, stay separate);
* all heads read their patches from one channels-last projection and are concatenated into
  one channels-last output, batched over clips and frames; a token's values are ordered (row, col, channel)
  instead of the release's (channel, row, col), which leaves every dot product unchanged;
* attention keeps the release's scale ``1 / sqrt(token length)`` but applies it to the queries
  before the product and takes the softmax in float32, so bf16/fp16 autocast is safe.

Patch sizes are given as grid counts (rows, cols) of the feature map, so any resolution
works and patches scale with the frame. (The release fixed patch sizes in feature pixels,
which equals the default grids only at 432x240; ``patch_grids=((2, 2), (6, 6), (12, 12),
(24, 24))`` reproduces its patch sizes at 864x480.) When the feature map does not divide into
a grid, the head's query/key/value maps are replicate-padded at the bottom/right up to the next
multiple and the head's output is cropped back (replicate keeps the border patches' statistics
close to the image's; nothing is padded when the grid divides, so such sizes give the
release's results exactly). Inputs whose height or width is not a multiple of 4 are
replicate-padded the same way and the output is cropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

DEFAULT_PATCH_GRIDS: tuple[tuple[int, int], ...] = ((1, 1), (3, 3), (6, 6), (12, 12))
FEATURE_STRIDE = 4  # the encoder halves the resolution twice
HOLE_FRACTION_THRESHOLD = 0.5  # a key patch whose mask mean exceeds this counts as hole


def _leaky_relu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)


def _pad_bottom_right(x: Tensor, height: int, width: int) -> Tensor:
    """Replicate-pad the last two dims of ``x`` (any leading dims) up to ``height`` x ``width``."""
    pad_h, pad_w = height - x.shape[-2], width - x.shape[-1]
    if pad_h == 0 and pad_w == 0:
        return x
    lead = x.shape[:-2]
    flat = x.reshape(-1, 1, x.shape[-2], x.shape[-1])
    padded = F.pad(flat, (0, pad_w, 0, pad_h), mode="replicate")
    return padded.reshape(*lead, height, width)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def min_working_size(patch_grids: Sequence[Sequence[int]]) -> tuple[int, int]:
    """The smallest (width, height) whose feature map holds at least one pixel per patch of every grid."""
    rows, cols = max(grid[0] for grid in patch_grids), max(grid[1] for grid in patch_grids)
    return FEATURE_STRIDE * cols, FEATURE_STRIDE * rows


def key_patch_is_hole(feature_masks: Tensor, grid: tuple[int, int]) -> Tensor:
    """Which key patches are mostly hole (the paper's rule), token order (frame, row, col).

    ``feature_masks``: (b, t, h, w) masks at feature resolution (1 = hole). The map is padded
    like the features (replicate, bottom/right) before being cut into ``grid`` patches.
    Returns a bool tensor (b, t * rows * cols).
    """
    b, t, h, w = feature_masks.shape
    rows, cols = grid
    patch_h, patch_w = -(-h // rows), -(-w // cols)
    padded = _pad_bottom_right(feature_masks, rows * patch_h, cols * patch_w)
    patches = padded.reshape(b, t, rows, patch_h, cols, patch_w)
    return (patches.mean(dim=(3, 5)) > HOLE_FRACTION_THRESHOLD).reshape(b, t * rows * cols)


def allowed_keys(key_is_hole: Tensor) -> Tensor:
    """Attention mask (b, 1, n) of keys a query may attend to: all keys that are not hole.

    A clip whose every key patch is hole would have nothing to attend to (a softmax over an
    empty set is NaN); such a clip falls back to unmasked attention over all its keys.
    """
    allowed = ~key_is_hole
    allowed = allowed | ~allowed.any(dim=-1, keepdim=True)
    return allowed.unsqueeze(1)


def patch_attention(query: Tensor, key: Tensor, value: Tensor, allowed: Tensor | None = None) -> Tensor:
    """Softmax attention over patch tokens (b, n, length), scaled by 1/sqrt(length) as the release.

    ``allowed`` (b, 1, n) bool, True where a key may be attended; other keys get exactly zero
    weight. The scale is applied to the queries before the product so half-precision logits
    cannot overflow over tokens of 10^5 values, and the softmax runs in float32. Explicit
    matmuls rather than SDPA: on the CPU, SDPA's half-precision path upcasts everything to
    float32 and was 3x slower here, while in float32 both are equally fast and exact.
    """
    scale = 1.0 / math.sqrt(query.shape[-1])
    scores = torch.matmul(query * scale, key.transpose(-2, -1)).float()
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.matmul(scores.softmax(dim=-1).to(value.dtype), value)


class MultiScalePatchAttention(nn.Module):
    """Heads of equal channel width, each attending between patches of its own grid size."""

    def __init__(self, channels: int, patch_grids: tuple[tuple[int, int], ...]) -> None:
        super().__init__()
        self.patch_grids = patch_grids
        self.head_channels = channels // len(patch_grids)
        self.query_embedding = nn.Conv2d(channels, channels, kernel_size=1)
        self.key_embedding = nn.Conv2d(channels, channels, kernel_size=1)
        self.value_embedding = nn.Conv2d(channels, channels, kernel_size=1)
        self.output_linear = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), _leaky_relu())

    def forward(self, x: Tensor, clips: int, allowed: Sequence[Tensor | None]) -> Tensor:
        """``x``: (clips * t, C, h, w); ``allowed``: one key mask per head (or None)."""
        frames, channels, h, w = x.shape
        # Heads joined by one concatenation, not written into a preallocated buffer: the same copies
        # in eager mode, while exporters turn such slice writes into scatters over the whole buffer.
        # The projections (three feature maps) die with _attend_heads and the per-head outputs with
        # the cat, so neither is held while the output conv runs.
        attended = torch.cat(self._attend_heads(x, clips, allowed), dim=-1).reshape(frames, h, w, channels)
        return self.output_linear(attended.permute(0, 3, 1, 2))

    def _attend_heads(self, x: Tensor, clips: int, allowed: Sequence[Tensor | None]) -> list[Tensor]:
        """Per-head outputs (clips, t, h, w, head channels) from one fused query/key/value projection."""
        frames, _, h, w = x.shape
        weight = torch.cat([self.query_embedding.weight, self.key_embedding.weight, self.value_embedding.weight])
        bias = torch.cat([self.query_embedding.bias, self.key_embedding.bias, self.value_embedding.bias])
        qkv = F.conv2d(x, weight, bias)
        # Channels-last view (frames, h, w, q/k/v, head, head channel); a free view when qkv is
        # channels-last, which the convs keep once the input is.
        heads = qkv.permute(0, 2, 3, 1).reshape(frames, h, w, 3, len(self.patch_grids), self.head_channels)
        t = frames // clips
        outputs = []
        for index, ((rows, cols), head_allowed) in enumerate(zip(self.patch_grids, allowed)):
            patch_h, patch_w = -(-h // rows), -(-w // cols)
            head = heads[..., index, :]  # (frames, h, w, 3, head channels)
            if rows * patch_h != h or cols * patch_w != w:
                head = _pad_bottom_right(head.permute(0, 3, 4, 1, 2), rows * patch_h, cols * patch_w)
                head = head.permute(0, 3, 4, 1, 2)
            tokens = (
                head.reshape(clips, t, rows, patch_h, cols, patch_w, 3, self.head_channels)
                .permute(6, 0, 1, 2, 4, 3, 5, 7)
                .reshape(3, clips, t * rows * cols, patch_h * patch_w * self.head_channels)
            )
            out = patch_attention(tokens[0], tokens[1], tokens[2], head_allowed)
            out = out.view(clips, t, rows, cols, patch_h, patch_w, self.head_channels).permute(0, 1, 2, 4, 3, 5, 6)
            out = out.reshape(clips, t, rows * patch_h, cols * patch_w, self.head_channels)
            outputs.append(out[:, :, :h, :w])
        return outputs


class FeedForward(nn.Module):
    """Two 3x3 convs (the first dilated by 2) mixing neighbouring features after attention."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=2, dilation=2),
            _leaky_relu(),
            nn.Conv2d(channels, channels, 3, padding=1),
            _leaky_relu(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class TransformerBlock(nn.Module):
    """Residual attention then residual feed-forward; the release has no normalisation layers."""

    def __init__(self, channels: int, patch_grids: tuple[tuple[int, int], ...]) -> None:
        super().__init__()
        self.attention = MultiScalePatchAttention(channels, patch_grids)
        self.feed_forward = FeedForward(channels)

    def forward(self, x: Tensor, clips: int, allowed: Sequence[Tensor | None]) -> Tensor:
        x = x + self.attention(x, clips, allowed)
        return x + self.feed_forward(x)


class UpsampleConv(nn.Module):
    """The release's "deconv": bilinear x2 upsampling (align_corners=True) then a 3x3 conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


def _normalise_grids(patch_grids: Sequence[Sequence[int]]) -> tuple[tuple[int, int], ...]:
    grids = tuple(tuple(int(n) for n in grid) for grid in patch_grids)
    if not grids or any(len(grid) != 2 or min(grid) < 1 for grid in grids):
        raise ValueError(f"patch_grids must be a non-empty list of (rows, cols) >= 1, got {patch_grids!r}")
    return grids  # type: ignore[return-value]


class InpaintGenerator(nn.Module):
    """STTN generator: (b, t, 3, H, W) masked frames in [-1, 1] + (b, t, 1, H, W) masks -> frames.

    ``mask_attention=False`` reproduces the release, whose hole masking has no effect; True
    applies the paper's rule: key patches that are mostly hole (mask downsampled 4x with
    nearest, patch mean > 0.5) get zero attention weight (see ``allowed_keys`` for the
    all-hole fallback).
    """

    def __init__(
        self,
        base_channels: int = 64,
        hidden_channels: int = 256,
        num_blocks: int = 8,
        patch_grids: Sequence[Sequence[int]] = DEFAULT_PATCH_GRIDS,
        mask_attention: bool = False,
    ) -> None:
        super().__init__()
        grids = _normalise_grids(patch_grids)
        if hidden_channels % len(grids) != 0:
            raise ValueError(
                f"hidden_channels ({hidden_channels}) must be divisible by the number of heads ({len(grids)})"
            )
        self._config = {
            "base_channels": int(base_channels),
            "hidden_channels": int(hidden_channels),
            "num_blocks": int(num_blocks),
            "patch_grids": grids,
            "mask_attention": bool(mask_attention),
        }
        base, hidden = base_channels, hidden_channels
        self.encoder = nn.Sequential(
            nn.Conv2d(3, base, 3, stride=2, padding=1),
            _leaky_relu(),
            nn.Conv2d(base, base, 3, padding=1),
            _leaky_relu(),
            nn.Conv2d(base, 2 * base, 3, stride=2, padding=1),
            _leaky_relu(),
            nn.Conv2d(2 * base, hidden, 3, padding=1),
            _leaky_relu(),
        )
        self.transformer = nn.ModuleList(TransformerBlock(hidden, grids) for _ in range(num_blocks))
        self.decoder = nn.Sequential(
            UpsampleConv(hidden, 2 * base),
            _leaky_relu(),
            nn.Conv2d(2 * base, base, 3, padding=1),
            _leaky_relu(),
            UpsampleConv(base, base),
            _leaky_relu(),
            nn.Conv2d(base, 3, 3, padding=1),
        )
        self.reset_parameters()

    @property
    def config(self) -> dict:
        """The constructor's keyword arguments, enough to rebuild this architecture."""
        return dict(self._config)

    def reset_parameters(self) -> None:
        """The release's initialisation: conv weights N(0, 0.02), biases 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def encode(self, masked_frames: Tensor) -> Tensor:
        """Per-frame features: (n, 3, H, W) -> (n, hidden, ceil(H/4), ceil(W/4)), channels-last."""
        h, w = masked_frames.shape[-2:]
        x = _pad_bottom_right(masked_frames, _round_up(h, FEATURE_STRIDE), _round_up(w, FEATURE_STRIDE))
        return self.encoder(x.contiguous(memory_format=torch.channels_last))

    def decode_features(self, features: Tensor, masks: Tensor, num_outputs: int | None = None) -> Tensor:
        """Transformer + decoder: (b, t, hidden, h, w) features, (b, t, 1, H, W) masks -> (b, t, 3, H, W).

        ``num_outputs`` decodes only the first frames of the clip (all ``t`` still attend): inference
        windows put their reference frames last and keep no prediction of them.
        """
        b, t, channels, h, w = features.shape
        num_outputs = t if num_outputs is None else num_outputs
        if not 1 <= num_outputs <= t:
            raise ValueError(f"num_outputs: expected 1 to {t} frames of the clip, found {num_outputs}")
        height, width = masks.shape[-2:]
        if masks.shape[:2] != (b, t) or (h, w) != (-(-height // FEATURE_STRIDE), -(-width // FEATURE_STRIDE)):
            raise ValueError(
                f"features {tuple(features.shape)} do not match masks {tuple(masks.shape)}: expected features "
                f"(b, t, C, ceil(H/4), ceil(W/4)) for masks (b, t, 1, H, W)"
            )
        allowed = self._allowed_keys(masks, h, w)
        x = features.reshape(b * t, channels, h, w).contiguous(memory_format=torch.channels_last)
        for block in self.transformer:
            x = block(x, b, allowed)
        x = x.unflatten(0, (b, t))[:, :num_outputs].flatten(0, 1)
        for layer in self.decoder:  # not self.decoder(x): that would hold the transformer's output to the end
            x = layer(x)
        frames = torch.tanh(x)[..., :height, :width]
        return frames.reshape(b, num_outputs, 3, height, width)

    def forward(self, masked_frames: Tensor, masks: Tensor) -> Tensor:
        """(b, t, 3, H, W) masked frames in [-1, 1], (b, t, 1, H, W) masks -> (b, t, 3, H, W) in [-1, 1]."""
        b, t, _, height, width = masked_frames.shape
        features = self.encode(masked_frames.reshape(b * t, 3, height, width))
        return self.decode_features(features.unflatten(0, (b, t)), masks)

    def _allowed_keys(self, masks: Tensor, h: int, w: int) -> list[Tensor | None]:
        grids = self._config["patch_grids"]
        if not self._config["mask_attention"]:
            return [None] * len(grids)
        padded = _pad_bottom_right(masks[:, :, 0].float(), h * FEATURE_STRIDE, w * FEATURE_STRIDE)
        feature_masks = padded[..., ::FEATURE_STRIDE, ::FEATURE_STRIDE]  # nearest 4x downsampling
        return [allowed_keys(key_patch_is_hole(feature_masks, grid)) for grid in grids]
