"""Nothing silent, class by class: extreme scales of the learned-kernel test, checkpoint
values out of range, CSV headers, data objects, argument errors that name the argument,
integer flag bounds, the progress bar of a large test, and the seed of `minigan mmd-test`."""
import json

import numpy as np
import pytest
from checkpoint_edit import rewrite

import minigan
import minigan.metrics
import minigan.protocol

RNG = np.random.default_rng(1)
X = RNG.normal(size=(40, 2))
Y = RNG.normal(size=(40, 2)) + 1.0


# ------------------------------------------------ the learned-kernel test at extreme scales
def test_deep_kernel_test_answers_at_any_scale_as_at_scale_one():
    ref = minigan.mmd_test(X, Y, kernel="deep", seed=3, n_permutations=99)
    # a power of two changes only exponents: the same kernel, bit for bit
    exact = minigan.mmd_test(X * 2.0**600, Y * 2.0**600, kernel="deep", seed=3, n_permutations=99)
    assert exact.statistic == ref.statistic and exact.p_value == ref.p_value
    for scale in (1e-200, 1e154, 1e200, 1e300):     # were NonFiniteError / ZeroDivisionError
        got = minigan.mmd_test(X * scale, Y * scale, kernel="deep", seed=3, n_permutations=99)
        assert got.p_value == ref.p_value
        assert got.statistic == pytest.approx(ref.statistic, rel=1e-9)


def test_deep_kernel_standardisation_is_exact_under_powers_of_two():
    from minigan.deep_kernel import standardisation
    Z = np.vstack([X, Y])
    shift, scale = standardisation(Z)
    np.testing.assert_allclose(shift, Z.mean(0), rtol=1e-14)
    np.testing.assert_allclose(scale, Z.std(0), rtol=1e-14)
    for k in (-1000, -600, 600, 1000):
        s2, c2 = standardisation(np.ldexp(Z, k))
        np.testing.assert_array_equal(s2, np.ldexp(shift, k))
        np.testing.assert_array_equal(c2, np.ldexp(scale, k))


# ------------------------------------------------- checkpoint values, not only types
def _fill(key, value):
    return lambda a: a.__setitem__(key, np.full_like(a[key], value))


@pytest.mark.parametrize("meta_edit, arrays_edit, words", [
    # integers too large for a float: were OverflowError at load, or later in sample()/fit()
    (lambda m: m.update(data_scale=10**400), None, "JSON integer .* 2\\^128"),
    (lambda m: m["optimizers"]["G"].update(lr=10**400), None, "JSON integer"),
    (lambda m: m["config"]["nets"]["G"].update(sizes=[2, 10**400, 2]), None, "JSON integer"),
    (lambda m: m.update(data_shift=[10**400, 0]), None, "JSON integer"),
    (lambda m: m.update(lr_schedule={"lr0": {"G": 10**400}, "factor": 0.5, "start": 0,
                                     "steps": 3}), None, "JSON integer"),
    # out of range: loaded, then the next fit() reported a divergence
    (lambda m: m["optimizers"]["G"].update(t=2**63), None, "optimizers.G.t"),
    (lambda m: m.update(step=2**60), None, "'step'"),
    (lambda m: m.update(data_scale=1e-320), None, "'data_scale' must lie in"),
    (lambda m: m.update(data_shift=[1e308, 0.0]), None, "'data_shift' must hold numbers in"),
    (lambda m: m.update(data_shift=[1e307, 0.0]), None, "'data_scale' .* below the float spac"),
    (None, _fill("G.opt.v.0", -1.0), "'G.opt.v.0' holds negative"),
    (None, _fill("G.opt.m.1", 1e308), "'G.opt.m.1' holds first moments"),
    # loaded, then every fit() stopped on "sigmas too narrow"
    (None, _fill("G.param.0", 1e300), "'G.param.\\*' make outputs up to"),
    (None, _fill("G.param.3", 1e300), "'G.param.\\*' make outputs up to"),
])
def test_checkpoint_values_out_of_range_are_refused_naming_the_field(tmp_path, meta_edit,
                                                                       arrays_edit, words):
    good = minigan.GMN(2, hidden=(8,), seed=0).fit(X, steps=3, batch_size=16,
                                                   progress=False).save(tmp_path / "g.npz")
    bad = rewrite(good, tmp_path / "bad.npz", meta_edit, arrays_edit)
    with pytest.raises(minigan.checkpoint.CheckpointError, match=words):
        minigan.GMN.load(bad)


@pytest.mark.parametrize("key", ["G.param.1", "C.param.1", "C.param.3"])
def test_mmdgan_networks_out_of_range_are_refused(tmp_path, key):
    good = minigan.MMDGAN(2, hidden=(8,), critic_hidden=(8,), seed=0).fit(
        X, steps=3, batch_size=16, progress=False).save(tmp_path / "g.npz")
    bad = rewrite(good, tmp_path / "bad.npz", arrays_edit=_fill(key, 1e300))
    with pytest.raises(minigan.checkpoint.CheckpointError, match=f"'{key[0]}.param.\\*' make"):
        minigan.MMDGAN.load(bad)


def test_deeply_nested_checkpoint_json_is_refused_not_a_recursion_error(tmp_path):
    good = minigan.GMN(2, hidden=(8,), seed=0).save(tmp_path / "g.npz")
    deep = "[" * 100_000 + "]" * 100_000
    bad = rewrite(good, tmp_path / "bad.npz", text_edit=lambda t: t[:-1] + f', "x": {deep}}}')
    with pytest.raises(minigan.checkpoint.CheckpointError, match="nested"):
        minigan.GMN.load(bad)


@pytest.mark.parametrize("cls", [minigan.GMN, minigan.GAN, minigan.MMDGAN])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_checkpoints_that_training_writes_pass_the_range_checks(cls, dtype, tmp_path):
    t = cls(2, hidden=(8,), seed=0, dtype=dtype).fit(X.astype(dtype), steps=20, batch_size=16,
                                                      progress=False)
    back = cls.load(t.save(tmp_path / "t.npz"))
    np.testing.assert_array_equal(back.sample(8, seed=1), t.sample(8, seed=1))


def test_adam_moment_bound_is_tight_and_holds():
    # gradients growing like (b2 / b1)^t reach the bound |m| = C sqrt(v) (C = 7.27)
    opt = minigan.Adam([np.zeros(3)])
    for t in range(300):
        opt.step([np.full(3, (0.9 / 0.999) ** -t * 1e-100)])
    ratio = np.abs(opt.state["m"][0]) / np.sqrt(opt.state["v"][0])
    assert 7.2 < ratio.max() < 7.28
    assert opt.unreachable_state(opt.state_dict()[0]) is None
    arrays = opt.state_dict()[0]
    arrays["m.0"] = arrays["m.0"] * 1.01
    assert opt.unreachable_state(arrays)[0] == "m.0"


# ------------------------------------------------------------------- CSV header rule
@pytest.mark.parametrize("first, words", [
    ("0x10,2", "row 1, column 1: '0x10' is not a number"),      # were dropped as a header
    ("1+2j,2", "row 1, column 1: '1\\+2j' is not a number"),
    ("1,0x1", "row 1, column 2: '0x1'"),
    ("x,2", "row 1 mixes names \\(column 1: 'x'\\) and numbers \\(column 2: '2'\\)"),
])
def test_a_first_csv_row_that_is_not_clearly_a_header_is_refused(tmp_path, first, words):
    from minigan.mmd_test_cli import DataError, load_sample
    path = tmp_path / "a.csv"
    path.write_text(f"{first}\n1,2\n3,4\n")
    with pytest.raises(DataError, match=words):
        load_sample(str(path))


@pytest.mark.parametrize("first, rows", [("x,y", 2), ('"x", "_y2"', 2), ("5,6", 3),
                                         ("inf_col,nan_col", 2)])
def test_a_header_of_names_is_skipped_and_numbers_are_kept(tmp_path, first, rows):
    from minigan.mmd_test_cli import load_sample
    path = tmp_path / "a.csv"
    path.write_text(f"{first}\n1,2\n3,4\n")
    assert load_sample(str(path)).shape == (rows, 2)


# ------------------------------------------------------------------ minigan.data
@pytest.mark.parametrize("make, error, words", [
    (lambda: minigan.data.gaussian_1d().ppf(np.nan), ValueError, "q contains NaN"),   # was -40
    (lambda: minigan.data.gaussian_1d().pdf(np.ones((3, 2))), ValueError,
     r"x must be \(n,\) or \(n, 1\)"),                                                # values
    (lambda: minigan.data.mixture_1d(means=[[1, 2], [3, 4]]), ValueError, "means must be 1-D"),
    (lambda: minigan.data.gaussian_1d(1e308, 1e308), ValueError, "too large"),       # inf samples
    (lambda: minigan.data.gaussian_1d().sample(3, seed=-1), ValueError, "seed must be"),
    (lambda: minigan.data.gaussian_1d("1"), TypeError, "mean must be a number"),
    (lambda: minigan.data.ring(radius="1"), TypeError, "radius must be a number"),
    (lambda: minigan.data.grid(spacing=None), TypeError, "spacing must be a number"),
    (lambda: minigan.data.GaussianMixture([[0.0]], [1.0, 2.0]), ValueError, "stds must be one"),
    (lambda: minigan.data.GaussianMixture([[0.0]], "1"), TypeError, "stds"),
    (lambda: minigan.data.gaussian_1d().pdf(["1"]), TypeError, "x must be"),
])
def test_data_refuses_what_it_used_to_answer(make, error, words):
    with pytest.raises(error, match=words):
        make()


def test_data_density_at_extreme_stds():
    # s^2 overflowed (1e200: density 0) or underflowed (1e-200: inf * 0 = NaN)
    wide = minigan.data.gaussian_1d(0, 1e200).pdf([0.0, 1e200])
    np.testing.assert_allclose(wide, np.array([1, np.exp(-0.5)]) / np.sqrt(2 * np.pi) / 1e200,
                               rtol=1e-12)
    narrow = minigan.data.gaussian_1d(0, 1e-200).pdf([0.0, 1e-200, 1.0])
    np.testing.assert_allclose(narrow, np.array([1, np.exp(-0.5), 0]) / np.sqrt(2 * np.pi)
                               * 1e200, rtol=1e-12)


# ------------------------------------------------ errors that name the right argument
P = [np.zeros(2)]


@pytest.mark.parametrize("make, error, words", [
    (lambda: minigan.MLP([2, 3, 1], seed=-1), ValueError, "seed must be"),   # were NumPy's words
    (lambda: minigan.mmd_test(X, Y, seed=-1), ValueError, "seed must be"),
    (lambda: minigan.mmd_test(X, Y, kernel="deep", seed=-1), ValueError, "seed must be"),
    (lambda: minigan.GMN(2, hidden=(8,)).sample(3, seed=-1), ValueError, "seed must be"),
    (lambda: minigan.trainer.sample_noise(3, 2, seed=-1), ValueError, "seed must be"),
    (lambda: minigan.MLP([2, 3, 1], seed="1"), TypeError, "seed must be"),
    (lambda: minigan.MMDGAN(2, hidden=5), TypeError, "hidden must be a list"),  # "Value after *"
    (lambda: minigan.MMDGAN(2, critic_hidden=(0,)), ValueError, "critic_hidden must hold"),
    (lambda: minigan.mmd_test(X, Y, kernel="deep", hidden=0), TypeError, "hidden must be"),
    (lambda: minigan.mmd_test(X, Y, kernel="deep", hidden=(0,)), ValueError, "hidden must hold"),
    (lambda: minigan.mmd_test(X, Y, kernel="deep", n_features=0), ValueError, "n_features"),
    (lambda: minigan.GAN(2, lr_g=-1), ValueError, "lr_g must be"),          # was "lr must be"
    (lambda: minigan.GAN(2, lr_d=-1), ValueError, "lr_d must be"),
    (lambda: minigan.MMDGAN(2, lr_c=0), ValueError, "lr_c must be"),
    (lambda: minigan.GAN(2, hidden=(8,)).discriminate(np.array([[np.nan, 0.0]])), ValueError,
     "^x contains NaN"),                                                    # blamed `real`
    (lambda: minigan.SGD(P, momentum="0.5"), TypeError, "momentum must be a number"),
    (lambda: minigan.SGD(P, momentum=1.0), ValueError, r"momentum must lie in \[0, 1\)"),
    (lambda: minigan.SGD(5), TypeError, "params must be a list"),
    (lambda: minigan.Adam([1.0]), TypeError, r"params\[0\] must be a float32 or float64"),
    (lambda: minigan.protocol.train("XYZ", "ring"), ValueError, "method must be one of"),
    (lambda: minigan.protocol.train("GMN", "XYZ"), ValueError, "dataset must be one of"),
    (lambda: minigan.GMN(2, hidden=(10**6, 10**6)), ValueError,
     r"hidden must hold widths in \[1, 16384\]"),                           # was MemoryError
    (lambda: minigan.MLP([2, 10**7, 1]), ValueError, "sizes must hold widths in"),
])
def test_errors_name_the_argument_that_was_wrong(make, error, words):
    with pytest.raises(error, match=words):
        make()


# one rule: numbers are numbers; a string is refused everywhere, however float() would read it
@pytest.mark.parametrize("make, name", [
    (lambda v: minigan.GMN(2, lr=v), "lr"),                                 # was accepted
    (lambda v: minigan.mmd_test(X, Y, alpha=v), "alpha"),                   # was accepted
    (lambda v: minigan.GMN(2, hidden=(8,)).fit(X, steps=2, lr_decay=v), "lr_decay"),
    (lambda v: minigan.mmd_test(X, Y, n_permutations=v), "n_permutations"),
    (lambda v: minigan.GAN(2, real_label=v), "real_label"),
    (lambda v: minigan.Adam(P, eps=v), "eps"),
    (lambda v: minigan.data.gaussian_1d(std=v), "std"),
    (lambda v: minigan.MMDGAN(2, raw_weight=v), "raw_weight"),
])
@pytest.mark.parametrize("value", ["0.5", b"0.5", True, 0.5j, [0.5]])
def test_a_string_or_other_non_number_is_refused_everywhere(make, name, value):
    with pytest.raises(TypeError, match=name):
        make(value)


# ------------------------------------------------------------ integer flag bounds
@pytest.mark.parametrize("argv", [
    ["demo", "ring", "--steps"], ["demo", "gaussian-1d", "--gmn-steps"], ["modes", "--seeds"],
    ["demo", "two-sample-power", "--trials"], ["demo", "mmdgan-witness", "--seed"],
    ["mmd-test", "a.npy", "b.npy", "--permutations"], ["mmd-test", "a.npy", "b.npy", "--seed"],
])
@pytest.mark.parametrize("value", ["99999999999999999999999", "9" * 5000, "1000000001"])
def test_every_integer_flag_has_an_upper_bound_answered_in_one_line(argv, value, capsys):
    from minigan import cli
    from minigan.cliargs import MAX_INT_FLAG
    with pytest.raises(SystemExit) as e:       # was an OverflowError traceback (tqdm's len)
        cli.main(argv + [value])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and "Traceback" not in "\n".join(err)
    assert f"must be at most {MAX_INT_FLAG}" in err[-1]


# --------------------------------------------------- the progress bar of a large test
@pytest.mark.parametrize("sigmas", [None, "aggregate"])
def test_a_large_test_shows_its_bar_from_the_start(monkeypatch, capsys, sigmas):
    from minigan import two_sample
    minigan.mmd_test(X, Y, sigmas=sigmas, n_permutations=20, seed=0)
    assert capsys.readouterr().err == ""                   # small work: no bar
    # a large test spends its first minute drawing relabellings: the bar starts there
    monkeypatch.setattr(two_sample, "PROGRESS_WORK", 80.0**2 * 21)
    minigan.mmd_test(X, Y, sigmas=sigmas, n_permutations=20, seed=0)
    err = capsys.readouterr().err
    assert err.index("drawing relabellings") < err.index("kernel products")
    assert "0/20 " in err and "perm/s" in err and "block/s" in err
    # at n = m = 50,000 and 500 permutations (5e12 products) both bars show
    assert two_sample._large(100_000, 501)


# ------------------------------------------------- `minigan mmd-test`: seed and permutations
def _mmd_test_cli(tmp_path, capsys, *options):
    from minigan import mmd_test_cli
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", Y[:30] + 0.3)
    status = mmd_test_cli.main([str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), *options])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_mmd_test_cli_prints_the_seed_and_the_seed_repeats_the_result(tmp_path, capsys):
    status, out, _ = _mmd_test_cli(tmp_path, capsys, "--permutations", "99")
    assert status == 0
    seed_line = [line for line in out.splitlines() if line.strip().startswith("seed")][0]
    seed = int(seed_line.split()[1])
    assert f"--seed {seed} repeats this result" in seed_line
    again = _mmd_test_cli(tmp_path, capsys, "--permutations", "99", "--seed", str(seed))[1]
    assert again.splitlines()[:-1] == out.splitlines()[:-1]          # all but the seed line
    assert again.splitlines()[-1].split() == ["seed", str(seed)]
    report = json.loads(_mmd_test_cli(tmp_path, capsys, "--seed", str(seed), "--json",
                                      "--permutations", "99")[1])
    assert report["seed"] == seed and f"{report['p_value']:.4g}" in out


@pytest.mark.parametrize("permutations, alpha, smallest", [("5", "0.05", 19), ("18", "0.05", 19),
                                                            ("98", "0.01", 99)])
def test_mmd_test_cli_refuses_permutations_that_can_never_reject(tmp_path, capsys, permutations,
                                                                 alpha, smallest):
    status, out, err = _mmd_test_cli(tmp_path, capsys, "--permutations", permutations,
                                     "--alpha", alpha)
    assert status == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert f"can never reject at alpha = {alpha}" in err and f"use at least {smallest}" in err
    assert _mmd_test_cli(tmp_path, capsys, "--permutations", str(smallest), "--alpha", alpha,
                         "--seed", "0")[0] == 0


@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.1, 0.3, 0.5, 0.9, 1e-3, 0.07])
def test_min_permutations_is_where_the_threshold_becomes_finite(alpha):
    from minigan.two_sample import _permutation_threshold, min_permutations
    B = min_permutations(alpha)
    assert np.isfinite(_permutation_threshold(np.arange(B, dtype=float), alpha))
    if B > 1:
        assert _permutation_threshold(np.arange(B - 1, dtype=float), alpha) == np.inf


@pytest.mark.parametrize("make, error, words", [
    (lambda: minigan.MLP([2, 3, 1], dtype="x"), TypeError, "dtype must be float32 or float64"),
    (lambda: minigan.GMN(2, dtype=np.int32), TypeError, "dtype must be float32 or float64"),
    (lambda: minigan.GMN(2, hidden=(8,)).fit([[1, 2], [3]], steps=1), TypeError, "real"),
    (lambda: minigan.GAN(2, hidden=(8,)).discriminate([[1, 2], [3]]), TypeError, "^x must be"),
    (lambda: minigan.deep_kernel.learn_kernel(X, Y, holdout="0.2"), TypeError, "holdout"),
    (lambda: minigan.metrics.mode_coverage(X, X[:3], "0.3"), TypeError, "std"),
    (lambda: minigan.metrics.mode_coverage(X, X[:3], True), TypeError, "std"),
    # bounded: d_steps = 2^127 loaded from a checkpoint and failed in fit ("Maximum allowed
    # dimension exceeded"); the same value given to the constructor did too
    (lambda: minigan.GAN(2, d_steps=2**127), ValueError, "d_steps must be an integer <= 1000"),
    (lambda: minigan.MMDGAN(2, critic_steps=10**5), ValueError, "critic_steps .* <= 1000"),
    (lambda: minigan.MMDGAN(2, features=10**6), ValueError, "features .* <= 16384"),
    (lambda: minigan.GMN(2, noise_dim=10**5), ValueError, "noise_dim .* <= 16384"),
    (lambda: minigan.GAN(2, pack=10**6), ValueError, "pack .* <= 16384"),
])
def test_more_arguments_named(make, error, words):
    with pytest.raises(error, match=words):
        make()


def test_mmd_test_cli_refuses_a_key_that_would_be_ignored(tmp_path, capsys):
    status, out, err = _mmd_test_cli(tmp_path, capsys, "--key", "samples")   # two .npy files
    assert status == 1 and out == "" and "--key 'samples' names an array inside .npz" in err


def test_a_deep_kernel_too_large_to_learn_is_refused_before_allocating():
    big = np.zeros((40_000, 2))         # 40,000 pooled training rows: 143 GiB of N x N matrices
    with pytest.raises(MemoryError, match="deep kernel on 40000 pooled rows .*at most 4729"):
        minigan.mmd_test(big, big + 1, kernel="deep")
    with pytest.raises(MemoryError, match="NUMPY_MAX_MEMORY"):
        minigan.deep_kernel.learn_kernel(big, big)
