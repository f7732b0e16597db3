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



@pytest.mark.parametrize("mixture", [data.ring(), data.gaussian_1d(3.0, 0.5),
                                     data.mixture_1d([-2.0, 0.0, 2.0], 0.5, [0.2, 0.5, 0.3])])
def test_components_are_numpys_choice(mixture):
    # sample() picks components as rng.choice(k, p=weights) would: same labels, same noise
    # after them, and the Generator left in the same state
    mine, ref = np.random.default_rng(7), np.random.default_rng(7)
    x, labels = mixture.sample(3000, seed=mine, return_labels=True)
    expected = ref.choice(len(mixture.centres), size=3000, p=mixture.weights)
    assert np.array_equal(labels, expected)
    noise = ref.standard_normal((3000, mixture.dim))
    assert np.array_equal(x, mixture.centres[expected] + mixture.stds[expected, None] * noise)
    assert mine.random() == ref.random()

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


def test_moons_lie_on_two_half_circles():
    m = data.moons(std=0.05)
    x = m.sample(4000, seed=0)
    assert x.shape == (4000, 2) and np.array_equal(x, m.sample(4000, seed=0))
    clean = data.moons(std=1e-12).sample(2000, seed=1)
    r_upper = np.linalg.norm(clean, axis=1)                     # distance to (0, 0)
    r_lower = np.linalg.norm(clean - [1.0, 0.5], axis=1)        # distance to (1, 1/2)
    on_upper, on_lower = np.isclose(r_upper, 1, atol=1e-9), np.isclose(r_lower, 1, atol=1e-9)
    assert np.all(on_upper | on_lower)
    assert 0.45 < on_upper.mean() < 0.55
    assert np.all(clean[on_upper, 1] >= -1e-9) and np.all(clean[on_lower, 1] <= 0.5 + 1e-9)
    # the noise: distances to the nearer circle have spread ~ std
    d = np.minimum(np.abs(np.linalg.norm(x, axis=1) - 1), np.abs(np.linalg.norm(x - [1, .5], axis=1) - 1))
    assert 0.03 < d.mean() < 0.05


def test_spiral_radius_follows_its_angle():
    clean = data.spiral(turns=2, std=1e-12).sample(3000, seed=2)
    r = np.linalg.norm(clean, axis=1)
    assert r.max() <= 1 + 1e-9
    a = 2 * np.pi * 2 * r
    np.testing.assert_allclose(clean, r[:, None] * np.stack([np.cos(a), np.sin(a)], 1), atol=1e-9)
    with pytest.raises(ValueError, match="std"):
        data.spiral(std=0)
    with pytest.raises(ValueError, match="n"):
        data.moons().sample(0)
