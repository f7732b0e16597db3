"""Exercise relu_backward: the backward pass of ReLU, out = max(x, 0).

Write the line marked TODO, delete the `raise NotImplementedError` line, then run

    minigan exercise check relu_backward

Read first: docs/guide.md, section 3.3 (The affine backward, in index form), its paragraph on
activations, and section 5, exercise 1.
After you pass, compare with minigan/layers.py, relu_backward.
"""
import numpy as np


def relu_forward(x):
    """out = max(x, 0), elementwise.  x: any shape -> out: the same shape, cache = x"""
    out = np.maximum(x, 0)
    return out, x


def relu_backward(dout, cache):
    """dx = dout * d max(x, 0)/dx, elementwise.

    dout:  dL/dout, the shape of x
    cache: x, from relu_forward
    Returns dx, the shape and dtype of x.

    An elementwise op's backward multiplies dout by the op's derivative, entry by entry.
    The derivative of max(x, 0) is 1 where x > 0 and 0 where x < 0. At x = 0 exactly it has
    none; minigan (and its compiled core) takes 0 there, and the check tests that point too.
    """
    x = cache
    # TODO: dx = dout times the derivative of max(x, 0), of dout's dtype
    raise NotImplementedError("write the TODO lines above, then delete this line")
    return dx
