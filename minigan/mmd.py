"""Maximum Mean Discrepancy (MMD) between two samples, and its gradient.

Kernel (a mixture of Gaussians; each sigma is a *length-scale*):

    k(x, y) = sum_s exp(-||x - y||^2 / (2 sigma_s^2))

(The official GMMN code divides by 2*sigma, i.e. its "sigma" is a variance; here it is not.)

Estimators of MMD^2 = E k(x,x') + E k(y,y') - 2 E k(x,y), from X: (n, d) and Y: (m, d)
(Gretton et al., 2012):

    biased   (V-statistic, >= 0):   1/n^2 sum_ij k(x_i,x_j) + 1/m^2 sum_ij k(y_i,y_j)
                                    - 2/(nm) sum_ij k(x_i,y_j)
    unbiased (U-statistic, may be < 0): the same with the i = j terms left out of the
                                    X-X and Y-Y sums, divided by n(n-1) and m(m-1)

Gradients. Write k_s(x, z) = exp(-||x - z||^2 / (2 sigma_s^2)) for one bandwidth and
w(x, z) = sum_s k_s(x, z) / sigma_s^2. The chain rule on one kernel term:

    d k_s(x, z) / dx = k_s(x, z) * d(-||x - z||^2 / (2 sigma_s^2)) / dx
                     = k_s(x, z) * (-(x - z) / sigma_s^2),  so  d k(x, z) / dx = -w(x, z) (x - z).

With the weights w_aj = w(x_a, x_j) (X-X), w_aj = w(x_a, y_j) (X-Y), w_bj = w(y_b, y_j) (Y-Y),
and c_xx = 1/(n(n-1)) (unbiased) or 1/n^2 (biased), c_yy likewise with m, c_xy = 1/(nm):

    dMMD^2/dx_a = -2 c_xx sum_j w_aj (x_a - x_j)  +  2 c_xy sum_j w(x_a, y_j) (x_a - y_j)
    dMMD^2/dy_b = -2 c_yy sum_j w_bj (y_b - y_j)  +  2 c_xy sum_i w(x_i, y_b) (y_b - x_i)

The first factor 2: x_a sits in row a *and* column a of the X-X sum, and the two terms are
equal (k is symmetric); the i = j term adds w_aa (x_a - x_a) = 0, so both estimators share
the formula. The second 2 is the cross term's -2, times the minus of d k / dx. The gradient
for Y mirrors the one for X with the roles of the two samples swapped (c_yy for c_xx). A
generator needs dX only (wrt="X", the default); a critic that shapes the features of both
samples (minigan.MMDGAN) needs both (wrt="both").

This is the readable NumPy reference: it builds full n x m matrices (O(nm) memory).
backend="cython" runs the same estimators in the compiled kernel minigan._ext.mmd (ext/mmd.pyx:
tiled, no n x m matrix, one exp per pair for a ratio-2 bandwidth ladder, optional threads);
the choice of backend is made by minigan.backend.

Deliberately left out: other kernels; the linear-time estimator (minigan.two_sample has it,
for testing, not training).
"""
import numpy as np
from scipy.spatial.distance import pdist

from . import backend as backends
from ._checks import (as_float_array, check_choice, check_positive_float, check_positive_int,
                      check_same_width, common_dtype)

ESTIMATORS = ("unbiased", "biased")
LOSSES = ("mmd2", "mmd")


# ------------------------------------------------------------------ bandwidths
# Named rules that choose bandwidths from the data. sigmas=None is kept as an alias for the
# default rule of the function it is passed to (mmd2 and mmd2_and_grad: "median-ladder";
# minigan.GMN: "data-scales"), so calls written before the rules had names keep working.
MAX_RUNGS = 10  # the longest ratio-2 ladder the compiled float64 kernel runs with one exp


def _pooled_distances(X, Y, max_points):
    """Non-zero pairwise Euclidean distances of the pooled sample (at most `max_points` evenly
    spaced rows of it: a quantile of a subsample is a fine estimate, and O(n^2) is not)."""
    max_points = check_positive_int(max_points, "max_points", minimum=2)
    Z = as_float_array(X, "X", ndim=2)
    if Y is not None:
        Y = as_float_array(Y, "Y", ndim=2)
        check_same_width(Z, Y, "X", "Y")
        Z = np.vstack([Z, Y.astype(Z.dtype)])
    check_distances_finite(Z, "X and Y")
    if len(Z) > max_points:
        Z = Z[np.linspace(0, len(Z) - 1, max_points).astype(int)]
    dists = pdist(Z.astype(np.float64))
    return dists[dists > 0]


def median_heuristic(X, Y=None, max_points=1000):
    """Median of the non-zero pairwise Euclidean distances of the pooled sample.

    X: (n, d), Y: (m, d) or None; at most `max_points` evenly spaced rows are used.
    Never NaN, never zero: returns 1.0 when all points coincide.
    """
    dists = _pooled_distances(X, Y, max_points)
    return float(np.median(dists)) if dists.size else 1.0


def median_ladder(X, Y=None, n_bandwidths=5):
    """Rule "median-ladder": a ratio-2 ladder of bandwidths around the median heuristic m,

        m * 2^k  for k = -(n_bandwidths // 2), ..., covering [m/4, 4m] for 5 bandwidths.

    Good for telling two samples apart at the scale of their bulk; blind to detail much
    finer than m/4 (e.g. the width of one mode of a mixture: see data_scales).
    """
    m = median_heuristic(X, Y)
    ks = np.arange(n_bandwidths) - n_bandwidths // 2
    return [float(m * 2.0 ** k) for k in ks]


default_sigmas = median_ladder  # its name before the rules were named; kept for old callers


def data_scales(X, Y=None, quantile=0.01, max_bandwidths=MAX_RUNGS, max_points=1000):
    """Rule "data-scales": a ratio-2 ladder from the data's finest scale up to its extent,

        s_min = the `quantile` (1 %) of the non-zero pairwise distances,
        s_max = the largest pairwise distance,
        sigmas = s_min * 2^k  for k = 0, 1, ..., until s_max is reached,

    at most `max_bandwidths` rungs (10, the longest ladder the compiled kernel runs with one
    exp per pair in float64; a wider spread loses its widest rungs, which then still reach
    2^9 = 512 times the finest scale).

    Why: the narrowest kernel sees the detail of a mode (for a mixture the 1 % quantile of
    the distances falls among pairs drawn from the same mode: about 0.6 and 1.1 times the
    mode's std on ring-8 and grid-25), the widest sees the whole sample and moves mass
    between far-apart regions. The median ladder (median_ladder) is far wider than a mode.
    Returns [1.0] when all points coincide.
    """
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile!r}")
    max_bandwidths = check_positive_int(max_bandwidths, "max_bandwidths")
    dists = _pooled_distances(X, Y, max_points)
    if not dists.size:
        return [1.0]
    finest, extent = float(np.quantile(dists, quantile)), float(dists.max())
    n = min(max_bandwidths, 1 + int(np.ceil(np.log2(extent / finest))))
    return [finest * 2.0 ** k for k in range(n)]


SIGMA_RULES = {"median-ladder": median_ladder, "data-scales": data_scales}


def resolve_sigmas(sigmas, X, Y=None, default="median-ladder"):
    """Bandwidths from `sigmas`: a number or list of them (checked), the name of a rule in
    SIGMA_RULES applied to X (and Y), or None, which stands for the rule `default`."""
    rule = default if sigmas is None else sigmas
    if isinstance(rule, str):
        return SIGMA_RULES[check_choice(rule, "sigmas", tuple(SIGMA_RULES))](X, Y)
    return check_sigmas(rule)


SIGMA_RANGE = (1e-150, 1e150)  # 1 / (2 sigma^2) must stay a finite, non-zero float64


def check_sigmas(sigmas):
    """Validate bandwidths: a positive number or a non-empty sequence of them, each within
    SIGMA_RANGE (beyond it 1 / sigma^2 overflows or vanishes in float64)."""
    s = np.atleast_1d(np.asarray(sigmas, dtype=np.float64)) if sigmas is not None else None
    if s is None or s.ndim != 1 or s.size == 0:
        raise ValueError(f"sigmas must be a positive number or a non-empty list, got {sigmas!r}")
    lo, hi = SIGMA_RANGE
    if not np.all(np.isfinite(s)) or np.any(s < lo) or np.any(s > hi):
        raise ValueError(f"sigmas must all be finite numbers in [{lo:g}, {hi:g}], got {sigmas!r}")
    return [float(v) for v in s]


def check_distances_finite(A, name):
    """Squared distances between rows of A must not overflow: 4 d max|a|^2 < the dtype's max."""
    limit = np.sqrt(np.finfo(A.dtype).max / (4 * A.shape[1]))
    if A.size and np.max(np.abs(A)) >= limit:
        raise ValueError(f"{name} hold values too large for squared distances in {A.dtype} "
                         f"(|value| must stay below {limit:.3g}); rescale the data")


# --------------------------------------------------------------------- kernels
def squared_distances(X, Y):
    """D2[i, j] = ||x_i - y_j||^2 = ||x_i||^2 + ||y_j||^2 - 2 x_i . y_j, clipped at 0.

    X: (n, d), Y: (m, d) -> (n, m)
    """
    D2 = (X * X).sum(1)[:, None] + (Y * Y).sum(1)[None, :] - 2 * (X @ Y.T)
    return np.maximum(D2, 0, out=D2)


def gaussian_kernel(X, Y, sigmas):
    """K[i, j] = sum_s exp(-||x_i - y_j||^2 / (2 sigma_s^2)).  X: (n, d), Y: (m, d) -> (n, m)."""
    K, _ = _kernel_and_weights(squared_distances(X, Y), check_sigmas(sigmas))
    return K


def _kernel_and_weights(D2, sigmas):
    """K = sum_s exp(-D2 / (2 s^2)) and W = sum_s exp(-D2 / (2 s^2)) / s^2 (for the gradient)."""
    K = np.zeros_like(D2)
    W = np.zeros_like(D2)
    for s in sigmas:
        Ks = np.exp(D2 * (-0.5 / s**2))
        K += Ks
        W += Ks / s**2
    return K, W


# ------------------------------------------------------------------ estimators
def _validate(X, Y, sigmas, estimator):
    check_choice(estimator, "estimator", ESTIMATORS)
    min_rows = 2 if estimator == "unbiased" else 1
    X = as_float_array(X, "X", ndim=2, min_rows=min_rows)
    Y = as_float_array(Y, "Y", ndim=2, min_rows=min_rows)
    check_same_width(X, Y, "X", "Y")
    dtype = common_dtype(X, Y)
    X, Y = X.astype(dtype, copy=False), Y.astype(dtype, copy=False)
    check_distances_finite(X, "X")
    check_distances_finite(Y, "Y")
    sigmas = resolve_sigmas(sigmas, X, Y)
    return X, Y, sigmas


def _mmd2_terms(X, Y, sigmas, estimator, wrt):
    """MMD^2 and the gradients asked for (wrt: None, "X" or "both") from the three kernel
    blocks. Returns (value, dX or None, dY or None)."""
    n, m = len(X), len(Y)
    Kxx, Wxx = _kernel_and_weights(squared_distances(X, X), sigmas)
    Kyy, Wyy = _kernel_and_weights(squared_distances(Y, Y), sigmas)
    Kxy, Wxy = _kernel_and_weights(squared_distances(X, Y), sigmas)
    if estimator == "unbiased":
        np.fill_diagonal(Kxx, 0)  # leave out the i = j terms
        np.fill_diagonal(Kyy, 0)
        c_xx, c_yy = 1.0 / (n * (n - 1)), 1.0 / (m * (m - 1))
    else:
        c_xx, c_yy = 1.0 / n**2, 1.0 / m**2
    c_xy = 1.0 / (n * m)
    value = float(c_xx * Kxx.sum() + c_yy * Kyy.sum() - 2 * c_xy * Kxy.sum())
    if wrt is None:
        return value, None, None
    # sum_j w_aj (x_a - z_j) for every row a at once is (sum_j w_aj) x_a - (W Z)_a
    # X-X term: -2 c_xx sum_j w_aj (x_a - x_j)
    dX = -2 * c_xx * (Wxx.sum(1)[:, None] * X - Wxx @ X)
    # X-Y term: +2 c_xy sum_j w(x_a, y_j) (x_a - y_j)
    dX += 2 * c_xy * (Wxy.sum(1)[:, None] * X - Wxy @ Y)
    if wrt == "X":
        return value, dX, None
    # Y-Y term: -2 c_yy sum_j w_bj (y_b - y_j)
    dY = -2 * c_yy * (Wyy.sum(1)[:, None] * Y - Wyy @ Y)
    # X-Y term seen from y_b (column b of Wxy): +2 c_xy sum_i w(x_i, y_b) (y_b - x_i)
    dY += 2 * c_xy * (Wxy.sum(0)[:, None] * Y - Wxy.T @ X)
    return value, dX, dY


def _run(X, Y, sigmas, estimator, wrt, backend, n_threads):
    """Validated inputs -> (MMD^2, dX or None, dY or None), on the NumPy reference or the
    compiled kernel."""
    # 0 lets the kernel choose: one thread for small work, else OMP_NUM_THREADS
    threads = 0 if n_threads is None else check_positive_int(n_threads, "n_threads")
    if backends.resolve(backend, module="mmd") == "numpy":
        return _mmd2_terms(X, Y, sigmas, estimator, wrt)
    kernel = backends.ext("mmd").mmd2_and_grad
    out = kernel(X, Y, np.asarray(sigmas, np.float64), estimator == "unbiased", wrt is not None,
                 threads, wrt == "both")
    return out if len(out) == 3 else (*out, None)


def mmd2(X, Y, sigmas=None, estimator="unbiased", backend=None, n_threads=None):
    """MMD^2 between samples X: (n, d) and Y: (m, d) (see the module docstring).

    sigmas: a bandwidth or list of them, or the name of a rule that picks them from the
            pooled sample: "median-ladder" (the default: median_ladder(X, Y), a ratio-2
            ladder around the pooled median distance) or "data-scales" (data_scales(X, Y),
            from the finest scale up to the extent). None: the same as "median-ladder".
    estimator: "unbiased" (needs n, m >= 2) or "biased".
    backend: "numpy", "cython", "auto" or None (see minigan.backend).
    n_threads: threads for the compiled kernel (None: by problem size and OMP_NUM_THREADS).
    Returns a Python float.
    """
    X, Y, sigmas = _validate(X, Y, sigmas, estimator)
    return _run(X, Y, sigmas, estimator, None, backend, n_threads)[0]


WRT = ("X", "both")


def mmd2_and_grad(X, Y, sigmas=None, estimator="unbiased", backend=None, n_threads=None,
                  wrt="X"):
    """MMD^2 and its gradient with respect to X (wrt="X") or to both samples (wrt="both").

    X: (n, d) generated, Y: (m, d) real
    wrt="X"    -> (value: float, dX: (n, d))
    wrt="both" -> (value: float, dX: (n, d), dY: (m, d))
    sigmas, estimator, backend, n_threads: as for mmd2 (sigmas=None: "median-ladder").
    Gradients have the dtype of the inputs (see the module docstring for the formulas).
    """
    check_choice(wrt, "wrt", WRT)
    X, Y, sigmas = _validate(X, Y, sigmas, estimator)
    value, dX, dY = _run(X, Y, sigmas, estimator, wrt, backend, n_threads)
    return (value, dX) if wrt == "X" else (value, dX, dY)


def mmd_and_grad(X, Y, sigmas=None, estimator="unbiased", eps=1e-10, backend=None,
                 n_threads=None):
    """The square-root loss the GMMN paper trained on, and its gradient w.r.t. X.

    MMD = sqrt(max(MMD^2, 0));   dMMD/dX = dMMD^2/dX / (2 max(MMD, sqrt(eps)))
    Where an unbiased MMD^2 is <= 0 the loss is clipped flat at 0, and so its gradient is 0.
    The floor sqrt(eps) keeps the gradient finite just above 0.
    """
    eps = check_positive_float(eps, "eps")
    value, dX = mmd2_and_grad(X, Y, sigmas, estimator, backend=backend, n_threads=n_threads)
    if value <= 0:
        return 0.0, np.zeros_like(dX)  # the clipped region: flat
    root = np.sqrt(value)
    return float(root), dX / (2 * max(root, np.sqrt(eps)))


def mmd_loss_and_grad(X, Y, sigmas=None, estimator="unbiased", loss="mmd2", backend=None,
                      n_threads=None):
    """The GMN training loss: loss="mmd2" (MMD^2) or "mmd" (its square root)."""
    check_choice(loss, "loss", LOSSES)
    fn = mmd2_and_grad if loss == "mmd2" else mmd_and_grad
    return fn(X, Y, sigmas, estimator, backend=backend, n_threads=n_threads)
