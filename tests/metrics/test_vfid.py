"""Frechet distance against closed forms, and VFID's degenerate cases."""

import numpy as np
import pytest

from sttn_lightning.metrics.vfid import feature_statistics, frechet_distance, vfid


def test_frechet_distance_of_diagonal_gaussians_matches_the_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    var1, var2 = np.array([1.0, 4.0, 0.25]), np.array([4.0, 9.0, 1.0])
    # ||mu1 - mu2||^2 + sum_i (sqrt(var1_i) - sqrt(var2_i))^2 = 5 + (1 + 1 + 0.25)
    expected = 7.25
    assert frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2), eps=0.0) == pytest.approx(
        expected
    )
    regularised = frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
    assert regularised == pytest.approx(expected, abs=1e-5)


def test_frechet_distance_of_a_singular_covariance_with_itself_is_zero():
    features = np.random.default_rng(0).normal(size=(5, 64))  # rank 4 < 64
    mu, sigma = feature_statistics(features)
    assert np.linalg.matrix_rank(sigma) == 4
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)


def test_shifted_feature_set_has_vfid_equal_to_the_squared_shift():
    features = np.random.default_rng(1).normal(size=(6, 16))
    assert vfid(features, features + 0.5) == pytest.approx(16 * 0.25, abs=1e-5)


def test_frechet_distance_rejects_mismatched_statistics():
    with pytest.raises(ValueError, match="mismatched"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_one_video_has_no_covariance():
    with pytest.raises(ValueError, match="at least 2 videos, found 1"):
        vfid(np.zeros((1, 8)), np.zeros((3, 8)))
