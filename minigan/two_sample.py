"""The kernel two-sample test: are X and Y drawn from the same distribution?

H0: P = Q.  The test statistic is an MMD^2 estimate (minigan.mmd; Gretton et al., 2012, JMLR
"A kernel two-sample test"), with the Gaussian kernel k(x, y) = sum_s exp(-||x - y||^2 / (2 s^2))
(each s a length-scale).  Two ways to turn it into a p-value:

Permutation test (method="permutation", the default).  Pool Z = [X; Y], N = n + m rows. Under
H0 every relabelling of Z into n "X" rows and m "Y" rows is equally likely, so the statistics
T_1..T_B of B random relabellings are draws from the null distribution of T, and

    p = (1 + #{b : T_b >= T}) / (1 + B)          (never 0; p <= alpha with probability <= alpha)

Every relabelling reuses one pooled kernel matrix K (N x N).  With a in {0,1}^N marking the
"X" rows, r = K 1 the row sums, S = 1'K1 and delta = diag K:

    S_xx = a'K a,   S_xy = a'r - S_xx,   S_yy = S - 2 a'r + S_xx
    tr_x = a'delta, tr_y = sum(delta) - tr_x
    unbiased MMD^2_u = (S_xx - tr_x)/(n(n-1)) + (S_yy - tr_y)/(m(m-1)) - 2 S_xy/(nm)
    biased   MMD^2_b =  S_xx/n^2 + S_yy/m^2 - 2 S_xy/(nm)

so B relabellings (the columns of A, N x B) cost one matrix product K @ A.  K is never kept:
it is built in blocks of rows K[I, :] small enough for `max_memory`, and each block adds its
share of a'Ka, a'r, ... for all relabellings at once.  When N^2 * 8 bytes fits the budget the
block is the whole pooled matrix; a large sample (n = m = 20,000) goes through in row blocks
with memory O(N * block + N * B), never (n+m)^2.

Linear-time test (method="linear", Gretton et al. 2012, section 6).  Pair up disjoint rows,
n2 = floor(min(n, m) / 2):

    h_i = k(x_2i, x_2i+1) + k(y_2i, y_2i+1) - k(x_2i, y_2i+1) - k(x_2i+1, y_2i)
    MMD^2_l = mean_i h_i,   sigma_l^2 = sample variance of the h_i
    under H0  sqrt(n2) MMD^2_l / sigma_l -> N(0, 1),  so  p = 1 - Phi(sqrt(n2) MMD^2_l / sigma_l)

O(n) time and memory, for very large samples; less powerful than the quadratic statistic at
equal n.  Rows are shuffled (with `seed`) first so that sorted inputs do not pair neighbours.

Bandwidth.  sigmas=None uses the median heuristic (median of the non-zero pooled distances,
minigan.mmd.median_heuristic).  It has no power when the difference lives at a much smaller
scale than the spread of the data (the "blobs" problem).  sigmas="split" holds out half of
each sample: on that half it picks, from the grid median * 2^k (k = -5..2), the bandwidth
maximising the power proxy (Sutherland et al., 2017, ICLR; Liu et al., 2020, ICML)

    J(s) = MMD^2_u / sqrt(var_hat + 1e-8)
    var_hat = 4 var_i(f_i) / n + 4 var_j(g_j) / m,
        f_i = mean_{j != i} k(x_i, x_j) - mean_j k(x_i, y_j)
        g_j = mean_{i != j} k(y_j, y_i) - mean_i k(x_i, y_j)

(the plug-in estimate of the leading term of Var[MMD^2_u] under H1; for n = m it is the
estimator of Liu et al. 2020, eq. 5), then tests on the other half only, so the choice does not
invalidate the p-value.

Aggregated test (sigmas="aggregate").  No split: every bandwidth s of the same grid
median * 2^k (k = -5..2, L = 8 of them) is used on all the data, each as its own kernel, and
the statistic is the largest studentised MMD^2_u,

    M = max_s J_s,   J_s = MMD^2_u(s) / sqrt(var_hat(s))      (var_hat as above, for kernel k_s)

The choice of bandwidth is calibrated, not avoided: under every relabelling b the whole maximum
is recomputed, M_b = max_s J_s(b), and p = (1 + #{M_b >= M}) / (1 + B).  The grid depends on the
pooled sample only, so the test is exact like the single-bandwidth one.  This is the "max over
kernels, calibrated by the same permutations" way of aggregating (MMDAgg, Schrab et al. 2023,
JMLR, aggregates per-bandwidth permutation tests at an adjusted level), with Sutherland et al.'s
J as the per-bandwidth score.  Studentising matters: the maximum of the raw MMD^2_u(s), each
standardised by its permutation mean and spread, had about 0.2 power on the blobs below where
max_s J_s has about 0.33.  The block sums give var_hat of every relabelling at no extra product:
with (K A)_ib = sum of k(z_i, z_j) over the "X" rows j of relabelling b, r_i = sum_j k(z_i, z_j),

    f_ib = ((K A)_ib - K_ii) / (n - 1) - (r_i - (K A)_ib) / m        (z_i an "X" row)
    g_ib = (r_i - (K A)_ib - K_ii) / (m - 1) - (K A)_ib / n          (z_i a "Y" row)

and MMD^2_u = mean f + mean g, var_hat = 4 var f / n + 4 var g / m.  Cost: L = 8 times the
single-bandwidth permutation test (one (N x N) by (N x B) product per bandwidth).

What the choices buy is measured on the blobs of demos/two_sample_power.py (4 x 4 Gaussians,
spacing 5, the second sample's stretched by 2 and rotated), where the median heuristic has no
power, the split some and the aggregate most, and on a plain mean shift, where the aggregated
test pays a little for its 8 looks: docs/results.md (the MMD two-sample test) has the figures.

Learned kernel (kernel="deep"; minigan.deep_kernel, Liu et al. 2020, MMD-D).  Every Gaussian
bandwidth looks at the data through round balls; on the blobs the difference is a direction,
not a scale.  kernel="deep" shuffles each sample and cuts it in two: on the first part
(train_fraction of the rows) it learns k(x, y) = [(1 - eps) kappa(phi(x), phi(y)) + eps] q(x, y),
phi a small MLP, by maximising the same power proxy J; on the other part it runs the
permutation test above with that kernel.  The kernel never saw the tested rows, so it is a fixed
kernel for them and the p-value is exact.  Which parameters of the training are kept is
`selection` (the best held-out J, or the last step of a fixed schedule; minigan.deep_kernel).
Its type-I error and power, against the aggregated test's, and what each way of choosing
buys, are in docs/results.md (on the blob problems there, halving the tested rows costs more
than the learned features buy).  The result carries the kernel (kernel(A, B) on new arrays)
and the witness function of the tested rows.  A kernel learned before (a DeepKernel, or any
function k(A, B) -> matrix) can be passed as `kernel`; it is then used on all the rows, which
is exact only when it was learned on other data.  What a passed function returns is
checked: a finite real (len(A), len(B)) matrix.

Deliberately left out: other fixed kernels than the Gaussian, the Gamma and spectral null
approximations, and unequal-size pairing schemes for the linear statistic.
"""
from dataclasses import dataclass, fields

import numpy as np
from scipy.stats import norm
from tqdm.auto import tqdm

from . import deep_kernel, mmd
from ._checks import (MAX_WIDTH, as_float_array, check_choice, check_positive_float,
                      check_positive_int, check_same_width, check_seed, check_widths)

METHODS = ("permutation", "linear")
ESTIMATORS = mmd.ESTIMATORS
BANDWIDTH_CHOICES = ("split", "aggregate")   # the strings mmd_test accepts as sigmas
KERNELS = ("gaussian", "deep")               # the strings mmd_test accepts as kernel
TRAIN_FRACTION = 0.5         # kernel="deep": share of each sample that trains the kernel
MAX_MEMORY = 256 * 2**20     # bytes for one block of the pooled kernel (and its temporaries)
BANDWIDTH_GRID = 2.0 ** np.arange(-5, 3)   # "split" and "aggregate": bandwidths median * 2^k
SPLIT_MAX_ROWS = 2000        # rows per sample used to choose the bandwidth (memory O(rows^2))
VAR_REG = deep_kernel.LAMBDA  # keeps the power proxy J finite where var_hat = 0
VAR_FLOOR = 1e-30            # "aggregate": only stops 0/0 (var_hat is a sum of squares ~ 1e-16^2)
_TEMPORARIES = 6             # block-sized arrays alive at once inside mmd.gaussian_kernel
LABEL_MEMORY = 2 * 2**30     # bytes for the (n + m) x (1 + B) relabelling matrix
PROGRESS_WORK = 2e10         # kernel entries x relabellings above which a progress bar shows


@dataclass
class MMDTestResult:
    """What mmd_test found.

    statistic:  the MMD^2 estimate on the tested rows
    p_value:    in (0, 1]
    threshold:  reject  <=>  p_value <= alpha  <=>  statistic > threshold
                (inf when n_permutations is too small to ever reject at alpha)
    reject:     bool, H0 (same distribution) rejected at level alpha
    sigmas:     the kernel bandwidths used (length-scales): one kernel, their mixture, or with
                bandwidth "aggregate" the grid of single-bandwidth kernels that were maximised over
                ([] for a learned or given kernel)
    bandwidth:  how they were chosen: "median", "given", "split" or "aggregate"; "learned" for
                kernel="deep", "kernel" for a kernel passed in
    method, estimator, alpha, n_permutations (None for "linear")
    n, m:       rows of X and Y that the test used (half of each with sigmas="split", the
                test part with kernel="deep")
    best_sigma: "aggregate" only: the bandwidth with the largest J_s on the observed labels
                (where the difference shows most); None otherwise
    train_rows: kernel="deep": [rows of X, rows of Y] the kernel was learned on; else None
    kernel:     the learned (or given) kernel, else None: kernel(A, B) -> (len(A), len(B))
                matrix on new arrays (a minigan.deep_kernel.DeepKernel for kernel="deep")
    witness:    with a learned or given kernel, the witness function of the tested rows,
                witness(points) = mean_j k(p, x_j) - mean_j k(p, y_j) for each row p
                (a minigan.deep_kernel.Witness); else None

    With sigmas="aggregate" the statistic (and threshold) is max_s J_s, a studentised score,
    not an MMD^2.
    """
    statistic: float
    p_value: float
    threshold: float
    reject: bool
    sigmas: list
    bandwidth: str
    method: str
    estimator: str
    alpha: float
    n_permutations: int | None
    n: int
    m: int
    best_sigma: float | None = None
    train_rows: list | None = None
    kernel: object = None
    witness: object = None

    def as_dict(self):
        """Plain Python values (for JSON); a kernel is given by its description."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "witness"}
        out["kernel"] = _describe(self.kernel)
        return out

    def summary(self):
        """A few lines of text for people."""
        sig = ", ".join(f"{s:.4g}" for s in self.sigmas)
        how = {"median": "median heuristic", "given": "given",
               "split": "chosen on a held-out half",
               "aggregate": f"each on its own, largest J at {self.best_sigma or 0:.4g}",
               "learned": "", "kernel": ""}[self.bandwidth]
        kernel_line = (f"  bandwidth    sigma = {sig} ({how})" if self.kernel is None else
                       f"  kernel       {_describe(self.kernel)}" + (
                           f"\n               learned on n = {self.train_rows[0]}, "
                           f"m = {self.train_rows[1]} other rows" if self.train_rows else ""))
        what = ("max over the bandwidths of MMD^2_u / sd" if self.bandwidth == "aggregate"
                else f"{self.estimator} MMD^2")
        null = (f"{self.n_permutations} permutations" if self.method == "permutation"
                else "asymptotic normal null")
        verdict = ("reject H0: the samples look different" if self.reject
                   else "do not reject H0: no evidence that the samples differ")
        return "\n".join([
            f"MMD two-sample test ({self.method}, {null}; {what})",
            f"  rows tested  n = {self.n}, m = {self.m}",
            kernel_line,
            f"  statistic    {self.statistic:.6g}",
            f"  threshold    {self.threshold:.6g}  (alpha = {self.alpha:g})",
            f"  p-value      {self.p_value:.4g}",
            f"  decision     {verdict}",
        ])


def _describe(kernel):
    """A kernel in words: its describe() when it has one, else its repr; None stays None."""
    if kernel is None:
        return None
    return kernel.describe() if hasattr(kernel, "describe") else repr(kernel)


# ------------------------------------------------------------------- the test
def mmd_test(X, Y, sigmas=None, estimator="unbiased", method="permutation",
             n_permutations=500, alpha=0.05, seed=None, max_memory=MAX_MEMORY,
             kernel="gaussian", train_fraction=None, hidden=None, n_features=None,
             selection=None, max_steps=None, patience=None, holdout=None,
             weight_decay=None, periodic=None, frequency=None):
    """Kernel two-sample test of H0: X and Y come from the same distribution.

    X: (n, d), Y: (m, d) samples (float32/float64/int; computed in float64).
    sigmas: None (median heuristic), a bandwidth or list of them (a mixture kernel),
            "split" (choose on half of each sample, test on the other half), or
            "aggregate" (all bandwidths of the grid on all the data; statistic max_s J_s;
            costs 8 times the single-bandwidth test; permutation and unbiased only).
            Gaussian kernel only (leave it None otherwise).
    estimator: "unbiased" (U-statistic, needs n, m >= 2) or "biased" (V-statistic); for
            method="permutation" only (the linear statistic has its own estimator).
    method: "permutation" or "linear" (needs n, m >= 4); see the module docstring.
    n_permutations: B, the number of random relabellings (method="permutation").
    alpha: level of the test, in (0, 1).
    seed: None, an int or a numpy Generator (relabellings, the split, the linear pairing,
          the deep kernel's initial weights).
    max_memory: bytes allowed for one block of the pooled kernel matrix.
    kernel: "gaussian" (the default), "deep" (learn an MMD-D kernel on train_fraction of each
            sample, test on the rest; permutation only; see minigan.deep_kernel), or a kernel
            learned before: a function k(A, B) -> (len(A), len(B)) matrix such as a DeepKernel,
            used on all the rows (exact only if it was learned on other data).
    train_fraction: kernel="deep" only: share of each sample the kernel is learned on, in
            (0, 1); None: TRAIN_FRACTION (0.5).
    hidden, n_features: kernel="deep" only: the hidden widths and output width of the feature
            MLP; None: deep_kernel.HIDDEN and deep_kernel.N_FEATURES. When none of hidden,
            n_features and periodic is given (and selection is "holdout"), two feature maps
            are learned, this MLP and a periodic one (deep_kernel.FEATURE_MAPS), and the one
            with the larger held-out J is tested (deep_kernel.choose_kernel).
    selection, max_steps, patience, holdout, weight_decay: kernel="deep" only: how the
            kernel is trained and which parameters are kept
            (minigan.deep_kernel.learn_kernel); None: the defaults there
            (deep_kernel.SELECTION, MAX_STEPS, PATIENCE, HOLDOUT, WEIGHT_DECAY).
    periodic, frequency: kernel="deep" only: the width of the feature MLP's periodic first
            layer (0: none) and the spread its frequencies are sought in
            (minigan.deep_kernel.DeepKernel, peak_frequencies); None: deep_kernel.PERIODIC
            and FREQUENCY.
            Any of these ten with another kernel is an error (it would be ignored).
    Returns an MMDTestResult.
    """
    check_choice(method, "method", METHODS)
    check_choice(estimator, "estimator", ESTIMATORS)
    if method == "linear" and estimator != "unbiased":
        raise ValueError("estimator applies to method='permutation' only; "
                         "the linear-time statistic has its own estimator")
    n_permutations = check_positive_int(n_permutations, "n_permutations")
    alpha = check_positive_float(alpha, "alpha")
    if alpha >= 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    max_memory = check_positive_int(max_memory, "max_memory")
    seed = check_seed(seed)
    if not callable(kernel):
        check_choice(kernel, "kernel", KERNELS)
    deep_settings = {"train_fraction": train_fraction, "hidden": hidden, "n_features": n_features,
                     "selection": selection, "max_steps": max_steps, "patience": patience,
                     "holdout": holdout, "weight_decay": weight_decay, "periodic": periodic,
                     "frequency": frequency}
    if not (isinstance(kernel, str) and kernel == "deep"):
        given = [name for name, value in deep_settings.items() if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)} only apply to kernel='deep' (a kernel that is "
                             f"learned here); with kernel={kernel!r:.40} they would be ignored")
    if kernel != "gaussian":
        return _learned_kernel_test(X, Y, kernel, sigmas, estimator, method, n_permutations,
                                    alpha, seed, max_memory, deep_settings)
    choice = sigmas if isinstance(sigmas, str) else None
    if choice is not None and choice not in BANDWIDTH_CHOICES:
        raise ValueError(f"sigmas must be None, 'split', 'aggregate', a number or a list, "
                         f"got {sigmas!r}")
    if choice == "aggregate" and (method, estimator) != ("permutation", "unbiased"):
        raise ValueError("sigmas='aggregate' needs method='permutation' and "
                         "estimator='unbiased' (it studentises MMD^2_u under every relabelling)")
    split = choice == "split"
    min_rows = required_rows(method, estimator, split)
    X = as_float_array(X, "X", ndim=2, dtype=np.float64, min_rows=min_rows)
    Y = as_float_array(Y, "Y", ndim=2, dtype=np.float64, min_rows=min_rows)
    check_same_width(X, Y, "X", "Y")
    if method == "permutation":
        _check_label_memory(len(X) + len(Y), n_permutations)
    rng = np.random.default_rng(seed)
    # extreme scales: the test is unchanged when data and bandwidths are multiplied by one
    # factor, so both are brought into a safe range by a power of two (see minigan.mmd)
    if choice is None and sigmas is not None:
        sigmas = mmd.check_sigmas(sigmas, (0, np.inf))
        mmd.check_narrowest(sigmas, X, Y)
    X, Y, e = mmd.to_safe_range(X, Y)
    if choice is None and sigmas is not None:
        sigmas = [float(np.ldexp(s, -e)) for s in sigmas]

    best_sigma = None
    if split:
        (X_sel, Y_sel), (X, Y) = split_halves(X, Y, rng)
        sigmas, bandwidth = [select_bandwidth(X_sel, Y_sel, rng=rng)], "split"
    elif choice == "aggregate":
        sigmas, bandwidth = bandwidth_grid(X, Y), "aggregate"
    elif sigmas is None:
        sigmas, bandwidth = [mmd.median_heuristic(X, Y)], "median"
    else:
        sigmas, bandwidth = mmd.check_sigmas(sigmas), "given"
    scale_back = lambda s: float(np.ldexp(s, e))

    if method == "linear":
        statistic, p_value, threshold = _linear_test(X, Y, sigmas, alpha, rng)
        n_permutations = None
    elif bandwidth == "aggregate":
        statistic, p_value, threshold, best_sigma = _aggregate_test(
            X, Y, sigmas, n_permutations, alpha, rng, max_memory)
    else:
        statistic, p_value, threshold = _permutation_test(
            X, Y, sigmas, estimator, n_permutations, alpha, rng, max_memory)
    if not (np.isfinite(statistic) and np.isfinite(p_value)):  # never answer from NaN
        raise FloatingPointError(f"the test statistic came out as {statistic}; please report "
                                 f"this input")
    return MMDTestResult(statistic=statistic, p_value=p_value, threshold=threshold,
                         reject=bool(p_value <= alpha), sigmas=[scale_back(s) for s in sigmas],
                         bandwidth=bandwidth, method=method, estimator=estimator, alpha=alpha,
                         n_permutations=n_permutations, n=len(X), m=len(Y),
                         best_sigma=None if best_sigma is None else scale_back(best_sigma))


def required_rows(method, estimator="unbiased", split=False, kernel="gaussian",
                  train_fraction=TRAIN_FRACTION):
    """Fewest rows of X (and of Y) that mmd_test accepts.

    unbiased: 2 (the U-statistic leaves out i = j); biased: 1; linear: 4 (two pairs, for a
    variance); sigmas="split" doubles it, with at least 2 per half for the power proxy.
    kernel="deep": the smallest n whose train part, round(train_fraction * n) rows, has 4
    (2 to fit and 2 held out for early stopping) and whose test part has the 2 (or 1) above.
    """
    rows = 4 if method == "linear" else {"unbiased": 2, "biased": 1}[estimator]
    if kernel == "deep":
        n = rows + 4
        while n - _train_rows(n, train_fraction) < rows or _train_rows(n, train_fraction) < 4:
            n += 1
        return n
    return 2 * max(rows, 2) if split else rows


def _train_rows(n, train_fraction):
    """Rows of an n-row sample that kernel="deep" learns the kernel on."""
    return int(round(train_fraction * n))


# ------------------------------------------------------ learned-kernel test
def _learned_kernel_test(X, Y, kernel, sigmas, estimator, method, n_permutations, alpha, seed,
                         max_memory, deep_settings):
    """mmd_test with kernel="deep" (learn on a train part, test on the rest) or a given kernel;
    deep_settings: mmd_test's kernel="deep" arguments by name (None: the default)."""
    if sigmas is not None:
        raise ValueError(f"sigmas applies to kernel='gaussian' only; the deep kernel learns its "
                         f"length-scales (got sigmas={sigmas!r})")
    if method != "permutation":
        raise ValueError("a learned or given kernel needs method='permutation'")
    deep = isinstance(kernel, str) and kernel == "deep"
    hidden, n_features, train_fraction = (deep_settings[name] for name in
                                          ("hidden", "n_features", "train_fraction"))
    defaults = dict(selection=deep_kernel.SELECTION, max_steps=deep_kernel.MAX_STEPS,
                    patience=deep_kernel.PATIENCE, holdout=deep_kernel.HOLDOUT,
                    weight_decay=deep_kernel.WEIGHT_DECAY)
    training = dict(zip(defaults, deep_kernel.check_training(     # checked before any draw
        *(default if deep_settings[name] is None else deep_settings[name]
          for name, default in defaults.items()))))
    hidden = deep_kernel.HIDDEN if hidden is None else check_widths(hidden, "hidden")
    n_features = (deep_kernel.N_FEATURES if n_features is None
                  else check_positive_int(n_features, "n_features", maximum=MAX_WIDTH))
    train_fraction = TRAIN_FRACTION if train_fraction is None else train_fraction
    train_fraction = check_positive_float(train_fraction, "train_fraction")
    if train_fraction >= 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction!r}")
    X = as_float_array(X, "X", ndim=2, dtype=np.float64)
    Y = as_float_array(Y, "Y", ndim=2, dtype=np.float64)
    check_same_width(X, Y, "X", "Y")
    periodic, frequency = deep_kernel.check_periodic(
        *(default if deep_settings[name] is None else deep_settings[name] for name, default in
          (("periodic", deep_kernel.PERIODIC), ("frequency", deep_kernel.FREQUENCY))),
        X.shape[1])
    need = required_rows(method, estimator, kernel="deep" if deep else "gaussian",
                         train_fraction=train_fraction)
    for name, A in (("X", X), ("Y", Y)):
        if len(A) < need:
            why = (f" with kernel='deep' and train_fraction={train_fraction:g} "
                   f"(at least 4 rows to learn the kernel and "
                   f"{required_rows(method, estimator)} to test it)" if deep else "")
            raise ValueError(f"{name} must have at least {need} rows{why}, got {len(A)}")
    _check_label_memory(len(X) + len(Y), n_permutations)
    rng = np.random.default_rng(seed)     # checked by mmd_test
    train_rows = None
    if deep:
        X, Y = X[rng.permutation(len(X))], Y[rng.permutation(len(Y))]
        n_tr, m_tr = _train_rows(len(X), train_fraction), _train_rows(len(Y), train_fraction)
        # phi's shape not given: learn each of deep_kernel.FEATURE_MAPS, keep the best on the
        # held-out rows (with selection="last" there are none to choose on: the MLP)
        if (all(deep_settings[k] is None for k in ("hidden", "n_features", "periodic"))
                and training["selection"] == "holdout"):
            kernel, _ = deep_kernel.choose_kernel(X[:n_tr], Y[:m_tr], seed=rng,
                                                  frequency=frequency, **training)
        else:
            kernel, _ = deep_kernel.learn_kernel(
                X[:n_tr], Y[:m_tr], hidden=hidden, n_features=n_features, seed=rng,
                periodic=periodic, frequency=frequency, **training)
        X, Y, train_rows = X[n_tr:], Y[m_tr:], [n_tr, m_tr]
    checked = kernel if deep else _checked_kernel(kernel)   # a DeepKernel is trusted
    statistic, p_value, threshold = _permutation_test(
        X, Y, checked, estimator, n_permutations, alpha, rng, max_memory)
    return MMDTestResult(statistic=statistic, p_value=p_value, threshold=threshold,
                         reject=bool(p_value <= alpha), sigmas=[],
                         bandwidth="learned" if deep else "kernel", method=method,
                         estimator=estimator, alpha=alpha, n_permutations=n_permutations,
                         n=len(X), m=len(Y), train_rows=train_rows, kernel=kernel,
                         witness=deep_kernel.Witness(kernel, X, Y))


def _checked_kernel(kernel):
    """A user's kernel function, wrapped to check every matrix it returns: k(A, B) must be a
    finite (len(A), len(B)) real array, else a ValueError says what came back."""
    def checked(A, B):
        K = np.asarray(kernel(A, B))
        if K.shape != (len(A), len(B)):
            raise ValueError(f"kernel(A, B) must return a (len(A), len(B)) = ({len(A)}, "
                             f"{len(B)}) matrix, got shape {K.shape}")
        if not np.issubdtype(K.dtype, np.number) or np.iscomplexobj(K):
            raise TypeError(f"kernel(A, B) must return a real array, got dtype {K.dtype}")
        if not np.all(np.isfinite(K)):
            raise ValueError("kernel(A, B) returned NaN or inf")
        return K.astype(np.float64, copy=False)
    return checked


# ---------------------------------------------------------- permutation test
def _permutation_test(X, Y, kernel, estimator, n_permutations, alpha, rng, max_memory):
    """(statistic, p-value, threshold) from B random relabellings of the pooled sample."""
    Z = np.vstack([X, Y])
    labels = relabellings(len(X), len(Y), n_permutations, rng,        # (N, 1 + B)
                          progress=_large(len(Z), 1 + n_permutations))
    stats = permutation_statistics(Z, labels, len(X), kernel, estimator, max_memory)
    return _permutation_p_value(stats[0], stats[1:], alpha)


def _permutation_p_value(T, null, alpha):
    """(T, p, threshold): p = (1 + #{T_b >= T}) / (1 + B) for the observed T and null (B,)."""
    # ties within rounding count as ">=" (conservative), as in scipy.stats.permutation_test
    tol = 100 * np.finfo(np.float64).eps * abs(T)
    p_value = (1 + np.count_nonzero(null >= T - tol)) / (1 + len(null))
    return float(T), float(p_value), _permutation_threshold(null, alpha)


def relabellings(n, m, n_permutations, rng, progress=False):
    """Column 0 marks the observed split (the first n rows are X); columns 1..B are random.

    Returns A: (n + m, 1 + B) float64 of 0/1, each column with n ones (the "X" rows).
    progress: show a bar (a large test spends seconds to minutes here, before its blocks).
    """
    A = np.zeros((n + m, 1 + n_permutations))
    A[:n, 0] = 1
    for b in tqdm(range(1, 1 + n_permutations), desc="mmd_test: drawing relabellings",
                  unit="perm", leave=False, disable=not progress):
        A[rng.permutation(n + m)[:n], b] = 1
    return A


def permutation_statistics(Z, A, n, kernel, estimator, max_memory=MAX_MEMORY):
    """MMD^2 of every relabelling of Z, from block sums of the pooled kernel (module docstring).

    Z: (N, d) pooled sample; A: (N, B) 0/1 columns with n ones each (the "X" rows).
    kernel: the Gaussian kernel's bandwidths (a number or a list: their mixture), or a function
            k(A, B) -> (len(A), len(B)) matrix (a learned kernel).
    The pooled kernel K (N, N) is built in blocks of rows whose temporaries fit max_memory.
    Returns (B,) float64.
    """
    if not callable(kernel):
        sigmas = kernel
        kernel = lambda A, B: mmd.gaussian_kernel(A, B, sigmas)       # noqa: E731
    N, m = len(Z), len(Z) - n
    rows = _block_rows(N, A.shape[1], max_memory)
    S_xx, a_r, tr_x = np.zeros(A.shape[1]), np.zeros(A.shape[1]), np.zeros(A.shape[1])
    S = tr = 0.0
    for start in _blocks(N, rows, A.shape[1], "mmd_test"):
        I = slice(start, start + rows)
        K_I = kernel(Z[I], Z)                                          # (rows, N)
        r_I = K_I.sum(1)
        delta_I = K_I[np.arange(K_I.shape[0]), np.arange(N)[I]]       # diag K, these rows
        S_xx += np.einsum("ib,ib->b", A[I], K_I @ A)                  # a'K a, this block
        a_r += r_I @ A[I]
        tr_x += delta_I @ A[I]
        S += r_I.sum()
        tr += delta_I.sum()
    S_xy = a_r - S_xx
    S_yy = S - 2 * a_r + S_xx
    if estimator == "unbiased":
        return ((S_xx - tr_x) / (n * (n - 1)) + (S_yy - (tr - tr_x)) / (m * (m - 1))
                - 2 * S_xy / (n * m))
    return S_xx / n**2 + S_yy / m**2 - 2 * S_xy / (n * m)


def _check_label_memory(N, n_permutations):
    """Refuse, before allocating, a relabelling matrix larger than LABEL_MEMORY."""
    need = 8 * N * (1 + n_permutations)
    if need > LABEL_MEMORY:
        raise MemoryError(
            f"{n_permutations} permutations of {N} pooled rows need a {need / 2**30:.1f} GiB "
            f"relabelling matrix (more than minigan.two_sample.LABEL_MEMORY = "
            f"{LABEL_MEMORY / 2**30:.0f} GiB); use fewer permutations (500 gives p-values to "
            f"+-0.01) or method='linear' (O(n) time and memory)")


def _large(N, B):
    """Is an N x N kernel times B relabellings large enough for progress bars?"""
    return float(N) * N * B >= PROGRESS_WORK


def _blocks(N, rows, B, what):
    """range(0, N, rows), shown as a progress bar (with an ETA, and the work it stands for)
    when the work is large."""
    return tqdm(range(0, N, rows), desc=f"{what} ({float(N) * N * B:.1e} kernel products)",
                unit="block", leave=False, disable=not _large(N, B))


def _block_rows(N, B, max_memory):
    """Rows per block: _TEMPORARIES arrays of (rows, N) and of (rows, B) float64 in max_memory."""
    return max(1, max_memory // (_TEMPORARIES * 8 * (N + B)))


def min_permutations(alpha):
    """The fewest relabellings B with which a permutation test can reject at level alpha:
    p >= 1 / (1 + B) always, so rejecting needs 1 / (1 + B) <= alpha (B = 19 at 0.05, 99 at
    0.01); with fewer, the threshold is inf.  Same rounding as _permutation_threshold."""
    B = max(1, int(np.ceil(1 / alpha)) - 2)
    while np.floor(alpha * (B + 1) + 1e-9) < 1:
        B += 1
    return B


def _permutation_threshold(null, alpha):
    """The t with  p <= alpha  <=>  T > t:  the (k+1)-th largest T_b, k = floor(alpha(B+1)) - 1.

    p <= alpha  <=>  #{T_b >= T} <= k  <=>  T exceeds the (k+1)-th largest permutation statistic.
    """
    k = int(np.floor(alpha * (len(null) + 1) + 1e-9)) - 1
    return float(np.sort(null)[::-1][k]) if k >= 0 else float("inf")


# ------------------------------------------------------------ aggregated test
def bandwidth_grid(X, Y, grid=BANDWIDTH_GRID):
    """The candidate bandwidths of sigmas="aggregate" and "split": median_heuristic(X, Y) * grid,
    a list of floats.

    Computed from the pooled sample (labels play no part), so every relabelling sees the same grid.
    """
    return [float(s) for s in mmd.median_heuristic(X, Y) * np.asarray(grid, dtype=np.float64)]


def _aggregate_test(X, Y, sigmas, n_permutations, alpha, rng, max_memory):
    """(max_s J_s, p-value, threshold, best sigma) from B relabellings (module docstring)."""
    Z = np.vstack([X, Y])
    labels = relabellings(len(X), len(Y), n_permutations, rng,        # (N, 1 + B)
                          progress=_large(len(Z), (1 + n_permutations) * len(sigmas)))
    J = studentised_statistics(Z, labels, len(X), sigmas, max_memory)  # (L, 1 + B)
    M = J.max(0)                            # the selection is redone under every relabelling
    best_sigma = sigmas[int(np.argmax(J[:, 0]))]
    return (*_permutation_p_value(M[0], M[1:], alpha), best_sigma)


def studentised_statistics(Z, A, n, sigmas, max_memory=MAX_MEMORY):
    """J_s = MMD^2_u / sqrt(var_hat) of every relabelling, for every bandwidth on its own.

    Z: (N, d) pooled sample; A: (N, B) 0/1 columns with n ones each (the "X" rows);
    sigmas: L bandwidths, each a single Gaussian kernel k_s (not their mixture).
    Per block of rows I and bandwidth s, KA = K_s[I] @ A gives f_ib ("X" rows) and g_ib
    ("Y" rows) of the module docstring; the sums of f, f^2, g, g^2 over the rows give
        MMD^2_u = mean f + mean g,   var_hat = 4 var f / n + 4 var g / m.
    Returns (L, B) float64 (var_hat floored at VAR_FLOOR, which only matters when every
    f_i and g_j are equal).
    """
    N, m = len(Z), len(Z) - n
    rows = _block_rows(N, A.shape[1], max_memory)
    sums = np.zeros((4, len(sigmas), A.shape[1]))      # sum f, sum f^2, sum g, sum g^2
    for start in _blocks(N, rows, A.shape[1] * len(sigmas), "mmd_test (aggregate)"):
        I = slice(start, start + rows)
        in_x = A[I]                                                    # (rows, B)
        D2_I = mmd.squared_distances(Z[I], Z)                          # (rows, N)
        for l, s in enumerate(sigmas):
            K_I = np.exp(D2_I * (-0.5 / s**2))                         # k_s(z_i, z_j)
            KA = K_I @ A                                               # (rows, B)
            r = K_I.sum(1)[:, None]
            diag = K_I[np.arange(K_I.shape[0]), np.arange(N)[I]][:, None]
            f = in_x * ((KA - diag) / (n - 1) - (r - KA) / m)          # 0 on "Y" rows
            g = (1 - in_x) * ((r - KA - diag) / (m - 1) - KA / n)      # 0 on "X" rows
            sums[:, l] += [f.sum(0), (f * f).sum(0), g.sum(0), (g * g).sum(0)]
    mean_f, mean_g = sums[0] / n, sums[2] / m
    var_hat = 4 * (sums[1] / n - mean_f**2) / n + 4 * (sums[3] / m - mean_g**2) / m
    return (mean_f + mean_g) / np.sqrt(np.maximum(var_hat, 0) + VAR_FLOOR)


# --------------------------------------------------------------- linear test
def linear_statistic(X, Y, sigmas):
    """h_i over disjoint pairs (module docstring).  X: (n, d), Y: (m, d) -> (floor(min(n,m)/2),)."""
    n2 = min(len(X), len(Y)) // 2
    x1, x2 = X[0:2 * n2:2], X[1:2 * n2:2]
    y1, y2 = Y[0:2 * n2:2], Y[1:2 * n2:2]
    return (_paired_kernel(x1, x2, sigmas) + _paired_kernel(y1, y2, sigmas)
            - _paired_kernel(x1, y2, sigmas) - _paired_kernel(x2, y1, sigmas))


def _paired_kernel(U, V, sigmas):
    """k(u_i, v_i) row by row.  U, V: (p, d) -> (p,)."""
    d2 = ((U - V) ** 2).sum(1)
    return sum(np.exp(-d2 / (2 * s**2)) for s in sigmas)


def _linear_test(X, Y, sigmas, alpha, rng):
    """(MMD^2_l, p-value, threshold), asymptotic normal null (Gretton et al. 2012, sec. 6)."""
    h = linear_statistic(X[rng.permutation(len(X))], Y[rng.permutation(len(Y))], sigmas)
    T, scale = h.mean(), h.std(ddof=1) / np.sqrt(len(h))              # sd of MMD^2_l
    if scale == 0:                      # every h_i equal: no spread to compare T with
        p_value = 1.0 if T <= 0 else np.finfo(np.float64).tiny
    else:                               # the normal tail, floored so that p is never 0
        p_value = max(norm.sf(T / scale), np.finfo(np.float64).tiny)
    return float(T), float(p_value), float(norm.isf(alpha) * scale)


# ------------------------------------------------------ bandwidth by splitting
def split_halves(X, Y, rng):
    """Shuffle the rows and cut each sample in two: ((X_sel, Y_sel), (X_test, Y_test)).

    The selection halves get floor(n/2) and floor(m/2) rows, the test halves the rest.
    """
    X, Y = X[rng.permutation(len(X))], Y[rng.permutation(len(Y))]
    return (X[:len(X) // 2], Y[:len(Y) // 2]), (X[len(X) // 2:], Y[len(Y) // 2:])


def power_proxy(X, Y, sigma):
    """J = MMD^2_u / sqrt(var_hat + 1e-8) for one bandwidth (module docstring).

    X: (n, d), Y: (m, d), n, m >= 2.  Returns (J, MMD^2_u, var_hat) as floats.
    """
    J, terms = deep_kernel.criterion_forward(mmd.gaussian_kernel(X, X, sigma),
                                             mmd.gaussian_kernel(Y, Y, sigma),
                                             mmd.gaussian_kernel(X, Y, sigma), VAR_REG)
    return J, terms["mmd2"], terms["var"]


def select_bandwidth(X, Y, grid=BANDWIDTH_GRID, rng=None):
    """The sigma in median_heuristic(X, Y) * grid with the largest power_proxy.

    X: (n, d), Y: (m, d), n, m >= 2 (the selection half; at most SPLIT_MAX_ROWS of each
    are used, drawn with `rng`).  Returns a float.

    Only bandwidths with var_hat > VAR_REG compete.  In many dimensions the smallest ones
    make the kernel numerically 0 between any two distinct rows (d = 10, median / 32:
    exp(-500)); there J is about 0 whatever the data, and it would beat every bandwidth whose
    J came out negative by chance, leaving the test a kernel that sees no pair.  If none
    competes, the median heuristic itself (grid value 1); deep_kernel.best_usable_bandwidth.
    """
    rng = np.random.default_rng(rng)
    X = X[rng.permutation(len(X))[:SPLIT_MAX_ROWS]]
    Y = Y[rng.permutation(len(Y))[:SPLIT_MAX_ROWS]]
    return deep_kernel.best_usable_bandwidth(
        bandwidth_grid(X, Y, grid), lambda s: power_proxy(X, Y, s)[::2], VAR_REG,  # (J, var_hat)
        fallback=mmd.median_heuristic(X, Y))
