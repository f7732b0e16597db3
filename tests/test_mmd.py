"""MMD^2: gradients, statistical properties, a hand-worked case, bandwidths, bad input."""
import numpy as np
import pytest

from minigan import mmd
from minigan.gradcheck import numerical_gradient, rel_error

E = np.exp


@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
@pytest.mark.parametrize("d", [1, 2, 7])
@pytest.mark.parametrize("sigmas", [[1.0], [0.5, 2.0], [0.3, 0.6, 1.2, 2.4, 4.8]])
def test_mmd2_gradient_matches_finite_differences(estimator, d, sigmas, mmd_backend):
    rng = np.random.default_rng(d)
    X = rng.normal(size=(6, d))
    Y = rng.normal(loc=0.5, size=(5, d))
    value, dX = mmd.mmd2_and_grad(X, Y, sigmas, estimator, backend=mmd_backend)
    assert value == pytest.approx(mmd.mmd2(X, Y, sigmas, estimator, backend=mmd_backend), rel=1e-12)
    num = numerical_gradient(lambda: mmd.mmd2(X, Y, sigmas, estimator, backend=mmd_backend), X)
    assert rel_error(dX, num) < 1e-7


@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
@pytest.mark.parametrize("d", [1, 2, 7])
@pytest.mark.parametrize("sigmas", [[1.0], [0.3, 0.6, 1.2, 2.4, 4.8], [0.4, 1.7]])
def test_both_sides_gradient_matches_finite_differences(estimator, d, sigmas, mmd_backend):
    rng = np.random.default_rng(10 + d)
    X = rng.normal(size=(6, d))
    Y = rng.normal(loc=0.5, size=(5, d))
    value, dX, dY = mmd.mmd2_and_grad(X, Y, sigmas, estimator, backend=mmd_backend, wrt="both")
    assert value == pytest.approx(mmd.mmd2(X, Y, sigmas, estimator, backend=mmd_backend), rel=1e-12)
    one_sided = mmd.mmd2_and_grad(X, Y, sigmas, estimator, backend=mmd_backend)
    np.testing.assert_allclose(dX, one_sided[1], rtol=1e-12)
    f = lambda: mmd.mmd2(X, Y, sigmas, estimator, backend=mmd_backend)  # noqa: E731
    assert rel_error(dX, numerical_gradient(f, X)) < 1e-7
    assert rel_error(dY, numerical_gradient(f, Y)) < 1e-7
    # the roles mirror: swapping the samples swaps the gradients (MMD^2 is symmetric in X, Y)
    _, dY_swapped, dX_swapped = mmd.mmd2_and_grad(Y, X, sigmas, estimator, backend=mmd_backend,
                                                  wrt="both")
    np.testing.assert_allclose(dX_swapped, dX, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(dY_swapped, dY, rtol=1e-10, atol=1e-15)


def test_both_sides_gradient_rejects_unknown_wrt():
    X = np.zeros((3, 1))
    with pytest.raises(ValueError, match="wrt"):
        mmd.mmd2_and_grad(X, X + 1, 1.0, wrt="Y")


@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
def test_sqrt_mmd_gradient_matches_finite_differences(estimator, mmd_backend):
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(6, 2)), rng.normal(loc=1.0, size=(7, 2))
    s, be = [0.5, 1.0, 2.0], mmd_backend
    value, dX = mmd.mmd_and_grad(X, Y, s, estimator, backend=be)
    assert value == pytest.approx(np.sqrt(mmd.mmd2(X, Y, s, estimator, backend=be)))
    num = numerical_gradient(lambda: mmd.mmd_and_grad(X, Y, s, estimator, backend=be)[0], X)
    assert rel_error(dX, num) < 1e-7


def test_hand_worked_case(mmd_backend):
    be = mmd_backend
    # X = {0, 1}, Y = {0, 2}, sigma = 1: k(0,1) = e^-1/2, k(0,2) = e^-2, k(1,2) = e^-1/2
    X, Y = np.array([[0.0], [1.0]]), np.array([[0.0], [2.0]])
    # unbiased: e^-1/2 + e^-2 - (2/4)(1 + e^-2 + 2 e^-1/2) = e^-2/2 - 1/2
    assert mmd.mmd2(X, Y, 1.0, backend=be) == pytest.approx(0.5 * E(-2) - 0.5, rel=1e-12)
    # biased: (2 + 2e^-1/2)/4 + (2 + 2e^-2)/4 - (1 + e^-2 + 2e^-1/2)/2 = 1/2 - e^-1/2 / 2
    assert mmd.mmd2(X, Y, 1.0, "biased", backend=be) == pytest.approx(0.5 - 0.5 * E(-0.5), rel=1e-12)
    # biased gradient at x_0 = 0: -2/4 e^-1/2 (0 - 1) + 2/4 (1 (0 - 0) + e^-2 (0 - 2))
    _, dX = mmd.mmd2_and_grad(X, Y, 1.0, "biased", backend=be)
    assert dX[0, 0] == pytest.approx(0.5 * E(-0.5) - E(-2), rel=1e-12)
    # biased gradient at y_1 = 2: Y-Y term -2/4 e^-2 (2 - 0); X-Y term 2/4 (e^-2 (2 - 0) +
    # e^-1/2 (2 - 1)): the two e^-2 parts cancel, leaving e^-1/2 / 2
    _, _, dY = mmd.mmd2_and_grad(X, Y, 1.0, "biased", backend=be, wrt="both")
    assert dY[1, 0] == pytest.approx(0.5 * E(-0.5), rel=1e-12)


def test_unbiased_estimate_averages_zero_under_the_null():
    rng = np.random.default_rng(0)
    vals = [mmd.mmd2(rng.normal(size=(50, 2)), rng.normal(size=(50, 2)), 1.0) for _ in range(400)]
    se = np.std(vals) / np.sqrt(len(vals))
    assert abs(np.mean(vals)) < 3 * se
    assert min(vals) < 0  # the U-statistic does go negative


def test_biased_estimate_is_never_negative():
    rng = np.random.default_rng(1)
    for _ in range(100):
        n = rng.integers(1, 20)
        X, Y = rng.normal(size=(n, 3)), rng.normal(size=(rng.integers(1, 20), 3))
        assert mmd.mmd2(X, Y, [0.5, 2.0], "biased") >= 0
    X = rng.normal(size=(10, 2))
    assert mmd.mmd2(X, X, 1.0, "biased") == pytest.approx(0, abs=1e-12)


def test_mmd_grows_with_the_mean_shift():
    rng = np.random.default_rng(2)
    X, noise = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    vals = [mmd.mmd2(X, noise + [shift, 0], [1.0]) for shift in (0.0, 0.5, 1.0, 2.0, 4.0)]
    assert all(a < b for a, b in zip(vals, vals[1:]))


def test_kernel_convention_is_length_scale():
    # k(x, y) = exp(-||x - y||^2 / (2 sigma^2)), not the GMMN code's exp(-||x - y||^2 / (2 sigma))
    K = mmd.gaussian_kernel(np.array([[0.0]]), np.array([[3.0]]), [3.0])
    assert K[0, 0] == pytest.approx(E(-0.5))
    assert mmd.gaussian_kernel(np.zeros((1, 1)), np.zeros((1, 1)), [1.0, 2.0])[0, 0] == 2.0


def test_median_heuristic():
    X = np.array([[0.0], [1.0], [3.0]])  # distances 1, 2, 3
    assert mmd.median_heuristic(X) == 2.0
    assert mmd.median_heuristic(np.zeros((5, 2))) == 1.0  # all equal: no non-zero distance
    dup = np.array([[0.0], [0.0], [0.0], [4.0]])  # zeros are left out: median of {4, 4, 4}
    assert mmd.median_heuristic(dup) == 4.0
    big = np.random.default_rng(0).normal(size=(5000, 2))
    assert np.isfinite(mmd.median_heuristic(big)) and mmd.median_heuristic(big) > 0


def test_default_sigmas_is_a_ratio_two_ladder():
    X = np.array([[0.0], [1.0], [3.0]])
    assert mmd.default_sigmas(X) == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_float32_inputs_give_float32_gradient():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
    v64, g64 = mmd.mmd2_and_grad(X, Y, [1.0])
    v32, g32 = mmd.mmd2_and_grad(X.astype(np.float32), Y.astype(np.float32), [1.0])
    assert g32.dtype == np.float32
    assert v32 == pytest.approx(v64, rel=1e-3, abs=1e-5)
    assert np.allclose(g32, g64, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("X, Y, sigmas, estimator, match", [
    (np.zeros((1, 2)), np.zeros((3, 2)), 1.0, "unbiased", "at least 2 rows"),
    (np.zeros((0, 2)), np.zeros((3, 2)), 1.0, "biased", "non-empty"),
    (np.zeros((3, 2)), np.zeros((3, 3)), 1.0, "unbiased", "same number of columns"),
    (np.zeros(3), np.zeros((3, 1)), 1.0, "unbiased", "2-D"),
    (np.array([[np.nan], [0.0]]), np.zeros((3, 1)), 1.0, "unbiased", "NaN"),
    (np.zeros((3, 1)), np.array([[np.inf], [0.0]]), 1.0, "unbiased", "Y contains NaN or inf"),
    (np.zeros((3, 1)), np.zeros((3, 1)), 0.0, "unbiased", "sigmas"),
    (np.zeros((3, 1)), np.zeros((3, 1)), [1.0, -2.0], "unbiased", "sigmas"),
    (np.zeros((3, 1)), np.zeros((3, 1)), [], "unbiased", "sigmas"),
    (np.zeros((3, 1)), np.zeros((3, 1)), 1.0, "linear-ish", "estimator"),
])
def test_bad_input_gets_a_clear_error(X, Y, sigmas, estimator, match):
    with pytest.raises(ValueError, match=match):
        mmd.mmd2_and_grad(X, Y, sigmas, estimator)


def test_non_numeric_input_is_a_type_error():
    with pytest.raises(TypeError, match="X"):
        mmd.mmd2(np.array([["a"], ["b"]]), np.zeros((2, 1)), 1.0)


def test_integer_input_is_converted():
    Xi, Yi = np.array([[0], [1]]), np.array([[0], [2]])
    assert mmd.mmd2(Xi, Yi, 1.0) == mmd.mmd2(Xi.astype(float), Yi.astype(float), 1.0)


def test_sqrt_mmd_is_flat_where_the_unbiased_estimate_is_negative(mmd_backend):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    assert mmd.mmd2(X, Y, 1.0, backend=mmd_backend) < 0  # this draw: a negative U-statistic
    value, dX = mmd.mmd_and_grad(X, Y, 1.0, backend=mmd_backend)
    assert value == 0.0 and not dX.any()


@pytest.mark.parametrize("sigmas", [1e-200, [1.0, 1e-160]])
def test_bandwidths_outside_the_float_range_are_refused(sigmas, mmd_backend):
    with pytest.raises(ValueError, match="sigmas"):
        mmd.mmd2(np.zeros((3, 1)), np.ones((3, 1)), sigmas, backend=mmd_backend)


@pytest.mark.parametrize("dtype, scale", [(np.float64, 1e200), (np.float64, 1e-155),
                                          (np.float64, 1e153), (np.float32, 5e17),
                                          (np.float32, 1e30), (np.float32, 1e-30)])
def test_extreme_scales_answer_as_at_scale_one_or_refuse(dtype, scale, mmd_backend):
    """Extreme scales (docs/reliability.md): the data and bandwidths are rescaled internally
    (exactly, by a power of two), so MMD^2 is the value at scale 1 and dX scales by 1/scale;
    a bandwidth out of all proportion to the data is refused, never answered from NaN or 0."""
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(50, 2)), rng.normal(size=(60, 2)) + 0.5
    ref, dref = mmd.mmd2_and_grad(X.astype(dtype), Y.astype(dtype), [0.5, 1.0, 2.0],
                                  backend="numpy")
    value, dX = mmd.mmd2_and_grad((X * scale).astype(dtype), (Y * scale).astype(dtype),
                                  [0.5 * scale, scale, 2 * scale], backend=mmd_backend)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    assert dX.dtype == dtype
    np.testing.assert_allclose(value, ref, rtol=rtol)
    np.testing.assert_allclose(dX * scale, dref, rtol=rtol, atol=rtol * np.abs(dref).max())
    assert mmd.median_heuristic(X * scale) == pytest.approx(mmd.median_heuristic(X) * scale)
    wide = mmd.mmd2_and_grad((X * scale).astype(dtype), (Y * scale).astype(dtype), 1e300,
                             backend=mmd_backend)  # kernel ~1 everywhere: MMD^2 ~ 0, finite
    assert abs(wide[0]) < 1e-6 and np.all(np.isfinite(wide[1]))
    narrow = (1e-100 if dtype == np.float64 else 1e-12) * scale
    with pytest.raises(ValueError, match="sigmas .* too narrow"):
        mmd.mmd2((X * scale).astype(dtype), (Y * scale).astype(dtype), narrow,
                 backend=mmd_backend)


def test_witness_integrates_to_the_biased_mmd2():
    # MMD^2_b = mean_i h(x_i) - mean_j h(y_j) with h(t) = mean k(t, X) - mean k(t, Y)
    rng = np.random.default_rng(7)
    X, Y = rng.normal(size=(30, 2)), rng.normal(loc=0.7, size=(20, 2))
    k = lambda A, B: mmd.gaussian_kernel(A, B, [0.5, 2.0])  # noqa: E731
    h_x, h_y = mmd.witness(k, X, X, Y), mmd.witness(k, Y, X, Y)
    assert h_x.shape == (30,) and h_y.shape == (20,)
    assert h_x.mean() - h_y.mean() == pytest.approx(mmd.mmd2(X, Y, [0.5, 2.0], "biased"), rel=1e-12)
    assert h_x.mean() > 0 > h_y.mean()


def test_witness_on_a_grid_factorises_and_matches_the_witness():
    # the Gaussian factorises over coordinates: the grid's witness is one product of two
    # per-axis exponential tables, with the same numbers as the witness at every grid point
    rng = np.random.default_rng(8)
    X, Y = rng.normal(size=(40, 2)), rng.normal(loc=(1.0, -0.5), scale=0.6, size=(25, 2))
    sigmas = [0.1, 0.5, 2.0]
    xs, ys = np.linspace(-3, 3, 17), np.linspace(2, -2, 11)
    H = mmd.gaussian_witness_grid(xs, ys, X, Y, sigmas)
    gx, gy = np.meshgrid(xs, ys)                       # row b, column a: (ys[b], xs[a])
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    k = lambda A, B: mmd.gaussian_kernel(A, B, sigmas)  # noqa: E731
    assert H.shape == (11, 17)
    np.testing.assert_allclose(H.ravel(), mmd.witness(k, points, X, Y), rtol=1e-12, atol=1e-15)
    assert H[np.argmin(abs(ys - 0)), np.argmin(abs(xs - 0))] > 0 > H[-2, 12]   # X's mass vs Y's


@pytest.mark.parametrize("args, error", [
    (dict(X=np.zeros((4, 3))), "2-D samples"),
    (dict(xs=np.zeros((2, 2))), "xs must be 1-D"),
    (dict(ys=[]), "ys must be a non-empty"),
    (dict(Y=np.full((3, 2), np.nan)), "Y contains NaN"),
    (dict(sigmas=[-1.0]), "sigmas"),
])
def test_witness_on_a_grid_refuses_bad_input(args, error):
    given = dict(xs=np.arange(3.0), ys=np.arange(2.0), X=np.zeros((4, 2)), Y=np.ones((3, 2)),
                 sigmas=[1.0])
    with pytest.raises((ValueError, TypeError), match=error):
        mmd.gaussian_witness_grid(**{**given, **args})


@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
def test_gradient_parts_add_up_and_match_finite_differences(estimator, mmd_backend):
    # repulsion = d/dX of the X-X term, attraction = d/dX of the X-Y term; their sum is dX
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(7, 2)), rng.normal(loc=0.5, size=(5, 2))
    sigmas = [0.5, 1.0, 2.0]
    n, m = len(X), len(Y)
    c_xx = 1 / (n * (n - 1)) if estimator == "unbiased" else 1 / n**2

    def xx_term():
        K = mmd.gaussian_kernel(X, X, sigmas)
        if estimator == "unbiased":
            np.fill_diagonal(K, 0)
        return c_xx * K.sum()

    def xy_term():
        return -2 / (n * m) * mmd.gaussian_kernel(X, Y, sigmas).sum()

    repulsion, attraction = mmd.mmd2_grad_parts(X, Y, sigmas, estimator, backend=mmd_backend)
    assert rel_error(repulsion, numerical_gradient(xx_term, X)) < 1e-7
    assert rel_error(attraction, numerical_gradient(xy_term, X)) < 1e-7
    _, dX = mmd.mmd2_and_grad(X, Y, sigmas, estimator, backend=mmd_backend)
    np.testing.assert_allclose(repulsion + attraction, dX, rtol=1e-10, atol=1e-14)
    # the descent direction: -attraction points toward the real sample's side
    assert np.sum(-attraction * (Y.mean(0) - X)) > 0


def test_gradient_parts_at_extreme_scale_and_bad_input():
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(6, 2)), rng.normal(size=(4, 2))
    rep, att = mmd.mmd2_grad_parts(X, Y, [1.0])
    rep_big, att_big = mmd.mmd2_grad_parts(X * 1e30, Y * 1e30, [1e30])
    np.testing.assert_allclose(rep_big * 1e30, rep, rtol=1e-12)
    np.testing.assert_allclose(att_big * 1e30, att, rtol=1e-12)
    with pytest.raises(ValueError, match="estimator"):
        mmd.mmd2_grad_parts(X, Y, [1.0], estimator="v")
    with pytest.raises(ValueError, match="Y"):
        mmd.mmd2_grad_parts(X, Y[:, :1], [1.0])
