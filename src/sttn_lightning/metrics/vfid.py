"""Video FID: the Frechet distance between Gaussians fitted to per-video I3D features.

VFID(real, fake) = ||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)) with mu, S the mean and
the sample covariance (``np.cov``, N - 1 denominator) of the (N, 1024) feature sets of ground-truth
and result videos (features from ``sttn_lightning.metrics.i3d``).

Stability: with 50 or 508 videos and 1024-d features the covariances are singular, so ``eps``
(default 1e-6) is always added to the diagonal of both covariances before the matrix square root
(the papers add it only after a failed first attempt); for S_r = S_f the regulariser cancels
exactly. The square root is ``scipy.linalg.sqrtm``; its real part is used and a warning is issued
when the imaginary part exceeds ``IMAGINARY_TOLERANCE`` (the papers raise instead).
A set of one video has no covariance: it is rejected with a ValueError.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

IMAGINARY_TOLERANCE = 1e-3
"""Largest |imaginary part| of sqrt(S_r S_f) accepted silently (the papers' tolerance)."""


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample covariance of (N, D) features, N >= 2 (one sample has no covariance)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"expected (N, D) features, found shape {features.shape}")
    if features.shape[0] < 2:
        raise ValueError(f"a covariance needs at least 2 videos, found {features.shape[0]}: VFID is undefined")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    eps: float = 1e-6,
) -> float:
    """Frechet distance of N(mu1, sigma1 + eps I) and N(mu2, sigma2 + eps I)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    dim = mu1.shape[0]
    if mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise ValueError(
            f"mismatched Gaussian statistics: means {mu1.shape}, {mu2.shape}, "
            f"covariances {sigma1.shape}, {sigma2.shape}"
        )
    regulariser = eps * np.eye(dim)
    sigma1, sigma2 = sigma1 + regulariser, sigma2 + regulariser
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if np.iscomplexobj(covmean):
        imaginary = float(np.max(np.abs(covmean.imag)))
        if imaginary > IMAGINARY_TOLERANCE:
            warnings.warn(
                f"sqrt(S1 S2) has an imaginary part up to {imaginary:.3g}; using its real part",
                RuntimeWarning,
                stacklevel=2,
            )
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def vfid(real_features: np.ndarray, fake_features: np.ndarray, eps: float = 1e-6) -> float:
    """VFID between (N, D) ground-truth and (M, D) result features, one row per video."""
    mu_real, sigma_real = feature_statistics(real_features)
    mu_fake, sigma_fake = feature_statistics(fake_features)
    return frechet_distance(mu_real, sigma_real, mu_fake, sigma_fake, eps=eps)
