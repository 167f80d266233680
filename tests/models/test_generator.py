"""InpaintGenerator: release layout, release numerics (against the naive oracle), any resolution."""

import math
import weakref
from collections.abc import Iterable

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from sttn_lightning.models import InpaintGenerator
from sttn_lightning.models.generator import DEFAULT_PATCH_GRIDS, allowed_keys, key_patch_is_hole, patch_attention
from tests.models.release_oracle import ReleaseOracleGenerator

TINY = {"base_channels": 8, "hidden_channels": 16, "num_blocks": 2}


def release_key_shapes() -> dict[str, tuple[int, ...]]:
    """The 112 state-dict entries of the released sttn.pth, spelled out from the reference."""
    shapes: dict[str, tuple[int, ...]] = {}
    for block in range(8):
        prefix = f"transformer.{block}."
        for name in ("query_embedding", "key_embedding", "value_embedding"):
            shapes[f"{prefix}attention.{name}.weight"] = (256, 256, 1, 1)
            shapes[f"{prefix}attention.{name}.bias"] = (256,)
        for name in ("attention.output_linear.0", "feed_forward.conv.0", "feed_forward.conv.2"):
            shapes[f"{prefix}{name}.weight"] = (256, 256, 3, 3)
            shapes[f"{prefix}{name}.bias"] = (256,)
    convs = {
        "encoder.0": (64, 3, 3, 3),
        "encoder.2": (64, 64, 3, 3),
        "encoder.4": (128, 64, 3, 3),
        "encoder.6": (256, 128, 3, 3),
        "decoder.0.conv": (128, 256, 3, 3),
        "decoder.2": (64, 128, 3, 3),
        "decoder.4.conv": (64, 64, 3, 3),
        "decoder.6": (3, 64, 3, 3),
    }
    for name, shape in convs.items():
        shapes[f"{name}.weight"] = shape
        shapes[f"{name}.bias"] = (shape[0],)
    return shapes


def randomise_(model: torch.nn.Module, gain: float = 0.7) -> None:
    """Weights N(0, gain^2 / fan_in), biases N(0, 0.1^2).

    The release's N(0, 0.02) init shrinks activations so much that attention is near-uniform and
    a wrong scale or token order would go unnoticed; with gain 0.7 a wrong attention scale moves
    the output by several percent, while float32 rounding (which grows with activation size)
    keeps both implementations within ~2e-6 of float64.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.normal_(0.0, gain / module.weight[0].numel() ** 0.5)
                module.bias.normal_(0.0, 0.1)


def random_clip(b: int, t: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    frames = torch.rand(b, t, 3, height, width) * 2 - 1
    masks = (torch.rand(b, t, 1, height, width) > 0.6).float()
    return frames * (1 - masks), masks


class LiveTensorPeak(TorchDispatchMode):
    """Peak bytes of the tensor storages alive at once inside the block, ``ignore``'s left out.

    What an allocator must hold for the tensors alone (no conv workspaces or oneDNN reorders), on
    any device, so two implementations compare on a CPU as they would on a GPU.
    """

    def __init__(self, ignore: Iterable[torch.Tensor] = ()) -> None:
        super().__init__()
        self.seen = {tensor.untyped_storage().data_ptr() for tensor in ignore}
        self.current = 0
        self.peak = 0

    def _freed(self, key: int, nbytes: int) -> None:
        self.seen.discard(key)
        self.current -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(result):
            if isinstance(tensor, torch.Tensor):
                storage = tensor.untyped_storage()
                key, nbytes = storage.data_ptr(), storage.nbytes()
                if nbytes and key not in self.seen:
                    self.seen.add(key)
                    self.current += nbytes
                    weakref.finalize(storage, self._freed, key, nbytes)
        self.peak = max(self.peak, self.current)
        return result


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual - expected).norm() / expected.norm()).item()


def test_default_state_dict_is_the_release_layout():
    model = InpaintGenerator()
    expected = release_key_shapes()
    assert len(expected) == 112
    assert {key: tuple(value.shape) for key, value in model.state_dict().items()} == expected
    release_weights = {key: torch.randn(shape) for key, shape in expected.items()}
    model.load_state_dict(release_weights, strict=True)
    assert sum(p.numel() for p in model.parameters()) == 16_556_163


def test_initialisation_matches_release():
    model = InpaintGenerator()
    for name, parameter in model.named_parameters():
        if name.endswith("bias"):
            assert torch.count_nonzero(parameter) == 0, name
        else:
            assert parameter.mean().abs() < 0.003, name
            assert parameter.std().item() == pytest.approx(0.02, rel=0.1), name


# The full default model (8 blocks) at the release's resolution and at twice it. At 864x480 the
# default grids cut larger patches; the grids (2, 6, 12, 24) cut the release's fixed patch sizes
# in feature pixels, i.e. exactly what the release's code computes at that resolution.
RELEASE_PIXEL_GRIDS_AT_864 = ((2, 2), (6, 6), (12, 12), (24, 24))


@pytest.mark.parametrize(
    "height, width, patch_grids",
    [
        (240, 432, DEFAULT_PATCH_GRIDS),
        pytest.param(480, 864, DEFAULT_PATCH_GRIDS, marks=pytest.mark.slow),
        pytest.param(480, 864, RELEASE_PIXEL_GRIDS_AT_864, marks=pytest.mark.slow),
    ],
)
def test_matches_release_oracle(height, width, patch_grids):
    model = InpaintGenerator(patch_grids=patch_grids).eval()
    randomise_(model)
    oracle = ReleaseOracleGenerator(patch_grids=patch_grids).eval()
    oracle.load_state_dict(model.state_dict(), strict=True)
    masked_frames, masks = random_clip(1, 2, height, width)
    with torch.no_grad():
        expected = oracle(masked_frames, masks)
        actual = model(masked_frames, masks)
    assert actual.shape == (1, 2, 3, height, width)
    assert relative_error(actual, expected) < 1e-5


def test_forward_holds_no_more_tensor_memory_than_the_release():
    # Feature maps of 24x48, which every default grid divides (as the oracle needs); few frames, so
    # the decoder's full-resolution maps outweigh the attention scores as they do at full size.
    model = InpaintGenerator(**TINY).eval()
    oracle = ReleaseOracleGenerator(base=8, hidden=16, num_blocks=2).eval()
    oracle.load_state_dict(model.state_dict(), strict=True)
    masked_frames, masks = random_clip(1, 2, 96, 192)
    peaks = {}
    for name, network in (("model", model), ("oracle", oracle)):
        with torch.inference_mode(), LiveTensorPeak(ignore=(masked_frames, masks)) as tracker:
            network(masked_frames, masks)
        peaks[name] = tracker.peak
    assert peaks["model"] <= peaks["oracle"]


def test_forward_is_encode_then_decode_features():
    model = InpaintGenerator(**TINY).eval()
    randomise_(model)
    masked_frames, masks = random_clip(2, 3, 48, 64)
    with torch.no_grad():
        features = model.encode(masked_frames.flatten(0, 1))
        assert features.shape == (6, 16, 12, 16)
        decoded = model.decode_features(features.unflatten(0, (2, 3)), masks)
        assert torch.equal(model(masked_frames, masks), decoded)


def test_decode_features_of_the_first_frames_equals_the_full_decode_cut():
    model = InpaintGenerator(**TINY).eval()
    randomise_(model)
    masked_frames, masks = random_clip(2, 4, 48, 64)
    with torch.no_grad():
        features = model.encode(masked_frames.flatten(0, 1)).unflatten(0, (2, 4))
        full = model.decode_features(features, masks)
        first = model.decode_features(features, masks, num_outputs=3)
    assert first.shape == (2, 3, 3, 48, 64)
    torch.testing.assert_close(first, full[:, :3], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="num_outputs"):
        model.decode_features(features, masks, num_outputs=5)


def test_decode_features_rejects_mismatched_masks():
    model = InpaintGenerator(**TINY)
    with pytest.raises(ValueError, match="do not match masks"):
        model.decode_features(torch.zeros(1, 2, 16, 12, 16), torch.zeros(1, 2, 1, 40, 64))


@pytest.mark.parametrize("height, width", [(360, 640), (180, 320), (720, 1280), (141, 250)])
def test_other_resolutions_keep_shape(height, width):
    model = InpaintGenerator(**TINY).eval()
    masked_frames, masks = random_clip(1, 2, height, width)
    with torch.no_grad():
        output = model(masked_frames, masks)
    assert output.shape == (1, 2, 3, height, width)
    assert torch.isfinite(output).all()


def test_size_not_multiple_of_four_is_replicate_padded_then_cropped():
    model = InpaintGenerator(**TINY).eval()
    randomise_(model)
    masked_frames, masks = random_clip(1, 2, 42, 61)
    padded_frames = F.pad(masked_frames.flatten(0, 1), (0, 3, 0, 2), mode="replicate").unflatten(0, (1, 2))
    padded_masks = F.pad(masks.flatten(0, 1), (0, 3, 0, 2), mode="replicate").unflatten(0, (1, 2))
    with torch.no_grad():
        cropped = model(masked_frames, masks)
        reference = model(padded_frames, padded_masks)[..., :42, :61]
    assert torch.allclose(cropped, reference, rtol=0, atol=1e-6)


def test_config_round_trips_through_constructor():
    model = InpaintGenerator(8, 12, 1, patch_grids=[[2, 3], [1, 1], [4, 4]], mask_attention=True)
    assert model.config == {
        "base_channels": 8,
        "hidden_channels": 12,
        "num_blocks": 1,
        "patch_grids": ((2, 3), (1, 1), (4, 4)),
        "mask_attention": True,
    }
    assert InpaintGenerator(**model.config).config == model.config


def test_rejects_channels_not_divisible_by_heads():
    with pytest.raises(ValueError, match="divisible"):
        InpaintGenerator(hidden_channels=30)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_runs_in_half_precision_close_to_float32(dtype):
    model = InpaintGenerator(**TINY).eval()
    randomise_(model)
    masked_frames, masks = random_clip(1, 2, 48, 64)
    with torch.no_grad():
        reference = model(masked_frames, masks)
        with torch.autocast("cpu", dtype=dtype):
            output = model(masked_frames, masks)
    assert output.dtype == dtype
    assert torch.isfinite(output).all()
    assert (output.float() - reference).abs().max() < 0.05


@pytest.mark.parametrize("mask_attention", [False, True])
def test_backward_reaches_every_parameter(mask_attention):
    model = InpaintGenerator(**TINY, mask_attention=mask_attention)
    masked_frames, masks = random_clip(2, 2, 32, 48)
    model(masked_frames, masks).square().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_release_behaviour_ignores_masks():
    model = InpaintGenerator(**TINY).eval()
    randomise_(model)
    masked_frames, masks = random_clip(1, 3, 48, 64)
    with torch.no_grad():
        assert torch.equal(model(masked_frames, masks), model(masked_frames, 1 - masks))


def test_key_patch_is_hole_uses_majority_rule():
    # One 4x4 feature mask cut into a 2x2 grid of 2x2 patches with hole fractions 1, 3/4, 1/2, 0.
    feature_masks = torch.tensor(
        [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    ).view(1, 1, 4, 4)
    assert key_patch_is_hole(feature_masks, (2, 2)).tolist() == [[True, True, False, False]]


def test_key_patch_is_hole_pads_like_the_features():
    # 3 columns into 2 patches: padded to 4 by repeating the last column.
    feature_masks = torch.tensor([[0.0, 0.0, 1.0]]).view(1, 1, 1, 3)
    assert key_patch_is_hole(feature_masks, (1, 2)).tolist() == [[False, True]]


def test_allowed_keys_falls_back_to_all_keys_when_every_key_is_hole():
    key_is_hole = torch.tensor([[True, False, True], [True, True, True]])
    assert allowed_keys(key_is_hole).tolist() == [[[False, True, False]], [[True, True, True]]]


def test_patch_attention_gives_masked_keys_zero_weight():
    # Token length 4 -> scale 1/2. Scores q.k/2: key 0 -> ln 3, key 1 -> 10, key 2 -> 0.
    # With key 1 excluded the weights are softmax(ln 3, 0) = (3/4, 1/4); values = identity rows
    # make the output equal to the weights.
    query = torch.tensor([[[2.0, 0.0, 0.0, 0.0]]])
    keys = torch.tensor([[[math.log(3.0), 0, 0, 0], [10.0, 0, 0, 0], [0.0, 0, 0, 0]]])
    values = torch.eye(3, 4).unsqueeze(0)
    allowed = allowed_keys(torch.tensor([[False, True, False]]))
    weights = patch_attention(query, keys, values, allowed)[..., :3]
    assert torch.allclose(weights, torch.tensor([[[0.75, 0.0, 0.25]]]), atol=1e-6)
    assert weights[0, 0, 1] == 0
    unmasked = patch_attention(query, keys, values)[..., :3]
    assert unmasked[0, 0, 1] > 0.99


def test_mask_attention_changes_output_only_through_hole_keys():
    masked = InpaintGenerator(**TINY, mask_attention=True).eval()
    release = InpaintGenerator(**TINY).eval()
    randomise_(masked)
    release.load_state_dict(masked.state_dict())
    masked_frames, masks = random_clip(1, 3, 48, 64)
    masks[:, :, :, :24] = 1.0
    with torch.no_grad():
        assert not torch.allclose(masked(masked_frames, masks), release(masked_frames, masks))
        no_holes = torch.zeros_like(masks)
        assert torch.equal(masked(masked_frames, no_holes), release(masked_frames, no_holes))
        all_holes = torch.ones_like(masks)
        fallback = masked(masked_frames, all_holes)
        assert torch.isfinite(fallback).all()
        assert torch.equal(fallback, release(masked_frames, all_holes))
