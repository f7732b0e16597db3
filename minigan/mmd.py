"""Maximum Mean Discrepancy (MMD) between two samples, and its gradient.

Kernel (a mixture of Gaussians; each sigma is a *length-scale*):

    k(x, y) = sum_r exp(-||x - y||^2 / (2 sigma_r^2))

(The official GMMN code divides by 2*sigma, i.e. its "sigma" is a variance; here it is not.)

Estimators of MMD^2 = E k(x,x') + E k(y,y') - 2 E k(x,y), from X: (n, d) and Y: (m, d)
(Gretton et al., 2012):

    biased   (V-statistic, >= 0):   1/n^2 sum_ij k(x_i,x_j) + 1/m^2 sum_ij k(y_i,y_j)
                                    - 2/(nm) sum_ij k(x_i,y_j)
    unbiased (U-statistic, may be < 0): the same with the i = j terms left out of the
                                    X-X and Y-Y sums, divided by n(n-1) and m(m-1)

Gradients. Write k_r(x, z) = exp(-||x - z||^2 / (2 sigma_r^2)) for one bandwidth and
w(x, z) = sum_r k_r(x, z) / sigma_r^2. The chain rule on one kernel term:

    d k_r(x, z) / dx = k_r(x, z) * d(-||x - z||^2 / (2 sigma_r^2)) / dx
                     = k_r(x, z) * (-(x - z) / sigma_r^2),  so  d k(x, z) / dx = -w(x, z) (x - z).

With the weights w_aj = w(x_a, x_j) (X-X), w_aj = w(x_a, y_j) (X-Y), w_bj = w(y_b, y_j) (Y-Y),
and c_xx = 1/(n(n-1)) (unbiased) or 1/n^2 (biased), c_yy likewise with m, c_xy = 1/(nm):

    dMMD^2/dx_a = -2 c_xx sum_j w_aj (x_a - x_j)  +  2 c_xy sum_j w(x_a, y_j) (x_a - y_j)
    dMMD^2/dy_b = -2 c_yy sum_j w_bj (y_b - y_j)  +  2 c_xy sum_i w(x_i, y_b) (y_b - x_i)

The first factor 2: x_a sits in row a *and* column a of the X-X sum, and the two terms are
equal (k is symmetric); the i = j term adds w_aa (x_a - x_a) = 0, so both estimators share
the formula. The second 2 is the cross term's -2, times the minus of d k / dx. The gradient
for Y mirrors the one for X with the roles of the two samples swapped (c_yy for c_xx). A
generator needs dX only (wrt="X", the default); a critic that shapes the features of both
samples (minigan.MMDGAN) needs both (wrt="both"). docs/guide.md derives the estimators from
the mean embeddings (section 3.1), this gradient step by step (3.2) and the one through both
samples (3.8), with checks.

Scale. The estimators are unchanged when the data and the bandwidths are multiplied by the
same factor c (only ||x - y|| / sigma enters the kernel), and dX scales by 1/c. So when the
data's largest |value| or a bandwidth lies outside [2^-16, 2^16] (data at 1e-155 or 1e200, a
float32 bandwidth whose 1 / (2 sigma^2) is subnormal), data and bandwidths are first multiplied
by a power of two (exact in floating point) that brings the narrowest bandwidth (or, without
bandwidths, the data) to ~1, on both backends alike, and the gradient is scaled back. A bandwidth
narrower than max_float^(-1/4) times the data's largest |value| (7.5e-78 in float64, 2.3e-10
in float32) is refused: 1 / (2 sigma^2) would overflow, and such a kernel sees nothing but
exact duplicates anyway. A very wide one is fine (the kernel is ~1 everywhere and MMD^2 ~ 0,
the right answer at that bandwidth): the data are then scaled less, so that sigma stays below
2^(maxexp/4) (2^256 in float64, 2^32 in float32) and 1 / sigma^2 a normal float.

float32: the squared distances are expanded in float64 (then rounded to float32), the kernel
matrices are float32 and their sums are accumulated in float64 (as the compiled kernel does),
so MMD^2 is lost neither to the cancellation in ||x||^2 + ||y||^2 - 2 x.y nor to the one
between the three sums; the gradient is returned in float32.

This is the readable NumPy reference: it builds full n x m matrices (O(nm) memory), and
refuses (with advice) work whose matrices would exceed NUMPY_MAX_MEMORY.
backend="cython" runs the same estimators in the compiled kernel minigan._ext.mmd (ext/mmd.pyx:
tiled, no n x m matrix, one exp per pair for a ratio-2 bandwidth ladder, optional threads);
the choice of backend is made by minigan.backend.

Deliberately left out: other kernels; the linear-time estimator (minigan.two_sample has it,
for testing, not training).
"""
import numpy as np
from scipy.spatial.distance import pdist

from . import backend as backends
from . import threads as thread_policy
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
    if len(Z) > max_points:
        Z = Z[np.linspace(0, len(Z) - 1, max_points).astype(int)]
    Z, _, e = to_safe_range(Z.astype(np.float64), Z[:1])  # distances of 1e200 overflow
    dists = pdist(Z)
    return np.ldexp(dists[dists > 0], e)


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


def check_sigmas(sigmas, sigma_range=SIGMA_RANGE):
    """Validate bandwidths: a positive number or a non-empty sequence of them, each within
    sigma_range (beyond SIGMA_RANGE 1 / sigma^2 overflows or vanishes in float64; the
    estimators, which rescale, check the range relative to the data instead)."""
    try:
        if isinstance(sigmas, (str, bytes, bool, np.bool_)) or (
                isinstance(sigmas, (list, tuple)) and any(isinstance(v, bool) for v in sigmas)):
            raise ValueError
        s = np.atleast_1d(np.asarray(sigmas, dtype=np.float64)) if sigmas is not None else None
    except (TypeError, ValueError):
        raise TypeError(f"sigmas must be a positive number or a list of them, got {sigmas!r}") from None
    if s is None or s.ndim != 1 or s.size == 0:
        raise ValueError(f"sigmas must be a positive number or a non-empty list, got {sigmas!r}")
    lo, hi = sigma_range
    if not np.all(np.isfinite(s)) or np.any(s <= 0) or np.any(s < lo) or np.any(s > hi):
        where = "> 0" if (lo, hi) == (0, np.inf) else f"in [{lo:g}, {hi:g}]"
        raise ValueError(f"sigmas must all be finite numbers {where}, got {sigmas!r}")
    return [float(v) for v in s]


# --------------------------------------------------------------------- kernels
def squared_distances(X, Y):
    """D2[i, j] = ||x_i - y_j||^2 = ||x_i||^2 + ||y_j||^2 - 2 x_i . y_j, clipped at 0.

    X: (n, d), Y: (m, d) -> (n, m), of their dtype. float32 inputs are expanded in float64:
    in float32 the three terms cancel to within ~6e-8 ||x||^2, which a narrow bandwidth reads
    as a distance (or clips to 0: two distinct points "coincide"), up to 15 % off in MMD^2.
    """
    if X.dtype == np.float32:
        return squared_distances(X.astype(np.float64), Y.astype(np.float64)).astype(np.float32)
    D2 = (X * X).sum(1)[:, None] + (Y * Y).sum(1)[None, :] - 2 * (X @ Y.T)
    return np.maximum(D2, 0, out=D2)


def self_distances(X):
    """squared_distances(X, X) with its diagonal exactly 0: ||x||^2 + ||x||^2 - 2 x.x rounds to
    ~eps ||x||^2, which a bandwidth narrower than sqrt(eps) ||x|| would read as a distance."""
    D2 = squared_distances(X, X)
    np.fill_diagonal(D2, 0)
    return D2


def gaussian_kernel(X, Y, sigmas):
    """K[i, j] = sum_s exp(-||x_i - y_j||^2 / (2 sigma_s^2)).  X: (n, d), Y: (m, d) -> (n, m)."""
    K, _ = _kernel_and_weights(squared_distances(X, Y), check_sigmas(sigmas))
    return K


def witness(kernel, points, X, Y):
    """The MMD witness function of a kernel and two samples, at points: (p, d) -> (p,)

        h(t) = mean_i k(t, x_i) - mean_j k(t, y_j),    X: (n, d), Y: (m, d)

    kernel(A, B) -> (len(A), len(B)). h is positive where X has more mass than Y as the kernel
    sees it, negative where Y has more; the biased MMD^2 is mean_i h(x_i) - mean_j h(y_j)
    (expand both means: the three blocks of MMD^2 appear).
    """
    return kernel(points, X).mean(1) - kernel(points, Y).mean(1)


def gaussian_witness_grid(xs, ys, X, Y, sigmas):
    """witness(gaussian_kernel) at every point (xs[a], ys[b]) of a grid, for 2-D samples:

        H[b, a] = h((xs[a], ys[b])),   xs: (p,), ys: (q,), X: (n, 2), Y: (m, 2) -> H: (q, p)

    The same numbers as witness(lambda A, B: gaussian_kernel(A, B, sigmas), points, X, Y) on
    the p * q grid points, for a fraction of the work. A Gaussian factorises over coordinates,
        exp(-||t - x||^2 / (2 s^2)) = exp(-(t1 - x1)^2 / (2 s^2)) * exp(-(t2 - x2)^2 / (2 s^2)),
    so with the signed weights w = (1/n, ..., 1/n, -1/m, ..., -1/m) over Z = [X; Y] (N rows),
        h(xs[a], ys[b]) = sum_s sum_k w_k * E1_s[a, k] * E2_s[b, k],
        E1_s[a, k] = exp(-(xs[a] - z_k1)^2 / (2 s^2)),   E2_s[b, k] = exp(-(ys[b] - z_k2)^2 / (2 s^2)):
    one matrix product E2 @ (E1 * w).T over the stacked bandwidths, from (p + q) * N * S
    exponentials instead of p * q * N * S.
    """
    xs, ys, X, Y = (as_float_array(v, name, ndim=k, dtype=np.float64) for v, name, k in
                    ((xs, "xs", 1), (ys, "ys", 1), (X, "X", 2), (Y, "Y", 2)))
    if X.shape[1] != 2 or Y.shape[1] != 2:
        raise ValueError(f"X and Y must be 2-D samples (n, 2), got {X.shape} and {Y.shape}")
    sigmas = check_sigmas(sigmas)
    Z = np.concatenate([X, Y])                                        # (N, 2)
    w = np.concatenate([np.full(len(X), 1 / len(X)), np.full(len(Y), -1 / len(Y))])
    d1 = (xs[:, None] - Z[:, 0]) ** 2                                 # (p, N)
    d2 = (ys[:, None] - Z[:, 1]) ** 2                                 # (q, N)
    E1 = np.concatenate([np.exp(d1 * (-0.5 / s**2)) * w for s in sigmas], axis=1)  # (p, N*S)
    E2 = np.concatenate([np.exp(d2 * (-0.5 / s**2)) for s in sigmas], axis=1)      # (q, N*S)
    return E2 @ E1.T


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
SAFE_EXPONENTS = (-16, 16)     # data are brought to max |value| in [2^-16, 2^16]
NUMPY_MAX_MEMORY = 2 * 2**30   # bytes the NumPy reference may allocate for its kernel matrices
MAX_THREADS = 1024


def _validate(X, Y, sigmas, estimator):
    """Checked inputs in the safe range: (X, Y, sigmas, e) with the data multiplied by 2^-e
    (e = 0 when they are already in range) and the bandwidths likewise."""
    check_choice(estimator, "estimator", ESTIMATORS)
    min_rows = 2 if estimator == "unbiased" else 1
    X = as_float_array(X, "X", ndim=2, min_rows=min_rows)
    Y = as_float_array(Y, "Y", ndim=2, min_rows=min_rows)
    check_same_width(X, Y, "X", "Y")
    dtype = common_dtype(X, Y)
    X, Y = X.astype(dtype, copy=False), Y.astype(dtype, copy=False)
    e = safe_exponent(X, Y)
    named = sigmas is None or isinstance(sigmas, str)  # a rule: applied to the rescaled data
    if not named:
        sigmas = check_sigmas(sigmas, (0, np.inf))
        check_narrowest(sigmas, X, Y)
        e = _bandwidth_exponent(X, Y, sigmas)
    X, Y = (np.ldexp(X, -e), np.ldexp(Y, -e)) if e else (X, Y)
    sigmas = resolve_sigmas(sigmas, X, Y) if named else [float(np.ldexp(s, -e)) for s in sigmas]
    return X, Y, sigmas, e


def safe_exponent(X, Y):
    """e with max |value| * 2^-e in [1/2, 1), or 0 when it already lies in 2^SAFE_EXPONENTS
    (or is 0). Multiplying by 2^-e is exact: only the exponents change."""
    top = max(float(np.abs(X).max()), float(np.abs(Y).max()))
    lo, hi = SAFE_EXPONENTS
    return 0 if top == 0 or 2.0**lo <= top <= 2.0**hi else int(np.frexp(top)[1])


def _bandwidth_exponent(X, Y, sigmas):
    """0 when data and bandwidths are all within 2^SAFE_EXPONENTS (the usual case: no copy),
    else the e that brings the narrowest bandwidth to ~1, while keeping the data below 2^16
    and the widest bandwidth below 2^(maxexp/4) (so that 1 / sigma^2 stays a normal float)."""
    lo, hi = SAFE_EXPONENTS
    top = max(float(np.abs(X).max()), float(np.abs(Y).max()))
    if top <= 2.0**hi and 2.0**lo <= min(sigmas) and max(sigmas) <= 2.0**hi:
        return 0
    exponent = lambda v: int(np.frexp(v)[1])
    return max(exponent(min(sigmas)), exponent(top) - hi if top else exponent(min(sigmas)),
               exponent(max(sigmas)) - np.finfo(X.dtype).maxexp // 4)


def to_safe_range(X, Y):
    """(X * 2^-e, Y * 2^-e, e) with e = safe_exponent(X, Y)."""
    e = safe_exponent(X, Y)
    return (np.ldexp(X, -e), np.ldexp(Y, -e), e) if e else (X, Y, 0)


def check_narrowest(sigmas, X, Y):
    """Refuse bandwidths below max_float^(-1/4) times the data's largest |value|: there
    1 / (2 sigma^2) overflows, and the kernel sees only exact duplicates anyway."""
    top = max(float(np.abs(X).max()), float(np.abs(Y).max()))
    lo = float(np.finfo(X.dtype).max) ** -0.25 * top
    if min(sigmas) < lo:
        raise ValueError(
            f"sigmas {sigmas} are too narrow for data whose largest |value| is {top:.3g}: in "
            f"{X.dtype} they must be at least {lo:.3g} (1 / (2 sigma^2) overflows below, and "
            f"such a kernel sees only exact duplicates); pass bandwidths comparable to the "
            f"distances between samples, or sigmas=None for the median heuristic")


def _check_numpy_memory(n, m, itemsize):
    """The NumPy reference keeps ~8 kernel-sized matrices; refuse beyond NUMPY_MAX_MEMORY."""
    need = itemsize * (2 * (n * n + m * m + n * m) + 2 * max(n, m) ** 2)
    if need > NUMPY_MAX_MEMORY:
        raise MemoryError(
            f"the NumPy MMD at n={n}, m={m} would allocate about {need / 2**30:.1f} GiB "
            f"(more than minigan.mmd.NUMPY_MAX_MEMORY = {NUMPY_MAX_MEMORY / 2**30:.0f} GiB); "
            f"use backend='cython' (tiled, O((n + m) d) memory), fewer rows, or "
            f"mmd_test(..., method='linear') for a test at O(n) cost")


def _mmd2_terms(X, Y, sigmas, estimator, wrt):
    """MMD^2 and the gradients asked for (wrt: None, "X", "both" or "parts") from the three
    kernel blocks. Returns (value, dX or None, dY or None), or for "parts" (None, dX's X-X
    term, dX's X-Y term): those need neither the Y-Y block nor the value.

    The maths of this module lives here; mmd2 and mmd2_and_grad reach it through _validate
    (input checks, default bandwidths) and _run (the choice of backend)."""
    n, m = len(X), len(Y)
    unbiased = estimator == "unbiased"
    c_xx = 1.0 / (n * (n - 1)) if unbiased else 1.0 / n**2
    c_yy = 1.0 / (m * (m - 1)) if unbiased else 1.0 / m**2
    c_xy = 1.0 / (n * m)
    Kxx, Wxx = _kernel_and_weights(self_distances(X), sigmas)
    Kxy, Wxy = _kernel_and_weights(squared_distances(X, Y), sigmas)
    if wrt == "parts":
        return None, *_dX_terms(X, Y, Wxx, Wxy, c_xx, c_xy)
    Kyy, Wyy = _kernel_and_weights(self_distances(Y), sigmas)
    if unbiased:
        np.fill_diagonal(Kxx, 0)  # leave out the i = j terms
        np.fill_diagonal(Kyy, 0)
    # sums accumulated in float64 (float32 inputs too): the three terms nearly cancel
    value = float(c_xx * Kxx.sum(dtype=np.float64) + c_yy * Kyy.sum(dtype=np.float64)
                  - 2 * c_xy * Kxy.sum(dtype=np.float64))
    if wrt is None:
        return value, None, None
    dX_xx, dX_xy = _dX_terms(X, Y, Wxx, Wxy, c_xx, c_xy)
    dX = dX_xx + dX_xy
    if wrt == "X":
        return value, dX, None
    # Y-Y term: -2 c_yy sum_j w_bj (y_b - y_j)
    dY = -2 * c_yy * (Wyy.sum(1)[:, None] * Y - Wyy @ Y)
    # X-Y term seen from y_b (column b of Wxy): +2 c_xy sum_i w(x_i, y_b) (y_b - x_i)
    dY += 2 * c_xy * (Wxy.sum(0)[:, None] * Y - Wxy.T @ X)
    return value, dX, dY


def _dX_terms(X, Y, Wxx, Wxy, c_xx, c_xy):
    """dMMD^2/dX's two terms, (n, d) each, from the gradient weights of the X-X and X-Y blocks.
    sum_j w_aj (x_a - z_j) for every row a at once is (sum_j w_aj) x_a - (W Z)_a."""
    # X-X term: -2 c_xx sum_j w_aj (x_a - x_j)   (w_aa (x_a - x_a) = 0: the diagonal drops out)
    dX_xx = -2 * c_xx * (Wxx.sum(1)[:, None] * X - Wxx @ X)
    # X-Y term: +2 c_xy sum_j w(x_a, y_j) (x_a - y_j)
    dX_xy = 2 * c_xy * (Wxy.sum(1)[:, None] * X - Wxy @ Y)
    return dX_xx, dX_xy


def _run(X, Y, sigmas, e, estimator, wrt, backend, n_threads):
    """Validated inputs (scaled by 2^-e) -> (MMD^2, dX or None, dY or None) in the caller's
    units, on the NumPy reference or the compiled kernel (wrt="parts": dX's two terms in
    place of dX and dY)."""
    # None: minigan.threads' override, else 0 (the kernel chooses: one thread for small
    # work, else OMP_NUM_THREADS)
    threads = (thread_policy.mmd_threads() if n_threads is None
               else check_positive_int(n_threads, "n_threads", maximum=MAX_THREADS))
    if backends.resolve(backend, module="mmd") == "numpy":
        _check_numpy_memory(len(X), len(Y), X.dtype.itemsize)
        out = _mmd2_terms(X, Y, sigmas, estimator, wrt)
    else:
        kernel = backends.ext("mmd").mmd2_and_grad
        out = kernel(X, Y, np.asarray(sigmas, np.float64), estimator == "unbiased",
                     wrt is not None, threads, wrt == "both", parts=wrt == "parts")
        out = out if len(out) == 3 else (*out, None)
    value, dX, dY = out
    if value is not None and not np.isfinite(value):   # never answer from NaN (the checks
        # above should prevent it); "parts" computes no value
        raise FloatingPointError(f"MMD^2 came out as {value}; please report this input")
    # d/dX of f(X 2^-e) is 2^-e f'(X 2^-e): scale the gradients back (exact)
    if e == 0:
        return value, dX, dY
    with np.errstate(over="ignore"):
        grads = [None if g is None else np.ldexp(g, -e) for g in (dX, dY)]
    if not all(g is None or np.all(np.isfinite(g)) for g in grads):
        raise FloatingPointError(f"the gradient (~ 1 / the data's scale) overflows {X.dtype} "
                                 f"for data this small; use float64 or rescale X and Y")
    return value, *grads


def mmd2(X, Y, sigmas=None, estimator="unbiased", backend=None, n_threads=None):
    """MMD^2 between samples X: (n, d) and Y: (m, d) (see the module docstring).

    sigmas: a bandwidth or list of them, or the name of a rule that picks them from the
            pooled sample: "median-ladder" (the default: median_ladder(X, Y), a ratio-2
            ladder around the pooled median distance) or "data-scales" (data_scales(X, Y),
            from the finest scale up to the extent). None: the same as "median-ladder".
            A rule (or None) is applied at every call: a pass over the pairwise distances
            of up to 1,000 pooled points, O(N^2), which at small n costs more than the
            kernel itself. In a loop, compute the list once (median_ladder(X, Y)) and pass it.
    estimator: "unbiased" (needs n, m >= 2) or "biased".
    backend: "numpy", "cython", "auto" or None (see minigan.backend).
    n_threads: threads for the compiled kernel (None: minigan.set_num_threads's count if one
               is set, else by problem size and OMP_NUM_THREADS).
    Returns a Python float.
    """
    X, Y, sigmas, e = _validate(X, Y, sigmas, estimator)
    return _run(X, Y, sigmas, e, estimator, None, backend, n_threads)[0]


WRT = ("X", "both")


def mmd2_and_grad(X, Y, sigmas=None, estimator="unbiased", backend=None, n_threads=None,
                  wrt="X"):
    """MMD^2 and its gradient with respect to X (wrt="X") or to both samples (wrt="both").

    X: (n, d) generated, Y: (m, d) real
    wrt="X"    -> (value: float, dX: (n, d))
    wrt="both" -> (value: float, dX: (n, d), dY: (m, d))
    sigmas, estimator, backend, n_threads: as for mmd2 (sigmas=None: "median-ladder",
    re-derived from X and Y at every call; pass a fixed list in a loop).
    Gradients have the dtype of the inputs (see the module docstring for the formulas).
    """
    check_choice(wrt, "wrt", WRT)
    X, Y, sigmas, e = _validate(X, Y, sigmas, estimator)
    value, dX, dY = _run(X, Y, sigmas, e, estimator, wrt, backend, n_threads)
    return (value, dX) if wrt == "X" else (value, dX, dY)


def mmd2_grad_parts(X, Y, sigmas=None, estimator="unbiased", backend=None, n_threads=None):
    """The two terms of dMMD^2/dX apart: (repulsion, attraction), each (n, d).

        repulsion_a  = -2 c_xx sum_j w(x_a, x_j) (x_a - x_j)    from the X-X sum
        attraction_a = +2 c_xy sum_j w(x_a, y_j) (x_a - y_j)    from the X-Y sum

    (w, c_xx, c_xy as in the module docstring; the Y-Y sum does not depend on X.) Their sum
    is mmd2_and_grad's dX. A generator moves along minus the gradient: -repulsion pushes each
    generated point away from the other generated points, -attraction pulls it toward the
    real ones. X: (n, d) generated, Y: (m, d) real; sigmas, estimator, backend, n_threads as
    for mmd2 (the compiled kernel keeps the two terms in two accumulators).
    """
    X, Y, sigmas, e = _validate(X, Y, sigmas, estimator)
    _, repulsion, attraction = _run(X, Y, sigmas, e, estimator, "parts", backend, n_threads)
    return repulsion, attraction


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
    root = float(np.sqrt(value))
    return root, dX / dX.dtype.type(2 * max(root, np.sqrt(eps)))  # keeps the input's dtype


def mmd_loss_and_grad(X, Y, sigmas=None, estimator="unbiased", loss="mmd2", backend=None,
                      n_threads=None):
    """The GMN training loss: loss="mmd2" (MMD^2) or "mmd" (its square root)."""
    check_choice(loss, "loss", LOSSES)
    fn = mmd2_and_grad if loss == "mmd2" else mmd_and_grad
    return fn(X, Y, sigmas, estimator, backend=backend, n_threads=n_threads)
