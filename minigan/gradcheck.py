"""Centred finite differences, for checking hand-written gradients.

    df/dx_i  ~=  (f(x + h e_i) - f(x - h e_i)) / (2 h)

Why centred: with f1, f2, f3 the derivatives of f along e_i, Taylor gives
f(x +- h e_i) = f +- h f1 + h^2/2 f2 +- h^3/6 f3 + ..., so the difference cancels the even terms
and the quotient is f1 + h^2/6 f3 + ... (a one-sided difference would be off by h/2 f2).

Use float64: with h = 1e-5 the truncation error is O(h^2) ~ 1e-10 and the rounding
error O(eps / h) ~ 1e-11, so a correct backward agrees to a relative error far below 1e-7.

Example (checking d/dx of sum(x**3)):
    >>> x = np.array([1.0, 2.0])
    >>> num = numerical_gradient(lambda: np.sum(x**3), x)
    >>> rel_error(num, 3 * x**2) < 1e-7
    True
"""
import numpy as np


def numerical_gradient(f, x, h=1e-5, dout=None):
    """Gradient of a scalar f() with respect to the array x, which f reads.

    f:    a function of no arguments (it closes over x); x is perturbed in place and restored.
          If f returns an array, pass `dout` (same shape) and the gradient of sum(f() * dout)
          is returned (a vector-Jacobian product, like a backward pass).
    x:    float64 array
    Returns an array shaped like x.
    """
    if x.dtype != np.float64:
        raise TypeError(f"x must be float64 for a meaningful finite difference, got {x.dtype}")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        f_plus = np.array(f(), dtype=np.float64)  # a copy: f may return a view of x
        x[i] = old - h
        f_minus = np.array(f(), dtype=np.float64)
        x[i] = old
        diff = f_plus - f_minus if dout is None else np.sum((f_plus - f_minus) * dout)
        grad[i] = diff / (2 * h)
    return grad


def rel_error(a, b, floor=1e-12):
    """Relative error ||a - b|| / (||a|| + ||b||) (2-norms over all entries).

    0 when equal, ~1 when unrelated. A norm over the whole array rather than an
    entry-by-entry ratio: entries near zero carry an absolute finite-difference
    rounding error of ~eps / h ~ 1e-11, which an entrywise ratio would blow up.

    Beware a gradient that is exactly zero (the output bias of an MMD critic: moving every
    feature by the same vector changes nothing): the finite difference is then the loss's
    rounding noise (~1e-11), backprop's a sum that cancels to ~1e-15 or 0, and the relative
    error of 0 or noise against noise is about 1 although the backward is right. Check such a
    gradient with an absolute tolerance instead (np.abs(numeric).max() < 1e-8).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), floor))
