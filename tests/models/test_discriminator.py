"""Discriminator: release layout and parameter count, clips scored independently."""

import torch

from sttn_lightning.models import Discriminator


def test_release_layout_and_parameter_count():
    model = Discriminator()
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    widths = [(64, 3), (128, 64), (256, 128), (256, 256), (256, 256)]
    expected = {}
    for index, (c_out, c_in) in zip(range(0, 10, 2), widths):
        expected[f"conv.{index}.weight_orig"] = (c_out, c_in, 3, 5, 5)
        expected[f"conv.{index}.weight_u"] = (c_out,)
        expected[f"conv.{index}.weight_v"] = (c_in * 75,)
    expected["conv.10.weight"] = (256, 256, 3, 5, 5)
    expected["conv.10.bias"] = (256,)
    assert shapes == expected
    assert sum(p.numel() for p in model.parameters()) == 17_832_256


def test_without_spectral_norm_convs_have_biases():
    model = Discriminator(spectral_norm=False)
    assert all(f"conv.{index}.bias" in model.state_dict() for index in range(0, 12, 2))
    assert not any(key.endswith("weight_orig") for key in model.state_dict())


def test_scores_every_frame_at_release_resolution():
    model = Discriminator(base_channels=4).eval()
    with torch.no_grad():
        scores = model(torch.randn(2, 3, 3, 240, 432))
    # Six convs of kernel 5, stride 2 (padding 1, then 2): H 240 -> 119 -> 60 -> 30 -> 15 -> 8 -> 4,
    # W 432 -> 215 -> 108 -> 54 -> 27 -> 14 -> 7; time keeps its length (kernel 3, padding 1).
    assert scores.shape == (2, 3, 16, 4, 7)


def test_clips_of_a_batch_are_scored_separately():
    model = Discriminator(base_channels=4).eval()
    clips = torch.randn(2, 4, 3, 64, 64)
    changed = clips.clone()
    changed[1] = torch.randn_like(changed[1])
    with torch.no_grad():
        scores = model(clips)
        changed_scores = model(changed)
        alone = model(clips[:1])
    assert torch.equal(scores[0], changed_scores[0])
    assert not torch.allclose(scores[1], changed_scores[1])
    assert torch.allclose(scores[0], alone[0], atol=1e-6)
