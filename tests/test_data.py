"""Target distributions: protocol centres, sampling statistics, 1-D CDF and inverse."""
import numpy as np
import pytest

from minigan import data


def test_ring_has_eight_distinct_centres_on_the_unit_circle():
    r = data.ring()
    assert r.centres.shape == (8, 2) and r.std == 0.01
    assert len(np.unique(np.round(r.centres, 12), axis=0)) == 8
    assert np.allclose(np.linalg.norm(r.centres, axis=1), 1.0)
    assert np.allclose(r.centres[2], [0, 1], atol=1e-15)


def test_grid_has_the_25_protocol_centres():
    g = data.grid()
    assert g.std == 0.05
    assert {tuple(c) for c in g.centres} == {(x, y) for x in range(-4, 5, 2) for y in range(-4, 5, 2)}


def test_sampling_statistics_and_seeds():
    g = data.gaussian_1d(3.0, 0.5)
    x = g.sample(20000, seed=0)
    assert x.shape == (20000, 1)
    assert x.mean() == pytest.approx(3.0, abs=0.02) and x.std() == pytest.approx(0.5, rel=0.02)
    assert np.array_equal(x, g.sample(20000, seed=0))
    pts, labels = data.ring().sample(4000, seed=1, return_labels=True)
    assert np.bincount(labels).min() > 400
    assert np.abs(pts - data.ring().centres[labels]).max() < 0.01 * 6


def test_cdf_and_ppf_are_inverse():
    m = data.mixture_1d([-2.0, 2.0], [0.5, 1.0], [0.3, 0.7])
    q = np.array([0.01, 0.3, 0.5, 0.99])
    assert np.allclose(m.cdf(m.ppf(q)), q, atol=1e-12)
    g = data.gaussian_1d(3.0, 0.5)
    assert g.ppf(np.array([0.5]))[0] == pytest.approx(3.0)
    assert np.allclose(g.pdf(np.array([3.0])), 1 / (0.5 * np.sqrt(2 * np.pi)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="std"):
        data.gaussian_1d(0, -1)
    with pytest.raises(ValueError, match="weights"):
        data.mixture_1d([0, 1], 1.0, [0.5, 0.6])
    with pytest.raises(ValueError, match="1-D"):
        data.ring().cdf(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="q must"):
        data.gaussian_1d().ppf(np.array([1.0]))


def test_digits_are_scaled_and_split_deterministically():
    d = data.digits()
    assert d.train_x.shape == (1497, 64) and d.test_x.shape == (300, 64)
    assert d.train_x.min() == -1.0 and d.train_x.max() == 1.0
    assert set(np.unique(d.train_y)) == set(range(10))
    again = data.digits()
    assert np.array_equal(d.test_x, again.test_x) and np.array_equal(d.train_y, again.train_y)
    assert data.Digits.to_images(d.test_x[:3]).shape == (3, 8, 8)
