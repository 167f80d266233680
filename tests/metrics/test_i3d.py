"""I3D: strict loading of a state dict in the pytorch-i3d layout, features, and VFID on them."""

import numpy as np
import pytest
import torch

from sttn_lightning.errors import InputError
from sttn_lightning.metrics.i3d import (
    I3D_FEATURE_DIM,
    InceptionI3d,
    i3d_features,
    load_i3d,
    same_padding,
    uint8_video_to_i3d_input,
)
from sttn_lightning.metrics.vfid import vfid

# Names and shapes of the pytorch-i3d InceptionI3d state dict (i3d_rgb_imagenet.pt).
PORT_KEYS = {
    "Conv3d_1a_7x7.conv3d.weight": (64, 3, 7, 7, 7),
    "Conv3d_1a_7x7.bn.running_mean": (64,),
    "Conv3d_2c_3x3.conv3d.weight": (192, 64, 3, 3, 3),
    "Mixed_3b.b2a.bn.running_var": (16,),
    "Mixed_4b.b3b.conv3d.weight": (64, 480, 1, 1, 1),
    "Mixed_5c.b1b.conv3d.weight": (384, 192, 3, 3, 3),
    "logits.conv3d.weight": (400, 1024, 1, 1, 1),
    "logits.conv3d.bias": (400,),
}


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    torch.manual_seed(0)
    model = InceptionI3d()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("i3d") / "i3d_rgb_imagenet.pt"
    torch.save(model.state_dict(), path)
    return path


def test_same_padding_follows_the_port_rule():
    assert same_padding(16, kernel=7, stride=2) == (2, 3)
    assert same_padding(15, kernel=7, stride=2) == (3, 3)
    assert same_padding(5, kernel=3, stride=1) == (1, 1)
    assert same_padding(5, kernel=1, stride=1) == (0, 0)


def test_state_dict_has_the_port_names_and_shapes():
    state = InceptionI3d().state_dict()
    for key, shape in PORT_KEYS.items():
        assert tuple(state[key].shape) == shape
    # 57 Unit3D with conv weight + 5 BatchNorm entries, plus the logits weight and bias.
    assert len(state) == 57 * 6 + 2
    assert not any(key.startswith("logits.bn") for key in state)


def test_load_i3d_is_strict_and_names_the_file(weights_file, tmp_path):
    model = load_i3d(weights_file)
    assert not model.training
    with pytest.raises(InputError, match="missing.pt"):
        load_i3d(tmp_path / "missing.pt")
    state = torch.load(weights_file, weights_only=True)
    del state["Mixed_5c.b0.conv3d.weight"]
    truncated = tmp_path / "truncated.pt"
    torch.save(state, truncated)
    with pytest.raises(ValueError, match="truncated.pt.*Mixed_5c.b0.conv3d.weight"):
        load_i3d(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pt"):
        load_i3d(garbage)


def test_features_are_1024_d_per_video_and_vfid_of_a_set_with_itself_is_zero(weights_file):
    model = load_i3d(weights_file)
    frames = np.random.default_rng(0).integers(0, 256, (3, 8, 64, 64, 3), dtype=np.uint8)
    videos = [uint8_video_to_i3d_input(video) for video in frames]
    assert videos[0].shape == (1, 3, 8, 64, 64)
    assert 0.0 <= videos[0].min() and videos[0].max() <= 1.0
    features = np.stack([i3d_features(model, video) for video in videos])
    assert features.shape == (3, I3D_FEATURE_DIM)
    assert np.all(np.isfinite(features)) and not np.allclose(features[0], features[1])
    np.testing.assert_allclose(i3d_features(model, videos[0]), features[0], rtol=1e-5)
    assert vfid(features, features) == pytest.approx(0.0, abs=1e-6)
    assert vfid(features, features[::-1] + 0.1) > 1.0
