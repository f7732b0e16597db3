"""Nothing silent, class by class: extreme scales of the learned-kernel test, checkpoint
values out of range, CSV headers, data objects, argument errors that name the argument,
integer flag bounds, the progress bar of a large test, and the seed of `minigan mmd-test`."""
import json

import numpy as np
import pytest

import minigan

RNG = np.random.default_rng(1)
X = RNG.normal(size=(40, 2))
Y = RNG.normal(size=(40, 2)) + 1.0


# ------------------------------------------------ the learned-kernel test at extreme scales
def test_deep_kernel_test_answers_at_any_scale_as_at_scale_one():
    ref = minigan.mmd_test(X, Y, kernel="deep", seed=3, n_permutations=99)
    # a power of two changes only exponents: the same kernel, bit for bit
    exact = minigan.mmd_test(X * 2.0**600, Y * 2.0**600, kernel="deep", seed=3, n_permutations=99)
    assert exact.statistic == ref.statistic and exact.p_value == ref.p_value
    for scale in (1e-200, 1e154, 1e200, 1e300):     # were NonFiniteError / ZeroDivisionError
        got = minigan.mmd_test(X * scale, Y * scale, kernel="deep", seed=3, n_permutations=99)
        assert got.p_value == ref.p_value
        assert got.statistic == pytest.approx(ref.statistic, rel=1e-9)


def test_deep_kernel_standardisation_is_exact_under_powers_of_two():
    from minigan.deep_kernel import standardisation
    Z = np.vstack([X, Y])
    shift, scale = standardisation(Z)
    np.testing.assert_allclose(shift, Z.mean(0), rtol=1e-14)
    np.testing.assert_allclose(scale, Z.std(0), rtol=1e-14)
    for k in (-1000, -600, 600, 1000):
        s2, c2 = standardisation(np.ldexp(Z, k))
        np.testing.assert_array_equal(s2, np.ldexp(shift, k))
        np.testing.assert_array_equal(c2, np.ldexp(scale, k))
