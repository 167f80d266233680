"""load_generator / export_generator: every accepted format, exact round trips, clear errors."""

import os

import pytest
import torch

from sttn_lightning.models import CheckpointError, Discriminator, InpaintGenerator, export_generator, load_generator
from sttn_lightning.models.checkpoint import infer_generator_config

TINY = {"base_channels": 8, "hidden_channels": 16, "num_blocks": 2}


class PickledHyperParameters:
    """Stands for objects a Lightning checkpoint may pickle next to the weights."""

    def __init__(self) -> None:
        self.lr = 1e-4


def tiny_generator(**kwargs) -> InpaintGenerator:
    model = InpaintGenerator(**{**TINY, **kwargs})
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_()
    return model


def assert_same_weights(actual: torch.nn.Module, expected: torch.nn.Module) -> None:
    actual_state, expected_state = actual.state_dict(), expected.state_dict()
    assert actual_state.keys() == expected_state.keys()
    assert all(torch.equal(actual_state[key], expected_state[key]) for key in expected_state)


def test_export_then_load_is_exact(tmp_path):
    model = tiny_generator(patch_grids=((1, 1), (2, 3)), mask_attention=True)
    path = export_generator(model, tmp_path / "out" / "generator.pth")
    assert os.listdir(tmp_path / "out") == ["generator.pth"]
    loaded = load_generator(path)
    assert loaded.config == model.config
    assert_same_weights(loaded, model)
    payload = torch.load(path, weights_only=True)
    assert payload.keys() == {"netG", "generator_config"}


def test_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    def failing_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        export_generator(tiny_generator(), tmp_path / "generator.pth")
    assert os.listdir(tmp_path) == []


def test_official_release_file_loads_with_default_architecture(tmp_path):
    release = InpaintGenerator()
    torch.save({"netG": release.state_dict()}, tmp_path / "sttn.pth")
    loaded = load_generator(tmp_path / "sttn.pth")
    assert loaded.config == InpaintGenerator().config
    assert_same_weights(loaded, release)


def test_bare_state_dict_infers_widths_and_depth(tmp_path):
    model = tiny_generator(num_blocks=3)
    torch.save(model.state_dict(), tmp_path / "bare.pth")
    assert infer_generator_config(model.state_dict()) == {"base_channels": 8, "hidden_channels": 16, "num_blocks": 3}
    assert_same_weights(load_generator(tmp_path / "bare.pth"), model)


def test_data_parallel_prefix_is_stripped(tmp_path):
    model = tiny_generator()
    torch.save({"netG": {f"module.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "dp.pth")
    assert_same_weights(load_generator(tmp_path / "dp.pth"), model)


def lightning_checkpoint(generator, ema=None, extra=None) -> dict:
    state = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    if ema is not None:
        state.update({f"generator_ema.{k}": v for k, v in ema.state_dict().items()})
    state.update({f"discriminator.{k}": v for k, v in Discriminator(base_channels=2).state_dict().items()})
    return {"state_dict": state, "generator_config": generator.config, "epoch": 3, "global_step": 10, **(extra or {})}


def test_lightning_checkpoint_prefers_ema_weights(tmp_path):
    generator, ema = tiny_generator(patch_grids=((2, 2),)), tiny_generator(patch_grids=((2, 2),))
    torch.save(lightning_checkpoint(generator, ema), tmp_path / "ema.ckpt")
    torch.save(lightning_checkpoint(generator), tmp_path / "plain.ckpt")
    from_ema = load_generator(tmp_path / "ema.ckpt")
    assert from_ema.config["patch_grids"] == ((2, 2),)
    assert_same_weights(from_ema, ema)
    assert_same_weights(load_generator(tmp_path / "plain.ckpt"), generator)


def test_checkpoint_with_pickled_objects_loads_with_a_warning(tmp_path):
    generator = tiny_generator()
    checkpoint = lightning_checkpoint(generator, extra={"hyper_parameters": PickledHyperParameters()})
    torch.save(checkpoint, tmp_path / "h.ckpt")
    with pytest.warns(UserWarning, match="full unpickling"):
        loaded = load_generator(tmp_path / "h.ckpt")
    assert_same_weights(loaded, generator)


def test_overrides_replace_stored_config(tmp_path):
    path = export_generator(tiny_generator(), tmp_path / "g.pth")
    assert load_generator(path, mask_attention=True).config["mask_attention"] is True


@pytest.mark.parametrize(
    "payload_writer, message",
    [
        (lambda path: path.write_bytes(os.urandom(4096)), "not a readable torch checkpoint"),
        (lambda path: path.write_bytes(b""), "not a readable torch checkpoint"),
        (lambda path: torch.save({"netD": Discriminator(base_channels=2).state_dict()}, path), "holds no generator"),
        (lambda path: torch.save(Discriminator(base_channels=2).state_dict(), path), "missing \\['encoder.0.weight'"),
        (lambda path: torch.save({"state_dict": {"discriminator.w": torch.ones(1)}}, path), "holds no generator"),
        (lambda path: torch.save([torch.ones(1)], path), "expected a dict checkpoint"),
    ],
    ids=["random-bytes", "empty", "netD-only", "discriminator-state-dict", "lightning-no-generator", "list"],
)
def test_unusable_files_give_clear_errors(tmp_path, payload_writer, message):
    path = tmp_path / "bad.pth"
    payload_writer(path)
    with pytest.raises(CheckpointError, match=message) as error:
        load_generator(path)
    assert str(path) in str(error.value)


def test_truncated_file_gives_clear_error(tmp_path):
    path = export_generator(tiny_generator(), tmp_path / "g.pth")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint") as error:
        load_generator(path)
    assert str(path) in str(error.value)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_generator(tmp_path / "absent.pth")


def test_mismatched_weights_list_missing_unexpected_and_shapes(tmp_path):
    state = tiny_generator().state_dict()
    del state["decoder.6.bias"]
    state["decoder.7.weight"] = torch.zeros(1)
    path = tmp_path / "g.pth"
    torch.save({"netG": state}, path)
    with pytest.raises(CheckpointError) as error:
        load_generator(path, hidden_channels=32)
    message = str(error.value)
    assert str(path) in message
    assert "'decoder.6.bias'" in message and "'decoder.7.weight'" in message
    assert "encoder.6.weight: file (16, 16, 3, 3) vs model (32, 16, 3, 3)" in message


def test_bad_stored_config_is_reported(tmp_path):
    path = tmp_path / "g.pth"
    torch.save({"netG": tiny_generator().state_dict(), "generator_config": {**TINY, "depth": 3}}, path)
    with pytest.raises(CheckpointError, match="cannot build InpaintGenerator"):
        load_generator(path)
