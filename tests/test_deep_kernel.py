"""The learned-kernel (MMD-D) two-sample test: gradients, exactness, power, reuse, bad input.

Statistical checks use fixed seeds; their tolerances would fail a correct test for fewer than
~1% of seeds.
"""
import json

import numpy as np
import pytest

import minigan
from minigan import cli
from minigan import deep_kernel as dk
from minigan import two_sample as ts
from minigan.gradcheck import numerical_gradient, rel_error

SMALL = dict(hidden=(8,), n_features=4)     # a small phi keeps the statistical tests fast


def gaussians(n, m=None, shift=0.0, d=2, seed=0):
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((n, d)), rng.standard_normal((m or n, d))
    Y[:, 0] += shift
    return X, Y


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("eps", [0.3, 0.9])
def test_criterion_gradient_matches_finite_differences_for_every_parameter(eps):
    X, Y = gaussians(7, 5, shift=0.6, d=3, seed=1)
    kernel = dk.DeepKernel(3, hidden=(5, 4), n_features=3, shift=[0.1, -0.2, 0.0],
                           scale=[1.5, 0.8, 1.0], sigma_phi=0.8, sigma_q=1.3, eps=eps, seed=2)
    J, grads, _ = kernel.criterion_and_grad(X, Y)
    assert J == pytest.approx(kernel.criterion(X, Y), rel=1e-12)
    assert len(grads) == len(kernel.params) == 7           # 3 layers x (W, b) + theta
    for i, (p, g) in enumerate(zip(kernel.params, grads)):
        numerical = numerical_gradient(lambda: kernel.criterion(X, Y), p)
        if i == len(grads) - 2:
            # phi's output bias shifts every feature equally: distances, k and J ignore it
            assert np.abs(g).max() < 1e-12 and np.abs(numerical).max() < 1e-9
        else:
            assert rel_error(numerical, g) < 1e-7, f"params[{i}]"
    assert np.all(grads[-1] != 0)                           # sigma_phi, sigma_q, eps all matter


def test_weight_penalty_gradient_matches_finite_differences():
    kernel = dk.DeepKernel(3, hidden=(5, 4), n_features=3, sigma_phi=0.8, seed=2)
    P, grads = dk.weight_penalty(kernel, 0.03)
    assert P == pytest.approx(0.03 * sum(np.sum(W**2) for W in kernel.phi.params[0::2]))
    assert len(grads) == len(kernel.params)
    for i, (p, g) in enumerate(zip(kernel.params, grads)):
        numerical = numerical_gradient(lambda: dk.weight_penalty(kernel, 0.03)[0], p)
        if i % 2 == 1 or i == len(grads) - 1:       # biases and the three scalars: not penalised
            assert np.all(g == 0) and np.abs(numerical).max() < 1e-9
        else:
            assert rel_error(numerical, g) < 1e-7, f"params[{i}]"


def test_weight_decay_shrinks_the_learned_weights():
    X, Y = gaussians(60, shift=1.0, seed=6)
    options = dict(**SMALL, lr=1e-2, max_steps=80, seed=0, selection="last")
    plain, _ = dk.learn_kernel(X, Y, **options)
    decayed, _ = dk.learn_kernel(X, Y, weight_decay=1.0, **options)
    norm = lambda k: sum(np.sum(W**2) for W in k.phi.params[0::2])      # noqa: E731
    assert norm(decayed) < 0.5 * norm(plain)
    # weight_decay=0 is the plain criterion, step for step
    zero, _ = dk.learn_kernel(X, Y, weight_decay=0.0, **options)
    for p, q in zip(plain.params, zero.params):
        np.testing.assert_array_equal(p, q)


def test_criterion_is_the_power_proxy_of_the_gaussian_test():
    X, Y = gaussians(20, 15, shift=0.5, seed=3)
    q_only = dk.DeepKernel(2, sigma_q=0.9, eps=1 - 1e-15, seed=0)   # eps -> 1: k = q
    assert q_only.criterion(X, Y, lam=ts.VAR_REG) == pytest.approx(
        ts.power_proxy(X, Y, 0.9)[0], rel=1e-9)


def test_kernel_matrix_is_the_formula():
    rng = np.random.default_rng(4)
    A, B = rng.standard_normal((4, 2)), rng.standard_normal((3, 2))
    k = dk.DeepKernel(2, hidden=(6,), n_features=3, shift=[1.0, 0.0], scale=[2.0, 0.5],
                      sigma_phi=0.7, sigma_q=1.1, eps=0.2, seed=5)
    K = k(A, B)
    for i in range(4):
        for j in range(3):
            u, v = (A[i] - k.shift) / k.scale, (B[j] - k.shift) / k.scale
            fu, fv = k.phi.forward(u[None])[0], k.phi.forward(v[None])[0]
            kappa = np.exp(-np.sum((fu - fv) ** 2) / (2 * 0.7**2))
            q = np.exp(-np.sum((u - v) ** 2) / (2 * 1.1**2))
            assert K[i, j] == pytest.approx((0.8 * kappa + 0.2) * q, rel=1e-12)
    assert np.allclose(np.diag(k(A, A)), 1.0)


def test_training_raises_the_held_out_criterion_and_keeps_the_best():
    X, Y = gaussians(60, shift=1.0, seed=6)
    kernel, history = dk.learn_kernel(X, Y, **SMALL, max_steps=60, check_every=5, seed=0)
    best = int(np.argmax(history["J_holdout"]))
    assert history["best_step"] == history["step"][best]
    assert max(history["J_holdout"]) > history["J_holdout"][0]
    again, _ = dk.learn_kernel(X, Y, **SMALL, max_steps=60, check_every=5, seed=0)
    for p, q in zip(kernel.params, again.params):
        np.testing.assert_array_equal(p, q)                  # same seed, same kernel



def test_holdout_selection_returns_the_best_held_out_step_and_last_the_final_step():
    X, Y = gaussians(60, shift=1.0, seed=6)
    held, h_held = dk.learn_kernel(X, Y, **SMALL, max_steps=400, check_every=5, patience=3,
                                   seed=0, selection="holdout")
    # the held-out rows, drawn as learn_kernel draws them: the kernel returned scores the best
    # held-out J seen, at a step before training stopped
    rng = np.random.default_rng(0)
    (_, X_val), (_, Y_val) = dk._holdout_split(X, 0.2, rng), dk._holdout_split(Y, 0.2, rng)
    assert held.criterion(X_val, Y_val) == pytest.approx(max(h_held["J_holdout"]), rel=1e-12)
    assert h_held["best_step"] < h_held["step"][-1] < 400
    # "last": every row, exactly max_steps steps, the final parameters (J_train[-1] is J of
    # the parameters after the last step, on all the rows)
    last, h_last = dk.learn_kernel(X, Y, **SMALL, max_steps=40, check_every=5, patience=3,
                                   seed=0, selection="last")
    assert h_last["step"][-1] == h_last["best_step"] == 40 and h_last["J_holdout"] == []
    assert last.criterion(X, Y) == pytest.approx(h_last["J_train"][-1], rel=1e-12)
    assert h_last["J_train"][-1] > h_last["J_train"][0]
    # patience and holdout play no part in "last"; the seed fixes the kernel
    again, _ = dk.learn_kernel(X, Y, **SMALL, max_steps=40, check_every=5, patience=1,
                               holdout=0.5, seed=0, selection="last")
    for p, q in zip(last.params, again.params):
        np.testing.assert_array_equal(p, q)
    other, _ = dk.learn_kernel(X, Y, **SMALL, max_steps=40, seed=1, selection="last")
    assert not np.array_equal(other.params[0], last.params[0])


def test_deep_test_passes_the_selection_through():
    X, Y = gaussians(30, shift=1.0, seed=11)
    options = dict(kernel="deep", n_permutations=20, **SMALL)
    last = minigan.mmd_test(X, Y, seed=4, selection="last", max_steps=30, **options)
    # the same shuffle and initial weights: learn_kernel on the same train rows, same seed state
    rng = np.random.default_rng(4)
    Xs, Ys = X[rng.permutation(30)], Y[rng.permutation(30)]
    kernel, _ = dk.learn_kernel(Xs[:15], Ys[:15], **SMALL, max_steps=30, seed=rng,
                                selection="last")
    for p, q in zip(last.kernel.params, kernel.params):
        np.testing.assert_array_equal(p, q)
    held = minigan.mmd_test(X, Y, seed=4, selection="holdout", max_steps=30, **options)
    assert not np.array_equal(held.kernel.params[0], last.kernel.params[0])
    decayed = minigan.mmd_test(X, Y, seed=4, selection="last", max_steps=30, weight_decay=0.5,
                               **options)
    rng = np.random.default_rng(4)
    rng.permutation(30), rng.permutation(30)                 # the shuffle, as mmd_test draws it
    kernel, _ = dk.learn_kernel(Xs[:15], Ys[:15], **SMALL, max_steps=30, seed=rng,
                                selection="last", weight_decay=0.5)
    for p, q in zip(decayed.kernel.params, kernel.params):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(decayed.kernel.params[0], last.kernel.params[0])


# ----------------------------------------------------------------- the test
def test_deep_test_learns_on_one_part_and_tests_on_the_other():
    X, Y = gaussians(21, 16, shift=1.0, seed=7)
    r = minigan.mmd_test(X, Y, kernel="deep", n_permutations=50, seed=3, **SMALL)
    assert (r.n, r.m, r.train_rows) == (11, 8, [10, 8]) and r.bandwidth == "learned"
    # the tested rows are the ones the seed's shuffle left out of training: changing them
    # leaves the learned kernel as it was
    rng = np.random.default_rng(3)
    order_x, order_y = rng.permutation(21), rng.permutation(16)
    X2, Y2 = X.copy(), Y.copy()
    X2[order_x[10:]] += 5.0
    Y2[order_y[8:]] -= 5.0
    r2 = minigan.mmd_test(X2, Y2, kernel="deep", n_permutations=50, seed=3, **SMALL)
    for p, q in zip(r.kernel.params, r2.kernel.params):
        np.testing.assert_array_equal(p, q)
    np.testing.assert_allclose(r.kernel.shift, r2.kernel.shift)


@pytest.mark.parametrize("options", [{}, {"weight_decay": 0.01}])
def test_p_value_is_exact_under_the_null(options):
    # 80 null trials at alpha = 0.1: rejections ~ Binomial(80, 0.1), mean 8, sd 2.7; an exact
    # test exceeds 16 with probability 0.4%, and gets 1 or none (p-values piled up near 1)
    # with probability 0.2%
    rejections = sum(minigan.mmd_test(*gaussians(24, seed=100 + t), kernel="deep", alpha=0.1,
                                      n_permutations=39, seed=t, **SMALL, **options).reject
                     for t in range(80))
    assert 1 < rejections <= 16


def test_power_on_an_easy_alternative():
    results = [minigan.mmd_test(*gaussians(60, shift=1.5, seed=200 + t), kernel="deep",
                                n_permutations=99, seed=t, **SMALL) for t in range(5)]
    assert all(r.reject for r in results), [r.p_value for r in results]


def test_learned_kernel_and_witness_are_reusable():
    X, Y = gaussians(80, shift=1.5, seed=8)
    r = minigan.mmd_test(X, Y, kernel="deep", n_permutations=50, seed=1, **SMALL)
    # the witness: mean k(p, X_test) - mean k(p, Y_test); high where X lives (around 0),
    # low where Y lives (around +1.5 on the first axis)
    w = r.witness(np.array([[-1.0, 0.0], [2.5, 0.0]]))
    assert w.shape == (2,) and w[0] > 0 > w[1]
    assert r.witness.X.shape == (40, 2)
    K = r.kernel(r.witness.X[:3], r.witness.Y[:2])
    assert K.shape == (3, 2) and np.all((K > 0) & (K <= 1))
    # on new data from the same pair: the kernel is fixed, so the whole sample is tested
    X_new, Y_new = gaussians(50, 30, shift=1.5, seed=9)
    again = minigan.mmd_test(X_new, Y_new, kernel=r.kernel, n_permutations=50, seed=0)
    assert (again.n, again.m, again.bandwidth, again.train_rows) == (50, 30, "kernel", None)
    Kxx, Kyy, Kxy = r.kernel(X_new, X_new), r.kernel(Y_new, Y_new), r.kernel(X_new, Y_new)
    mmd2_u = ((Kxx.sum() - np.trace(Kxx)) / (50 * 49) + (Kyy.sum() - np.trace(Kyy)) / (30 * 29)
              - 2 * Kxy.mean())
    assert again.statistic == pytest.approx(mmd2_u, rel=1e-10)
    assert again.reject
    d = r.as_dict()
    assert d["kernel"].startswith("deep kernel: phi 2 -> 8 -> 4") and "witness" not in d
    json.dumps(d)
    assert "learned on n = 40, m = 40" in r.summary()


# ------------------------------------------------------------------ bad input
def test_too_few_rows_says_how_many_are_needed():
    # round(0.5 n) >= 4 rows to learn on (2 to fit, 2 held out), n - round(0.5 n) >= 2 to test
    assert ts.required_rows("permutation", "unbiased", kernel="deep") == 7
    assert ts.required_rows("permutation", "unbiased", kernel="deep", train_fraction=0.25) == 14
    X, Y = gaussians(7, shift=1.0)
    r = minigan.mmd_test(X, Y, kernel="deep", n_permutations=10, seed=0, **SMALL)
    assert (r.n, r.train_rows) == (3, [4, 4])
    with pytest.raises(ValueError, match="Y must have at least 7 rows with kernel='deep'.*got 6"):
        minigan.mmd_test(X, Y[:6], kernel="deep")
    with pytest.raises(ValueError, match="at least 14 rows"):
        minigan.mmd_test(X, Y, kernel="deep", train_fraction=0.25)


@pytest.mark.parametrize("options, match", [
    (dict(kernel="laplace"), "kernel must be one of"),
    (dict(kernel="deep", sigmas=1.0), "sigmas applies to kernel='gaussian' only"),
    (dict(kernel="deep", method="linear"), "needs method='permutation'"),
    (dict(kernel="deep", train_fraction=1.0), "train_fraction must be in"),
    (dict(kernel="deep", train_fraction=-0.5), "train_fraction must be a finite number"),
    (dict(kernel="deep", n_permutations=0), "n_permutations"),
    # settings of the learned kernel used to be ignored silently with any other kernel
    (dict(hidden=(8,)), "hidden only apply to kernel='deep'"),
    (dict(kernel=lambda A, B: A @ B.T, n_features=4, train_fraction=0.3),
     "train_fraction, n_features only apply to kernel='deep'"),
    (dict(sigmas="aggregate", selection="last"), "selection only apply to kernel='deep'"),
    (dict(weight_decay=0.01), "weight_decay only apply to kernel='deep'"),
    (dict(kernel="deep", selection="best"), r"selection must be one of \['holdout', 'last'\]"),
    (dict(kernel="deep", max_steps=0), "max_steps must be"),
    (dict(kernel="deep", patience=0), "patience must be"),
    (dict(kernel="deep", holdout=1.0), r"holdout must lie in \(0, 1\)"),
    (dict(kernel="deep", holdout=0.0), r"holdout must lie in \(0, 1\)"),
])
def test_bad_options(options, match):
    X, Y = gaussians(20)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=match):
        minigan.mmd_test(X, Y, seed=rng, **options)
    assert rng.random() == np.random.default_rng(0).random()   # refused before any draw


@pytest.mark.parametrize("options, error, match", [
    (dict(selection=1), ValueError, "selection must be one of"),
    (dict(max_steps=2.5), ValueError, "max_steps must be an integer"),
    (dict(patience="3"), TypeError, "patience must be an integer"),
    (dict(holdout="0.2"), TypeError, "holdout"),
    (dict(weight_decay=-0.1), ValueError, r"weight_decay must lie in \[0, inf\)"),
    (dict(weight_decay=float("nan")), ValueError, "weight_decay"),
    (dict(weight_decay="1e-3"), TypeError, "weight_decay"),
])
def test_bad_training_settings(options, error, match):
    X, Y = gaussians(20)
    with pytest.raises(error, match=match):
        dk.learn_kernel(X, Y, **options)
    with pytest.raises(error, match=match):
        minigan.mmd_test(X, Y, kernel="deep", **options)


def test_bad_arrays():
    X, Y = gaussians(20)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        minigan.mmd_test(bad, Y, kernel="deep")
    with pytest.raises(ValueError, match="same number of columns"):
        minigan.mmd_test(X, Y[:, :1], kernel="deep")
    with pytest.raises(TypeError, match="Y must be a real floating array"):
        minigan.mmd_test(X, Y.astype(complex), kernel="deep")
    kernel = dk.DeepKernel(2, **SMALL, seed=0)
    with pytest.raises(ValueError, match="B must have 2 columns"):
        kernel(X, np.ones((3, 3)))
    with pytest.raises(ValueError, match="eps must be in"):
        dk.DeepKernel(2, eps=1.0)
    # the standardisation: one finite value per input column, a positive scale
    with pytest.raises(ValueError, match=r"shift must have shape \(2,\)"):
        dk.DeepKernel(2, shift=np.zeros(3))
    with pytest.raises(ValueError, match="scale contains NaN"):
        dk.DeepKernel(2, scale=[1.0, np.nan])
    with pytest.raises(ValueError, match="scale must be > 0"):
        dk.DeepKernel(2, scale=[1.0, 0.0])
    # the criterion's U-statistic divides by n - 1: one row is refused, not turned into inf/NaN
    with pytest.raises(ValueError, match="at least 2 rows in each sample, got n = 1"):
        kernel.criterion(X[:1], Y)


def test_cli_deep_kernel(tmp_path, capsys):
    X, Y = gaussians(40, shift=2.0, seed=10)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", Y)
    code = cli.main(["mmd-test", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--kernel",
                     "deep", "--json", "--seed", "0", "--permutations", "99"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["bandwidth"] == "learned" and report["train_rows"] == [20, 20]
    assert report["kernel"].startswith("deep kernel") and report["reject"]
    code = cli.main(["mmd-test", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--kernel",
                     "deep", "--sigma", "split"])
    assert code == 1 and "sigmas applies to kernel='gaussian' only" in capsys.readouterr().err
    np.save(tmp_path / "few.npy", Y[:5])
    code = cli.main(["mmd-test", str(tmp_path / "x.npy"), str(tmp_path / "few.npy"),
                     "--kernel", "deep"])
    assert code == 1 and "needs at least 7" in capsys.readouterr().err


@pytest.mark.parametrize("bad_kernel, error, match", [
    (lambda A, B: np.ones((len(A), len(B) + 1)), ValueError, r"must return a \(len\(A\), len\(B\)\)"),
    (lambda A, B: np.ones(len(A)), ValueError, r"got shape \(\d+,\)"),
    (lambda A, B: np.full((len(A), len(B)), np.nan), ValueError, "returned NaN or inf"),
    (lambda A, B: np.ones((len(A), len(B)), complex), TypeError, "must return a real array"),
])
def test_given_kernel_output_is_checked(bad_kernel, error, match):
    # a user's kernel function that returns the wrong thing gets a clear error, not a failure
    # deep inside a matrix product (or a NaN statistic)
    X, Y = gaussians(20)
    with pytest.raises(error, match=match):
        minigan.mmd_test(X, Y, kernel=bad_kernel, n_permutations=10, seed=0)


def test_given_kernel_checks_label_memory():
    # as with the Gaussian kernel: refused before the relabelling matrix is allocated
    X, Y = gaussians(20)
    with pytest.raises(MemoryError, match="relabelling matrix"):
        minigan.mmd_test(X, Y, kernel=lambda A, B: A @ B.T, n_permutations=10**9)


def _start_kernel(X, Y):
    """A DeepKernel standardised on the pooled rows, as learn_kernel starts it."""
    shift, scale = dk.standardisation(np.vstack([X, Y]))
    return dk.DeepKernel(X.shape[1], shift=shift, scale=scale, seed=0)


def test_starting_bandwidth_is_never_one_at_which_q_is_zero_between_rows():
    # d = 50, P = Q: at median / 32 .. median / 8 q is about exp(-500) .. exp(-32) between any
    # two rows, J there is about 0, and on many draws every usable bandwidth's J is negative
    chosen_var, picked_below_median = [], 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        X, Y = rng.standard_normal((60, 50)), rng.standard_normal((60, 50))
        kernel = _start_kernel(X, Y)
        sigma = dk._best_bandwidth(kernel, X, Y, dk.LAMBDA)
        U = kernel.standardise(np.vstack([X, Y]))
        q = np.exp(minigan.mmd.squared_distances(U, U) * (-0.5 / sigma**2))
        chosen_var.append(dk.criterion_forward(*dk._blocks(q, 60), dk.LAMBDA)[1]["var"])
        picked_below_median += sigma < minigan.mmd.median_heuristic(U)
    assert min(chosen_var) > dk.LAMBDA
    assert picked_below_median < 12          # the usable grid is searched, not only its top


def test_starting_bandwidth_falls_back_to_the_median_when_no_bandwidth_is_usable():
    X = np.ones((10, 3))                   # every row the same: q is 1 everywhere, var_hat 0
    kernel = _start_kernel(X, X)
    U = kernel.standardise(np.vstack([X, X]))
    assert dk._best_bandwidth(kernel, X, X, dk.LAMBDA) == minigan.mmd.median_heuristic(U)
