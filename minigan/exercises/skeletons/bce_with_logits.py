"""Exercise bce_with_logits: binary cross-entropy on logits, its loss and its gradient.

Write the lines marked TODO, delete the `raise NotImplementedError` lines, then run

    minigan exercise check bce_with_logits

Read first: docs/guide.md, section 3.4 (Binary cross-entropy on logits, via softplus).
After you pass, compare with minigan/losses.py, softplus and bce_with_logits.
"""
import numpy as np


def sigmoid(s):
    """1 / (1 + exp(-s)) without overflow (exp only ever sees -|s|)."""
    e = np.exp(-np.abs(s))
    return np.where(s >= 0, 1 / (1 + e), e / (1 + e))


def softplus(s):
    """softplus(s) = log(1 + exp(s)), elementwise, finite for every finite s.

    s: any shape -> the same shape and dtype.
    exp(s) overflows for s above ~709 (float64), so use, for s > 0,
        log(1 + e^s) = log(e^s (e^-s + 1)) = s + log(1 + e^-s),
    i.e. softplus(s) = max(s, 0) + log1p(exp(-|s|)) for every s.
    """
    # TODO: return softplus(s) in the form above (np.maximum, np.log1p, np.exp, np.abs)
    raise NotImplementedError("write the TODO lines above, then delete this line")


def bce_with_logits(logits, targets):
    """Mean binary cross-entropy of logits s against targets t, and its gradient.

    logits:  (n,) or (n, k) raw scores s; the probability is D = sigmoid(s)
    targets: values in [0, 1], the shape of logits or one number
    Returns (loss, dlogits): loss a number, dlogits = dloss/ds of logits' shape and dtype.

        BCE(s, t) = -t log D - (1 - t) log(1 - D) = softplus(s) - t s
        loss      = mean over all N = s.size entries of BCE(s, t)
        dBCE/ds   = sigmoid(s) - t
    """
    s = logits
    t = np.broadcast_to(np.asarray(targets, dtype=s.dtype), s.shape)
    # TODO: loss = the mean of softplus(s) - t s
    # TODO: dlogits = the gradient of that mean with respect to every entry of s
    raise NotImplementedError("write the TODO lines above, then delete this line")
    return loss, dlogits
