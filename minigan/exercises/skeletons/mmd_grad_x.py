"""Exercise mmd_grad_x: the MMD^2 estimators and their gradient with respect to X.

Write the lines marked TODO, delete the `raise NotImplementedError` lines, then run

    minigan exercise check mmd_grad_x

Read first: docs/guide.md, section 3.1 (the estimators) and section 3.2 (The MMD gradient, step
by step). After you pass, compare with minigan/mmd.py, _kernel_and_weights and _mmd2_terms.

Conventions (as in minigan.mmd): for one bandwidth sigma (a length-scale, in the units of x)

    k_sigma(x, y) = exp(-||x - y||^2 / (2 sigma^2)),

and a list of bandwidths means the sum k(x, y) = sum_s k_s(x, y).
"""
import numpy as np


def squared_distances(A, B):
    """D2[i, j] = ||a_i - b_j||^2.   A: (n, d), B: (m, d) -> (n, m), of their dtype."""
    return ((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=-1)


def kernel_and_weights(D2, sigmas):
    """The kernel matrix and the gradient weights, from squared distances.

    D2: (n, m) squared distances; sigmas: a list of length-scales
    Returns K: (n, m) and W: (n, m), of D2's dtype, with

        K = sum_s exp(-D2 / (2 s^2))
        W = sum_s exp(-D2 / (2 s^2)) / s^2

    W is the weight w(x, z) of section 3.2, step 1: d k(x, z)/dx = -w(x, z) (x - z).
    """
    K = np.zeros_like(D2)
    W = np.zeros_like(D2)
    for s in sigmas:
        # TODO: Ks = the kernel matrix of the one bandwidth s
        # TODO: add Ks to K, and Ks / s^2 to W
        raise NotImplementedError("write the TODO lines above, then delete this line")
    return K, W


def mmd2_and_grad_x(X, Y, sigmas, estimator="unbiased"):
    """MMD^2 between X and Y and its gradient with respect to X.

    X: (n, d) generated samples, Y: (m, d) real samples, sigmas: a list of length-scales
    estimator: "unbiased" (n, m >= 2) or "biased"
    Returns (value, dX): value a number, dX: (n, d) of X's dtype.

        MMD^2 = c_xx sum_ij k(x_i, x_j) + c_yy sum_ij k(y_i, y_j) - 2 c_xy sum_ij k(x_i, y_j)

    biased (V-statistic):   c_xx = 1/n^2, c_yy = 1/m^2, every (i, j) in the sums
    unbiased (U-statistic): c_xx = 1/(n(n-1)), c_yy = 1/(m(m-1)), and the X-X and Y-Y sums
                            leave out the i = j terms
    both:                   c_xy = 1/(nm)

    With w_aj = w(x_a, x_j) (X-X block) and w(x_a, y_j) (X-Y block), from kernel_and_weights:

        dMMD^2/dx_a = -2 c_xx sum_j w_aj (x_a - x_j)  +  2 c_xy sum_j w(x_a, y_j) (x_a - y_j)

    For every row a at once, sum_j w_aj (x_a - z_j) = (sum_j w_aj) x_a - (W Z)_a, which is
    W.sum(1)[:, None] * X - W @ Z in NumPy.
    """
    n, m = len(X), len(Y)
    Kxx, Wxx = kernel_and_weights(squared_distances(X, X), sigmas)
    Kyy, Wyy = kernel_and_weights(squared_distances(Y, Y), sigmas)
    Kxy, Wxy = kernel_and_weights(squared_distances(X, Y), sigmas)
    unbiased = estimator == "unbiased"
    c_xy = 1.0 / (n * m)
    # TODO: c_xx and c_yy of the estimator (look at `unbiased`)
    # TODO: for the unbiased estimator, leave out the i = j terms of Kxx and Kyy (np.fill_diagonal)
    # TODO: value = MMD^2 from the three kernel blocks
    # TODO: dX = the X-X term of the gradient, -2 c_xx sum_j w_aj (x_a - x_j) for every a
    # TODO: add the X-Y term, +2 c_xy sum_j w(x_a, y_j) (x_a - y_j)
    raise NotImplementedError("write the TODO lines above, then delete this line")
    return value, dX
