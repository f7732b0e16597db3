"""Mode coverage and the other metrics on hand-made cases."""
import numpy as np
import pytest

from minigan import data, metrics


def test_samples_at_seven_of_eight_centres():
    ring = data.ring()
    x = np.repeat(ring.centres[:7], 10, axis=0)
    m = metrics.mode_coverage(x, ring.centres, ring.std)
    assert m["modes"] == 7 and m["high_quality"] == 1.0
    assert list(m["counts"]) == [10] * 7 + [0]
    assert m["reverse_kl"] == pytest.approx(np.log(8 / 7))


def test_samples_far_from_every_centre_are_low_quality():
    ring = data.ring()
    m = metrics.mode_coverage(np.zeros((50, 2)), ring.centres, ring.std)  # the ring's centre
    assert m["modes"] == 0 and m["high_quality"] == 0.0 and m["reverse_kl"] == float("inf")


def test_three_std_rule_and_balanced_kl():
    grid = data.grid()
    inside = grid.centres + [2.9 * grid.std, 0]
    outside = grid.centres + [3.1 * grid.std, 0]
    m = metrics.mode_coverage(np.vstack([inside, outside]), grid.centres, grid.std)
    assert m["modes"] == 25 and m["high_quality"] == 0.5 and m["reverse_kl"] == pytest.approx(0)


def test_true_samples_score_as_expected():
    ring = data.ring()
    m = metrics.mode_coverage(ring.sample(2500, seed=0), ring.centres, ring.std)
    # within 3 std in 2-D: P(chi2_2 <= 9) = 1 - exp(-4.5) = 0.989
    assert m["modes"] == 8 and m["high_quality"] == pytest.approx(1 - np.exp(-4.5), abs=0.01)
    assert m["reverse_kl"] < 0.01


def test_ks_statistic():
    g = data.gaussian_1d(0.0, 1.0)
    ks, p = metrics.ks_statistic(g.sample(2000, seed=0), g.cdf)
    assert ks < 0.04 and p > 0.01
    ks, p = metrics.ks_statistic(g.sample(2000, seed=0) + 0.5, g.cdf)
    assert ks > 0.15 and p < 1e-10


def test_metric_input_checks():
    with pytest.raises(ValueError, match="columns"):
        metrics.mode_coverage(np.zeros((3, 3)), data.ring().centres, 0.01)
    with pytest.raises(ValueError, match="NaN"):
        metrics.mode_coverage(np.full((3, 2), np.nan), data.ring().centres, 0.01)


def test_kl_to_uniform():
    assert metrics.kl_to_uniform([5, 5, 5, 5]) == 0
    assert metrics.kl_to_uniform([1, 0, 0, 0]) == pytest.approx(np.log(4))
    assert metrics.kl_to_uniform([0, 0]) == float("inf")


def test_classifier_learns_separable_classes():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    y = rng.integers(0, 3, size=600)
    x = centres[y] + 0.3 * rng.normal(size=(600, 2))
    net = metrics.train_classifier(x, y, hidden=(16,), steps=500, seed=0)
    assert np.mean(metrics.classify(net, x) == y) > 0.98
