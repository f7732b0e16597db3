"""Exercise mmd_grad_both: the MMD^2 gradient through both samples, dY beside dX.

Write the lines marked TODO, delete the `raise NotImplementedError` line, then run

    minigan exercise check mmd_grad_both

Read first: docs/guide.md, section 3.8 (The MMD gradient through both samples); exercise
mmd_grad_x (section 3.2) wrote everything here but dY. After you pass, compare with
minigan/mmd.py, _mmd2_terms (its wrt="both" lines).

Conventions (as in minigan.mmd): k_sigma(x, y) = exp(-||x - y||^2 / (2 sigma^2)), sigma a
length-scale; a list of bandwidths means the sum of one kernel per sigma.
"""
import numpy as np


def squared_distances(A, B):
    """D2[i, j] = ||a_i - b_j||^2.   A: (n, d), B: (m, d) -> (n, m), of their dtype."""
    return ((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=-1)


def kernel_and_weights(D2, sigmas):
    """K = sum_s exp(-D2 / (2 s^2)) and W = sum_s exp(-D2 / (2 s^2)) / s^2, both (n, m)."""
    K = np.zeros_like(D2)
    W = np.zeros_like(D2)
    for s in sigmas:
        Ks = np.exp(D2 * (-0.5 / s**2))
        K += Ks
        W += Ks / s**2
    return K, W


def mmd2_and_grad_both(X, Y, sigmas, estimator="unbiased"):
    """MMD^2 between X and Y and its gradient with respect to both samples.

    X: (n, d), Y: (m, d), sigmas: a list of length-scales, estimator: "unbiased" or "biased"
    Returns (value, dX, dY): value a number, dX: (n, d), dY: (m, d), of the inputs' dtype.

    MMD^2(X, Y) = MMD^2(Y, X) (swap the samples: the X-X and Y-Y terms swap, the cross term
    stays), so dY is dX's formula with the roles of the samples swapped:

        dMMD^2/dy_b = -2 c_yy sum_j w(y_b, y_j) (y_b - y_j)  +  2 c_xy sum_i w(x_i, y_b) (y_b - x_i)

    w(x_i, y_b) for a fixed b is a column of the X-Y block Wxy, not a row.
    """
    n, m = len(X), len(Y)
    Kxx, Wxx = kernel_and_weights(squared_distances(X, X), sigmas)
    Kyy, Wyy = kernel_and_weights(squared_distances(Y, Y), sigmas)
    Kxy, Wxy = kernel_and_weights(squared_distances(X, Y), sigmas)
    if estimator == "unbiased":
        np.fill_diagonal(Kxx, 0)   # leave out the i = j terms
        np.fill_diagonal(Kyy, 0)
        c_xx, c_yy = 1.0 / (n * (n - 1)), 1.0 / (m * (m - 1))
    else:
        c_xx, c_yy = 1.0 / n**2, 1.0 / m**2
    c_xy = 1.0 / (n * m)
    value = c_xx * Kxx.sum() + c_yy * Kyy.sum() - 2 * c_xy * Kxy.sum()
    # X-X term: -2 c_xx sum_j w_aj (x_a - x_j);  X-Y term: +2 c_xy sum_j w(x_a, y_j) (x_a - y_j)
    dX = -2 * c_xx * (Wxx.sum(1)[:, None] * X - Wxx @ X)
    dX += 2 * c_xy * (Wxy.sum(1)[:, None] * X - Wxy @ Y)
    # TODO: dY = the Y-Y term, -2 c_yy sum_j w(y_b, y_j) (y_b - y_j) for every b
    # TODO: add the X-Y term seen from y_b, +2 c_xy sum_i w(x_i, y_b) (y_b - x_i)
    raise NotImplementedError("write the TODO lines above, then delete this line")
    return value, dX, dY
