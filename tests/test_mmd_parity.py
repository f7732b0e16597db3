"""The compiled MMD kernel (minigan._ext.mmd) against the NumPy reference, and its safety.

NumPy is the oracle: value and gradient must agree (float64 rtol 1e-10, float32 rtol 1e-4)
over random shapes, bandwidth ladders and general bandwidth sets, both estimators, and any
thread count. Bad input at the public functions gives the right answer or a clear error.

These tests need the compiled module. Without it they skip, unless MINIGAN_REQUIRE_EXT=1
(set by CI), where a missing build fails them.
"""
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minigan import backend, mmd
from compiled import require_built

EXT = backend._load("mmd")
RTOL = {np.float64: 1e-10, np.float32: 1e-4}


@pytest.fixture
def ext():
    """The compiled module (backend="cython" in minigan.mmd needs only this one)."""
    assert require_built("mmd"), f"minigan._ext.mmd is not built; {backend.BUILD_HINT}"
    return EXT


def _sample(seed=0, n=40, m=30, d=5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d))


def reference_scales(X, Y, sigmas):
    """The sizes of the terms that cancel in MMD^2 and in its gradient (NumPy, float64).

    MMD^2 and dMMD^2/dX are differences of sums of kernel terms. Where the difference is much
    smaller than the terms (similar samples, or a row whose X-X and X-Y pulls balance), two
    correct implementations differ by the rounding of the terms, not of the result, so a pure
    rtol is meaningless there: the tests add an atol = rtol * (size of the terms).
    """
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    n, m = len(X), len(Y)
    Kxx, Wxx = mmd._kernel_and_weights(mmd.squared_distances(X, X), sigmas)
    Kyy, Wyy = mmd._kernel_and_weights(mmd.squared_distances(Y, Y), sigmas)
    Kxy, Wxy = mmd._kernel_and_weights(mmd.squared_distances(X, Y), sigmas)
    value = Kxx.sum() / n**2 + Kyy.sum() / m**2 + 2 * Kxy.sum() / (n * m)
    grad_x = (2 / n**2 * (Wxx.sum(1)[:, None] * np.abs(X) + Wxx @ np.abs(X))
              + 2 / (n * m) * (Wxy.sum(1)[:, None] * np.abs(X) + Wxy @ np.abs(Y)))
    grad_y = (2 / m**2 * (Wyy.sum(1)[:, None] * np.abs(Y) + Wyy @ np.abs(Y))
              + 2 / (n * m) * (Wxy.sum(0)[:, None] * np.abs(Y) + Wxy.T @ np.abs(X)))
    return value, grad_x.max(), grad_y.max()


def assert_parity(X, Y, sigmas, estimator, got):
    """`got` = (value, dX) or (value, dX, dY) from the compiled kernel matches the NumPy
    reference."""
    rtol = RTOL[X.dtype.type]
    # the kernel runs with flush-to-zero: subnormal numbers count as 0, so answers may differ
    # by amounts on the scale of the smallest normal number
    floor = 1e3 * np.finfo(X.dtype).tiny
    wrt = None if got[1] is None else "X" if len(got) == 2 else "both"
    value, dX, dY = mmd._mmd2_terms(X, Y, list(sigmas), estimator, wrt)
    value_scale, grad_x_scale, grad_y_scale = reference_scales(X, Y, list(sigmas))
    assert isinstance(got[0], float)
    np.testing.assert_allclose(got[0], value, rtol=rtol, atol=rtol * value_scale + floor)
    for name, want, have, scale, like in (("dX", dX, got[1], grad_x_scale, X),
                                          ("dY", dY, got[2] if wrt == "both" else None,
                                           grad_y_scale, Y)):
        if want is None:
            continue
        assert have.dtype == like.dtype and have.shape == like.shape, name
        np.testing.assert_allclose(have, want, rtol=rtol, atol=rtol * scale + floor, err_msg=name)


def random_case(seed):
    """Shapes, samples and bandwidths (a ratio-2 ladder or not) drawn from `seed`."""
    rng = np.random.default_rng(seed)
    n, m = rng.integers(2, 301, size=2)
    # widths around the switch to gemm (d >= 6) and up to 70, or any width in [1, 70]
    widths = [1, 2, 3, 5, 6, 7, 8, 15, 16, 33, 64, 70]
    d = int(rng.choice(widths) if seed % 3 else rng.integers(1, 71))
    X = rng.normal(size=(n, d))
    Y = rng.normal(loc=0.3, scale=1.3, size=(m, d))
    median = mmd.median_heuristic(X, Y)
    ns = int(rng.integers(1, 7))
    if seed % 2:  # ladder (unsorted on purpose: the kernel sorts)
        sigmas = rng.permutation(median * 2.0 ** (np.arange(ns) - ns // 2))
    else:
        sigmas = median * rng.uniform(0.2, 4.0, size=ns)
    estimator = "unbiased" if seed % 4 < 2 else "biased"
    return X, Y, sigmas, estimator


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(40))
def test_parity_random_shapes(ext, seed, dtype):
    X, Y, sigmas, estimator = random_case(seed)
    X, Y = X.astype(dtype), Y.astype(dtype)
    got = ext.mmd2_and_grad(X, Y, np.asarray(sigmas), estimator == "unbiased", True, 1)
    assert_parity(X, Y, sigmas, estimator, got)
    value_only = ext.mmd2_and_grad(X, Y, np.asarray(sigmas), estimator == "unbiased", False, 1)
    assert value_only[1] is None
    assert value_only[0] == pytest.approx(got[0], rel=1e-12, abs=1e-15)
    both = ext.mmd2_and_grad(X, Y, np.asarray(sigmas), estimator == "unbiased", True, 1, True)
    assert_parity(X, Y, sigmas, estimator, both)
    # asking for dY too changes neither the value nor dX (the same pairs, summed in order)
    assert both[0] == got[0] and np.array_equal(both[1], got[1])


@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
@pytest.mark.parametrize("d", [2, 40])  # direct distances, and the gemm path
def test_public_functions_agree_between_backends(ext, estimator, d):
    rng = np.random.default_rng(d)
    X, Y = rng.normal(size=(150, d)), rng.normal(loc=0.2, size=(90, d))
    args = (X, Y, None, estimator)  # None: the default ladder around the median heuristic
    assert mmd.mmd2(*args, backend="cython") == pytest.approx(
        mmd.mmd2(*args, backend="numpy"), rel=1e-10)
    for fn in (mmd.mmd2_and_grad, mmd.mmd_and_grad):
        v_c, g_c = fn(*args, backend="cython")
        v_n, g_n = fn(*args, backend="numpy")
        assert v_c == pytest.approx(v_n, rel=1e-10)
        np.testing.assert_allclose(g_c, g_n, rtol=1e-10, atol=1e-10 * np.abs(g_n).max())
    v_c, *g_c = mmd.mmd2_and_grad(*args, backend="cython", wrt="both")
    v_n, *g_n = mmd.mmd2_and_grad(*args, backend="numpy", wrt="both")
    assert v_c == pytest.approx(v_n, rel=1e-10)
    for c, n in zip(g_c, g_n):
        np.testing.assert_allclose(c, n, rtol=1e-10, atol=1e-10 * np.abs(n).max())
    for c, n in zip(mmd.mmd2_grad_parts(*args, backend="cython", n_threads=2),
                    mmd.mmd2_grad_parts(*args, backend="numpy")):   # repulsion, attraction
        np.testing.assert_allclose(c, n, rtol=1e-10, atol=1e-10 * np.abs(n).max())
    v_c, _ = mmd.mmd_loss_and_grad(*args, loss="mmd", backend="cython", n_threads=2)
    v_n, _ = mmd.mmd_loss_and_grad(*args, loss="mmd", backend="numpy")
    assert v_c == pytest.approx(v_n, rel=1e-10)


def test_ladder_trick_matches_separate_exps(ext):
    # A ladder and the same bandwidths nudged off it (1e-9 relative: the general path) agree.
    rng = np.random.default_rng(7)
    X, Y = rng.normal(size=(200, 3)), rng.normal(size=(180, 3))
    ladder = 0.25 * 2.0 ** np.arange(6)
    nudged = ladder * (1 + 1e-9 * np.arange(6))
    a = ext.mmd2_and_grad(X, Y, ladder, True, True, 1)
    b = ext.mmd2_and_grad(X, Y, nudged, True, True, 1)
    assert a[0] == pytest.approx(b[0], rel=1e-7)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-7, atol=1e-9 * np.abs(b[1]).max())


@pytest.mark.parametrize("dtype, rungs", [(np.float64, 13), (np.float64, 20), (np.float32, 6),
                                          (np.float32, 10), (np.float32, 11)])
def test_ladders_longer_than_one_exp_serves(ext, dtype, rungs):
    # Past MAX_LADDER rungs the ladder is cut into segments, one exp at the top of each: the
    # same value and gradients as the general path (one exp per bandwidth), and as NumPy's.
    rng = np.random.default_rng(rungs)
    X = rng.normal(size=(120, 2)).astype(dtype)
    Y = (rng.normal(size=(90, 2)) + 0.3).astype(dtype)
    sigmas = mmd.median_heuristic(X, Y) * 2.0 ** (np.arange(rungs) - rungs + 3)
    assert rungs > ext.MAX_LADDER[np.dtype(dtype)]
    got = ext.mmd2_and_grad(X, Y, sigmas, True, True, 1, True)
    assert_parity(X, Y, list(sigmas), "unbiased", got)
    general = ext.mmd2_and_grad(X, Y, sigmas * (1 + 1e-9 * np.arange(rungs)), True, True, 1, True)
    tol = 1e-7 if dtype == np.float64 else 1e-4
    assert got[0] == pytest.approx(general[0], rel=tol)
    for a, b in zip(got[1:], general[1:]):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.abs(b).max())


def test_long_float32_ladder_keeps_the_contract(ext):
    # The ladder trick gets the narrowest kernel as exp(top)^(4^(ns-1)), which multiplies the
    # relative error of the one exp by 4^(ns-1): in float32 (exp good to ~6e-8) a 9-rung ladder
    # would leave the narrowest kernel ~4e-3 off. Data on the scale of the narrowest bandwidth
    # (0.01) so that its kernel carries weight in the value and the gradient.
    rng = np.random.default_rng(1)
    X = (0.03 * rng.normal(size=(60, 2))).astype(np.float32)
    Y = (0.03 * rng.normal(size=(50, 2)) + 0.01).astype(np.float32)
    sigmas = 0.01 * 2.0 ** np.arange(9)
    value, dX = ext.mmd2_and_grad(X, Y, sigmas, True, True, 1)
    v64, g64, _ = mmd._mmd2_terms(X.astype(np.float64), Y.astype(np.float64), list(sigmas),
                                  "unbiased", "X")
    v32, g32, _ = mmd._mmd2_terms(X, Y, list(sigmas), "unbiased", "X")
    # The contract's rtol 1e-4, and an atol far below it: 1e-5 of the largest entry (some
    # entries are near-zero balances of X-X and X-Y pulls and keep the absolute rounding error
    # of the float32 terms, so a pure rtol cannot hold there). The broken ladder is ~1e-3 of
    # the largest entry off, 100x this. The value is compared against float64 only: it is a
    # difference of sums ~2000x larger, where NumPy's float32 reference itself loses ~2e-4.
    value_scale = reference_scales(X, Y, list(sigmas))[0]
    assert value == pytest.approx(v64, rel=1e-4, abs=1e-7 * value_scale)
    for ref in (g64, g32):
        np.testing.assert_allclose(dX, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())


def test_far_apart_samples_underflow_to_zero_not_nan(ext):
    # exp arguments far below the clamp, and squares deep in the subnormal range
    X, Y = np.zeros((3, 2)), np.full((4, 2), 1e3)
    for dtype in (np.float64, np.float32):
        value, dX = ext.mmd2_and_grad(X.astype(dtype), Y.astype(dtype),
                                      np.array([0.01, 0.02, 0.04]), False, True, 1)
        assert value == pytest.approx(2 * 3.0, rel=1e-6)  # k(x,x) + k(y,y) = 3 + 3, k(x,y) = 0
        # the clamped exp leaves ~1e-308 (float32: ~1e-38) where the true value is smaller
        assert np.all(np.isfinite(dX)) and np.abs(dX).max() < 1e-30


def test_the_kernel_leaves_subnormals_on(ext):
    # the kernel sets flush-to-zero in its threads and must restore the caller's mode
    tiny = np.array([1e-310])
    ext.mmd2_and_grad(np.zeros((5, 2)), np.ones((5, 2)), np.array([0.1, 0.2]), True, True, 1)
    assert tiny[0] * 1.0 != 0.0 and tiny[0] / 2 != 0.0


def test_openblas_thread_count_is_restored(ext):
    # the kernel holds OpenBLAS to one thread while it runs its small gemms, then restores it
    X, Y = _sample(d=20)
    ext.mmd2_and_grad(X, Y, np.array([4.0]), True, True, 1)  # finds the libraries
    before = [get() for get, _ in ext._BLAS_THREADS]
    ext.mmd2_and_grad(X, Y, np.array([4.0]), True, True, 2)
    assert [get() for get, _ in ext._BLAS_THREADS] == before


def test_concurrent_calls_restore_the_openblas_thread_count(ext):
    # Two Python threads in the kernel at once (it releases the GIL): the first one in caps
    # OpenBLAS at one thread, the last one out restores the caller's count. d = 8: the gemm path.
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(300, 8)), rng.normal(size=(250, 8))
    sigmas = np.array([1.0, 2.0, 4.0])
    ext.mmd2_and_grad(X, Y, sigmas, True, True, 1)  # finds the libraries
    if not ext._BLAS_THREADS:
        pytest.skip("no OpenBLAS thread control found in this process")
    before = [get() for get, _ in ext._BLAS_THREADS]
    try:
        for _, set_ in ext._BLAS_THREADS:
            set_(2)
        expected = ext.mmd2_and_grad(X, Y, sigmas, True, True, 1)
        start = threading.Barrier(2)
        results, errors = [], []

        def work(k):
            try:
                start.wait()
                for i in range(15):  # staggered sizes: the calls overlap in every order
                    rows = 300 - 20 * ((i + k) % 3)
                    got = ext.mmd2_and_grad(X[:rows], Y, sigmas, True, True, 1)
                    if rows == 300:
                        results.append(got)
            except BaseException as exc:  # pragma: no cover (reported below)
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert [get() for get, _ in ext._BLAS_THREADS] == [2] * len(ext._BLAS_THREADS)
        for value, dX in results:  # and the concurrent calls still give the answer
            assert value == expected[0]
            np.testing.assert_array_equal(dX, expected[1])
    finally:
        for (_, set_), count in zip(ext._BLAS_THREADS, before):
            set_(count)


def test_a_thread_count_set_by_another_thread_meanwhile_is_kept(ext):
    # While a compiled call holds OpenBLAS at 1 (here: _blas_cap, as the kernel does on
    # entry), another thread runs a compiled call of its own and then sets its own count, as
    # threadpool_limits would: the last one out must not put the old count back over it.
    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(60, 8)), rng.normal(size=(50, 8))  # d = 8: the gemm path
    sigmas = np.array([1.0, 2.0])
    expected = ext.mmd2_and_grad(X, Y, sigmas, True, True, 1)  # finds the libraries
    if not ext._BLAS_THREADS:
        pytest.skip("no OpenBLAS thread control found in this process")
    before = [get() for get, _ in ext._BLAS_THREADS]
    results = []

    def other_user():
        results.append(ext.mmd2_and_grad(X, Y, sigmas, True, True, 1))
        for _, set_ in ext._BLAS_THREADS:
            set_(3)

    try:
        for _, set_ in ext._BLAS_THREADS:
            set_(2)
        ext._blas_cap()
        try:
            assert [get() for get, _ in ext._BLAS_THREADS] == [1] * len(ext._BLAS_THREADS)
            thread = threading.Thread(target=other_user)
            thread.start()
            thread.join()
        finally:
            ext._blas_release()
        assert [get() for get, _ in ext._BLAS_THREADS] == [3] * len(ext._BLAS_THREADS)
        assert results[0][0] == expected[0]
        # untouched meanwhile: the saved count comes back
        ext._blas_cap()
        ext._blas_release()
        assert [get() for get, _ in ext._BLAS_THREADS] == [3] * len(ext._BLAS_THREADS)
    finally:
        for (_, set_), count in zip(ext._BLAS_THREADS, before):
            set_(count)


@pytest.mark.parametrize("d", [2, 8])
def test_threaded_results_are_reproducible(ext, d):
    # Same inputs, same thread count -> the same bits: a fixed task-to-thread map, and the
    # per-thread partial sums combined in thread order.
    rng = np.random.default_rng(11)
    X, Y = rng.normal(size=(1200, d)), rng.normal(loc=0.1, size=(1200, d))
    sigmas = np.array([0.5, 1.0, 2.0, 4.0]) * np.sqrt(d)
    first = ext.mmd2_and_grad(X, Y, sigmas, True, True, 2, True)
    for _ in range(9):
        value, dX, dY = ext.mmd2_and_grad(X, Y, sigmas, True, True, 2, True)
        assert value == first[0]
        np.testing.assert_array_equal(dX, first[1])
        np.testing.assert_array_equal(dY, first[2])


@pytest.mark.parametrize("d", [2, 20])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_thread_count_does_not_change_the_answer(ext, d, dtype):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, d)).astype(dtype)
    Y = rng.normal(size=(260, d)).astype(dtype)
    sigmas = np.array([0.5, 1.0, 2.0, 4.0]) * np.sqrt(d)
    one = ext.mmd2_and_grad(X, Y, sigmas, True, True, 1)
    two = ext.mmd2_and_grad(X, Y, sigmas, True, True, 2)
    auto = mmd.mmd2_and_grad(X, Y, sigmas, backend="cython")
    # only the order of the per-thread partial sums differs (they are float64)
    assert two[0] == pytest.approx(one[0], rel=1e-12)
    np.testing.assert_allclose(two[1], one[1], rtol=1e-12, atol=1e-12 * np.abs(one[1]).max())
    np.testing.assert_allclose(auto[1], one[1], rtol=1e-12, atol=1e-12 * np.abs(one[1]).max())


# ------------------------------------------------------------------ memory safety
@pytest.mark.parametrize("layout", ["rows", "columns", "fortran", "readonly", "int", "float16",
                                    "mixed_dtypes", "list"])
def test_awkward_but_valid_inputs_give_the_numpy_answer(ext, layout):
    X, Y = _sample(d=6)
    if layout == "rows":
        X, Y = np.repeat(X, 2, axis=0)[::2], Y[::-1]
    elif layout == "columns":
        X, Y = np.hstack([X, X])[:, ::2], np.hstack([Y, Y])[:, ::2]
    elif layout == "fortran":
        X, Y = np.asfortranarray(X), np.asfortranarray(Y)
    elif layout == "readonly":
        X.setflags(write=False)
        Y.setflags(write=False)
    elif layout == "int":
        X, Y = np.round(3 * X).astype(np.int32), np.round(3 * Y).astype(np.int64)
    elif layout == "float16":
        X = X.astype(np.float16)
    elif layout == "mixed_dtypes":
        X = X.astype(np.float32)
    elif layout == "list":
        X, Y = X.tolist(), Y.tolist()
    v_c, g_c = mmd.mmd2_and_grad(X, Y, [0.5, 1.0, 2.0], backend="cython")
    v_n, g_n = mmd.mmd2_and_grad(X, Y, [0.5, 1.0, 2.0], backend="numpy")
    assert g_c.dtype == g_n.dtype and g_c.shape == g_n.shape
    rtol = 1e-4 if g_n.dtype == np.float32 else 1e-10
    assert v_c == pytest.approx(v_n, rel=rtol, abs=rtol)
    np.testing.assert_allclose(g_c, g_n, rtol=rtol, atol=rtol * np.abs(g_n).max())


@pytest.mark.parametrize("case, error", [
    ("nan", ValueError), ("inf", ValueError), ("empty_rows", ValueError),
    ("empty_cols", ValueError), ("mismatched_d", ValueError), ("one_row_unbiased", ValueError),
    ("one_d", ValueError), ("three_d", ValueError), ("complex", TypeError), ("strings", TypeError),
    ("object", TypeError), ("bad_sigma", ValueError), ("empty_sigmas", ValueError),
    ("bad_threads", ValueError), ("bad_estimator", ValueError),
])
def test_bad_inputs_raise_clear_errors(ext, case, error):
    X, Y = _sample()
    kwargs = dict(sigmas=[1.0], estimator="unbiased", n_threads=None)
    if case == "nan":
        X[3, 1] = np.nan
    elif case == "inf":
        Y[0, 0] = -np.inf
    elif case == "empty_rows":
        X = X[:0]
    elif case == "empty_cols":
        X, Y = X[:, :0], Y[:, :0]
    elif case == "mismatched_d":
        Y = Y[:, :3]
    elif case == "one_row_unbiased":
        X = X[:1]
    elif case == "one_d":
        X = X[:, 0]
    elif case == "three_d":
        X = X[None]
    elif case == "complex":
        X = X + 1j
    elif case == "strings":
        X = "abc"
    elif case == "object":
        X = np.array([[1.0, None]], dtype=object)
    elif case == "bad_sigma":
        kwargs["sigmas"] = [1.0, -2.0]
    elif case == "empty_sigmas":
        kwargs["sigmas"] = []
    elif case == "bad_threads":
        kwargs["n_threads"] = 0
    elif case == "bad_estimator":
        kwargs["estimator"] = "linear"
    with pytest.raises(error):
        mmd.mmd2_and_grad(X, Y, backend="cython", **kwargs)


def test_the_low_level_function_rechecks_its_inputs(ext):
    # called directly, with inputs the Python layer would have fixed: ValueError, no crash
    X, Y = _sample()
    s = np.array([1.0])
    bad_calls = [
        (np.asfortranarray(X), Y, s), (X[:, ::2], Y[:, ::2], s), (X.astype(np.float32), Y, s),
        (X.astype(np.int64), Y.astype(np.int64), s), (X, Y[:, :2], s), (X[:0], Y, s),
        (X[:, :0], Y[:, :0], s), (X[0], Y, s), (X.tolist(), Y, s), (X, Y, np.array([1.0, 0.0])),
        (X, Y, np.array([], dtype=np.float64)), (X, Y, np.array([1], dtype=np.int64)),
        (X, Y, np.array([[1.0]])), (X, Y, [1.0]), (X, Y, np.array([np.nan])),
        (X, Y, np.array([1e-200, 1.0])),  # 1 / sigma^2 would overflow
        (X[:1], Y, s),  # one row, unbiased
    ]
    for args in bad_calls:
        with pytest.raises(ValueError):
            ext.mmd2_and_grad(*args, True, True, 1)
    with pytest.raises(ValueError, match="parts"):   # two answers for one slot
        ext.mmd2_and_grad(X, Y, s, True, True, 1, True, parts=True)
    with pytest.raises(ValueError, match="parts"):
        ext.mmd2_and_grad(X, Y, s, True, False, 1, parts=True)
    # one row is fine for the biased estimator; absurd thread counts are capped
    assert np.isfinite(ext.mmd2_and_grad(X[:1], Y[:1], s, False, True, 1000)[0])


def test_the_low_level_function_refuses_bandwidths_outside_its_dtype_range(ext):
    # float32: 1 / (2 sigma^2) is made in float64 and used in float32; from sigma ~ 6.5e18 on
    # it is subnormal there, flushed to 0, k = 1 and MMD^2 = 0 exactly. Refused beyond 2^32.
    X, Y = _sample()
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    lo32, hi32 = ext.sigma_range(np.float32)
    assert hi32 == 2.0**32 and ext.sigma_range(np.float64)[1] == 2.0**256
    for sigmas in ([1e19], [1.0, 1e19], [hi32 * 1.01], [lo32 * 0.99], [1e-30, 1.0]):
        with pytest.raises(ValueError, match=r"sigmas must lie in \[.*for float32"):
            ext.mmd2_and_grad(X32, Y32, np.array(sigmas), True, True, 1)
    # float64 takes 1e19 (its coefficients are normal there), refuses beyond 2^256
    assert np.isfinite(ext.mmd2_and_grad(X, Y, np.array([1e19]), True, True, 1)[0])
    with pytest.raises(ValueError, match="sigmas must lie in"):
        ext.mmd2_and_grad(X, Y, np.array([2.0**257]), True, True, 1)
    # at the edges of the range the kernel still gives the NumPy answer
    for dtype, sigma in ((np.float32, hi32), (np.float64, 2.0**256)):  # data scaled alike
        Xs, Ys = (X * (sigma / 2)).astype(dtype), (Y * (sigma / 2)).astype(dtype)
        expected = ext.mmd2_and_grad(X.astype(dtype), Y.astype(dtype), np.array([2.0]),
                                     True, False, 1)[0]
        got = ext.mmd2_and_grad(Xs, Ys, np.array([sigma]), True, False, 1)[0]
        assert got == pytest.approx(expected, rel=1e-4) and got != 0
    # the public function rescales first: a float32 bandwidth of 1e19 is answered (MMD^2 ~ 0)
    value = mmd.mmd2(X32, Y32, sigmas=[1e19], backend="cython")
    assert value == pytest.approx(mmd.mmd2(X32, Y32, sigmas=[1e19], backend="numpy"),
                                  abs=1e-6)


def test_the_low_level_function_names_a_bad_thread_count(ext):
    # a Python int beyond a C int was an OverflowError naming nothing; now checked first
    X, Y = _sample()
    s = np.array([1.0])
    expected = ext.mmd2_and_grad(X, Y, s, True, True, 1)
    for huge in (10**12, 2**31, ext.MAX_THREAD_REQUEST + 1, np.int64(10**12)):
        with pytest.raises(ValueError, match="n_threads"):
            ext.mmd2_and_grad(X, Y, s, True, True, huge)
    for not_int in (1.5, "2", None, True):
        with pytest.raises(TypeError, match="n_threads"):
            ext.mmd2_and_grad(X, Y, s, True, True, not_int)
    # any count <= 0 (however large) is the automatic choice; up to the limit is capped
    for count in (-10**12, 0, np.int32(1), ext.MAX_THREAD_REQUEST):
        value, dX = ext.mmd2_and_grad(X, Y, s, True, True, count)
        assert value == pytest.approx(expected[0], rel=1e-12)
        np.testing.assert_allclose(dX, expected[1], rtol=1e-10, atol=1e-14)


# the `ext` fixture only returns the module: sharing it between examples is fine
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), n=st.integers(0, 40), m=st.integers(0, 40), d=st.integers(0, 20),
       dtype=st.sampled_from([np.float64, np.float32]),
       dtype_y=st.sampled_from([np.float64, np.float32]),
       estimator=st.sampled_from(["unbiased", "biased"]), n_sigmas=st.integers(1, 5),
       ladder=st.booleans(), threads=st.sampled_from([None, 1, 2]),
       wrt=st.sampled_from(["X", "both"]))
def test_fuzz_shapes_and_dtypes(ext, data, n, m, d, dtype, dtype_y, estimator, n_sigmas,
                                ladder, threads, wrt):
    # Any shape, either dtype, values on a bounded scale (far from the origin, the float32
    # *reference* loses digits in ||x||^2 + ||y||^2 - 2 x.y and stops being an oracle).
    # Either the right answer, or a ValueError for shapes that cannot work.
    def values(dt):
        return st.floats(-4, 4, width=32 if dt == np.float32 else 64)
    X = data.draw(hnp.arrays(dtype, (n, d), elements=values(dtype)))
    Y = data.draw(hnp.arrays(dtype_y, (m, d), elements=values(dtype_y)))
    base = data.draw(st.floats(0.5, 4.0))
    sigmas = base * 2.0 ** np.arange(n_sigmas) if ladder else data.draw(
        st.lists(st.floats(0.5, 8.0), min_size=n_sigmas, max_size=n_sigmas))
    min_rows = 2 if estimator == "unbiased" else 1
    if d == 0 or min(n, m) < min_rows:
        with pytest.raises(ValueError):
            mmd.mmd2_and_grad(X, Y, sigmas, estimator, backend="cython", n_threads=threads,
                              wrt=wrt)
        return
    got = mmd.mmd2_and_grad(X, Y, sigmas, estimator, backend="cython", n_threads=threads,
                            wrt=wrt)
    assert np.isfinite(got[0]) and all(np.all(np.isfinite(g)) for g in got[1:])
    common = np.result_type(X, Y)  # float32 only when both are
    assert_parity(X.astype(common), Y.astype(common), np.asarray(sigmas, np.float64), estimator,
                  got)
