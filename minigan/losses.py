"""Binary cross-entropy on logits and the GAN losses built from it.

Every function takes logits s (raw discriminator outputs, D(x) = sigmoid(s)) and
returns (loss, dloss/ds). Losses are means over the batch. All are written with
softplus(t) = log(1 + exp(t)) computed stably, so logits of +-1e4 give finite
values and exact gradients.

    BCE(s, t) = -t log sigmoid(s) - (1 - t) log(1 - sigmoid(s))
              = softplus(s) - t * s

Deliberately left out: Wasserstein and hinge losses, gradient penalties.
"""
import numpy as np

from ._checks import as_float_array
from .layers import sigmoid


def softplus(s):
    """log(1 + exp(s)) without overflow: max(s, 0) + log1p(exp(-|s|))."""
    return np.maximum(s, 0) + np.log1p(np.exp(-np.abs(s)))


def _logits(s, name="logits"):
    return as_float_array(s, name)


def bce_with_logits(logits, targets):
    """Mean binary cross-entropy and its gradient.

    logits:  (n, ...) raw scores s
    targets: same shape (or broadcastable), values in [0, 1]
    loss = mean(softplus(s) - t * s);   dloss/ds = (sigmoid(s) - t) / N
    """
    s = _logits(logits)
    t = np.broadcast_to(np.asarray(targets, dtype=s.dtype), s.shape)
    if not np.all((t >= 0) & (t <= 1)):
        raise ValueError("targets must lie in [0, 1]")
    loss = np.mean(softplus(s) - t * s)
    dlogits = (sigmoid(s) - t) / s.size
    return loss, dlogits


def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    """Discriminator loss: the mean BCE over the pooled batch (real -> 1, fake -> 0).

    loss = (n_r * BCE(real, real_label) + n_f * BCE(fake, 0)) / (n_r + n_f)
    It equals ln 2 when D says 1/2 everywhere, the equilibrium value.
    real_label < 1 is one-sided label smoothing (e.g. 0.9).
    Returns (loss, dreal_logits, dfake_logits).
    """
    r = _logits(real_logits, "real_logits")
    f = _logits(fake_logits, "fake_logits")
    n_r, n_f = r.size, f.size
    loss_r, d_r = bce_with_logits(r, real_label)
    loss_f, d_f = bce_with_logits(f, 0.0)
    w_r, w_f = n_r / (n_r + n_f), n_f / (n_r + n_f)
    # each part's gradient is already divided by its own size; reweight to the pooled mean
    return w_r * loss_r + w_f * loss_f, w_r * d_r, w_f * d_f


def generator_loss_minimax(fake_logits):
    """Original minimax generator loss: minimise mean log(1 - D(G(z))).

    log(1 - sigmoid(s)) = -softplus(s), so loss = -mean softplus(s) and
    dloss/ds = -sigmoid(s) / n. It saturates (tiny gradient) while D rejects the fakes.
    """
    s = _logits(fake_logits, "fake_logits")
    return -np.mean(softplus(s)), -sigmoid(s) / s.size


def generator_loss_nonsaturating(fake_logits):
    """Non-saturating generator loss: minimise -mean log D(G(z)) = BCE(s, 1).

    loss = mean softplus(-s),  dloss/ds = (sigmoid(s) - 1) / n.
    """
    return bce_with_logits(_logits(fake_logits, "fake_logits"), 1.0)


GENERATOR_LOSSES = {
    "minimax": generator_loss_minimax,
    "non-saturating": generator_loss_nonsaturating,
}


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of a softmax classifier and its gradient.

    logits: (n, k) raw class scores s;  labels: (n,) integers in [0, k)
    loss = mean_i (logsumexp(s_i) - s_i[y_i]);   dloss/ds = (softmax(s) - onehot(y)) / n
    """
    s = as_float_array(logits, "logits", ndim=2)
    y = np.asarray(labels)
    if y.shape != (len(s),) or y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= s.shape[1]:
        raise ValueError(f"labels must be {len(s)} integers in [0, {s.shape[1]})")
    shifted = s - s.max(axis=1, keepdims=True)            # logsumexp without overflow
    log_z = np.log(np.exp(shifted).sum(axis=1))
    rows = np.arange(len(s))
    loss = np.mean(log_z - shifted[rows, y])
    dlogits = np.exp(shifted - log_z[:, None])            # softmax(s)
    dlogits[rows, y] -= 1                                  # - onehot(y)
    return loss, dlogits / len(s)
