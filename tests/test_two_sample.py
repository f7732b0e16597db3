"""The MMD two-sample test: its algebra, its error rates, its edges and its command line.

The statistical tests use fixed seeds, so they pass or fail the same way every run; the
tolerances are chosen so that a correct test would fail them for fewer than ~1% of seeds.
"""
import json
import subprocess
import sys

import numpy as np
import pytest

import minigan
from minigan import cli, mmd
from minigan import two_sample as ts


def gaussians(n, m=None, shift=0.0, d=2, seed=0):
    """X ~ N(0, I), Y ~ N(shift e_1, I)."""
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((n, d)), rng.standard_normal((m or n, d))
    Y[:, 0] += shift
    return X, Y


def rejection_count(trials, n, shift, method="permutation", B=100):
    return sum(minigan.mmd_test(*gaussians(n, shift=shift, seed=1000 + t), method=method,
                                n_permutations=B, seed=t).reject for t in range(trials))


# ------------------------------------------------------------------ algebra
@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
@pytest.mark.parametrize("sigmas", [0.7, [0.5, 1.0, 2.0]])
def test_statistic_is_mmd2(estimator, sigmas):
    X, Y = gaussians(30, 23, shift=0.4)
    r = minigan.mmd_test(X, Y, sigmas=sigmas, estimator=estimator, n_permutations=20, seed=0)
    assert r.statistic == pytest.approx(mmd.mmd2(X, Y, sigmas, estimator), rel=1e-10, abs=1e-14)
    assert (r.n, r.m, r.bandwidth, r.method) == (30, 23, "given", "permutation")


@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
def test_permutation_statistics_match_mmd2_on_the_relabelled_samples(estimator):
    X, Y = gaussians(12, 9, shift=1.0)
    Z = np.vstack([X, Y])
    A = ts.relabellings(12, 9, 5, np.random.default_rng(3))
    assert np.all(A.sum(0) == 12)
    stats = ts.permutation_statistics(Z, A, 12, [0.8, 1.6], estimator)
    for b in range(A.shape[1]):
        in_x = A[:, b] == 1
        expected = mmd.mmd2(Z[in_x], Z[~in_x], [0.8, 1.6], estimator)
        assert stats[b] == pytest.approx(expected, rel=1e-10, abs=1e-14)


def test_pooled_matrix_and_row_blocks_give_the_same_test():
    X, Y = gaussians(60, 45, shift=0.3, seed=5)
    pooled = minigan.mmd_test(X, Y, n_permutations=200, seed=11)                   # one block
    streamed = minigan.mmd_test(X, Y, n_permutations=200, seed=11, max_memory=20_000)
    assert ts._block_rows(105, 201, ts.MAX_MEMORY) >= 105 and ts._block_rows(105, 201, 20_000) < 10
    assert streamed.p_value == pooled.p_value
    assert streamed.statistic == pytest.approx(pooled.statistic, rel=1e-12)
    assert streamed.threshold == pytest.approx(pooled.threshold, rel=1e-12)


def test_threshold_agrees_with_the_decision():
    for seed, shift in enumerate([0.0, 0.2, 0.4, 0.8, 1.5]):
        for method in ts.METHODS:
            r = minigan.mmd_test(*gaussians(40, shift=shift, seed=seed), method=method,
                                 n_permutations=99, seed=seed)
            assert r.reject == (r.p_value <= r.alpha) == (r.statistic > r.threshold)


def test_too_few_permutations_can_never_reject():
    r = minigan.mmd_test(*gaussians(30, shift=5.0), n_permutations=10, seed=0)
    assert r.p_value == pytest.approx(1 / 11) and r.threshold == np.inf and not r.reject


def test_same_seed_same_result_and_generators_accepted():
    X, Y = gaussians(25, shift=0.3)
    a = minigan.mmd_test(X, Y, n_permutations=50, seed=4)
    b = minigan.mmd_test(X, Y, n_permutations=50, seed=np.random.default_rng(4))
    assert a == b


# ----------------------------------------------------------------- p-values
def test_p_value_is_never_zero_nor_above_one():
    X, Y = gaussians(20, shift=50.0)
    far = minigan.mmd_test(X, Y, n_permutations=99, seed=0)
    assert far.p_value == pytest.approx(1 / 100) and far.reject
    far_linear = minigan.mmd_test(X, Y, method="linear", seed=0)
    assert 0 < far_linear.p_value < 1e-6 and far_linear.reject
    for seed in range(10):
        for method in ts.METHODS:
            p = minigan.mmd_test(*gaussians(15, seed=seed), method=method,
                                 n_permutations=30, seed=seed).p_value
            assert 0 < p <= 1


def test_identical_inputs_are_not_rejected():
    X, _ = gaussians(40)
    r = minigan.mmd_test(X, X.copy(), n_permutations=99, seed=0)
    assert r.statistic < 0 and r.p_value > 0.5 and not r.reject
    lin = minigan.mmd_test(X, X, method="linear", seed=0)    # rows shuffled: pairs differ
    assert not lin.reject
    lin_same_point = minigan.mmd_test(np.ones((8, 2)), np.ones((8, 2)), method="linear")
    assert lin_same_point.statistic == 0 and lin_same_point.p_value == 1
    same_point = np.ones((10, 2))                      # every distance zero
    r = minigan.mmd_test(same_point, same_point, n_permutations=20, seed=0)
    assert r.sigmas == [1.0] and r.p_value == 1 and not r.reject


# ------------------------------------------------ error rates (statistical)
def test_type_one_error_permutation():
    # an exact test: rejections ~ Binomial(100, 5/101); P(outside [1, 12]) < 1%
    assert 1 <= rejection_count(100, n=100, shift=0.0) <= 12


def test_type_one_error_linear():
    # asymptotic: allow a little more than the exact test
    assert rejection_count(100, n=200, shift=0.0, method="linear") <= 13


def test_power_on_a_mean_shift():
    # measured 89/100 at these seeds (and 200/200 at n = 200)
    assert rejection_count(100, n=100, shift=0.5) >= 75


def test_variance_estimate_matches_monte_carlo():
    stats, var_hats = [], []
    for seed in range(200):
        X, Y = gaussians(60, shift=1.0, seed=seed)
        _, mmd2_u, var_hat = ts.power_proxy(X, Y, 1.0)
        stats.append(mmd2_u)
        var_hats.append(var_hat)
    assert np.mean(var_hats) / np.var(stats) == pytest.approx(1.0, abs=0.25)


def test_split_bandwidth_finds_the_small_scale():
    # blobs: the difference lives at scale ~1, the median distance is ~7
    rng = np.random.default_rng(0)
    centres = lambda n: (rng.integers(0, 4, (n, 2)) - 1.5) * 5.0
    stretch = np.array([[1.5, 0.5], [0.5, 1.5]])            # eigenvalues 2 and 1, axis at pi/4
    X = centres(400) + rng.standard_normal((400, 2))
    Y = centres(400) + rng.standard_normal((400, 2)) @ np.linalg.cholesky(stretch).T
    median = mmd.median_heuristic(X, Y)
    r = minigan.mmd_test(X, Y, sigmas="split", n_permutations=50, seed=0)
    assert r.bandwidth == "split" and (r.n, r.m) == (200, 200)
    assert r.sigmas[0] < median / 4


def test_split_tests_only_the_held_out_half():
    X, Y = gaussians(9, 8, shift=0.5)
    r = minigan.mmd_test(X, Y, sigmas="split", n_permutations=20, seed=0)
    assert (r.n, r.m) == (5, 4) and len(r.sigmas) == 1 and r.sigmas[0] > 0
    lin = minigan.mmd_test(*gaussians(16), sigmas="split", method="linear", seed=0)
    assert (lin.n, lin.m, lin.n_permutations) == (8, 8, None)


# ------------------------------------------------------------- input edges
@pytest.mark.parametrize("method, estimator, split, rows", [
    ("permutation", "unbiased", False, 2), ("permutation", "biased", False, 1),
    ("linear", "unbiased", False, 4), ("permutation", "unbiased", True, 4),
    ("linear", "unbiased", True, 8)])
def test_smallest_legal_samples(method, estimator, split, rows):
    assert ts.required_rows(method, estimator, split) == rows
    X, Y = gaussians(rows, shift=1.0)
    sigmas = "split" if split else None
    r = minigan.mmd_test(X, Y, sigmas=sigmas, method=method, estimator=estimator,
                         n_permutations=10, seed=0)
    assert np.isfinite(r.statistic) and 0 < r.p_value <= 1
    with pytest.raises(ValueError, match=f"Y must be (at least {rows} rows|a non-empty)"):
        minigan.mmd_test(X, Y[:rows - 1] if rows > 1 else Y[:0], sigmas=sigmas,
                         method=method, estimator=estimator, n_permutations=10)


@pytest.mark.parametrize("X, Y, match", [
    (np.zeros((5, 2)), np.zeros((5, 3)), "same number of columns"),
    (np.full((5, 2), np.nan), np.zeros((5, 2)), "X contains NaN"),
    (np.zeros((5, 2)), np.zeros((0, 2)), "Y must be"),
    (np.zeros(5), np.zeros(5), "X must be 2-D"),
])
def test_bad_samples_are_named(X, Y, match):
    with pytest.raises(ValueError, match=match):
        minigan.mmd_test(X, Y)


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "bootstrap"}, "method must be one of"),
    ({"estimator": "linear"}, "estimator must be one of"),
    ({"method": "linear", "estimator": "biased"}, "estimator applies to"),
    ({"n_permutations": 0}, "n_permutations must be"),
    ({"alpha": 1.5}, "alpha must be in"),
    ({"alpha": 0}, "alpha must be"),
    ({"sigmas": "optimal"}, "sigmas must be None, 'split'"),
    ({"sigmas": [1.0, -1.0]}, "sigmas must all be finite"),
])
def test_bad_options_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        minigan.mmd_test(*gaussians(10), **kwargs)


def test_float32_and_integer_inputs():
    X, Y = gaussians(20, shift=1.0)
    r32 = minigan.mmd_test(X.astype(np.float32), Y.astype(np.float32), n_permutations=20, seed=0)
    assert isinstance(r32.statistic, float) and 0 < r32.p_value <= 1
    ri = minigan.mmd_test(np.arange(20).reshape(10, 2), np.arange(20).reshape(10, 2) + 3,
                          n_permutations=20, seed=0)
    assert 0 < ri.p_value <= 1


# --------------------------------------------------------------------- CLI
@pytest.fixture
def files(tmp_path):
    X, Y = gaussians(40, 30, shift=3.0)
    paths = {"x.npy": X, "y.npy": Y}
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", Y)
    np.savez(tmp_path / "one.npz", samples=Y)
    np.savez(tmp_path / "two.npz", real=X, fake=Y)
    np.savetxt(tmp_path / "y.csv", Y, delimiter=",", header="a,b", comments="")
    np.savetxt(tmp_path / "x.csv", X, delimiter=",")
    np.save(tmp_path / "wide.npy", np.zeros((30, 3)))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True)
    (tmp_path / "nan.csv").write_text("1,2\nnan,3\n4,5\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "junk.npy").write_bytes(b"not an array")
    (tmp_path / "x.txt").write_text("1,2\n")
    np.save(tmp_path / "tiny.npy", np.zeros((1, 2)))
    return tmp_path, paths


def run_cli(capsys, *args):
    code = cli.main(["mmd-test", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("a, b, extra", [
    ("x.npy", "y.npy", []), ("x.csv", "y.csv", []), ("x.npy", "one.npz", []),
    ("two.npz", "y.csv", ["--key", "real"]),
])
def test_cli_reads_npy_npz_csv(files, capsys, a, b, extra):
    d, _ = files
    code, out, _ = run_cli(capsys, d / a, d / b, "--permutations", 99, "--seed", 0, *extra)
    assert code == 0 and "p-value" in out and "reject H0" in out and "0.01" in out


def test_cli_json_and_options(files, capsys):
    d, samples = files
    code, out, _ = run_cli(capsys, d / "x.npy", d / "y.npy", "--json", "--method", "linear",
                           "--alpha", 0.01, "--seed", 1, "--sigma", "0.5,2")
    report = json.loads(out)
    assert code == 0 and report["method"] == "linear" and report["alpha"] == 0.01
    assert report["sigmas"] == [0.5, 2.0] and report["reject"] is True
    expected = minigan.mmd_test(samples["x.npy"], samples["y.npy"], sigmas=[0.5, 2],
                                method="linear", alpha=0.01, seed=1)
    assert report["p_value"] == expected.p_value
    code, out, err = run_cli(capsys, d / "x.npy", d / "y.npy", "--json", "--permutations", 5)
    assert code == 1 and out == "" and "use at least 19" in err  # would never reject


@pytest.mark.parametrize("a, b, extra, message", [
    ("missing.npy", "y.npy", [], "missing.npy: cannot read it"),
    ("junk.npy", "y.npy", [], "junk.npy: cannot read it"),
    ("objects.npy", "y.npy", [], "objects.npy: cannot read it"),
    ("x.npy", "wide.npy", [], "must have the same number of columns, got 2 and 3"),
    ("two.npz", "y.npy", [], "holds 2 arrays (real, fake); choose one with --key"),
    ("two.npz", "y.npy", ["--key", "nope"], "no array named 'nope'"),
    ("nan.csv", "y.npy", [], "nan.csv contains NaN"),
    ("empty.csv", "y.npy", [], "empty.csv must be a non-empty array"),
    ("x.txt", "y.npy", [], "unsupported file type '.txt'"),
    ("tiny.npy", "y.npy", [], "tiny.npy: has 1 rows; this test needs at least 2"),
])
def test_cli_errors_are_one_line(files, capsys, a, b, extra, message):
    d, _ = files
    code, out, err = run_cli(capsys, d / a, d / b, *extra)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err and message in err


def test_cli_entry_point_exit_status(files):
    d, _ = files
    bad = subprocess.run([sys.executable, "-m", "minigan", "mmd-test", str(d / "x.npy"),
                          str(d / "wide.npy")], capture_output=True, text=True)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    usage = subprocess.run([sys.executable, "-m", "minigan", "mmd-test", "--sigma", "wide",
                            str(d / "x.npy"), str(d / "y.npy")], capture_output=True, text=True)
    assert usage.returncode == 2 and "--sigma" in usage.stderr


# -------------------------------------------------------------------- demo
def test_power_demo_runs_and_writes_its_files(tmp_path):
    from minigan.demos import two_sample_power
    rows = two_sample_power.run(tmp_path, null_trials=3, power_trials=3, blobs_trials=2,
                                blobs_ns=(20,), deep_null_trials=2, deep_power_trials=2,
                                blobd_n=45, hdgm_n=40, progress=False)
    assert all(0 <= r["rate"] <= 1 for r in rows) and len(rows) == 20
    saved = json.loads((tmp_path / "two_sample_power.json").read_text())
    assert saved["settings"]["alpha"] == 0.05 and len(saved["results"]) == 20
    for png in ("two_sample_power.png", "deep_kernel_witness.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------- aggregated test
def blobs(n, stretch, rng):
    """4 x 4 grid of blobs, spacing 5; covariance R diag(stretch, 1) R^T, R a rotation by pi/4."""
    c = np.cos(np.pi / 4)
    shape = np.array([[c, -c], [c, c]]) @ np.diag([np.sqrt(stretch), 1.0])
    return (rng.integers(0, 4, (n, 2)) - 1.5) * 5.0 + rng.standard_normal((n, 2)) @ shape.T


@pytest.mark.parametrize("max_memory", [ts.MAX_MEMORY, 20_000])       # one block; row blocks
def test_studentised_statistics_are_the_power_proxy_of_every_relabelling(max_memory):
    X, Y = gaussians(30, 23, shift=0.3)
    Z, sigmas = np.vstack([X, Y]), [0.5, 1.3, 4.0]
    A = ts.relabellings(30, 23, 5, np.random.default_rng(1))
    J = ts.studentised_statistics(Z, A, 30, sigmas, max_memory)
    assert J.shape == (3, 6)
    for b in range(A.shape[1]):
        in_x = A[:, b] == 1
        for l, s in enumerate(sigmas):
            _, mmd2_u, var_hat = ts.power_proxy(Z[in_x], Z[~in_x], s)
            assert J[l, b] == pytest.approx(mmd2_u / np.sqrt(var_hat), rel=1e-9)


def test_aggregate_result():
    X, Y = gaussians(40, 35, shift=0.6, seed=2)
    r = minigan.mmd_test(X, Y, sigmas="aggregate", n_permutations=99, seed=0)
    assert r.bandwidth == "aggregate" and (r.n, r.m) == (40, 35)
    assert r.sigmas == pytest.approx(list(mmd.median_heuristic(X, Y) * ts.BANDWIDTH_GRID))
    J = [ts.power_proxy(X, Y, s) for s in r.sigmas]
    J = [mmd2_u / np.sqrt(var_hat) for _, mmd2_u, var_hat in J]
    assert r.statistic == pytest.approx(max(J), rel=1e-9)
    assert r.best_sigma == r.sigmas[int(np.argmax(J))]
    assert r.reject == (r.p_value <= r.alpha) == (r.statistic > r.threshold)
    assert "largest J at" in r.summary()
    assert minigan.mmd_test(X, Y, n_permutations=20, seed=0).best_sigma is None


def test_aggregate_edges():
    X, _ = gaussians(30)
    assert not minigan.mmd_test(X, X.copy(), sigmas="aggregate", n_permutations=99,
                                seed=0).reject
    same_point = np.ones((10, 2))                      # every J is 0/0 -> 0
    r = minigan.mmd_test(same_point, same_point, sigmas="aggregate", n_permutations=20, seed=0)
    assert r.statistic == 0 and r.p_value == 1
    X, Y = gaussians(2, shift=1.0)                     # the smallest legal samples
    assert 0 < minigan.mmd_test(X, Y, sigmas="aggregate", n_permutations=10).p_value <= 1
    for kwargs in ({"method": "linear"}, {"estimator": "biased"}):
        with pytest.raises(ValueError, match="sigmas='aggregate' needs method='permutation'"):
            minigan.mmd_test(X, Y, sigmas="aggregate", **kwargs)


def test_type_one_error_aggregate():
    # exact like the single-bandwidth test: rejections ~ Binomial(100, 5/101), P(outside) < 1%
    gauss = sum(minigan.mmd_test(*gaussians(100, seed=2000 + t), sigmas="aggregate",
                                 n_permutations=100, seed=t).reject for t in range(100))
    rng = np.random.default_rng(0)
    blob = sum(minigan.mmd_test(blobs(150, 1.0, rng), blobs(150, 1.0, rng), sigmas="aggregate",
                                n_permutations=100, seed=t).reject for t in range(100))
    assert 1 <= gauss <= 12 and 1 <= blob <= 12


def test_aggregate_finds_the_blobs_where_the_median_does_not():
    # eigenvalue ratio 6, n = 200: measured 35/40 aggregate, 14/40 split, 3/40 median
    counts = {"median": 0, "split": 0, "aggregate": 0}
    for t in range(40):
        rng = np.random.default_rng(t)
        X, Y = blobs(200, 1.0, rng), blobs(200, 6.0, rng)
        for name in counts:
            sigmas = None if name == "median" else name
            counts[name] += minigan.mmd_test(X, Y, sigmas=sigmas, n_permutations=100,
                                             seed=t).reject
    assert counts["aggregate"] >= 28 and counts["median"] <= 8
    assert counts["aggregate"] >= counts["split"] + 10


def test_cli_aggregate(files, capsys):
    d, samples = files
    code, out, _ = run_cli(capsys, d / "x.npy", d / "y.npy", "--sigma", "aggregate", "--json",
                           "--permutations", 99, "--seed", 0)
    report = json.loads(out)
    assert code == 0 and report["bandwidth"] == "aggregate" and len(report["sigmas"]) == 8
    assert report["best_sigma"] in report["sigmas"] and report["reject"] is True
    code, _, err = run_cli(capsys, d / "x.npy", d / "y.npy", "--sigma", "aggregate",
                           "--method", "linear")
    assert code == 1 and "needs method='permutation'" in err


def test_split_never_chooses_a_bandwidth_that_sees_no_pair():
    # In 50 dimensions the grid's narrowest bandwidths make the kernel 0 between any two
    # distinct rows: J ~ 0 there, which beat every usable bandwidth whose J came out negative
    # (7 of these 12 null draws). Only bandwidths with a variance above VAR_REG compete now.
    for seed in range(12):
        rng = np.random.default_rng(seed)
        X, Y = rng.normal(size=(60, 50)), rng.normal(size=(60, 50))
        sigma = ts.select_bandwidth(X, Y, rng=seed)
        assert ts.power_proxy(X, Y, sigma)[2] > ts.VAR_REG
    # no bandwidth has a variance (every row of each sample the same): the median heuristic
    X, Y = np.zeros((3, 50)), np.ones((3, 50))
    assert ts.select_bandwidth(X, Y) == pytest.approx(mmd.median_heuristic(X, Y))
