"""STTN's training losses: adversarial (hinge, non-saturating, least-squares) and mask-normalised L1.

Pure functions of score / image tensors so they can be tested against hand-computed values and
reused outside the LightningModule.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

AdversarialKind = Literal["hinge", "nsgan", "lsgan"]
ADVERSARIAL_KINDS: tuple[str, ...] = ("hinge", "nsgan", "lsgan")


def _check_kind(kind: str) -> None:
    if kind not in ADVERSARIAL_KINDS:
        raise ValueError(f"unknown adversarial loss kind {kind!r}; expected one of {ADVERSARIAL_KINDS}")


def discriminator_adv_loss(real_scores: Tensor, fake_scores: Tensor, kind: AdversarialKind = "hinge") -> Tensor:
    """(real term + fake term) / 2, as the release: real scores pushed up, fake scores down.

    hinge: mean relu(1 - real), mean relu(1 + fake); nsgan: BCE-with-logits against 1 / 0;
    lsgan: mean (real - 1)^2, mean fake^2.
    """
    _check_kind(kind)
    if kind == "hinge":
        real_term = F.relu(1.0 - real_scores).mean()
        fake_term = F.relu(1.0 + fake_scores).mean()
    elif kind == "nsgan":
        real_term = F.binary_cross_entropy_with_logits(real_scores, torch.ones_like(real_scores))
        fake_term = F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores))
    else:
        real_term = F.mse_loss(real_scores, torch.ones_like(real_scores))
        fake_term = F.mse_loss(fake_scores, torch.zeros_like(fake_scores))
    return (real_term + fake_term) / 2


def generator_adv_loss(fake_scores: Tensor, kind: AdversarialKind = "hinge") -> Tensor:
    """The generator's side: hinge -mean D(fake); nsgan BCE-with-logits against 1; lsgan mean (fake - 1)^2."""
    _check_kind(kind)
    if kind == "hinge":
        return -fake_scores.mean()
    if kind == "nsgan":
        return F.binary_cross_entropy_with_logits(fake_scores, torch.ones_like(fake_scores))
    return F.mse_loss(fake_scores, torch.ones_like(fake_scores))


def _mask_normalised_l1(pred: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    # An empty region has a zero numerator too; clamping the denominator returns 0 there with
    # finite gradients (a torch.where over num / 0 would back-propagate NaN).
    numerator = torch.abs(pred * weight - target * weight).mean()
    denominator = weight.mean()
    return numerator / denominator.clamp_min(torch.finfo(denominator.dtype).tiny)


def hole_l1(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """mean|pred*m - gt*m| / mean(m): the L1 inside the holes (m = 1), 0 when there is no hole.

    ``mask`` broadcasts against the images, e.g. (b, t, 1, H, W) against (b, t, 3, H, W).
    """
    return _mask_normalised_l1(pred, target, mask)


def valid_l1(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """mean|pred*(1-m) - gt*(1-m)| / mean(1-m): the L1 outside the holes, 0 when all is hole."""
    return _mask_normalised_l1(pred, target, 1.0 - mask)
