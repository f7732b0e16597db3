"""A learned ("deep") kernel for the two-sample test: MMD-D (Liu et al., 2020, ICML, "Learning
deep kernels for non-parametric two-sample tests"; Sutherland et al., 2017, ICLR).

The kernel.  With phi a minigan.MLP (the learned features) and two Gaussian kernels, each with
its own learned length-scale,

    kappa(x, y) = exp(-||phi(x) - phi(y)||^2 / (2 sigma_phi^2))      on the features
    q(x, y)     = exp(-||x - y||^2 / (2 sigma_q^2))                  on the inputs
    k(x, y)     = [(1 - eps) kappa(x, y) + eps] q(x, y),             eps in (0, 1)

A periodic first layer (`periodic` > 0) makes phi(u) = MLP(sin(u W_0 + b_0)) with learned
frequencies W_0 and phases b_0: plane waves that repeat every 2 pi / ||W_0k||.  Where the
samples live on a regular grid of clusters and differ within every cluster alike, frequencies
that match the grid give every cluster the same features, so kappa compares the rows' places
within their clusters and every pair of rows, not only pairs in one cluster, carries the
difference.  (Random Fourier features draw such W_0 and keep them; here the criterion below
moves them, from N(0, frequency^2) on the standardised inputs.)

The eps * q part keeps k characteristic whatever phi learns (a phi that merges two points
cannot make k blind to their difference).  Inputs are first standardised, column by column,
with the mean and spread of the rows the kernel was trained on; that shift and scale are part of
the kernel (fixed, not learned), so it applies unchanged to new data.  The three scalars are
learned through unconstrained numbers, theta = (log sigma_phi, log sigma_q, logit eps).

The criterion (Sutherland et al. 2017; Liu et al. 2020, eq. 5) is the power proxy of
minigan.two_sample, J = MMD^2_u / sqrt(var_hat + lambda), computed from the pooled kernel matrix
K of Z = [X; Y] (N = n + m rows):

    f_i = sum_{j != i} K[x_i, x_j] / (n - 1) - sum_j K[x_i, y_j] / m        (n,)
    g_j = sum_{i != j} K[y_j, y_i] / (m - 1) - sum_i K[x_i, y_j] / n        (m,)
    MMD^2_u = mean f + mean g,      var_hat = 4 var f / n + 4 var g / m

Maximising J maximises the asymptotic power of the test: for large n the power is about
Phi(J - c_alpha / sqrt(var_hat)), c_alpha the test's threshold, and the first term dominates.
A big MMD^2 relative to its own noise.

Its gradient, written out by hand in the order `criterion_and_grad` computes it:

1. dJ/dK entry-wise (`criterion_backward`): with s = (var_hat + lambda)^(-1/2),
       dJ/dMMD^2 = s,   dJ/dvar_hat = -MMD^2 s^3 / 2,
       dJ/df_i = s / n + dJ/dvar_hat * 8 (f_i - mean f) / n^2      (d var f / df_i = 2 (f_i - mean f) / n)
       dJ/dg_j = s / m + dJ/dvar_hat * 8 (g_j - mean g) / m^2
   and f, g are linear in K: G[x_i, x_j] = dJ/df_i / (n - 1) (i != j), G[y_j, y_i] likewise
   with g, G[x_i, y_j] = -dJ/df_i / m - dJ/dg_j / n.  Every entry K_ij = k(z_i, z_j) is a
   symmetric function of its two rows, so only G + G^T matters: G is symmetrised, and the
   diagonal (left out of the U-statistic) is 0.
2. Through the kernel (`kernel_backward`), entry-wise with D_phi = ||phi_i - phi_j||^2 and
   D_z = ||z_i - z_j||^2 (z standardised):
       dK/dkappa = (1 - eps) q,   dkappa/dlog sigma_phi = kappa D_phi / sigma_phi^2
       dK/dq = (1 - eps) kappa + eps,   dq/dlog sigma_q = q D_z / sigma_q^2  (so dK/dlog sigma_q
                                                                             = K D_z / sigma_q^2)
       dK/deps = (1 - kappa) q,   d eps / d logit eps = eps (1 - eps)
       dkappa/dD_phi = -kappa / (2 sigma_phi^2)
3. Through the squared distances to the features F = phi(Z) (N, d_phi): for a symmetric G_D,
       dJ/dF_a = sum_j G_D[a, j] 2 (F_a - F_j) + sum_i G_D[i, a] 2 (F_a - F_i)
               = 4 (rowsum(G_D)_a F_a - (G_D F)_a)
4. Backpropagation through phi (minigan.MLP.backward) gives dJ/dW, dJ/db of every layer.
   (dJ/db of phi's last layer is 0: a common shift of every feature leaves every distance as
   it is.)  With a periodic first layer, H = sin(A), A = U W_0 + b_0, the MLP also returns
   dJ/dH, then dJ/dA = dJ/dH * cos(A) and dJ/dW_0 = U^T dJ/dA, dJ/db_0 = sum over rows of
   dJ/dA (minigan.layers: sin_backward, affine_backward).

Training (`learn_kernel`): Adam on -J, full batch.  The start: phi's usual initial weights,
sigma_phi the median distance between the initial features, sigma_q the bandwidth with the best
J of q alone on a grid (median * 2^k, k = -5..2; as sigmas="split" of minigan.two_sample; only
bandwidths at which q is not numerically 0 between rows compete, `_best_bandwidth`), and
eps = 0.1, so training starts from about the best single Gaussian kernel.  With a periodic
layer the start differs twice: its frequencies are the waves at which the pooled training rows
repeat most (`peak_frequencies`; from random ones the criterion climbs to the nearest local
peak, which on a grid is rarely the grid's), and sigma_q starts either as above or at the
grid's broadest (median * 4), whichever gives the starting kernel the larger J on the fit rows:
a narrow q confines k to pairs of nearby rows, which is what a periodic phi reaches beyond when
every cluster differs alike, and what keeps the clusters apart when they differ in different
ways.  Which parameters
come back (`selection`):

  "holdout"  early stopping on a held-out part (`holdout`) of the training rows: at step 0 and
             every `check_every` steps J is evaluated on rows the gradient never saw, the
             parameters with the best held-out J are kept (the start included), and training
             stops after `patience` checks without improvement.  Held-out rather than a
             plateau of the training J because the training J keeps rising as phi memorises
             the training rows; the held-out J estimates what the kernel will score on the
             test rows, which is what the test's power depends on.  Its price: the held-out
             rows are not trained on, and a noisy held-out J may keep the untrained start.
  "last"     Liu et al.'s fixed schedule: every training row is trained on for exactly
             `max_steps` steps and the last parameters are kept.  No row is spent on choosing,
             and no noisy choice can fall back to the untrained start; the schedule's length
             is the only guard against memorising.

Either way the training may also penalise phi's weights (`weight_decay`, L2: it maximises
J - weight_decay * sum_l ||W_l||^2, `weight_penalty`), a smoother phi that memorises less.

Which shape of phi (`choose_kernel`, what mmd_test(kernel="deep") does unless phi's shape is
given): the MLP and the periodic map of FEATURE_MAPS are each learned from one seed, so on the
same fit and held-out rows, and the kernel with the larger best held-out J is kept.  Neither
shape suits every problem (waves that match a grid of clusters, an MLP for differences at the
data's scale), and the held-out J is the criterion the early stopping already trusts.

What each choice buys, measured on the blobs, Blob-D and HDGM: docs/results.md (the MMD
two-sample test).

Why J, and why the data are split, with checks: docs/guide.md, section 3.11.

Cost: full N x N matrices (the readable reference), O(N^2 (d + d_phi)) a step, about twenty
passes over N x N arrays (the pooled forward, then steps 1-3); phi itself is cheap.
Deliberately left out: minibatches (Liu et al. train full-batch at these sizes), other kernels
for kappa and q, k-fold choice of the step (k trainings for one kernel), the compiled backend.
"""
import numpy as np
from scipy.special import gammaincc

from . import threads
from ._checks import (MAX_WIDTH, as_float_array, check_choice, check_number_in,
                      check_positive_float, check_positive_int, check_same_width, check_seed,
                      check_widths)
from .layers import affine_backward, affine_forward, sigmoid, sin_backward, sin_forward
from .mlp import MLP
from .mmd import NUMPY_MAX_MEMORY, median_heuristic, squared_distances, witness
from .optim import Adam

LAMBDA = 1e-8              # lambda of J: keeps it finite where var_hat = 0
EPS_INIT = 0.1             # the starting weight of the plain Gaussian q in k
HIDDEN = (50, 50)          # phi's hidden widths (Liu et al. use 3 x 50 and 50 features on Blob)
N_FEATURES = 20            # phi's output width
POOLED_MATRICES = 12       # N x N float64 arrays alive at once in a training step
PERIODIC = 0               # width of phi's periodic first layer (0: none)
FREQUENCY = 7.0            # spread of its initial frequencies, on standardised inputs
MAX_FREQUENCY = 1e3        # beyond: periods of a thousandth of a standard deviation (noise)
PEAK_CANDIDATES = 2000     # frequencies drawn to find the peaks of (peak_frequencies)
BANDWIDTH_GRID = 2.0 ** np.arange(-5, 3)   # sigma_q's starting grid, times the median
FEATURE_MAPS = {           # the shapes of phi that choose_kernel learns and chooses between
    "mlp": dict(hidden=HIDDEN, n_features=N_FEATURES, periodic=0),
    "periodic": dict(hidden=(), n_features=16, periodic=16),   # 16 waves, then a linear map
}


# ------------------------------------------------------------------ criterion
def criterion_forward(Kxx, Kyy, Kxy, lam=LAMBDA):
    """J = MMD^2_u / sqrt(var_hat + lam) from the kernel blocks (module docstring).

    Kxx: (n, n), Kyy: (m, m), Kxy: (n, m) kernel matrices (diagonals are ignored), n, m >= 2.
    Returns (J, cache for criterion_backward); cache["mmd2"] and cache["var"] hold MMD^2_u and
    var_hat.
    """
    n, m = Kxy.shape
    if n < 2 or m < 2:          # the U-statistic leaves out i = j: it divides by n - 1, m - 1
        raise ValueError(f"the criterion needs at least 2 rows in each sample, got n = {n}, "
                         f"m = {m}")
    f = (Kxx.sum(1) - np.diag(Kxx)) / (n - 1) - Kxy.sum(1) / m
    g = (Kyy.sum(1) - np.diag(Kyy)) / (m - 1) - Kxy.sum(0) / n
    mmd2 = f.mean() + g.mean()
    var = 4 * f.var() / n + 4 * g.var() / m
    J = mmd2 / np.sqrt(var + lam)
    return float(J), {"f": f, "g": g, "mmd2": float(mmd2), "var": float(var), "lam": lam, "n": n}


def criterion_backward(cache):
    """dJ/dK (N, N), symmetric with a zero diagonal (module docstring, step 1)."""
    f, g, n, lam = cache["f"], cache["g"], cache["n"], cache["lam"]
    m = len(g)
    s = 1.0 / np.sqrt(cache["var"] + lam)
    dvar = -0.5 * cache["mmd2"] * s**3                        # dJ/dvar_hat
    df = s / n + dvar * 8 * (f - f.mean()) / n**2             # dJ/df_i, through mean and var
    dg = s / m + dvar * 8 * (g - g.mean()) / m**2             # dJ/dg_j
    G = np.zeros((n + m, n + m))
    G[:n, :n] = df[:, None] / (n - 1)                         # f_i holds K[x_i, x_j] / (n - 1)
    G[n:, n:] = dg[:, None] / (m - 1)                         # g_j holds K[y_j, y_i] / (m - 1)
    G[:n, n:] = -df[:, None] / m - dg[None, :] / n            # both hold -K[x_i, y_j]
    G = 0.5 * (G + G.T)                                       # K_ij = K_ji: only G + G^T counts
    np.fill_diagonal(G, 0)                                    # i = j is left out
    return G


# --------------------------------------------------------------------- kernel
class DeepKernel:
    """k(x, y) = [(1 - eps) kappa(phi(x), phi(y)) + eps] q(x, y) (module docstring).

    d:          input width
    hidden:     phi's hidden widths;  n_features: phi's output width
    activation: phi's hidden activation (tanh: smooth, so gradient checks are clean)
    periodic:   0 (none), or the width p of a periodic first layer: phi(u) = MLP(sin(u W_0 + b_0)),
                W_0: (d, p) learned frequencies, b_0: (p,) learned phases
    frequency:  > 0, the spread of W_0's initial entries, N(0, frequency^2) (b_0: U(-pi, pi)):
                random Fourier features of a Gaussian of length-scale 1 / frequency in u
    shift, scale: (d,) standardisation applied to inputs first (u = (x - shift) / scale)
    seed:       int or Generator for phi's initial weights (W_0 and b_0 included)

    Parameters (learned): [W_0, b_0] (`periodic_params`, if any), phi.params and theta =
    [log sigma_phi, log sigma_q, logit eps], in `params` (in that order).  Use it on new data
    as `kernel(A, B)` -> (len(A), len(B)) matrix of k(a_i, b_j); Witness(kernel, X, Y) is its
    witness function.
    """

    def __init__(self, d, hidden=HIDDEN, n_features=N_FEATURES, activation="tanh", shift=None,
                 scale=None, sigma_phi=1.0, sigma_q=1.0, eps=EPS_INIT, seed=None,
                 periodic=PERIODIC, frequency=FREQUENCY):
        d = check_positive_int(d, "d")
        hidden = check_widths(hidden, "hidden")
        n_features = check_positive_int(n_features, "n_features", maximum=MAX_WIDTH)
        periodic, frequency = check_periodic(periodic, frequency)
        rng = np.random.default_rng(check_seed(seed))
        self.phi = MLP([periodic or d, *hidden, n_features], activation=activation, seed=rng,
                       backend="numpy")
        self.periodic_params = ([rng.normal(0, frequency, (d, periodic)),       # W_0
                                 rng.uniform(-np.pi, np.pi, periodic)]          # b_0
                                if periodic else [])
        self.shift = np.zeros(d) if shift is None else _check_vector(shift, "shift", d)
        self.scale = np.ones(d) if scale is None else _check_vector(scale, "scale", d)
        if np.any(self.scale <= 0):
            raise ValueError(f"scale must be > 0 in every column, got {self.scale!r}")
        if not 0 < eps < 1:
            raise ValueError(f"eps must be in (0, 1), got {eps!r}")
        self.theta = np.array([np.log(check_positive_float(sigma_phi, "sigma_phi")),
                               np.log(check_positive_float(sigma_q, "sigma_q")),
                               np.log(eps / (1 - eps))])
        self.params = self.periodic_params + self.phi.params + [self.theta]

    @property
    def sigma_phi(self):
        return float(np.exp(self.theta[0]))

    @property
    def sigma_q(self):
        return float(np.exp(self.theta[1]))

    @property
    def eps(self):
        return float(sigmoid(self.theta[2]))

    def describe(self):
        """One line: phi's shape and the learned scalars."""
        sizes = ([len(self.shift), f"sin {self.phi.sizes[0]}", *self.phi.sizes[1:]]
                 if self.periodic_params else self.phi.sizes)
        return (f"deep kernel: phi {' -> '.join(map(str, sizes))} ({self.phi.activation}),"
                f" sigma_phi = {self.sigma_phi:.4g}, sigma_q = {self.sigma_q:.4g},"
                f" eps = {self.eps:.3g}")

    # -------------------------------------------------------------- forward
    def standardise(self, A):
        """u = (a - shift) / scale, row by row.  A: (n, d) -> (n, d)."""
        return (A - self.shift) / self.scale

    def _check(self, A, name):
        A = as_float_array(A, name, ndim=2, dtype=np.float64)
        if A.shape[1] != len(self.shift):
            raise ValueError(f"{name} must have {len(self.shift)} columns (the kernel's input "
                             f"width), got shape {A.shape}")
        return A

    def features(self, A):
        """(U, phi(U)) for the standardised rows U of A: (n, d) -> ((n, d), (n, n_features))."""
        U = self.standardise(A)
        return U, self._phi_forward(U)[0]

    def _phi_forward(self, U):
        """phi(U) (n, n_features) and the periodic layer's cache (None without one); the MLP
        keeps its own caches."""
        if not self.periodic_params:
            return self.phi.forward(U), None
        A, affine_cache = affine_forward(U, *self.periodic_params)     # u W_0 + b_0
        H, sin_cache = sin_forward(A)                                  # sin(u W_0 + b_0)
        return self.phi.forward(H), (affine_cache, sin_cache)

    def kernel_from_features(self, U_a, F_a, U_b, F_b):
        """k between rows given their standardised inputs U and features F -> (n_a, n_b)."""
        kappa = np.exp(squared_distances(F_a, F_b) * (-0.5 / self.sigma_phi**2))
        q = np.exp(squared_distances(U_a, U_b) * (-0.5 / self.sigma_q**2))
        return ((1 - self.eps) * kappa + self.eps) * q

    def __call__(self, A, B):
        """The kernel matrix k(a_i, b_j).  A: (n_a, d), B: (n_b, d) -> (n_a, n_b)."""
        A, B = self._check(A, "A"), self._check(B, "B")
        return self.kernel_from_features(*self.features(A), *self.features(B))

    # ------------------------------------------------------ criterion and grad
    def _pooled_forward(self, Z, D_z=None):
        """Pooled kernel of Z (N, d) with what kernel_backward needs.  D_z: the (N, N) squared
        distances of the standardised rows, when the caller has them (they do not change
        during training)."""
        U = self.standardise(Z)
        F, periodic_cache = self._phi_forward(U)
        D_phi = squared_distances(F, F)
        D_z = squared_distances(U, U) if D_z is None else D_z
        kappa = np.exp(D_phi * (-0.5 / self.sigma_phi**2))
        q = np.exp(D_z * (-0.5 / self.sigma_q**2))
        K = ((1 - self.eps) * kappa + self.eps) * q
        return K, (F, D_phi, D_z, kappa, q, K, periodic_cache)

    def criterion(self, X, Y, lam=LAMBDA, D_z=None):
        """J of this kernel on X: (n, d), Y: (m, d) (n, m >= 2), a float.  D_z: optional
        squared distances of the standardised pooled rows (see _pooled_forward)."""
        K, _ = self._pooled_forward(np.vstack([X, Y]), D_z)
        return criterion_forward(*_blocks(K, len(X)), lam)[0]

    def kernel_backward(self, G, cache):
        """dJ/dK -> (dJ/dtheta (3,), dJ/dF (N, n_features)) (module docstring, steps 2-3)."""
        F, D_phi, D_z, kappa, q, K, _ = cache
        eps, s_phi, s_q = self.eps, self.sigma_phi, self.sigma_q
        dtheta = np.zeros(3)
        G_q = G * q
        G_kappa_kappa = G_q * (1 - eps) * kappa                       # dJ/dkappa * kappa
        dtheta[0] += np.sum(G_kappa_kappa * D_phi) / s_phi**2         # through log sigma_phi
        dtheta[1] += np.sum(G * K * D_z) / s_q**2                     # dK/dq q = K: log sigma_q
        # dK/deps = (1 - kappa) q, times d eps / d logit eps = eps (1 - eps)
        dtheta[2] += (np.sum(G_q) - np.sum(G_kappa_kappa) / (1 - eps)) * eps * (1 - eps)
        G_D = G_kappa_kappa * (-0.5 / s_phi**2)                       # dJ/dD_phi
        dF = 4 * (G_D.sum(1)[:, None] * F - G_D @ F)                  # through ||F_i - F_j||^2
        return dtheta, dF

    def criterion_and_grad(self, X, Y, lam=LAMBDA, D_z=None):
        """J on X: (n, d), Y: (m, d) and dJ/dparams (aligned with `params`); D_z as in
        criterion.  Returns (J, grads, cache of criterion_forward).  phi.grads are overwritten.
        """
        K, kernel_cache = self._pooled_forward(np.vstack([X, Y]), D_z)
        J, cache = criterion_forward(*_blocks(K, len(X)), lam)
        G = criterion_backward(cache)                                 # dJ/dK
        dtheta, dF = self.kernel_backward(G, kernel_cache)            # through the kernel
        self.phi.zero_grad()
        periodic_cache = kernel_cache[-1]
        dH = self.phi.backward(dF, need_input_grad=periodic_cache is not None)   # through phi
        periodic_grads = []
        if periodic_cache is not None:                                # through the sin layer
            affine_cache, sin_cache = periodic_cache
            dA = sin_backward(dH, sin_cache)                          # dJ/d(u W_0 + b_0)
            periodic_grads = list(affine_backward(dA, affine_cache, need_dx=False)[1:])
        return J, [*periodic_grads, *(g.copy() for g in self.phi.grads), dtheta], cache


def weight_penalty(kernel, weight_decay):
    """The L2 penalty on phi's weight matrices and its gradient:

        P = weight_decay * sum_l ||W_l||^2,      dP/dW_l = 2 weight_decay W_l

    (biases, the three scalars and a periodic layer's frequencies W_0 and phases are not
    penalised: shrinking W_0 would lengthen its periods, not smooth phi).  Returns (P, grads
    aligned with kernel.params).  learn_kernel maximises J - P.
    """
    weights = kernel.phi.params[0::2]
    P = weight_decay * sum(float(np.sum(W * W)) for W in weights)
    grads = [2 * weight_decay * p if i % 2 == 0 else np.zeros_like(p)     # W_l, b_l
             for i, p in enumerate(kernel.phi.params)]
    return P, [np.zeros_like(p) for p in kernel.periodic_params] + grads + [np.zeros(3)]


def check_periodic(periodic, frequency, d=None):
    """The periodic layer's settings, checked: (width >= 0 (int), frequency in
    (0, MAX_FREQUENCY] (float)).

    Given the input width d, also that peak_frequencies can expect at least 10 candidates a
    wave at norm >= pi: PEAK_CANDIDATES * P(chi^2_d >= (pi / frequency)^2) >= 10 periodic.
    """
    periodic = check_positive_int(periodic, "periodic", minimum=0, maximum=MAX_WIDTH)
    frequency = check_positive_float(frequency, "frequency")
    if frequency > MAX_FREQUENCY:   # its waves would only see noise (and far above, overflow)
        raise ValueError(f"frequency must be at most {MAX_FREQUENCY:g} (on standardised rows), "
                         f"got {frequency:g}")
    if periodic and d is not None:
        expected = PEAK_CANDIDATES * gammaincc(d / 2, (np.pi / frequency) ** 2 / 2)
        if expected < 10 * periodic:
            raise ValueError(f"frequency = {frequency:g} is too small for periodic = "
                             f"{periodic}: only about {expected:.3g} of {PEAK_CANDIDATES} "
                             f"candidate frequencies would have norm >= pi; use a larger "
                             f"frequency")
    return periodic, frequency


def _check_vector(v, name, d):
    """A finite float64 vector of length d (the kernel's input width)."""
    v = as_float_array(v, name, ndim=1, dtype=np.float64)
    if v.shape != (d,):
        raise ValueError(f"{name} must have shape ({d},) (one value per input column), "
                         f"got {v.shape}")
    return v


def _blocks(K, n):
    """(Kxx, Kyy, Kxy) views of the pooled matrix K of [X; Y], X the first n rows."""
    return K[:n, :n], K[n:, n:], K[:n, n:]


class Witness:
    """The witness function of a kernel and two samples (X: (n, d), Y: (m, d)):

        witness(p) = mean_j k(p, x_j) - mean_j k(p, y_j),
        MMD^2_b = mean_i witness(x_i) - mean_j witness(y_j)

    Call it on points: (p, d) -> (p,).  Positive where X has more mass than Y as the kernel
    sees it, negative where Y has more: a map of where the two samples differ.
    """

    def __init__(self, kernel, X, Y):
        self.kernel, self.X, self.Y = kernel, X, Y

    def __call__(self, points):
        return witness(self.kernel, points, self.X, self.Y)

    def __repr__(self):
        return f"Witness(of {len(self.X)} and {len(self.Y)} rows)"


# ------------------------------------------------------------------- training
SELECTIONS = ("holdout", "last")   # how learn_kernel picks the parameters it returns
SELECTION = "holdout"
MAX_STEPS = 300            # Adam steps at most (selection="holdout") or exactly ("last")
PATIENCE = 5               # checks without a better held-out J before stopping
HOLDOUT = 0.2              # share of the training rows kept for the held-out J
WEIGHT_DECAY = 0.0         # L2 penalty on phi's weights (weight_penalty)


def check_training(selection, max_steps, patience, holdout, weight_decay):
    """The training settings of learn_kernel, checked (ValueError/TypeError naming the
    argument); returns them as (str, int, int, float, float)."""
    return (check_choice(selection, "selection", SELECTIONS),
            check_positive_int(max_steps, "max_steps"),
            check_positive_int(patience, "patience"),
            check_number_in(holdout, "holdout", 0, 1, high_open=True),
            check_number_in(weight_decay, "weight_decay", 0, np.inf, low_open=False,
                            high_open=True))


def learn_kernel(X, Y, hidden=HIDDEN, n_features=N_FEATURES, activation="tanh", lr=1e-3,
                 max_steps=MAX_STEPS, check_every=10, patience=PATIENCE, holdout=HOLDOUT,
                 lam=LAMBDA, seed=None, selection=SELECTION, weight_decay=WEIGHT_DECAY,
                 periodic=PERIODIC, frequency=FREQUENCY):
    """Train a DeepKernel to maximise J on X: (n, d) vs Y: (m, d); returns (kernel, history).

    selection: which parameters come back (module docstring, "Training"):
      "holdout": a fraction `holdout` of each sample (at least 2 rows) is kept out of the
          gradient; the rest (at least 2 rows) is trained on with Adam (step size lr) for at
          most max_steps full-batch steps, J on the held-out rows is checked at step 0 and
          every check_every steps, training stops after `patience` checks without a better
          one, and the parameters of the best held-out J are returned (the start included).
      "last": every row is trained on, for exactly max_steps steps, and the last parameters
          are returned (Liu et al.'s fixed schedule); holdout and patience are not used.
    weight_decay: >= 0; the training maximises J - weight_decay * sum_l ||W_l||^2 over phi's
        weight matrices (weight_penalty); the held-out J that chooses is the plain J.
    periodic, frequency: the width of phi's periodic first layer (DeepKernel; 0: none) and the
        spread of the candidate frequencies its start is chosen from (peak_frequencies).
    seed: int or Generator (the hold-out split and phi's initial weights).
    history: dict of lists, "step", "J_train", "J_holdout" (empty with "last") at every
    check, and "best_step" (the step whose parameters were returned).
    """
    X = as_float_array(X, "X", ndim=2, dtype=np.float64, min_rows=4)
    Y = as_float_array(Y, "Y", ndim=2, dtype=np.float64, min_rows=4)
    check_same_width(X, Y, "X", "Y")
    _check_memory(len(X) + len(Y))
    selection, max_steps, patience, holdout, weight_decay = check_training(
        selection, max_steps, patience, holdout, weight_decay)
    check_every = check_positive_int(check_every, "check_every")
    periodic, frequency = check_periodic(periodic, frequency, X.shape[1])
    rng = np.random.default_rng(check_seed(seed))
    if selection == "holdout":
        (X_fit, X_val), (Y_fit, Y_val) = (_holdout_split(X, holdout, rng),
                                          _holdout_split(Y, holdout, rng))
    else:
        X_fit, Y_fit = X, Y

    Z = np.vstack([X, Y])
    shift, scale = standardisation(Z)
    kernel = DeepKernel(X.shape[1], hidden, n_features, activation, shift=shift, scale=scale,
                        seed=rng, periodic=periodic, frequency=frequency)
    # sigma_phi starts at the median heuristic of the initial features; sigma_q at the
    # bandwidth of the grid median * 2^k (k = -5..2) with the best J of q alone on the fit rows,
    # or, with a periodic layer, at the grid's broadest if the whole kernel's J is larger there
    sigma_q = _best_bandwidth(kernel, X_fit, Y_fit, lam)
    if periodic:
        kernel.periodic_params[0][...] = peak_frequencies(kernel.standardise(Z), periodic,
                                                          frequency, rng)
    _, F = kernel.features(Z)
    kernel.theta[:2] = np.log([median_heuristic(F), sigma_q])
    if periodic:
        J_narrow = kernel.criterion(X_fit, Y_fit, lam)
        kernel.theta[1] = np.log(BANDWIDTH_GRID[-1] * median_heuristic(kernel.standardise(Z)))
        if kernel.criterion(X_fit, Y_fit, lam) <= J_narrow:
            kernel.theta[1] = np.log(sigma_q)
    optimiser = Adam(kernel.params, lr=lr, backend="numpy")
    D_fit = squared_distances(*2 * [kernel.standardise(np.vstack([X_fit, Y_fit]))])
    if selection == "holdout":
        D_val = squared_distances(*2 * [kernel.standardise(np.vstack([X_val, Y_val]))])

    best = -np.inf
    best_params = [p.copy() for p in kernel.params]
    history = {"step": [], "J_train": [], "J_holdout": [], "best_step": max_steps}
    checks_without_gain = 0
    with threads.limit(threads.step_threads()):   # training's small products: one BLAS thread
        for step in range(max_steps + 1):
            J, grads, _ = kernel.criterion_and_grad(X_fit, Y_fit, lam, D_fit)
            if weight_decay:                                          # maximise J - P
                _, penalty_grads = weight_penalty(kernel, weight_decay)
                grads = [g - dp for g, dp in zip(grads, penalty_grads)]
            if not (np.isfinite(J) and all(np.all(np.isfinite(g)) for g in grads)):
                raise FloatingPointError(f"learn_kernel: non-finite criterion or gradient at "
                                         f"step {step}; try a smaller lr (now {lr:g})")
            if step % check_every == 0 or step == max_steps:   # step 0: the starting kernel
                history["step"].append(step)
                history["J_train"].append(J)
                if selection == "holdout":
                    J_val = kernel.criterion(X_val, Y_val, lam, D_val)
                    history["J_holdout"].append(J_val)
                    if J_val > best:
                        best, history["best_step"], checks_without_gain = J_val, step, 0
                        best_params = [p.copy() for p in kernel.params]
                    else:
                        checks_without_gain += 1
                        if checks_without_gain >= patience:
                            break
            if step < max_steps:
                optimiser.step([-g for g in grads])                   # Adam minimises -J
    if selection == "holdout":
        for p, saved in zip(kernel.params, best_params):
            p[...] = saved
    return kernel, history


def choose_kernel(X, Y, seed=None, frequency=FREQUENCY, **training):
    """The kernel mmd_test(kernel="deep") learns when phi's shape is not given: one
    learn_kernel per feature map of FEATURE_MAPS, all from one seed (so with the same fit and
    held-out rows), and the kernel whose best held-out J is the largest (ties: the first).

    X: (n, d), Y: (m, d); frequency: the periodic map's (check_periodic); training:
    learn_kernel's other settings, with selection "holdout" (the choice is made on the rows
    no training saw). Returns (kernel, history): the chosen kernel's history, plus "chosen"
    (its name in FEATURE_MAPS) and "best_J_holdout" ({name: its best held-out J}).
    """
    if training.get("selection", SELECTION) != "holdout":
        raise ValueError(f"choosing a feature map needs selection='holdout' (held-out rows to "
                         f"choose on), got selection={training['selection']!r}")
    start = int(np.random.default_rng(check_seed(seed)).integers(2**63))
    learned = {name: learn_kernel(X, Y, seed=start, frequency=frequency, **shape, **training)
               for name, shape in FEATURE_MAPS.items()}
    best = {name: float(np.max(np.nan_to_num(history["J_holdout"], nan=-np.inf)))
            for name, (_, history) in learned.items()}
    chosen = max(best, key=best.get)
    kernel, history = learned[chosen]
    return kernel, {**history, "chosen": chosen, "best_J_holdout": best}


def standardisation(Z):
    """(shift, scale): each column's mean and standard deviation of Z (N, d), both (d,).

    Computed on Z * 2^-e, e the binary exponent of max |Z|, and scaled back by 2^e: both steps
    are exact (only exponents change), so data at 1e-200 or 1e200 neither underflows nor
    overflows in the squares of the deviation, and Z * 2^k gives exactly 2^k times the same
    shift and scale (the standardised rows, hence the learned kernel and the test, are the
    same).  A constant column gets scale 1 (it standardises to 0 either way).
    """
    e = int(np.frexp(float(np.abs(Z).max()))[1])
    U = np.ldexp(Z, -e)                                          # max |U| in [1/2, 1)
    shift, scale = np.ldexp(U.mean(0), e), np.ldexp(U.std(0), e)
    return shift, np.where(scale > 0, scale, 1.0)


def _check_memory(N):
    """Refuse, before allocating, training on N pooled rows whose N x N matrices would exceed
    minigan.mmd.NUMPY_MAX_MEMORY (the full matrices are the readable reference)."""
    need = POOLED_MATRICES * 8 * float(N) ** 2
    if need > NUMPY_MAX_MEMORY:
        raise MemoryError(
            f"learning a deep kernel on {N} pooled rows would take about {need / 2**30:.1f} GiB "
            f"of N x N matrices (more than minigan.mmd.NUMPY_MAX_MEMORY = "
            f"{NUMPY_MAX_MEMORY / 2**30:.0f} GiB); learn it on fewer rows (at most "
            f"{int(np.sqrt(NUMPY_MAX_MEMORY / (8 * POOLED_MATRICES)))}; in mmd_test a smaller "
            f"train_fraction), or use the Gaussian kernel, whose test scales to large samples")


def peak_frequencies(U, p, frequency, rng, candidates=PEAK_CANDIDATES):
    """The p frequencies w (columns of a (d, p) array) at which the rows U (N, d) repeat most:
    the largest |mean_i exp(i w . u_i)| (the modulus of the rows' empirical characteristic
    function) among `candidates` draws of N(0, frequency^2 I) with ||w|| >= pi.

    A density made of copies of one cluster on a lattice has |characteristic function| near
    its peak value at every frequency of the lattice's dual (the waves that take the same value
    at every cluster centre) and small between them.  ||w|| >= pi keeps periods 2 pi / ||w|| of
    at most 2 (two standard deviations of standardised rows): longer waves see only the data's
    overall extent, where every density's characteristic function is near 1.  The labels are not
    used: which rows are X and which Y does not enter.  rng: a Generator.
    """
    W = rng.normal(0, frequency, (candidates, U.shape[1]))
    W = W[np.linalg.norm(W, axis=1) >= np.pi]
    if len(W) < p:
        raise ValueError(f"frequency = {frequency:g} leaves {len(W)} of {candidates} candidate "
                         f"frequencies at norm >= pi, fewer than periodic = {p}; use a larger "
                         f"frequency")
    A = U @ W.T                                                    # (N, candidates): w . u_i
    modulus = np.hypot(np.cos(A).mean(axis=0), np.sin(A).mean(axis=0))
    return W[np.argsort(modulus)[::-1][:p]].T


def _best_bandwidth(kernel, X, Y, lam, grid=BANDWIDTH_GRID):
    """The length-scale in median * grid with the largest J of the Gaussian q on X vs Y.

    Only length-scales with var_hat > lam compete.  In many dimensions the smallest ones make
    q numerically 0 between any two distinct rows (d = 10, median / 32: exp(-500)); there
    J = MMD^2_u / sqrt(var_hat + lam) is about 0 whatever the data, it beats every bandwidth
    whose J came out negative by chance, and a kernel that is 0 off the diagonal gives the
    training no gradient to leave it.  If none competes, the median heuristic itself.
    """
    U = kernel.standardise(np.vstack([X, Y]))
    D = squared_distances(U, U)
    median = median_heuristic(U)

    def J_and_var(s):
        J, terms = criterion_forward(*_blocks(np.exp(D * (-0.5 / s**2)), len(X)), lam)
        return J, terms["var"]
    return best_usable_bandwidth(median * grid, J_and_var, lam, fallback=median)


def best_usable_bandwidth(candidates, J_and_var, lam, fallback):
    """The candidate length-scale with the largest J among those with var_hat > lam
    (J_and_var(s) -> (J, var_hat)); `fallback` when none has.  Shared by the deep kernel's
    start (_best_bandwidth) and minigan.two_sample's sigmas="split": a bandwidth at which the
    kernel is numerically 0 between distinct rows has var_hat ~ 0 and J ~ 0 whatever the data,
    and must not win over usable bandwidths whose J came out negative by chance."""
    best, best_J = float(fallback), -np.inf
    for s in candidates:
        J, var = J_and_var(s)
        if var > lam and J > best_J:
            best, best_J = float(s), J
    return best


def _holdout_split(A, holdout, rng):
    """Shuffle the rows of A and cut off a fraction `holdout` (at least 2 rows, leaving 2)."""
    A = A[rng.permutation(len(A))]
    n_val = min(max(2, int(round(holdout * len(A)))), len(A) - 2)
    return A[n_val:], A[:n_val]
