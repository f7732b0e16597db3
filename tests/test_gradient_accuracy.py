"""The compiled MMD gradient's accuracy, as docs/compiled.md (section 9) states it: every entry
within rtol * S + 1e3 * tiny of the NumPy reference, S the largest magnitude of the terms an
entry of the gradient sums (self pairs included); no relative promise for entries far below S.
Checked on heavy-tailed data at extreme scales, and on the case where the two differ most."""
import math

import numpy as np
import pytest

from compiled import require_built
from minigan import mmd

RTOL = {np.float64: 1e-10, np.float32: 1e-4}


def term_scales(X, Y, sigmas):
    """S for dX and for dY: max over entries of sum_j 2c |w_aj| (|x_a| + |z_j|) (biased c,
    the larger; self pairs included), computed in float64 at unit scale by the caller."""
    n, m = len(X), len(Y)
    _, Wxx = mmd._kernel_and_weights(mmd.squared_distances(X, X), sigmas)
    _, Wyy = mmd._kernel_and_weights(mmd.squared_distances(Y, Y), sigmas)
    _, Wxy = mmd._kernel_and_weights(mmd.squared_distances(X, Y), sigmas)
    c_xx, c_yy = 2 / (n * max(n - 1, 1)), 2 / (m * max(m - 1, 1))
    sx = (c_xx * (Wxx.sum(1)[:, None] * abs(X) + Wxx @ abs(X))
          + 2 / (n * m) * (Wxy.sum(1)[:, None] * abs(X) + Wxy @ abs(Y)))
    sy = (c_yy * (Wyy.sum(1)[:, None] * abs(Y) + Wyy @ abs(Y))
          + 2 / (n * m) * (Wxy.sum(0)[:, None] * abs(Y) + Wxy.T @ abs(X)))
    return sx.max(), sy.max()


def per_pair_gradient(X, Y, sigmas, estimator):
    """dX and dY term by term, w_aj (x_a - z_j) for every pair j != a, each sum exact (fsum)."""
    n, m = len(X), len(Y)
    c_xx, c_yy = ((1 / (n * (n - 1)), 1 / (m * (m - 1))) if estimator == "unbiased"
                  else (1 / n**2, 1 / m**2))
    c_xy = 1 / (n * m)
    w = lambda a, b: sum(math.exp(-((a - b) ** 2).sum() / (2 * s * s)) / s**2 for s in sigmas)

    def side(A, B, c_aa):
        out = np.zeros_like(A)
        for i, a in enumerate(A):
            terms = [[-2 * c_aa * w(a, b) * (a[k] - b[k]) for j, b in enumerate(A) if j != i]
                     + [2 * c_xy * w(a, b) * (a[k] - b[k]) for b in B] for k in range(A.shape[1])]
            out[i] = [math.fsum(t) for t in terms]
        return out
    return side(X, Y, c_xx), side(Y, X, c_yy)


@pytest.mark.parametrize("seed", range(4))
def test_the_promise_holds_on_heavy_tailed_data_at_extreme_scales(seed):
    require_built("mmd")
    rng = np.random.default_rng(seed)
    for _ in range(60):
        n, m, d = rng.integers(2, 20), rng.integers(2, 20), rng.integers(1, 9)
        X, Y = rng.standard_t(1.5, size=(n, d)), rng.standard_t(1.5, size=(m, d)) + rng.normal()
        scale = 10.0 ** rng.choice([0, 83, -83, 150, -150])
        sigmas = sorted(10.0 ** rng.uniform(-2, 2, size=rng.integers(1, 4)))
        estimator = ["unbiased", "biased"][rng.integers(2)]
        dtype = [np.float64, np.float32][rng.integers(2)] if abs(np.log10(scale)) < 30 \
            else np.float64
        A, B, s = (X * scale).astype(dtype), (Y * scale).astype(dtype), [v * scale for v in sigmas]
        args = dict(estimator=estimator, wrt="both")
        ref = mmd.mmd2_and_grad(A, B, s, backend="numpy", **args)
        got = mmd.mmd2_and_grad(A, B, s, backend="cython", **args)
        S = term_scales(A.astype(np.float64) / scale, B.astype(np.float64) / scale, sigmas)
        floor = 1e3 * np.finfo(dtype).tiny
        for want, have, scale_of_terms in zip(ref[1:], got[1:], S):
            bound = RTOL[dtype] * scale_of_terms / scale + floor
            assert np.all(np.abs(have.astype(np.float64) - want) <= bound)


@pytest.mark.parametrize("d", [1, 7])      # the per-pair loop and the gemm path (d >= 6)
def test_where_the_backends_differ_most_the_compiled_kernel_keeps_the_exact_sum(d):
    # two rows 21.3 wide-bandwidths apart (w ~ exp(-227)), at scale 1e83, two bandwidths:
    # NumPy's w_aa x_a swallows the one pair that counts; the compiled kernel has no self pair
    require_built("mmd")
    X = np.zeros((2, d))
    X[:, 0] = [5.0, 26.3]
    X[:, -1] += 1.5
    Y = np.full((3, d), 1000.0) + np.arange(3)[:, None]
    sigmas = [0.3, 1.0]
    for scale in (1.0, 1e83):
        A, B, s = X * scale, Y * scale, [v * scale for v in sigmas]
        exact = per_pair_gradient(A, B, s, "biased")
        ref = mmd.mmd2_and_grad(A, B, s, estimator="biased", wrt="both", backend="numpy")
        got = mmd.mmd2_and_grad(A, B, s, estimator="biased", wrt="both", backend="cython")
        # atol: the clamped exp (-708, not -1e5) of the far X-Y pairs leaves ~1e-304 on the
        # gemm path, where the exact terms are 0
        np.testing.assert_allclose(got[1], exact[0], rtol=1e-12, atol=1e-290)
        assert abs(ref[1][0, 0] - exact[0][0, 0]) > 0.5 * abs(exact[0][0, 0])   # lost there
        S = term_scales(X, Y, sigmas)[0] / scale
        assert np.all(np.abs(got[1] - ref[1]) <= 1e-10 * S)                     # the promise
