"""Exercise adam: one step of Adam with bias correction, on one parameter array.

Write the lines marked TODO, delete the `raise NotImplementedError` line, then run

    minigan exercise check adam

Read first: docs/guide.md, section 3.6 (Adam's bias correction).
After you pass, compare with minigan/optim.py, Adam._update.
"""
import numpy as np


def adam_update(p, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Update the parameter p and Adam's moments m and v in place, for step t.

    p: the parameter array; g: its gradient, m, v: the running moments (all of p's shape and
    dtype; m and v start at zero); t: the step number, 1 at the first step.
    Returns nothing: p, m and v are changed in place (p -= ..., m *= ...), because the network
    and the optimiser hold these very arrays.

        m <- beta1 m + (1 - beta1) g             (first moment)
        v <- beta2 v + (1 - beta2) g^2           (second moment)
        m_hat = m / (1 - beta1^t)                (bias corrections: m and v start at 0)
        v_hat = v / (1 - beta2^t)
        p <- p - lr m_hat / (sqrt(v_hat) + eps)
    """
    # TODO: the first moment, in place: m *= ..., then m += ...
    # TODO: the second moment, in place, likewise
    # TODO: m_hat and v_hat, the bias-corrected moments
    # TODO: the step on p, in place
    raise NotImplementedError("write the TODO lines above, then delete this line")
