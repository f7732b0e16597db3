"""Binary cross-entropy on logits and the GAN losses built from it.

Every function takes logits s (raw discriminator outputs, D(x) = sigmoid(s)) and
returns (loss, dloss/ds). Losses are means over the batch. All are written with
softplus(t) = log(1 + exp(t)) computed stably, so logits of +-1e4 give finite
values and exact gradients.

    BCE(s, t) = -t log sigmoid(s) - (1 - t) log(1 - sigmoid(s))
              = t softplus(-s) + (1 - t) softplus(s)
              = softplus(s) - t * s
    dBCE/ds   = sigmoid(s) - t

because log sigmoid(s) = -log(1 + e^-s) = -softplus(-s); 1 - sigmoid(s) = sigmoid(-s), so
log(1 - sigmoid(s)) = -softplus(s); softplus(-s) = log(e^-s (e^s + 1)) = softplus(s) - s; and
d softplus(s)/ds = e^s / (1 + e^s) = sigmoid(s). (docs/guide.md, section 3.4, derives this and
the two generator losses, with checks; section 3.5 the discriminator's optimum.)

Backends: the functions below are the NumPy reference. With backend "cython" (see
minigan.backend) the losses a GAN uses run in minigan._ext.losses (built from ext/losses.pyx):
one C loop for value and gradient, results within a few units in the last place. It takes
C-contiguous float32/float64 arrays and one scalar target; anything else (lists, integer or
strided arrays, per-sample targets) runs the NumPy code, which converts it, and so does input
the C loop refuses (NaN or inf logits), so that the error is the NumPy code's on both backends.

Deliberately left out: Wasserstein and hinge losses, gradient penalties.
"""
import numpy as np

from ._checks import as_float_array
from .backend import ext, resolve
from .layers import sigmoid

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))  # native byte order


def softplus(s):
    """log(1 + exp(s)) without overflow: max(s, 0) + log1p(exp(-|s|)).

    For s > 0, log(1 + e^s) = log(e^s (e^-s + 1)) = s + log(1 + e^-s); exp then only sees -|s|.
    """
    return np.maximum(s, 0) + np.log1p(np.exp(-np.abs(s)))


def _sigmoid_minus(s, t):
    """sigmoid(s) - t without cancellation, the BCE gradient's numerator.

    For s >> 0, sigmoid(s) rounds to near 1 and subtracting t ~ 1 keeps only its rounding
    error: in float32, sigmoid(15) - 1 computed that way is 17 % off, and from s = 17 on
    sigmoid(s) rounds to exactly 1, so the gradient comes out 0 (100 % off; docs/guide.md,
    section 3.4, shows it). With e = exp(-|s|) and p = e / (1 + e)
    (= sigmoid(-|s|), the small side, computed accurately):
        s >= 0:  sigmoid(s) - t = (1 - t) - p     (exactly -p when t = 1)
        s <  0:  sigmoid(s) - t = p - t
    """
    e = np.exp(-np.abs(s))
    p = e / (1 + e)
    return np.where(s >= 0, (1 - t) - p, p - t)


def _logits(s, name="logits"):
    return as_float_array(s, name)


def _compiled(backend, *arrays):
    """Whether the compiled kernel runs: the backend resolves to "cython" and every array is
    one it takes as it is (C-contiguous, aligned, native float32/float64)."""
    return resolve(backend, module="losses") == "cython" and all(
        type(a) is np.ndarray and a.dtype in _FLOATS and a.flags.c_contiguous and a.flags.aligned
        for a in arrays)


def _try_compiled(kernel, *args):
    """The compiled kernel's (loss, gradient, ...), or None when it refused its input (a NaN
    or inf logit, which its own loop finds, or a target outside [0, 1]): the NumPy code then
    runs and raises the error that names the argument, the same on both backends."""
    try:
        return getattr(ext("losses"), kernel)(*args)
    except ValueError:
        return None


def bce_with_logits(logits, targets, backend=None):
    """Mean binary cross-entropy and its gradient.

    logits:  (n, ...) raw scores s
    targets: same shape (or broadcastable), values in [0, 1]
    backend: "numpy", "cython", "auto" or None (see minigan.backend and the module docstring)
    loss = mean(softplus(s) - t * s);   dloss/ds = (sigmoid(s) - t) / N
    """
    if np.ndim(targets) == 0 and _compiled(backend, logits):
        out = _try_compiled("bce_with_logits", logits, float(targets))
        if out is not None:
            return out
    s = _logits(logits)
    t = np.broadcast_to(np.asarray(targets, dtype=s.dtype), s.shape)
    if not np.all((t >= 0) & (t <= 1)):
        raise ValueError("targets must lie in [0, 1]")
    loss = np.mean(softplus(s) - t * s)
    dlogits = _sigmoid_minus(s, t) / s.size
    return loss, dlogits


def discriminator_loss(real_logits, fake_logits, real_label=1.0, backend=None):
    """Discriminator loss: the mean BCE over the pooled batch (real -> 1, fake -> 0).

    loss = (n_r * BCE(real, real_label) + n_f * BCE(fake, 0)) / (n_r + n_f)
    It equals ln 2 when D says 1/2 everywhere, the equilibrium value.
    real_label < 1 is one-sided label smoothing (e.g. 0.9).
    Returns (loss, dreal_logits, dfake_logits).
    """
    if np.ndim(real_label) == 0 and _compiled(backend, real_logits, fake_logits):
        out = _try_compiled("discriminator_loss", real_logits, fake_logits, float(real_label))
        if out is not None:
            return out
    r = _logits(real_logits, "real_logits")
    f = _logits(fake_logits, "fake_logits")
    n_r, n_f = r.size, f.size
    loss_r, d_r = bce_with_logits(r, real_label, backend="numpy")
    loss_f, d_f = bce_with_logits(f, 0.0, backend="numpy")
    w_r, w_f = n_r / (n_r + n_f), n_f / (n_r + n_f)
    # each part's gradient is already divided by its own size; reweight to the pooled mean
    return w_r * loss_r + w_f * loss_f, w_r * d_r, w_f * d_f


def discriminator_loss_pooled(logits, n_real, real_label=1.0, backend=None):
    """discriminator_loss for one array of logits, real rows first: a GAN runs D once over
    the stacked batch [real; fake] and hands its output here as it is.

    logits: (n_real + n_fake, ...) D's raw scores;  n_real: how many leading rows are real
    Returns (loss, dlogits of logits' shape, mean D(real), mean D(fake)), D = sigmoid(s):
    the two means show how well D separates the batches (both 1/2 at equilibrium).
    """
    if not 0 < n_real < len(logits):
        raise ValueError(f"n_real must lie in [1, {len(logits) - 1}], got {n_real}")
    if np.ndim(real_label) == 0 and _compiled(backend, logits):
        out = _try_compiled("discriminator_loss_pooled", logits, n_real, float(real_label))
        if out is not None:
            return out
    loss, d_real, d_fake = discriminator_loss(logits[:n_real], logits[n_real:], real_label,
                                              backend="numpy")
    p = sigmoid(_logits(logits))                                  # D(x) on every row
    return loss, np.concatenate([d_real, d_fake]), p[:n_real].mean(), p[n_real:].mean()


def generator_loss_minimax(fake_logits, backend=None):
    """Original minimax generator loss: minimise mean log(1 - D(G(z))).

    log(1 - sigmoid(s)) = -softplus(s), so loss = -mean softplus(s) and
    dloss/ds = -sigmoid(s) / n. It saturates (tiny gradient) while D rejects the fakes.
    """
    if _compiled(backend, fake_logits):
        out = _try_compiled("generator_loss_minimax", fake_logits)
        if out is not None:
            return out
    s = _logits(fake_logits, "fake_logits")
    return -np.mean(softplus(s)), -sigmoid(s) / s.size


def generator_loss_nonsaturating(fake_logits, backend=None):
    """Non-saturating generator loss: minimise -mean log D(G(z)) = BCE(s, 1).

    loss = mean softplus(-s),  dloss/ds = (sigmoid(s) - 1) / n.
    """
    if _compiled(backend, fake_logits):
        out = _try_compiled("bce_with_logits", fake_logits, 1.0)
        if out is not None:
            return out
    return bce_with_logits(_logits(fake_logits, "fake_logits"), 1.0, backend="numpy")


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
