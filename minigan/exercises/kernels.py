"""Checks for the kernel exercises: the MMD^2 gradient (X, then both samples), the witness.

The right answers are minigan.mmd's (NumPy backend); the known wrong ones (a missing symmetric
term, a flipped cross term, the other estimator's normaliser, sigma read as a variance, ...)
are assembled from the same pieces `_mmd2_terms` uses, so a hint can name the mistake.
"""
import numpy as np

from .. import mmd
from .runner import compare, finite_difference, unpack

FD = "a finite-difference gradient (minigan.gradcheck)"
LIBRARY = "the library's minigan.mmd.mmd2_and_grad"
LENGTH_SCALE = ("sigma is a length-scale: k_s = exp(-||x - y||^2 / (2 s^2)), not / (2 s) (that "
                "is the GMMN code's variance convention; docs/guide.md, section 1)")
OTHER = {"unbiased": "biased", "biased": "unbiased"}


def _normalisers(n, m, estimator):
    """(c_xx, c_yy, c_xy) of the estimator (minigan.mmd._mmd2_terms)."""
    if estimator == "unbiased":
        return 1.0 / (n * (n - 1)), 1.0 / (m * (m - 1)), 1.0 / (n * m)
    return 1.0 / n**2, 1.0 / m**2, 1.0 / (n * m)


def _directions(X, Y, sigmas):
    """The four sums of the gradient formulas (float64), section 3.2 step 5 and section 3.8:
    xx_a = sum_j w(x_a, x_j)(x_a - x_j), xy_a = sum_j w(x_a, y_j)(x_a - y_j),
    yy_b = sum_j w(y_b, y_j)(y_b - y_j), yx_b = sum_i w(x_i, y_b)(y_b - x_i);
    also yx computed from the rows of the X-Y block (the transposition mistake, when n = m)."""
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    _, Wxx = mmd._kernel_and_weights(mmd.self_distances(X), sigmas)
    _, Wyy = mmd._kernel_and_weights(mmd.self_distances(Y), sigmas)
    _, Wxy = mmd._kernel_and_weights(mmd.squared_distances(X, Y), sigmas)
    out = {"xx": Wxx.sum(1)[:, None] * X - Wxx @ X, "xy": Wxy.sum(1)[:, None] * X - Wxy @ Y,
           "yy": Wyy.sum(1)[:, None] * Y - Wyy @ Y, "yx": Wxy.sum(0)[:, None] * Y - Wxy.T @ X}
    if len(X) == len(Y):
        out["yx_rows"] = Wxy.sum(1)[:, None] * Y - Wxy @ X
    return out


def _samples(rng, dtype, equal_sizes=False):
    """X: (n, d), Y: (m, d) shifted by 0.7 (n != m unless equal_sizes), 1-3 length-scales."""
    n, m = (int(v) for v in rng.choice(np.arange(2, 8), 2, replace=False))
    m = n if equal_sizes else m
    d = int(rng.integers(1, 4))
    X = rng.standard_normal((n, d)).astype(dtype)
    Y = (rng.standard_normal((m, d)) + 0.7).astype(dtype)
    k = int(rng.integers(1, 4))
    sigmas = sorted(float(s) for s in rng.choice([0.4, 0.7, 1.3, 2.5, 4.0], k, replace=False))
    return X, Y, sigmas


def mmd_cases(rng):
    """Both estimators, both dtypes; the last case has n = m (where a transpose hides)."""
    settings = [(np.float64, "unbiased"), (np.float64, "biased"), (np.float64, "unbiased"),
                (np.float32, "biased"), (np.float32, "unbiased"), (np.float64, "biased")]
    cases = []
    for i, (dtype, estimator) in enumerate(settings):
        X, Y, sigmas = _samples(rng, dtype, equal_sizes=i == len(settings) - 1)
        cases.append({"label": f"X {X.shape}, Y {Y.shape}, sigmas {sigmas}, {estimator}, "
                               f"{X.dtype}",
                      "X": X, "Y": Y, "sigmas": sigmas, "estimator": estimator})
    return cases


def _check_value(got, case):
    """The learner's MMD^2 against minigan.mmd.mmd2, with the estimator's usual mistakes."""
    X, Y, sigmas, estimator = case["X"], case["Y"], case["sigmas"], case["estimator"]
    value = mmd.mmd2(X, Y, sigmas, estimator, backend="numpy")
    n, m = len(X), len(Y)
    c_xx, c_yy, c_xy = _normalisers(n, m, estimator)
    Kxy = mmd.gaussian_kernel(X.astype(np.float64), Y.astype(np.float64), sigmas)
    mistakes = [(LENGTH_SCALE, mmd.mmd2(X, Y, [np.sqrt(s) for s in sigmas], estimator,
                                        backend="numpy")),
                (f"this is the {OTHER[estimator]} estimator's MMD^2; the {estimator} one "
                 f"(its normalisers, its diagonal) is in docs/guide.md, section 3.1",
                 mmd.mmd2(X, Y, sigmas, OTHER[estimator], backend="numpy")),
                ("the cross term is -2 c_xy sum_ij k(x_i, y_j): its factor 2 is missing",
                 value + c_xy * Kxy.sum())]
    if estimator == "unbiased":   # k(x, x) = one per bandwidth on each diagonal
        mistakes.append(("the unbiased estimator leaves out the i = j terms: set the diagonals "
                         "of Kxx and Kyy to 0 before summing (docs/guide.md, section 3.1)",
                         value + len(sigmas) * (c_xx * n + c_yy * m)))
    compare("MMD^2", got, np.asarray(value, X.dtype), "the library's minigan.mmd.mmd2",
            mistakes)


def check_kernel_and_weights(learner, case):
    """kernel_and_weights(D2, sigmas) -> (K, W) against minigan.mmd._kernel_and_weights."""
    X, Y, sigmas = case["X"], case["Y"], case["sigmas"]
    D2 = mmd.squared_distances(X, Y)
    K, W = mmd._kernel_and_weights(D2, sigmas)
    K_var, _ = mmd._kernel_and_weights(D2, [np.sqrt(s) for s in sigmas])
    got = unpack("kernel_and_weights", learner("kernel_and_weights", D2.copy(), list(sigmas)), 2)
    against = "the library's minigan.mmd._kernel_and_weights"
    compare("K", got[0], K, against, [(LENGTH_SCALE, K_var)])
    per_sigma = [np.exp(D2 * (-0.5 / s**2)) for s in sigmas]
    compare("W", got[1], W, against, [
        ("W weighs each bandwidth's kernel by 1 / s^2 (d k_s / dx = -k_s (x - z) / s^2, "
         "section 3.2, step 1)", K),
        ("each bandwidth's kernel is divided by s^2, not s", sum(k / s for k, s in
                                                                 zip(per_sigma, sigmas)))])


def check_grad_x(learner, case):
    X, Y, sigmas, estimator = case["X"], case["Y"], case["sigmas"], case["estimator"]
    check_kernel_and_weights(learner, case)
    got = unpack("mmd2_and_grad_x", learner("mmd2_and_grad_x", X.copy(), Y.copy(), list(sigmas),
                                            estimator), 2)
    _check_value(got[0], case)
    _, dX = mmd.mmd2_and_grad(X, Y, sigmas, estimator, backend="numpy")
    c_xx, _, c_xy = _normalisers(len(X), len(Y), estimator)
    c_other = _normalisers(len(X), len(Y), OTHER[estimator])[0]
    t = _directions(X, Y, sigmas)
    mistakes = [
        ("your dX is off in its X-X term by a factor of 2: did you forget the symmetric term? "
         "x_a sits in row a and in column a of the X-X sum (section 3.2, step 3)",
         -c_xx * t["xx"] + 2 * c_xy * t["xy"]),
        ("the X-X term is missing: the generated points push each other apart through it",
         2 * c_xy * t["xy"]),
        ("the X-X term's sign is flipped: d k(x, z)/dx = -w(x, z)(x - z)",
         2 * c_xx * t["xx"] + 2 * c_xy * t["xy"]),
        ("the cross term's sign is flipped: -2 c_xy times the minus of dk/dx gives "
         "+2 c_xy sum_j w(x_a, y_j)(x_a - y_j)", -2 * c_xx * t["xx"] - 2 * c_xy * t["xy"]),
        ("the cross term lost the 2 of -2 c_xy sum k(x_i, y_j)",
         -2 * c_xx * t["xx"] + c_xy * t["xy"]),
        (f"the X-X term has the {OTHER[estimator]} estimator's c_xx",
         -2 * c_other * t["xx"] + 2 * c_xy * t["xy"])]
    if X.dtype == np.float64:
        numeric = finite_difference(lambda v: mmd.mmd2(v, Y, sigmas, estimator, backend="numpy"), X)
        compare("dX", got[1], numeric, FD, mistakes)
    compare("dX", got[1], dX, LIBRARY, mistakes)


def check_grad_both(learner, case):
    X, Y, sigmas, estimator = case["X"], case["Y"], case["sigmas"], case["estimator"]
    shapes = ("dY has Y's shape (m, d), and Wxy is (n, m): w(x_i, y_b) for a fixed b is its "
              "column b, so the cross term uses Wxy.sum(0) and Wxy.T @ X (section 3.8, step 2)")
    got = unpack("mmd2_and_grad_both", learner("mmd2_and_grad_both", X.copy(), Y.copy(),
                                               list(sigmas), estimator, shape_hint=shapes), 3)
    _check_value(got[0], case)
    _, dX, dY = mmd.mmd2_and_grad(X, Y, sigmas, estimator, backend="numpy", wrt="both")
    compare("dX", got[1], dX, LIBRARY)
    c_xx, c_yy, c_xy = _normalisers(len(X), len(Y), estimator)
    t = _directions(X, Y, sigmas)
    mistakes = [
        ("your dY is off in its Y-Y term by a factor of 2: did you forget the symmetric term? "
         "y_b sits in row b and in column b of the Y-Y sum", -c_yy * t["yy"] + 2 * c_xy * t["yx"]),
        ("the Y-Y sum is normalised by c_yy (from m), not c_xx (from n)",
         -2 * c_xx * t["yy"] + 2 * c_xy * t["yx"]),
        ("the cross term's sign is flipped: for y_b it is +2 c_xy sum_i w(x_i, y_b)(y_b - x_i)",
         -2 * c_yy * t["yy"] - 2 * c_xy * t["yx"]),
        ("the Y-Y term is missing", 2 * c_xy * t["yx"])]
    if "yx_rows" in t:
        mistakes.append(("w(x_i, y_b) for a fixed b is column b of the X-Y block, not row b: "
                         "Wxy.sum(0) and Wxy.T @ X (section 3.8, step 2)",
                         -2 * c_yy * t["yy"] + 2 * c_xy * t["yx_rows"]))
    if X.dtype == np.float64:
        numeric = finite_difference(lambda v: mmd.mmd2(X, v, sigmas, estimator, backend="numpy"), Y)
        compare("dY", got[2], numeric, FD, mistakes)
    compare("dY", got[2], dY, "the library's minigan.mmd.mmd2_and_grad(..., wrt=\"both\")",
            mistakes)


# ------------------------------------------------------------------------------ witness
def witness_cases(rng):
    cases = []
    for dtype in (np.float64, np.float64, np.float64, np.float32):
        X, Y, sigmas = _samples(rng, dtype)
        points = rng.uniform(-2, 2, (int(rng.integers(3, 9)), X.shape[1])).astype(dtype)
        cases.append({"label": f"points {points.shape}, X {X.shape}, Y {Y.shape}, "
                               f"sigmas {sigmas}, {X.dtype}",
                      "points": points, "X": X, "Y": Y, "sigmas": sigmas})
    return cases


def check_witness(learner, case):
    X, Y, sigmas, points = case["X"], case["Y"], case["sigmas"], case["points"]
    K = mmd.gaussian_kernel(points, X, sigmas)
    got_K = learner("gaussian_kernel", points.copy(), X.copy(), list(sigmas))
    compare("gaussian_kernel(points, X, sigmas)", got_K, K,
            "the library's minigan.mmd.gaussian_kernel",
            [(LENGTH_SCALE, mmd.gaussian_kernel(points, X, [np.sqrt(s) for s in sigmas])),
             ("a list of bandwidths means the sum of one kernel per sigma, not their mean",
              K / len(sigmas))])
    kernel = lambda A, B: mmd.gaussian_kernel(A, B, sigmas)
    h = mmd.witness(kernel, points, X, Y)
    got = learner("witness", points.copy(), X.copy(), Y.copy(), list(sigmas))
    compare("h(points)", got, h, "the library's minigan.mmd.witness", [
        ("h(t) = mean_i k(t, x_i) - mean_j k(t, y_j): the first sample's mean comes first", -h),
        ("h averages over each sample (mean, not sum): a sum weighs the larger sample more",
         kernel(points, X).sum(1) - kernel(points, Y).sum(1))])
