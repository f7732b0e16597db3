"""The compiled GAN losses (minigan._ext.losses, from ext/losses.pyx) against the NumPy
reference in minigan.losses.

Tolerances: float64 within rtol 1e-12, float32 within rtol 1e-5, plus an absolute error of that
rtol times the array's largest entry. The compiled loop sums in another order (and in double),
and under -ffast-math may take exp and log1p from glibc's vectorised libmvec, so results differ
from NumPy's by a few units in the last place; a gradient (sigmoid(s) - t) / n that cancels to
nearly zero keeps the absolute error of sigmoid(s), hence the absolute term.

Without the built extension these tests skip, unless MINIGAN_REQUIRE_EXT=1 (as in CI), where
they fail.
"""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minigan import backend, losses
from minigan.layers import sigmoid
from compiled import require_built

BUILT = require_built("losses")

RTOL = {np.float64: 1e-12, np.float32: 1e-5}


def test_extension_is_built():
    assert BUILT, ("minigan._ext.losses is not built: run `python setup.py build_ext --inplace` "
                   "(or `pip install -e .`) from the repository root")


def close(actual, expected, dtype):
    """Arrays: same dtype and close; scalars: close."""
    rtol = RTOL[dtype]
    if isinstance(expected, np.ndarray):
        assert actual.dtype == expected.dtype == dtype and actual.shape == expected.shape
        scale = float(np.max(np.abs(expected)))
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)
    else:
        assert float(actual) == pytest.approx(float(expected), rel=rtol, abs=rtol)


def logits(n, dtype, seed=0, scale=4.0):
    """(n, 1) logits with a few extremes mixed in."""
    rng = np.random.default_rng(seed)
    s = rng.normal(scale=scale, size=(n, 1))
    extremes = np.array([1e4, -1e4, 750.0, -750.0, 80.0, -80.0, 0.0, 1e-30])
    k = min(n // 2, len(extremes))
    s[rng.choice(n, size=k, replace=False), 0] = extremes[:k]
    return s.astype(dtype)


def both(fn, *args):
    """fn(*args) on the compiled and on the NumPy backend."""
    return fn(*args, backend="cython"), fn(*args, backend="numpy")


DTYPES = [np.float64, np.float32]
SIZES = [1, 2, 7, 256, 513]


# ----------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("target", [0.0, 1.0, 0.9, 0.25])
def test_bce_matches_numpy(n, target, dtype):
    s = logits(n, dtype, seed=n)
    (loss_c, ds_c), (loss_n, ds_n) = both(losses.bce_with_logits, s, target)
    close(loss_c, loss_n, dtype)
    close(ds_c, ds_n, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", sorted(losses.GENERATOR_LOSSES))
def test_generator_losses_match_numpy(name, n, dtype):
    s = logits(n, dtype, seed=n + 1)
    (loss_c, ds_c), (loss_n, ds_n) = both(losses.GENERATOR_LOSSES[name], s)
    close(loss_c, loss_n, dtype)
    close(ds_c, ds_n, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_real, n_fake", [(1, 1), (3, 5), (256, 256), (300, 17)])
@pytest.mark.parametrize("real_label", [1.0, 0.9])
def test_discriminator_losses_match_numpy(n_real, n_fake, real_label, dtype):
    s = logits(n_real + n_fake, dtype, seed=n_real)
    r, f = s[:n_real].copy(), s[n_real:].copy()
    fast, ref = both(losses.discriminator_loss, r, f, real_label)
    for a, b in zip(fast, ref):
        close(a, b, dtype)
    fast, ref = both(losses.discriminator_loss_pooled, s, n_real, real_label)
    for a, b in zip(fast, ref):
        close(a, b, dtype)
    # the pooled loss is the two-array loss, and its means are D's mean outputs
    loss, d_r, d_f = losses.discriminator_loss(r, f, real_label, backend="numpy")
    close(fast[0], loss, dtype)
    close(fast[1], np.concatenate([d_r, d_f]), dtype)
    p = sigmoid(s)
    close(fast[2], p[:n_real].mean(), dtype)
    close(fast[3], p[n_real:].mean(), dtype)


@settings(max_examples=60, deadline=None)
# sigmoid(s) - 1 for s = 13 once cancelled in float32 (both backends ~3% off each other)
@example(n=2, cols=1, real_frac=0.5, scale=12.0, real_label=1.0, dtype=np.float32, seed=65535)
@given(n=st.integers(2, 400), cols=st.integers(1, 3), real_frac=st.floats(0.01, 0.99),
       scale=st.floats(1e-3, 50.0), real_label=st.floats(0.5, 1.0),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_random_batches_match_numpy(n, cols, real_frac, scale, real_label, dtype, seed):
    s = (np.random.default_rng(seed).normal(scale=scale, size=(n, cols))).astype(dtype)
    n_real = min(max(1, int(real_frac * n)), n - 1)
    fast, ref = both(losses.discriminator_loss_pooled, s, n_real, real_label)
    for a, b in zip(fast, ref):
        close(a, b, dtype)
    for fn in losses.GENERATOR_LOSSES.values():
        for a, b in zip(*both(fn, s)):
            close(a, b, dtype)


@pytest.mark.parametrize("be", ["numpy", "cython"])
@pytest.mark.parametrize("target", [1.0, 0.9, 0.0])
def test_float32_gradient_does_not_cancel_for_large_logits(target, be):
    # sigmoid(s) - t for s >> 0: taken as (1 - t) - e / (1 + e), e = exp(-s), it keeps float32's
    # relative accuracy; sigmoid(s) - 1 in float32 would be off by up to ~100% at s ~ 16.
    s = np.linspace(-20.0, 20.0, 81)[:, None]
    for fn, args in ((losses.bce_with_logits, (target,)), (losses.discriminator_loss_pooled,
                                                         (40, target))):
        got = fn(s.astype(np.float32), *args, backend=be)[1]
        ref = fn(s, *args, backend="numpy")[1]  # float64
        assert got.dtype == np.float32
        # float32 rounding of the few operations: rtol 1e-6. Only t = 0.9 needs an atol: there
        # sigmoid(s) ~ 0.9 cancels for real, and float32(0.9) is 2.4e-8 off 0.9 itself
        atol = 1e-7 * np.abs(ref).max() if target == 0.9 else 0.0
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=atol)
    got = losses.generator_loss_nonsaturating(s.astype(np.float32), backend=be)[1]
    ref = losses.generator_loss_nonsaturating(s, backend="numpy")[1]
    np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_which_inputs_take_the_compiled_path():
    """Plain float arrays with a scalar target run compiled; the rest runs (and converts) in
    NumPy with the same answer."""
    s = logits(9, np.float64)
    fast = losses.bce_with_logits(s, 1.0, backend="cython")
    for other in (s.tolist(), np.asfortranarray(np.hstack([s, s]))[:, :1], s.astype(np.int64)):
        ref = losses.bce_with_logits(other, 1.0, backend="numpy")
        got = losses.bce_with_logits(other, 1.0, backend="cython")
        close(np.asarray(got[1]), ref[1], np.float64)
    targets = np.linspace(0, 1, 9)[:, None]              # per-sample targets: the NumPy path
    a, b = both(losses.bce_with_logits, s, targets)
    close(a[0], b[0], np.float64)
    close(a[1], b[1], np.float64)
    assert isinstance(fast[0], float)


# ------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("be", ["numpy", "cython"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_logits_raise_on_both_backends(bad, dtype, be):
    s = logits(10, dtype)
    s[7] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        losses.bce_with_logits(s, 1.0, backend=be)
    with pytest.raises(ValueError, match="NaN or inf"):
        losses.generator_loss_minimax(s, backend=be)
    with pytest.raises(ValueError, match="NaN or inf"):
        losses.discriminator_loss(s[:5], s[5:], backend=be)
    with pytest.raises(ValueError, match="NaN or inf"):
        losses.discriminator_loss_pooled(s, 5, backend=be)


@pytest.mark.parametrize("be", ["numpy", "cython"])
def test_bad_targets_and_splits_raise_on_both_backends(be):
    s = logits(6, np.float64)
    for t in (-0.1, 1.5, np.nan):
        with pytest.raises(ValueError, match="targets|real_label"):
            losses.bce_with_logits(s, t, backend=be)
    for n_real in (0, 6, -1, 7):
        with pytest.raises(ValueError, match="n_real"):
            losses.discriminator_loss_pooled(s, n_real, backend=be)
    with pytest.raises(ValueError):
        losses.discriminator_loss_pooled(s, 3, real_label=1.5, backend=be)
    with pytest.raises(ValueError, match="non-empty"):
        losses.generator_loss_minimax(np.zeros((0, 1)), backend=be)


def test_compiled_functions_refuse_what_they_cannot_read():
    ext = backend.ext("losses")
    s = logits(8, np.float64)
    for bad in (s.tolist(), s.astype(np.float16), np.zeros((0, 1)), np.hstack([s, s])[:, :1],
                s.astype(">f8")):
        with pytest.raises(ValueError):
            ext.bce_with_logits(bad, 1.0)
        with pytest.raises(ValueError):
            ext.discriminator_loss_pooled(bad, 1, 1.0)
    with pytest.raises(ValueError, match="n_real"):
        ext.discriminator_loss_pooled(np.array(1.0), 1, 1.0)  # 0-d: no rows
    ro = s.copy()
    ro.flags.writeable = False                          # read-only logits are fine: only read
    np.testing.assert_array_equal(ext.bce_with_logits(ro, 1.0)[1], ext.bce_with_logits(s, 1.0)[1])
