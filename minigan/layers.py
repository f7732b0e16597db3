"""Layers as forward/backward pairs, written out by hand.

Every `<op>_forward` returns `(out, cache)`; the matching `<op>_backward(dout, cache)`
returns the gradient of the loss with respect to each input, each with the shape of
that input. Nothing here keeps state: the MLP (minigan.mlp) holds parameters and caches.

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
    """
    x, W = cache
    dx = dout @ W.T if need_dx else None  # d(out)/dx = W
    dW = x.T @ dout                        # d(out)/dW = x, summed over the batch
    db = dout.sum(axis=0)                  # d(out)/db = 1, summed over the batch
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
    """dx = dout * [x > 0]."""
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
    """dx = dout * (1 - tanh(x)^2), reusing the forward output."""
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
    """dx = dout * s * (1 - s), reusing the forward output s."""
    s = cache
    return dout * s * (1 - s)


def identity_forward(x):
    """out = x."""
    return x, None


def identity_backward(dout, cache):
    """dx = dout."""
    return dout


ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "tanh": (tanh_forward, tanh_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "identity": (identity_forward, identity_backward),
}
