"""Exercise affine_backward: the backward pass of an affine layer, out = x @ W + b.

Write the lines marked TODO, delete the `raise NotImplementedError` line, then run

    minigan exercise check affine_backward

Read first: docs/guide.md, section 3.3 (The affine backward, in index form).
After you pass, compare with minigan/layers.py, affine_backward.
"""
import numpy as np


def affine_forward(x, W, b):
    """out = x @ W + b.

    x: (n, d_in), W: (d_in, d_out), b: (d_out,)  ->  out: (n, d_out), cache = (x, W)
    """
    out = x @ W + b
    return out, (x, W)


def affine_backward(dout, cache):
    """Gradients of out = x @ W + b, given dout = dL/dout.

    dout:  (n, d_out)
    cache: (x, W) from affine_forward, x: (n, d_in), W: (d_in, d_out)
    Returns dx: (n, d_in), dW: (d_in, d_out), db: (d_out,), each of the inputs' dtype.

    In indices out_ik = sum_j x_ij W_jk + b_k (i: sample, j: input, k: output), and the chain
    rule sums over every output an input touches:

        dx_ij = sum_k dout_ik W_jk
        dW_jk = sum_i x_ij dout_ik
        db_k  = sum_i dout_ik

    Each is one NumPy expression. A shape check helps: of dout (n, d_out) and W (d_in, d_out),
    only one product has dx's shape (n, d_in).
    """
    x, W = cache
    # TODO: dx = the gradient with respect to x, (n, d_in)
    # TODO: dW = the gradient with respect to W, (d_in, d_out)
    # TODO: db = the gradient with respect to b, (d_out,)
    raise NotImplementedError("write the TODO lines above, then delete this line")
    return dx, dW, db
