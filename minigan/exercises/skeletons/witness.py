"""Exercise witness: the Gaussian kernel and the MMD witness function.

Write the lines marked TODO, delete the `raise NotImplementedError` lines, then run

    minigan exercise check witness

Read first: docs/guide.md, section 3.10 (The MMD-GAN: two players, two gradients), its
paragraph "The witness", and section 1 for the kernel's convention.
After you pass, compare with minigan/mmd.py, gaussian_kernel and witness.
"""
import numpy as np


def squared_distances(A, B):
    """D2[i, j] = ||a_i - b_j||^2.   A: (p, d), B: (n, d) -> (p, n), of their dtype."""
    return ((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=-1)


def gaussian_kernel(A, B, sigmas):
    """K[i, j] = sum_s exp(-||a_i - b_j||^2 / (2 s^2)).

    A: (p, d), B: (n, d), sigmas: a list of length-scales (in the units of the data)
    Returns K: (p, n), of A's dtype.
    """
    D2 = squared_distances(A, B)
    # TODO: K = the sum over the bandwidths s of exp(-D2 / (2 s^2))
    raise NotImplementedError("write the TODO lines above, then delete this line")
    return K


def witness(points, X, Y, sigmas):
    """The witness function of the kernel and the samples X and Y, at points.

    points: (p, d), X: (n, d), Y: (m, d), sigmas: a list of length-scales
    Returns h: (p,), of points' dtype, with

        h(t) = mean_i k(t, x_i) - mean_j k(t, y_j).

    h is positive where X has more mass than Y as the kernel sees it. With X the real sample
    and Y the generated one, it is the h(t) of section 3.10. Expanding the means shows that
    mean_i h(x_i) - mean_j h(y_j) is the biased MMD^2.
    """
    # TODO: h = the formula above, one value per row of points
    raise NotImplementedError("write the TODO lines above, then delete this line")
    return h
