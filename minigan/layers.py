"""Layers as forward/backward pairs, written out by hand.

Every `<op>_forward` returns `(out, cache)`; the matching `<op>_backward(dout, cache)`
returns the gradient of the loss with respect to each input, each with the shape of
that input. Nothing here keeps state: the MLP (minigan.mlp) holds parameters and caches.

The affine backward is derived in index form in docs/guide.md, section 3.3; an activation's
backward multiplies dout by its derivative entry by entry (ReLU's at exactly 0: exercise 1).

Deliberately left out: convolutions, normalisation layers, dropout.
"""
import numpy as np


# ----------------------------------------------------------------------------- affine
def affine_forward(x, W, b):
    """out = x @ W + b.

    x: (n, d_in), W: (d_in, d_out), b: (d_out,)  ->  out: (n, d_out)
    """
    out = x @ W + b
    return out, (x, W)


def affine_backward(dout, cache, need_dx=True):
    """Gradients of out = x @ W + b.

    dout: (n, d_out)  ->  dx: (n, d_in) (None when need_dx is False), dW: (d_in, d_out), db: (d_out,)

    In indices out_ik = sum_j x_ij W_jk + b_k (i: sample, j: input, k: output), and the chain
    rule sums over every output an input touches (dout_ik = dL/dout_ik):
        dx_ij = sum_k dout_ik W_jk   = (dout @ W.T)_ij     x_ij feeds out_ik for every k
        dW_jk = sum_i x_ij dout_ik   = (x.T @ dout)_jk     W_jk is used by every sample i
        db_k  = sum_i dout_ik                              b_k likewise, with derivative 1
    (docs/guide.md, section 3.3, derives these and checks them against the code.)
    """
    x, W = cache
    dx = dout @ W.T if need_dx else None  # dx_ij = sum_k dout_ik W_jk
    dW = x.T @ dout                        # dW_jk = sum_i x_ij dout_ik: summed over the batch
    db = dout.sum(axis=0)                  # db_k = sum_i dout_ik
    return dx, dW, db


def affine_backward_input(dout, cache):
    """Only dx = dout @ W.T: for backpropagating through a frozen network."""
    _, W = cache
    return dout @ W.T


# ------------------------------------------------------------------------- activations
def relu_forward(x):
    """out = max(x, 0)."""
    out = np.maximum(x, 0)
    return out, x


def relu_backward(dout, cache):
    """dx = dout * [x > 0]: an elementwise op's backward multiplies dout by its derivative."""
    x = cache
    return dout * (x > 0)


LEAKY_SLOPE = 0.2  # the compiled core (ext/dense.pyx) uses the same slope; a test checks it


def leaky_relu_forward(x, slope=LEAKY_SLOPE):
    """out = x if x > 0 else slope * x."""
    out = np.where(x > 0, x, slope * x)
    return out, (x, slope)


def leaky_relu_backward(dout, cache):
    """dx = dout * (1 if x > 0 else slope)."""
    x, slope = cache
    return dout * np.where(x > 0, 1.0, slope).astype(dout.dtype, copy=False)


def tanh_forward(x):
    """out = tanh(x)."""
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """dx = dout * (1 - tanh(x)^2), reusing the forward output (d tanh / dx = 1 - tanh^2)."""
    out = cache
    return dout * (1 - out * out)


def sigmoid(x):
    """Numerically stable logistic 1 / (1 + exp(-x)); never overflows."""
    e = np.exp(-np.abs(x))  # in (0, 1]
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_forward(x):
    """out = 1 / (1 + exp(-x))."""
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout, cache):
    """dx = dout * s * (1 - s), reusing the forward output s.

    s = 1 / (1 + e^-x)  ->  ds/dx = e^-x / (1 + e^-x)^2 = s * (1 - s).
    """
    s = cache
    return dout * s * (1 - s)


def identity_forward(x):
    """out = x."""
    return x, None


def identity_backward(dout, cache):
    """dx = dout."""
    return dout


def sin_forward(x):
    """out = sin(x): a periodic activation.

    After an affine map it gives the features sin(u W + b), each a plane wave: constant along
    the lines u W_k = const, repeating every 2 pi / ||W_k|| across them.  Points a whole period
    apart get the same feature, so a kernel on such features can treat the cells of a regular
    grid as one (random Fourier features draw W at random and keep it; here W is learned).
    Not in ACTIVATIONS: the compiled core has no sin; minigan.deep_kernel uses it as its
    optional periodic first layer.
    """
    return np.sin(x), x


def sin_backward(dout, cache):
    """dx = dout * cos(x)   (d sin / dx = cos)."""
    x = cache
    return dout * np.cos(x)


ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "tanh": (tanh_forward, tanh_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "identity": (identity_forward, identity_backward),
}
