"""The learned kernel's periodic first layer: gradients, the start it is given, bad input.

Statistical checks use fixed seeds.
"""
import numpy as np
import pytest

import minigan
from minigan import deep_kernel as dk
from minigan.gradcheck import numerical_gradient, rel_error

SMALL = dict(hidden=(8,), n_features=4)


def grid_of_clusters(n, stretch=1.0, side=3, spacing=4.0, seed=0):
    """Rows in random cells of a side x side grid of clusters; within a cell, N(0, diag(stretch,
    1)) turned by pi/4 (stretch 1: isotropic)."""
    rng = np.random.default_rng(seed)
    centres = (rng.integers(0, side, size=(n, 2)) - (side - 1) / 2) * spacing
    c = np.cos(np.pi / 4)
    shape = np.array([[c, -c], [c, c]]) @ np.diag([np.sqrt(stretch), 1.0])
    return centres + rng.standard_normal((n, 2)) @ shape.T


def test_criterion_gradient_matches_finite_differences_through_the_periodic_layer():
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((7, 3)), rng.standard_normal((5, 3)) + 0.4
    kernel = dk.DeepKernel(3, hidden=(5, 4), n_features=3, shift=[0.1, -0.2, 0.0],
                           scale=[1.5, 0.8, 1.0], sigma_phi=0.8, sigma_q=1.3, eps=0.3, seed=2,
                           periodic=4, frequency=2.0)
    J, grads, _ = kernel.criterion_and_grad(X, Y)
    assert J == pytest.approx(kernel.criterion(X, Y), rel=1e-12)
    assert len(grads) == len(kernel.params) == 9   # (W_0, b_0) + 3 layers x (W, b) + theta
    assert kernel.params[0].shape == (3, 4) and kernel.params[2].shape == (4, 5)
    for i, (p, g) in enumerate(zip(kernel.params, grads)):
        numerical = numerical_gradient(lambda: kernel.criterion(X, Y), p)
        if i == len(grads) - 2:             # phi's output bias: J ignores it
            assert np.abs(g).max() < 1e-12 and np.abs(numerical).max() < 1e-9
        else:
            assert rel_error(numerical, g) < 1e-7, f"params[{i}]"
    assert np.all(grads[0] != 0)            # every frequency matters


def test_kernel_is_the_formula_with_the_periodic_layer():
    rng = np.random.default_rng(4)
    A, B = rng.standard_normal((4, 2)), rng.standard_normal((3, 2))
    k = dk.DeepKernel(2, hidden=(6,), n_features=3, scale=[2.0, 0.5], sigma_phi=0.7,
                      sigma_q=1.1, eps=0.2, seed=5, periodic=5, frequency=3.0)
    W0, b0 = k.periodic_params
    phi = lambda u: k.phi.forward(np.sin(u @ W0 + b0)[None])[0]          # noqa: E731
    for i in range(4):
        for j in range(3):
            u, v = A[i] / k.scale, B[j] / k.scale
            kappa = np.exp(-np.sum((phi(u) - phi(v)) ** 2) / (2 * 0.7**2))
            q = np.exp(-np.sum((u - v) ** 2) / (2 * 1.1**2))
            assert k(A, B)[i, j] == pytest.approx((0.8 * kappa + 0.2) * q, rel=1e-12)
    assert "sin 5" in k.describe()


def test_weight_penalty_leaves_the_frequencies_alone():
    kernel = dk.DeepKernel(3, hidden=(5, 4), n_features=3, seed=2, periodic=4)
    P, grads = dk.weight_penalty(kernel, 0.03)
    assert P == pytest.approx(0.03 * sum(np.sum(W**2) for W in kernel.phi.params[0::2]))
    assert len(grads) == len(kernel.params)
    assert np.all(grads[0] == 0) and np.all(grads[1] == 0)
    assert rel_error(grads[2], 0.06 * kernel.phi.params[0]) < 1e-12


def test_peak_frequencies_are_those_of_the_grid():
    # a 3 x 3 grid of clusters, spacing 4: its waves repeat at w = (2 pi / 4) (k1, k2), k
    # integer, in the rows' own units; found on the standardised rows, as learn_kernel does
    Z = grid_of_clusters(600, seed=3)
    U = (Z - Z.mean(0)) / Z.std(0)
    W = dk.peak_frequencies(U, 6, 6.0, np.random.default_rng(0))
    assert W.shape == (2, 6) and np.all(np.linalg.norm(W, axis=0) >= np.pi)
    lattice = (W / Z.std(0)[:, None]) / (2 * np.pi / 4)      # in units of the grid's dual
    # near the dual's points (the clusters' own spread pulls the peaks a little inwards; 12
    # entries of random waves would all land this near integers with probability 0.4^12)
    assert np.abs(lattice - np.round(lattice)).max() < 0.2
    assert np.all(np.abs(np.round(lattice)).sum(0) >= 1)
    # on one Gaussian cluster nothing repeats: every wave's modulus is small
    G = np.random.default_rng(1).standard_normal((600, 2))
    W_smooth = dk.peak_frequencies(G, 6, 6.0, np.random.default_rng(0))
    modulus = lambda A: np.hypot(np.cos(A).mean(0), np.sin(A).mean(0))    # noqa: E731
    assert modulus(U @ W).min() > 0.3 > 0.15 > modulus(G @ W_smooth).max()


def test_learn_kernel_starts_at_the_peaks_and_the_better_q():
    X, Y = grid_of_clusters(80, seed=4), grid_of_clusters(80, 2.0, seed=5)
    # the start: one step at lr 1e-12 leaves it as it was
    kernel, _ = dk.learn_kernel(X, Y, **SMALL, max_steps=1, lr=1e-12, seed=0, periodic=6,
                                frequency=6.0)
    rng = np.random.default_rng(0)          # learn_kernel's draws: hold-out split, phi, then W_0
    (X_fit, _), (Y_fit, _) = dk._holdout_split(X, 0.2, rng), dk._holdout_split(Y, 0.2, rng)
    U = kernel.standardise(np.vstack([X, Y]))
    dk.DeepKernel(2, **SMALL, seed=rng, periodic=6, frequency=6.0)
    np.testing.assert_allclose(kernel.periodic_params[0],
                               dk.peak_frequencies(U, 6, 6.0, rng), atol=1e-9)
    # sigma_q: the best single Gaussian's or the broadest of the grid, whichever start has the
    # larger J on the fit rows
    chosen = kernel.sigma_q
    J = {}
    for s in (dk._best_bandwidth(kernel, X_fit, Y_fit, dk.LAMBDA),
              4 * minigan.mmd.median_heuristic(U)):
        kernel.theta[1] = np.log(s)
        J[s] = kernel.criterion(X_fit, Y_fit)
    assert len(set(J.values())) == 2
    assert chosen == pytest.approx(max(J, key=J.get), rel=1e-6)


def test_periodic_zero_is_the_kernel_without_the_layer():
    X, Y = grid_of_clusters(80, seed=4), grid_of_clusters(80, 2.0, seed=5)
    # periodic=0 is the kernel without the layer, draw for draw
    plain, _ = dk.learn_kernel(X, Y, **SMALL, max_steps=5, seed=0)
    zero, _ = dk.learn_kernel(X, Y, **SMALL, max_steps=5, seed=0, periodic=0)
    assert zero.periodic_params == [] and len(zero.params) == len(plain.params)
    for p, q in zip(plain.params, zero.params):
        np.testing.assert_array_equal(p, q)


def test_the_periodic_layer_sees_a_grid_that_a_plain_phi_misses():
    # P isotropic, Q stretched 2 : 1 and turned, in every cell of a 3 x 3 grid; learned on
    # 250 rows per sample, J measured on 250 fresh rows per sample
    X, Y = grid_of_clusters(500, seed=6), grid_of_clusters(500, 2.0, seed=7)
    fresh = {}
    for periodic in (0, 8):
        kernel, _ = dk.learn_kernel(X[:250], Y[:250], seed=0, periodic=periodic)
        fresh[periodic] = kernel.criterion(X[250:], Y[250:])
    assert fresh[8] > fresh[0] + 0.5, fresh


def test_deep_test_passes_the_periodic_layer_through():
    X, Y = grid_of_clusters(40, seed=8), grid_of_clusters(40, 2.0, seed=9)
    r = minigan.mmd_test(X, Y, kernel="deep", n_permutations=20, seed=0, **SMALL, periodic=3,
                         frequency=5.0)
    assert r.kernel.periodic_params[0].shape == (2, 3)
    assert "sin 3" in r.kernel.describe()


@pytest.mark.parametrize("options, error, match", [
    (dict(periodic=-1), ValueError, "periodic must be an integer >= 0"),
    (dict(periodic=2.5), ValueError, "periodic must be an integer"),
    (dict(periodic="4"), TypeError, "periodic must be an integer"),
    (dict(periodic=4, frequency=0.0), ValueError, "frequency must be a finite number > 0"),
    (dict(periodic=4, frequency="7"), TypeError, "frequency must be a positive number"),
    (dict(periodic=4, frequency=1.0), ValueError, "frequency = 1 is too small for periodic = 4"),
    (dict(periodic=4, frequency=1e300), ValueError, "frequency must be at most 1000"),
])
def test_bad_periodic_settings(options, error, match):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((20, 2)), rng.standard_normal((20, 2))
    with pytest.raises(error, match=match):
        dk.learn_kernel(X, Y, **options)
    rng = np.random.default_rng(0)
    with pytest.raises(error, match=match):
        minigan.mmd_test(X, Y, kernel="deep", seed=rng, **options)
    assert rng.random() == np.random.default_rng(0).random()   # refused before any draw
    if options.get("frequency") != 1.0:      # the kernel alone draws no candidates: any f > 0
        with pytest.raises(error, match=match):
            dk.DeepKernel(2, **options)
    with pytest.raises(ValueError, match="periodic only apply to kernel='deep'"):
        minigan.mmd_test(X, Y, periodic=4)
