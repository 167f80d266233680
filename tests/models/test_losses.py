"""Adversarial and mask-normalised L1 losses against hand-computed values."""

import math

import pytest
import torch

from sttn_lightning.models.losses import discriminator_adv_loss, generator_adv_loss, hole_l1, valid_l1

REAL = torch.tensor([0.5, 2.0, -1.0, 1.0])
FAKE = torch.tensor([-2.0, 0.0, 0.5, -0.5])


def test_hinge():
    # relu(1 - real) = [0.5, 0, 2, 0] -> 0.625; relu(1 + fake) = [0, 1, 1.5, 0.5] -> 0.75.
    assert discriminator_adv_loss(REAL, FAKE, "hinge").item() == pytest.approx((0.625 + 0.75) / 2)
    # -mean(fake) = -(-2 + 0 + 0.5 - 0.5) / 4.
    assert generator_adv_loss(FAKE, "hinge").item() == pytest.approx(0.5)


def test_nsgan():
    ln3 = math.log(3.0)
    real, fake = torch.tensor([0.0, ln3]), torch.tensor([0.0, -ln3])
    # BCE(x, 1) = ln(1 + e^-x): ln 2 and ln(4/3); BCE(x, 0) = ln(1 + e^x): ln 2 and ln(4/3).
    real_term = fake_term = (math.log(2.0) + math.log(4.0 / 3.0)) / 2
    assert discriminator_adv_loss(real, fake, "nsgan").item() == pytest.approx((real_term + fake_term) / 2)
    # Generator: BCE(fake, 1) = ln(1 + e^-x): ln 2 and ln 4.
    assert generator_adv_loss(fake, "nsgan").item() == pytest.approx((math.log(2.0) + math.log(4.0)) / 2)


def test_lsgan():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.5, -1.0])
    # (real - 1)^2 = [0, 4] -> 2; fake^2 = [0.25, 1] -> 0.625.
    assert discriminator_adv_loss(real, fake, "lsgan").item() == pytest.approx((2.0 + 0.625) / 2)
    # (fake - 1)^2 = [0.25, 4] -> 2.125.
    assert generator_adv_loss(fake, "lsgan").item() == pytest.approx(2.125)


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="wgan"):
        generator_adv_loss(FAKE, "wgan")
    with pytest.raises(ValueError, match="wgan"):
        discriminator_adv_loss(REAL, FAKE, "wgan")


# One clip of one frame, 3 channels, 1 x 2 pixels; pixel 0 is hole, pixel 1 is valid.
PRED = torch.tensor([[1.0, 5.0], [2.0, 5.0], [0.0, 5.0]]).view(1, 1, 3, 1, 2)
TARGET = torch.tensor([[0.0, 0.0], [0.0, 0.0], [3.0, 0.0]]).view(1, 1, 3, 1, 2)
MASK = torch.tensor([1.0, 0.0]).view(1, 1, 1, 1, 2)


def test_hole_l1():
    # |pred*m - gt*m| = [1, 2, 3] in the hole, 0 elsewhere: mean 6/6 = 1; mean(m) = 0.5.
    assert hole_l1(PRED, TARGET, MASK).item() == pytest.approx(2.0)


def test_valid_l1():
    # Valid pixel errors [5, 5, 5]: mean 15/6 = 2.5; mean(1 - m) = 0.5.
    assert valid_l1(PRED, TARGET, MASK).item() == pytest.approx(5.0)


def test_empty_regions_give_zero_and_finite_gradients():
    pred = PRED.clone().requires_grad_(True)
    no_hole = hole_l1(pred, TARGET, torch.zeros_like(MASK))
    all_hole = valid_l1(pred, TARGET, torch.ones_like(MASK))
    assert no_hole.item() == 0.0 and all_hole.item() == 0.0
    (no_hole + all_hole).backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))
