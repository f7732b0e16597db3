"""Figures of merit for generated samples.

    ks_statistic    1-D: sup_x |F_n(x) - F(x)| against a target CDF, with its p-value
    transform_error 1-D: sup_z |G(z) - F^-1((z+1)/2)| against the ideal monotone transform
                         (or its mirror, F^-1((1-z)/2): both push U(-1, 1) onto F)

    mode_coverage   2-D mixtures: modes covered, % high quality, reverse KL (VEEGAN/PacGAN)
    kl_to_uniform   KL of a histogram (modes, classes) against the uniform one
    train_classifier / classify   a softmax MLP to label generated images (digits demo)

Deliberately left out: Inception/FID-style scores (they need a pretrained image network).
"""
import numpy as np
from scipy import stats

from ._checks import as_float_array, check_positive_float, check_seed
from .losses import softmax_cross_entropy
from .mlp import MLP
from .optim import Adam


def ks_statistic(samples, cdf):
    """Kolmogorov-Smirnov statistic and p-value of 1-D samples against a CDF.

    samples: (n,) or (n, 1);  cdf: a function x -> F(x), e.g. minigan.data.gaussian_1d(...).cdf
    Returns (statistic, p_value).
    """
    x = as_float_array(np.asarray(samples).reshape(-1), "samples", ndim=1)
    result = stats.kstest(x, cdf)
    return float(result.statistic), float(result.pvalue)


def transform_error(G_of_z, z, ppf):
    """sup over the z grid of |G(z) - F^-1((z+1)/2)|, the better of the two monotone solutions.

    G_of_z: (k,) generator outputs at the noise values z: (k,) in (-1, 1); ppf: F^-1.
    Returns (error, mirrored) where mirrored says the decreasing solution fits better.
    """
    g = as_float_array(np.asarray(G_of_z).reshape(-1), "G_of_z", ndim=1)
    z = as_float_array(np.asarray(z).reshape(-1), "z", ndim=1)
    increasing = np.abs(g - ppf((z + 1) / 2)).max()
    decreasing = np.abs(g - ppf((1 - z) / 2)).max()
    return float(min(increasing, decreasing)), bool(decreasing < increasing)


def mode_coverage(samples, centres, std, threshold=3.0):
    """Mode collapse figures on a Gaussian mixture (VEEGAN, PacGAN protocol).

    samples: (n, d) generated (the protocol draws 2,500);  centres: (k, d);  std: the modes' std
    A sample is *high quality* when it lies within `threshold` std of its nearest centre.
    Returns a dict:
      modes         number of centres nearest to at least one high-quality sample
      high_quality  fraction of samples that are high quality, in [0, 1]
      reverse_kl    KL(p || uniform) = sum_i p_i log(k p_i), p the histogram of the high-quality
                    samples over the modes (0 when perfectly balanced; inf with no HQ sample)
      counts        (k,) high-quality samples per mode
    """
    x = as_float_array(samples, "samples", ndim=2)
    c = as_float_array(centres, "centres", ndim=2)
    std = check_positive_float(std, "std")
    threshold = check_positive_float(threshold, "threshold")
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"samples have {x.shape[1]} columns, centres {c.shape[1]}")
    d2 = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)      # (n, k) squared distances
    nearest = d2.argmin(axis=1)
    hq = np.sqrt(d2[np.arange(len(x)), nearest]) <= threshold * std
    counts = np.bincount(nearest[hq], minlength=len(c))
    return {"modes": int((counts > 0).sum()), "high_quality": float(hq.mean()),
            "reverse_kl": kl_to_uniform(counts), "counts": counts}


def kl_to_uniform(counts):
    """KL(p || uniform) = sum_i p_i log(k p_i) of a histogram over k bins (inf when empty)."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.sum() == 0:
        return float("inf")
    p = counts / counts.sum()
    nz = p > 0
    return float(np.sum(p[nz] * np.log(len(p) * p[nz])))


def train_classifier(x, y, hidden=(128,), steps=3000, batch_size=128, lr=1e-3, seed=0):
    """A softmax MLP classifier trained with Adam on (x: (n, d), y: (n,) labels in [0, k)).

    Used to judge generated images: what class does each look like? Returns the MLP
    (outputs are logits; see `classify`).
    """
    x = as_float_array(x, "x", ndim=2)
    y = np.asarray(y)
    if y.shape != (len(x),) or y.dtype.kind not in "iu":
        raise ValueError(f"y must be {len(x)} integer labels")
    rng = np.random.default_rng(check_seed(seed))
    net = MLP([x.shape[1], *hidden, int(y.max()) + 1], "relu", seed=rng)
    opt = Adam(net.params, lr=lr)
    for _ in range(steps):
        idx = rng.integers(0, len(x), size=batch_size)
        _, dlogits = softmax_cross_entropy(net.forward(x[idx]), y[idx])
        net.zero_grad()
        net.backward(dlogits, need_input_grad=False)
        opt.step(net.grads)
    return net


def classify(net, x):
    """Predicted labels (n,) of a classifier from train_classifier."""
    return net.forward(x).argmax(axis=1)
