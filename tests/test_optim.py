"""SGD and Adam reach the minimum of a known quadratic; their state round-trips."""
import numpy as np
import pytest

from minigan import SGD, Adam
from minigan._checks import NonFiniteError

A = np.diag([1.0, 10.0])          # f(p) = 1/2 (p - c)^T A (p - c), minimum at c
C = np.array([3.0, -2.0])


def minimise(opt_cls, steps, **kw):
    p = np.zeros(2)
    opt = opt_cls([p], **kw)
    for _ in range(steps):
        opt.step([A @ (p - C)])  # gradient of the quadratic
    return p


def test_sgd_with_momentum_reaches_the_minimum():
    assert np.allclose(minimise(SGD, 300, lr=0.05, momentum=0.9), C, atol=1e-6)


def test_plain_sgd_reaches_the_minimum():
    assert np.allclose(minimise(SGD, 2000, lr=0.05), C, atol=1e-6)


def test_adam_reaches_the_minimum():
    assert np.allclose(minimise(Adam, 3000, lr=0.05), C, atol=1e-4)


def test_adam_first_step_is_lr_times_sign():
    p = np.array([1.0, -1.0])
    Adam([p], lr=0.1).step([np.array([5.0, -0.01])])  # bias correction: step = lr * g/|g|
    assert np.allclose(p, [0.9, -0.9], atol=1e-6)


def test_state_round_trip_continues_identically():
    p1, p2 = np.ones(3), np.ones(3)
    a, b = Adam([p1], lr=0.1), Adam([p2], lr=0.1)
    for _ in range(3):
        a.step([p1.copy()])
    arrays, meta = a.state_dict()
    p2[...] = p1
    b.load_state_dict(arrays, meta)
    a.step([p1.copy()])
    b.step([p2.copy()])
    assert np.array_equal(p1, p2)


def test_bad_settings():
    with pytest.raises(ValueError, match="lr"):
        SGD([np.zeros(1)], lr=-1)
    with pytest.raises(ValueError, match="momentum"):
        SGD([np.zeros(1)], momentum=1.5)
    with pytest.raises(ValueError, match="gradients"):
        Adam([np.zeros(1)]).step([])
    with pytest.raises(ValueError, match="shape"):
        Adam([np.zeros(2)]).step([np.zeros(3)])


@pytest.mark.parametrize("cls, lr", [(Adam, 1e-3), (SGD, 1e-3), (SGD, 10.0)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_one_pass_gradient_check_decides_as_the_exact_one(cls, lr, dtype):
    # the sum-of-squares fast path only ever accepts what max |g| <= limit accepts; values
    # near the limit, beyond it, huge-but-finite (squares overflow), inf and NaN all decide
    # as the exact check does
    p = np.zeros((4, 5), dtype)
    opt = cls([p], lr=lr)
    limit = opt._grad_limit(np.dtype(dtype))
    big = float(np.finfo(dtype).max)
    for top in [1.0, limit / 4, limit / 2, 0.99 * limit, limit, 1.01 * limit, 3 * limit,
                1e200, big, np.inf, -np.inf, np.nan]:
        if np.isfinite(top) and top > big:
            continue
        g = np.full((4, 5), 1e-3, dtype)
        with np.errstate(over="ignore"):
            g[2, 3] = dtype(top)
        exact_refuses = not (np.isfinite(g).all() and float(np.abs(g).max()) <= limit)
        try:
            opt._check_finite([g])
            refused = False
        except NonFiniteError:
            refused = True
        assert refused == exact_refuses, (top, limit)
