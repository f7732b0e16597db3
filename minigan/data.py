"""Target distributions to learn: Gaussian mixtures in 1-D and 2-D.

Everything is a `GaussianMixture`: centres (k, d), one std per component and
mixing weights. It samples (with a seed or a Generator), and gives the density;
in 1-D also the CDF and its inverse (the ideal generator from uniform noise is
G*(z) = F^-1((z + 1) / 2)). Mixtures expose `centres` and `std` for the
mode-coverage metrics.

Protocols (kept exact, see docs/design.md):
  ring: 8 Gaussians at r (cos 2 pi i/8, sin 2 pi i/8), r = 1, std 0.01 (8 distinct centres:
        the widely copied np.linspace(0, 2 pi, 8) repeats the first one)
  grid: 25 Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05

Curves: `moons()` (two interleaved half circles) and `spiral()`, points on a curve plus
Gaussian noise (`NoisyCurve`): 2-D shapes with no modes to count, for looking at.

Images: `digits()` gives scikit-learn's bundled 8x8 digits (1,797 images, no download)
flattened to 64-vectors and scaled to [-1, 1], with a fixed train/held-out split.

Deliberately left out: downloads of larger image data sets.
"""
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from ._checks import (as_float_array, check_number, check_number_in, check_positive_float,
                      check_positive_int, check_seed)

REACH = 40      # every component lies within REACH stds of its centre (ppf's bracket)


class GaussianMixture:
    """Isotropic Gaussian mixture: component i is N(centres[i], stds[i]^2 I) with weight w_i.

    centres: (k, d); stds: scalar or (k,); weights: (k,) summing to 1 (default uniform)
    Every centre +- REACH stds must be a finite float (samples and the density stay finite).
    """

    def __init__(self, centres, stds, weights=None, name="mixture"):
        self.centres = as_float_array(centres, "centres", ndim=2, dtype=np.float64)
        k = len(self.centres)
        stds = as_float_array(stds, "stds", dtype=np.float64)
        if stds.shape not in ((), (1,), (k,)):
            raise ValueError(f"stds must be one number or {k} (one per component), got shape "
                             f"{stds.shape}")
        self.stds = np.broadcast_to(stds, (k,)).copy()
        if not np.all(self.stds > 0):
            raise ValueError(f"stds must be > 0, got {stds!r}")
        with np.errstate(over="ignore"):    # the overflow is the answer here
            reach = np.abs(self.centres).max(1) + REACH * self.stds
        if not np.all(np.isfinite(reach)):
            raise ValueError(f"centres and stds are too large: centre +- {REACH} std must be a "
                             f"finite float (samples would overflow to inf)")
        w = (np.full(k, 1.0 / k) if weights is None
             else as_float_array(weights, "weights", ndim=1, dtype=np.float64))
        if w.shape != (k,) or np.any(w < 0) or not np.isclose(w.sum(), 1.0):
            raise ValueError(f"weights must be {k} non-negative numbers summing to 1, got {weights!r}")
        self.weights = w
        self.name = name

    @property
    def dim(self):
        return self.centres.shape[1]

    @property
    def std(self):
        """The common std (mixtures with one std per component raise)."""
        if not np.all(self.stds == self.stds[0]):
            raise ValueError("this mixture has a different std per component; use .stds")
        return float(self.stds[0])

    @property
    def mean(self):
        """Mixture mean, (d,)."""
        return self.weights @ self.centres

    def sample(self, n, seed=None, return_labels=False):
        """n samples, (n, d); with return_labels also the component of each, (n,)."""
        n = check_positive_int(n, "n")
        rng = np.random.default_rng(check_seed(seed))
        # rng.choice(k, size=n, p=weights) without its per-call checks of the weights (made
        # once, in __init__): the same draws, one u ~ U[0, 1) per sample, and the component
        # whose step of the cumulative weights holds u
        cdf = np.cumsum(self.weights)
        cdf /= cdf[-1]
        labels = cdf.searchsorted(rng.random(n), side="right")
        x = self.centres[labels] + self.stds[labels, None] * rng.standard_normal((n, self.dim))
        return (x, labels) if return_labels else x

    def pdf(self, x):
        """Density at x: (n, d) (or (n,) in 1-D) -> (n,)."""
        x = self._points(x)
        # (x - c) / s before squaring, so that s^2 neither overflows (1e200) nor underflows
        with np.errstate(over="ignore"):    # z2 = inf far out: a density of exactly 0
            z2 = (((x[:, None, :] - self.centres[None]) / self.stds[None, :, None]) ** 2).sum(-1)
        norm = (np.sqrt(2 * np.pi) * self.stds) ** -self.dim                         # (k,)
        return (np.exp(-0.5 * z2) * norm) @ self.weights                             # (n,)

    def cdf(self, x):
        """1-D only: F(x) = sum_i w_i Phi((x - c_i) / s_i)."""
        x = self._points(x, need_1d=True)[:, 0]
        return ndtr((x[:, None] - self.centres[None, :, 0]) / self.stds) @ self.weights

    def ppf(self, q):
        """1-D only: F^-1(q) for q in (0, 1), by bisection (exact to ~1e-12)."""
        self._points(np.zeros(1), need_1d=True)
        q = as_float_array(q, "q", dtype=np.float64)       # NaN is refused (was -40)
        if np.any((q <= 0) | (q >= 1)):
            raise ValueError("q must lie strictly between 0 and 1")
        lo = np.full(q.shape, (self.centres[:, 0] - REACH * self.stds).min())
        hi = np.full(q.shape, (self.centres[:, 0] + REACH * self.stds).max())
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            below = self.cdf(mid.ravel()).reshape(q.shape) < q
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return 0.5 * (lo + hi)

    def _points(self, x, need_1d=False):
        if need_1d and self.dim != 1:
            raise ValueError(f"this needs a 1-D distribution; {self.name} is {self.dim}-D")
        x = as_float_array(x, "x", dtype=np.float64)
        if self.dim == 1 and x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must be ({'n,) or (' if self.dim == 1 else ''}n, {self.dim}) "
                             f"for this {self.dim}-D distribution, got shape {x.shape}")
        return x

    def __repr__(self):
        return f"GaussianMixture({self.name}: {len(self.centres)} components in {self.dim}-D)"


def gaussian_1d(mean=0.0, std=1.0):
    """N(mean, std^2) in 1-D."""
    mean, std = check_number(mean, "mean"), check_positive_float(std, "std")
    return GaussianMixture([[mean]], std, name=f"N({mean:g}, {std:g}^2)")


def mixture_1d(means=(-2.0, 2.0), stds=0.5, weights=None):
    """A 1-D mixture of Gaussians, one component per mean (means: a list of numbers)."""
    means = as_float_array(means, "means", ndim=1, dtype=np.float64)[:, None]
    return GaussianMixture(means, stds, weights, name="mixture_1d")


def ring(n_modes=8, radius=1.0, std=0.01):
    """n_modes Gaussians evenly spaced on a circle (ring-8 protocol by default)."""
    n_modes = check_positive_int(n_modes, "n_modes")
    radius = check_number(radius, "radius")
    angles = 2 * np.pi * np.arange(n_modes) / n_modes  # endpoint excluded: n distinct centres
    centres = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return GaussianMixture(centres, check_positive_float(std, "std"), name=f"ring-{n_modes}")


def grid(side=5, spacing=2.0, std=0.05):
    """side x side Gaussians on a square grid centred at 0 (grid-25 protocol by default)."""
    side = check_positive_int(side, "side")
    spacing = check_number(spacing, "spacing")
    ticks = spacing * (np.arange(side) - (side - 1) / 2)
    xx, yy = np.meshgrid(ticks, ticks, indexing="ij")
    centres = np.stack([xx.ravel(), yy.ravel()], axis=1)
    return GaussianMixture(centres, check_positive_float(std, "std"), name=f"grid-{side * side}")


class NoisyCurve:
    """Points on a plane curve plus isotropic noise: x = c(t) + std * e, t ~ U(0, 1), e ~ N(0, I).

    curve: t: (n,) in [0, 1) -> (n, 2) points c(t); std: the noise's standard deviation.
    """

    def __init__(self, curve, std, name="curve"):
        self.curve = curve
        self.std = check_positive_float(std, "std")
        self.name = name

    dim = 2

    def sample(self, n, seed=None):
        """n samples, (n, 2)."""
        n = check_positive_int(n, "n")
        rng = np.random.default_rng(seed)
        t = rng.uniform(0.0, 1.0, size=n)
        return self.curve(t) + self.std * rng.standard_normal((n, 2))

    def __repr__(self):
        return f"NoisyCurve({self.name}, std {self.std:g})"


def moons(std=0.05):
    """Two interleaved half circles of radius 1 (the shape of scikit-learn's make_moons):
    t < 1/2 runs the upper one, (cos a, sin a), a = 2 pi t in [0, pi); t >= 1/2 the lower one,
    (1 - cos a, 1/2 - sin a), a = 2 pi t - pi."""
    def curve(t):
        upper = t < 0.5
        a = np.where(upper, 2 * np.pi * t, 2 * np.pi * t - np.pi)
        return np.where(upper[:, None], np.stack([np.cos(a), np.sin(a)], 1),
                        np.stack([1 - np.cos(a), 0.5 - np.sin(a)], 1))
    return NoisyCurve(curve, std, name="moons")


def spiral(turns=2.0, std=0.03):
    """An Archimedean spiral out to radius 1: c(t) = t (cos 2 pi turns t, sin 2 pi turns t)."""
    turns = check_positive_float(turns, "turns")

    def curve(t):
        a = 2 * np.pi * turns * t
        return t[:, None] * np.stack([np.cos(a), np.sin(a)], 1)
    return NoisyCurve(curve, std, name=f"spiral-{turns:g}")


@dataclass(frozen=True)
class Digits:
    """The 8x8 digits: x arrays (n, 64) in [-1, 1] (pixel p in 0..16 -> p / 8 - 1), labels (n,)."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray

    @staticmethod
    def to_images(x):
        """(n, 64) vectors -> (n, 8, 8) images."""
        return np.asarray(x).reshape(-1, 8, 8)


def digits(test_fraction=1 / 6, seed=0):
    """scikit-learn's 8x8 digits scaled to [-1, 1], split into train and held-out parts.

    The split is a fixed permutation (seed 0 by default): 1,497 train / 300 held-out images.
    Needs scikit-learn: pip install "minigan[demos]".
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError('minigan.data.digits() needs scikit-learn: pip install "minigan[demos]" '
                          '(or pip install scikit-learn)') from None
    test_fraction = check_number_in(test_fraction, "test_fraction", 0, 1, high_open=True)
    seed = check_seed(seed)
    bunch = load_digits()
    x = bunch.data.astype(np.float64) / 8.0 - 1.0
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    test, train = order[:n_test], order[n_test:]
    return Digits(x[train], y[train], x[test], y[test])
