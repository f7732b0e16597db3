"""Exercise spectral_backward: the backward pass of spectral normalisation, W_sn = W / sigma.

Write the lines marked TODO, delete the `raise NotImplementedError` line, then run

    minigan exercise check spectral_backward

Read first: docs/guide.md, section 3.9 (Spectral normalisation), steps 2 and 3.
After you pass, compare with minigan/spectral.py, spectral_normalize_backward.
"""
import numpy as np


def spectral_normalize_forward(W, u):
    """W_sn = W / sigma with sigma = ||W^T u||, u held fixed (it is state, not a variable).

    W: (d_in, d_out) as an MLP stores it (x @ W); u: (d_in,), a unit vector from power iteration
    Returns W_sn: (d_in, d_out) and cache = (W_sn, u, v, sigma) with v = W^T u / sigma: (d_out,),
    so that sigma = u^T W v.
    """
    Wtu = W.T @ u
    sigma = np.linalg.norm(Wtu)
    W_sn = W / sigma
    return W_sn, (W_sn, u, Wtu / sigma, sigma)


def spectral_normalize_backward(dW_sn, cache):
    """dL/dW from G = dL/dW_sn, with u held fixed.

    dW_sn: (d_in, d_out); cache = (W_sn, u, v, sigma) from spectral_normalize_forward
    Returns dW: (d_in, d_out), of W_sn's dtype.

    Every entry W_sn[k, l] = W[k, l] / sigma depends on W[i, j] directly (when kl = ij) and
    through sigma (all of them), with dsigma/dW = u v^T (a (d_in, d_out) outer product). With
    <A, B> = sum_kl A_kl B_kl:

        dL/dW = G / sigma + (dL/dsigma) u v^T,   dL/dsigma = sum_kl G_kl W_kl (-1 / sigma^2)
              = (G - <G, W_sn> u v^T) / sigma
    """
    W_sn, u, v, sigma = cache
    # TODO: G_dot_W_sn = <dW_sn, W_sn>, a number
    # TODO: dW = the formula above (np.outer for u v^T)
    raise NotImplementedError("write the TODO lines above, then delete this line")
    return dW
