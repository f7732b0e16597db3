"""The promises of docs/reliability.md, class by class: nothing silent, nothing lost (extreme
scales, divergence, bad settings, hostile files, CLI input). Each test names its class; MMD
scale tests live in test_mmd.py (test_extreme_scales_answer_as_at_scale_one_or_refuse)."""
import os
import time

import numpy as np
import pytest
from checkpoint_edit import rewrite

import minigan
from minigan import cli, mmd_test_cli
from minigan import GAN, GMN, MLP, SGD, Adam, checkpoint, mmd, two_sample
from minigan.checkpoint import CheckpointError
from minigan.divergence import TrainingDiverged
from minigan.trainer import Trainer

RNG = np.random.default_rng(0)
X = RNG.normal(size=(50, 2))
Y = RNG.normal(size=(60, 2)) + 0.5
SMALL = dict(hidden=(8,), seed=0)


def state_of(trainer):
    """Copies of every weight and optimiser array, and the counters."""
    arrays = [p.copy() for net in trainer.nets.values() for p in net.params]
    arrays += [a.copy() for opt in trainer.opts.values() for arrs in opt.state.values()
               for a in arrs]
    return arrays, trainer.step_count, {k: list(v) for k, v in trainer.history.items()}


def assert_same_state(a, b):
    for u, v in zip(a[0], b[0]):
        np.testing.assert_array_equal(u, v)
    assert a[1:] == b[1:]


# ----------------------------------------------------- class 1: extreme scales
def test_mmd_test_never_answers_from_nan_at_extreme_scales():
    Z = X * 1e200
    with pytest.raises(ValueError, match="sigmas .* too narrow"):
        minigan.mmd_test(Z, Z.copy(), sigmas=1.0, seed=0)
    same = minigan.mmd_test(Z, Z.copy(), seed=0)         # identical samples: no rejection
    assert np.isfinite(same.statistic) and not same.reject
    ref = minigan.mmd_test(X, Y, seed=0)
    for scale in (1e-155, 1e200):
        got = minigan.mmd_test(X * scale, Y * scale, seed=0)
        assert got.statistic == pytest.approx(ref.statistic, rel=1e-9)
        assert got.p_value == ref.p_value
        assert got.sigmas[0] == pytest.approx(ref.sigmas[0] * scale, rel=1e-12)


# ------------------------------------------- class 2: silent overflow in trainers
@pytest.mark.parametrize("cls, dtype, scale", [(GMN, np.float64, 1e155), (GAN, np.float64, 1e155),
                                               (GMN, np.float32, 1e30), (GAN, np.float32, 1e30)])
def test_trainers_standardise_huge_data_without_overflow(cls, dtype, scale):
    t = cls(2, dtype=dtype, **SMALL).fit((X * scale).astype(dtype), steps=3, batch_size=16,
                                         progress=False)
    s = t.sample(64, seed=0)
    assert np.all(np.isfinite(s)) and 0.01 < np.abs(s).max() / scale < 100


def test_outputs_that_overflow_are_refused_not_returned():
    gan = GAN(2, **SMALL).fit(X, steps=2, batch_size=16, progress=False)
    with pytest.raises(ValueError, match="overflow"):
        gan.discriminate(np.full((2, 2), 1e308))
    with pytest.raises(ValueError, match="overflow"):
        gan.transform(np.full((2, 2), 1e308))


# ------------------------------------------------------------ class 3: divergence
@pytest.mark.parametrize("cls, lr", [(GMN, dict(lr=1e100)), (GAN, dict(lr_g=1e100, lr_d=1e100)),
                                     (GMN, dict(lr=10.0)), (GAN, dict(lr_g=1e3, lr_d=1e3))])
def test_divergence_stops_fit_and_keeps_the_last_good_state(cls, lr, mlp_backend, tmp_path):
    t = cls(2, backend=mlp_backend, **SMALL, **lr)
    last = [state_of(t)]                               # the state after every good step
    with pytest.raises(TrainingDiverged, match=r"diverged at step \d+ .*smaller learning rate"):
        t.fit(X, steps=50, batch_size=16, progress=False,
              callback=lambda tr: last.append(state_of(tr)))
    assert_same_state(state_of(t), last[-1])           # weights AND optimiser state
    assert t.step_count == len(last) - 1
    assert np.all(np.isfinite(t.sample(8, seed=0)))
    assert type(t).load(t.save(tmp_path / "ok.npz")).step_count == t.step_count


def test_divergence_in_the_middle_rolls_back_one_step_only():
    gmn = GMN(2, **SMALL).fit(X, steps=4, batch_size=16, progress=False)
    good = state_of(gmn)
    gmn.opts["G"].lr = 1e100
    with pytest.raises(TrainingDiverged, match="at step 5 .*end of step 4"):
        gmn.fit(X, steps=3, batch_size=16, progress=False)
    assert_same_state(state_of(gmn), good)
    gmn.opts["G"].lr = 1e-3
    gmn.fit(X, steps=2, batch_size=16, progress=False)   # and training can go on
    assert gmn.step_count == 6


@pytest.mark.parametrize("cls, lr", [(GMN, dict(lr=1e100)), (GAN, dict(lr_g=1e100, lr_d=1e100))])
def test_a_diverged_step_restores_counters_rates_and_random_state(cls, lr):
    t = cls(2, **SMALL).fit(X, steps=3, batch_size=16, progress=False)
    def everything():
        return (state_of(t), t.rng.bit_generator.state,
                [(o.t, o.lr) for o in t.opts.values()])
    for opt in t.opts.values():
        opt.lr = 1e100
    before = everything()
    with pytest.raises(TrainingDiverged, match="at step 4 .*end of step 3"):
        t.step(X[:16])                                   # called directly, not through fit
    after = everything()
    assert_same_state(after[0], before[0])
    assert after[1:] == before[1:]


def test_the_advice_after_divergence_works_under_a_schedule():
    gmn = GMN(2, **SMALL, lr=1e100)
    with pytest.raises(TrainingDiverged, match="restart the schedule"):
        gmn.fit(X, steps=3, batch_size=16, progress=False, lr_decay=0.5)
    gmn.opts["G"].lr = 1e-3              # without a new schedule, the old one would set 1e100
    gmn.fit(X, steps=2, batch_size=16, progress=False, lr_decay=1.0)
    assert gmn.step_count == 2 and gmn.opts["G"].lr == 1e-3


def test_a_batch_that_overflows_the_dtype_is_bad_input_not_divergence():
    gmn = GMN(2, **SMALL, dtype=np.float32)
    with pytest.raises(ValueError, match="real contains NaN or inf") as info:
        gmn.step(X[:16] * 1e300)         # finite in float64, inf in the trainer's float32
    assert not isinstance(info.value, TrainingDiverged) and gmn.step_count == 0


def test_a_nan_in_the_real_batch_is_bad_input_not_divergence():
    gmn = GMN(2, **SMALL)
    bad = X[:16].copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="real contains NaN") as info:
        gmn.step(bad)
    assert not isinstance(info.value, TrainingDiverged) and gmn.step_count == 0


def test_any_trainer_subclass_is_guarded():
    class Broken(Trainer):   # a third trainer: its step() is guarded without a line of its own
        kind, history_keys = "Broken", ("loss",)

        def __init__(self):
            super().__init__(2, None, "uniform", 0, np.float64, True, "numpy")
            self.nets["G"] = MLP([2, 4, 2], seed=0)
            self.opts["G"] = SGD(self.nets["G"].params, lr=0.1)

        def step(self, real):
            self._model_batch(real)
            for p in self.nets["G"].params:
                p += 1.0                                 # changes the weights, then
            return self._record(loss=float("nan"))       # reports a NaN loss

    b = Broken()
    before = state_of(b)
    with pytest.raises(TrainingDiverged, match="loss = nan"):
        b.step(X)
    assert_same_state(state_of(b), before)


@pytest.mark.parametrize("be", ["numpy", "cython"])
@pytest.mark.parametrize("net, bad", [("G", np.inf), ("D", np.nan), ("D", -np.inf)])
def test_a_parameter_gone_non_finite_is_found_named_and_undone(net, bad, be):
    if be not in minigan.backend.available():
        pytest.skip("the compiled core is not built")

    class Spoilt(GAN):   # a step that can leave one weight of one network non-finite
        spoil = False

        def step(self, real):
            figures = super().step(real)
            if self.spoil:
                self.nets[net].params[2][1, 0] = bad
            return figures

    t = Spoilt(2, **SMALL, backend=be).fit(X[:16], steps=2, batch_size=16, progress=False)
    before = state_of(t)
    t.spoil = True
    with pytest.raises(TrainingDiverged, match=f"a parameter of {net} became NaN or inf"):
        t.step(X[:16])
    assert_same_state(state_of(t), before)               # every array put back, bit for bit
    assert all(np.isfinite(p).all() for n in t.nets.values() for p in n.params)


def test_a_step_made_of_guarded_steps_is_rolled_back_whole():
    class Twice(GMN):   # a subclass whose step runs GMN's (also guarded) step twice
        second_lr = 1e-3

        def step(self, real):
            super().step(real)                   # succeeds and is kept by the inner guard,
            self.opts["G"].lr = self.second_lr
            return super().step(real)            # diverges: the inner guard undoes this one

    t = Twice(2, **SMALL).fit(X[:16], steps=1, batch_size=16, progress=False)
    t.second_lr = 1e100
    before = state_of(t), t.opts["G"].lr, t.rng.bit_generator.state
    with pytest.raises(TrainingDiverged) as info:
        t.step(X[:16])
    assert str(info.value).count("diverged") == 1        # reported once, not wrapped again
    assert_same_state(state_of(t), before[0])            # the outer guard undoes the first too
    assert (t.opts["G"].lr, t.rng.bit_generator.state) == before[1:]


@pytest.mark.parametrize("opt_cls", [SGD, Adam])
def test_optimisers_refuse_non_finite_gradients(opt_cls, mlp_backend):
    p = [np.ones(3)]
    opt = opt_cls(p, lr=0.1, backend=mlp_backend)
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match=r"grads\[0\] contains NaN or inf"):
            opt.step([np.array([1.0, bad, 1.0])])
    np.testing.assert_array_equal(p[0], 1.0)
    assert opt.t == 0


@pytest.mark.parametrize("opt_cls", [SGD, Adam])
def test_optimisers_name_a_gradient_of_the_wrong_float_dtype(opt_cls, mlp_backend):
    opt = opt_cls([np.ones(3)], lr=0.1, backend=mlp_backend)
    with pytest.raises(ValueError, match=r"grads\[0\].*float"):
        opt.step([np.ones(3, dtype=np.longdouble)])      # was a KeyError from the limits table


def test_save_refuses_non_finite_weights_and_keeps_the_good_file(tmp_path):
    gmn = GMN(2, **SMALL)
    path = gmn.save(tmp_path / "g.npz")
    good = open(path, "rb").read()
    gmn.generator.params[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="G.param.0.* NaN"):
        gmn.save(path)
    assert open(path, "rb").read() == good


# ---------------------------------------------------- class 4: backend agreement
def test_float32_gmn_with_the_square_root_loss_runs_on_both_backends(mlp_backend):
    gmn = GMN(2, dtype=np.float32, loss="mmd", backend=mlp_backend, **SMALL)
    gmn.fit(X.astype(np.float32), steps=3, batch_size=16, progress=False)
    value, grad = mmd.mmd_and_grad(X.astype(np.float32), Y.astype(np.float32),
                                   backend=mlp_backend)
    assert grad.dtype == np.float32 and np.isfinite(value)


def test_nan_weights_are_refused_on_both_backends(mlp_backend):
    net = MLP([2, 4, 1], seed=0, backend=mlp_backend)
    net.params[0][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"params\[0\] contains NaN"):
        net.forward(X)


def test_inputs_that_could_overflow_a_network_are_refused_on_both_backends(mlp_backend):
    # inf - inf inside a layer is NaN, which the compiled ReLU would turn into 0
    net = MLP([2, 8, 8, 1], seed=0, backend=mlp_backend)
    with pytest.raises(ValueError, match="x: values up to 1e.* could overflow"):
        net.forward(np.array([[1e307, -1e307]]))
    assert np.all(np.isfinite(net.forward(np.array([[1e200, -1e200]]))))


def test_float32_numpy_reference_accumulates_in_float64():
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(400, 3)), rng.normal(size=(400, 3))   # MMD^2 ~ 0: sums cancel
    exact = mmd.mmd2(A, B, [0.5, 1.0, 2.0], backend="numpy")
    got = mmd.mmd2(A.astype(np.float32), B.astype(np.float32), [0.5, 1.0, 2.0], backend="numpy")
    assert abs(got - exact) < 1e-8          # float32 sums were 3.8e-8 off here


def test_float32_distances_do_not_merge_distinct_points():
    # in float32, ||x||^2 + ||y||^2 - 2 x.y of two neighbouring floats near 0.02 rounds to 0:
    # a narrow kernel then counted them as one point (0.22 off in MMD^2 here)
    X = np.array([[0.02], [np.nextafter(np.float32(0.02), np.float32(1))], [0.021]], np.float32)
    Y = np.array([[0.03], [0.031], [0.032]], np.float32)
    exact = mmd.mmd2(X.astype(np.float64), Y.astype(np.float64), [1e-10, 1e-3], "biased",
                     backend="numpy")
    got = mmd.mmd2(X, Y, [1e-10, 1e-3], "biased", backend="numpy")
    assert got == pytest.approx(exact, rel=1e-6)


def test_a_narrow_kernel_sees_each_point_at_distance_zero_from_itself(mmd_backend):
    # ||x||^2 + ||x||^2 - 2 x.x rounds to ~eps ||x||^2, which a narrow bandwidth read as a
    # distance: the V-statistic of distinct points must be exactly 1/n + 1/m
    A, B = X + 1e3, Y + 1e3
    got = mmd.mmd2(A, B, 1e-6, estimator="biased", backend=mmd_backend)
    assert got == pytest.approx(1 / len(A) + 1 / len(B), rel=1e-12)


# ------------------------------------- classes 5 and 6: nonsense and unclear errors
@pytest.mark.parametrize("make, error, words", [
    (lambda: GMN(2, hidden="32"), TypeError, "hidden"),
    (lambda: GMN(2, hidden=5), TypeError, "hidden"),
    (lambda: MLP([2.7, 3, 1]), TypeError, "sizes"),
    (lambda: GMN(2, standardize="False"), TypeError, "standardize"),
    (lambda: GMN(2, seed=-1), ValueError, "seed"),
    (lambda: GMN(2, betas=0.9), TypeError, "betas"),
    (lambda: GAN(2, real_label=None), TypeError, "real_label"),
    (lambda: GMN(2, sigmas="abc"), ValueError, "sigmas"),
    (lambda: mmd.mmd2(X, Y, "abc"), ValueError, "sigmas"),
    (lambda: mmd.mmd2(X, Y, True), TypeError, "sigmas"),
    (lambda: Adam([np.ones(2)], lr=True), TypeError, "lr"),
    (lambda: mmd.mmd2(X, Y, n_threads=10**12), ValueError, "n_threads"),
    (lambda: mmd.mmd2(np.array([[1, "a"]], dtype=object), Y), TypeError, "X .*object"),
    (lambda: GMN(2, **SMALL).fit(X, steps=2, lr_decay="0.5"), TypeError, "lr_decay"),
])
def test_bad_settings_are_refused_naming_the_argument(make, error, words):
    with pytest.raises(error, match=words):
        make()


@pytest.mark.parametrize("value", [["x"], np.array(["unbiased", "biased"]), np.array(["relu"])])
def test_a_choice_that_is_not_a_string_is_refused_naming_the_argument(value):
    # were: "unhashable type: 'list'", numpy's "truth value ... ambiguous", and accepted
    for make, name in ((lambda v: GAN(2, loss=v), "loss"), (lambda v: GMN(2, estimator=v),
                                                          "estimator"),
                       (lambda v: MLP([2, 3, 1], activation=v), "activation")):
        with pytest.raises(ValueError, match=f"{name} must be one of"):
            make(value)


def test_a_bad_callback_is_refused_before_any_step():
    gmn = GMN(2, **SMALL)
    with pytest.raises(TypeError, match="callback"):
        gmn.fit(X, steps=2, callback="x", progress=False)
    assert gmn.step_count == 0


# --------------------------------------------------------------- class 7: CLI input
def cli_error(capsys, argv, status):
    """Run `minigan ARGV`; the exit status and a single line on stderr."""
    try:
        got = cli.main(argv)
    except SystemExit as e:
        got = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert got == status and err and "Traceback" not in "\n".join(err)
    return err[-1]


@pytest.mark.parametrize("argv", [
    ["demo", "ring", "--steps", "0"], ["modes", "--steps", "0"], ["modes", "--seeds", "0"],
    ["demo", "two-sample-power", "--trials", "0"], ["demo", "two-sample-power", "--trials", "-1"],
    ["demo", "gaussian-1d", "--batch-size", "1"], ["demo", "gaussian-1d", "--gmn-steps", "0"],
    ["demo", "ring", "--seed", "-1"], ["bench", "--json", "/missing/dir/x.json"],
    # the witness demo took --steps 0 (and trained the recipe's length) and --seed -1
    ["demo", "mmdgan-witness", "--steps", "0"], ["demo", "mmdgan-witness", "--seed", "-1"],
    ["modes", "--json", "/missing/dir/x.json"],
])
def test_cli_refuses_nonsense_settings_before_running(argv, capsys):
    assert "error: argument" in cli_error(capsys, argv, 2)


@pytest.mark.parametrize("demo", ["ring", "mmdgan-witness"])
def test_cli_refuses_an_existing_file_as_output_folder(demo, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert "not a folder" in cli_error(capsys, ["demo", demo, "--out", str(tmp_path / "f")], 2)


def test_mmd_test_cli_input_files(tmp_path, capsys):
    np.save(tmp_path / "y.npy", Y)
    y = str(tmp_path / "y.npy")
    # a byte-order mark does not cost the first row
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + b"\n".join(
        b",".join(str(v).encode() for v in row) for row in X[:5]))
    assert mmd_test_cli.load_sample(str(tmp_path / "bom.csv")).shape == (5, 2)
    # a header claiming 10^12 rows
    with open(tmp_path / "big.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False,
                                                 "shape": (10**12, 2)})
        f.write(np.zeros(4).tobytes())
    os.mkfifo(tmp_path / "fifo.npy")
    os.symlink("/dev/zero", tmp_path / "zero.csv")
    for bad, words in (("big.npy", "header says"), ("fifo.npy", "not a regular file"),
                       ("zero.csv", "not a regular file")):
        line = cli_error(capsys, ["mmd-test", str(tmp_path / bad), y], 1)
        assert words in line
    assert "relabelling matrix" in cli_error(
        capsys, ["mmd-test", y, y, "--permutations", "1000000000"], 1)
    np.save(tmp_path / "z.npy", Y * 1e200)
    z = str(tmp_path / "z.npy")
    assert "too narrow" in cli_error(capsys, ["mmd-test", z, z, "--sigma", "1", "--json"], 1)


# ---------------------------------------------------------- class 8: hostile checkpoints
@pytest.mark.parametrize("meta_edit, arrays_edit, words", [
    (lambda m: m["config"]["nets"]["G"].update(sizes=[2, 16000, 2]), None, "G.param.0.*shape"),
    (lambda m: m["config"]["nets"]["G"].update(sizes="32"), None, "config.nets.G.sizes"),
    (lambda m: m.update(data_scale="__INF__"), None, "overflows"),
    (lambda m: m.update(data_scale=None), None, "data_scale"),
    (lambda m: m.update(lr_schedule={"lr0": {"G": -0.5}, "factor": 0.5, "start": 0,
                                     "steps": 3}), None, "lr_schedule.lr0"),
    (lambda m: m.update(lr_schedule={"lr0": {}, "factor": 0.5, "start": 0, "steps": 3}),
     None, r"lr_schedule.lr0.*\['G'\]"),                    # was accepted, then KeyError in fit
    (lambda m: m.update(step=-1), None, "'step'"),
    (lambda m: m["optimizers"]["G"].update(t=1.5), None, "optimizers.G.t"),
    (lambda m: m.update(sigmas=[-1.0]), None, "sigmas"),
    (None, lambda a: a["G.param.0"].__setitem__((0, 0), np.nan), "G.param.0.*NaN"),
    (None, lambda a: a.update({"G.opt.m.0": np.zeros((3, 3))}), "G.opt.m.0.*shape"),
])
def test_hostile_checkpoints_are_refused_naming_the_field(tmp_path, meta_edit, arrays_edit, words):
    good = GMN(2, **SMALL).fit(X, steps=2, batch_size=16, progress=False).save(tmp_path / "g.npz")
    bad = rewrite(good, tmp_path / "bad.npz", meta_edit, arrays_edit)
    with pytest.raises(CheckpointError, match=words):
        GMN.load(bad)


def test_checkpoint_members_that_are_not_needed_are_never_read(tmp_path):
    gmn = GMN(2, **SMALL).fit(X, steps=2, batch_size=16, progress=False)
    good = gmn.save(tmp_path / "g.npz")
    import zipfile
    with zipfile.ZipFile(good, "a") as z:   # a member whose header declares 80 GB
        with z.open("junk.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False,
                                                     "shape": (10**10,)})
    back = GMN.load(good)
    np.testing.assert_array_equal(back.sample(4, seed=1), gmn.sample(4, seed=1))


# ------------------------------------------------------------------ class 9: leftovers
def test_stale_temporary_files_of_a_killed_save_are_removed(tmp_path):
    old, young, other = (tmp_path / ".tmp-minigan-old.npz", tmp_path / ".tmp-minigan-new.npz",
                         tmp_path / ".tmp-other.npz")
    for f in (old, young, other):
        f.write_bytes(b"partial")
    past = time.time() - 2 * checkpoint.STALE_SECONDS
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    GMN(2, **SMALL).save(tmp_path / "g.npz")
    assert not old.exists() and young.exists() and other.exists()


# ------------------------------------------------------------- class 10: large inputs
def test_large_work_is_refused_with_advice_or_shows_progress(monkeypatch):
    big = np.zeros((30_000, 2))
    with pytest.raises(MemoryError, match="backend='cython'"):
        mmd.mmd2(big, big, 1.0, backend="numpy")
    with pytest.raises(MemoryError, match="method='linear'"):
        minigan.mmd_test(big, big, n_permutations=10**5)
    assert not two_sample._blocks(400_000, 1000, 501, "t").disable   # hours: a bar with an ETA
    assert two_sample._blocks(2_000, 1000, 501, "t").disable
