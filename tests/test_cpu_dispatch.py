"""Runtime CPU dispatch of the compiled MMD kernel (ext/mmd.pyx, minigan.backend.info).

Every instruction-set path this machine can run (baseline, and avx2 / avx512 where the CPU
has them) is checked against the NumPy reference with the contract's tolerances (float64
rtol 1e-10, float32 rtol 1e-4), for the gradient w.r.t. X and through both samples. Forcing a
path with MINIGAN_CPU, or one the machine cannot run, is checked too.
"""
import warnings

import numpy as np
import pytest

from minigan import backend, mmd
from compiled import require_built
from test_mmd_parity import assert_parity, random_case

BUILT = require_built("mmd")
EXT = backend._load("mmd")
PATHS = EXT.cpu_paths() if BUILT else []


def test_every_path_that_can_run_is_listed():
    assert PATHS[0] == "baseline"
    for path in EXT.CPU_PATHS:
        # a built path runs exactly when the CPU has its instructions
        assert (path in PATHS) <= EXT.cpu_supports(path)
    assert backend.info()["cpu_paths"] == PATHS


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(0, 40, 3))  # ladders and not, both estimators, gemm
def test_every_path_matches_numpy(path, dtype, seed):
    X, Y, sigmas, estimator = random_case(seed)
    X, Y, sigmas = X.astype(dtype), Y.astype(dtype), np.asarray(sigmas)
    one_side = EXT.mmd2_and_grad(X, Y, sigmas, estimator == "unbiased", True, 1, cpu=path)
    assert_parity(X, Y, sigmas, estimator, one_side)
    both = EXT.mmd2_and_grad(X, Y, sigmas, estimator == "unbiased", True, 2, True, cpu=path)
    assert_parity(X, Y, sigmas, estimator, both)


@pytest.mark.parametrize("path", PATHS)
def test_asking_for_dy_leaves_dx_to_the_bit(path):
    # the column side of a pair is summed by the same arithmetic whether or not the row side
    # is wanted (no fused multiply-adds in the kernel's own loops on any path)
    for seed in range(8):
        for dtype in (np.float64, np.float32):
            X, Y, sigmas, _ = random_case(seed)
            X, Y = X.astype(dtype), Y.astype(dtype)
            one = EXT.mmd2_and_grad(X, Y, np.asarray(sigmas), True, True, 1, cpu=path)
            both = EXT.mmd2_and_grad(X, Y, np.asarray(sigmas), True, True, 1, True, cpu=path)
            assert both[0] == one[0] and np.array_equal(both[1], one[1])


def test_paths_agree_on_a_training_sized_case():
    # n = m = 1000, d = 2, the default 5-rung ladder: the case the benchmark times
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(1000, 2)), rng.normal(loc=0.5, size=(1000, 2))
    sigmas = np.asarray(mmd.default_sigmas(X, Y))
    ref = mmd.mmd2_and_grad(X, Y, sigmas, backend="numpy", wrt="both")
    for path in PATHS:
        got = EXT.mmd2_and_grad(X, Y, sigmas, True, True, 1, True, cpu=path)
        assert got[0] == pytest.approx(ref[0], rel=1e-10)
        for have, want in zip(got[1:], ref[1:]):
            np.testing.assert_allclose(have, want, rtol=1e-10, atol=1e-10 * np.abs(want).max())


def test_minigan_cpu_forces_a_path(monkeypatch):
    for path in PATHS:
        monkeypatch.setenv("MINIGAN_CPU", path)
        assert EXT.cpu_path() == path and backend.info()["cpu_path"] == path
    for default in ("", "auto"):
        monkeypatch.setenv("MINIGAN_CPU", default)
        assert EXT.cpu_path() == PATHS[-1]
    monkeypatch.delenv("MINIGAN_CPU")
    assert EXT.cpu_path() == PATHS[-1]


def test_minigan_cpu_forced_path_runs(monkeypatch):
    # the public function follows MINIGAN_CPU: the forced path's numbers, to the bit
    X, Y, sigmas, estimator = random_case(1)
    for path in PATHS:
        monkeypatch.setenv("MINIGAN_CPU", path)
        value, dX = mmd.mmd2_and_grad(X, Y, sigmas, estimator, backend="cython", n_threads=1)
        direct = EXT.mmd2_and_grad(X, Y, np.asarray(sigmas, np.float64),
                                   estimator == "unbiased", True, 1, cpu=path)
        assert value == direct[0] and np.array_equal(dX, direct[1])


def test_a_path_the_machine_cannot_run_warns_and_falls_back(monkeypatch):
    # Pretend the avx512 build is missing (as on a CPU without AVX-512, or a compiler without
    # the flags): forcing it warns once and runs the highest path below it, never the code.
    monkeypatch.setitem(EXT._MODULES, "avx512", None)
    monkeypatch.setattr(EXT, "_WARNED", set())
    monkeypatch.setenv("MINIGAN_CPU", "avx512")
    below = [p for p in PATHS if p != "avx512"][-1]
    with pytest.warns(EXT.CpuPathWarning, match="avx512"):
        assert EXT.cpu_path() == below
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert EXT.cpu_path() == below  # once is enough
    X, Y, sigmas, _ = random_case(3)
    with pytest.raises(ValueError, match="avx512"):  # an explicit request is strict
        EXT.mmd2_and_grad(X, Y, np.asarray(sigmas), True, True, 1, cpu="avx512")


@pytest.mark.parametrize("value", ["sse9", "AVX2", "native"])
def test_unknown_minigan_cpu_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("MINIGAN_CPU", value)
    with pytest.raises(ValueError, match="MINIGAN_CPU"):
        EXT.cpu_path()
    X, Y, sigmas, _ = random_case(3)
    with pytest.raises(ValueError, match="cpu"):
        EXT.mmd2_and_grad(X, Y, np.asarray(sigmas), True, True, 1, cpu=value)


def test_cpu_supports_names_only_known_paths():
    assert EXT.cpu_supports("baseline")
    with pytest.raises(ValueError):
        EXT.cpu_supports("avx1024")


@pytest.mark.parametrize("path", PATHS)
def test_exp_floor_runs_on_every_path(path):
    for dtype in (np.float64, np.float32):
        assert EXT.exp_floor_rate(dtype, path, n_evals=100_000) > 0
        assert EXT._module(path).exp_floor(dtype, 1000) == 768  # whole rows of 256, rounded down


def test_the_kernel_entry_rechecks_what_decides_memory():
    # run() of each path is importable: shapes that would read out of bounds are refused
    X, Y = np.zeros((5, 3)), np.zeros((4, 2))
    g = np.array([0.5])
    for path in PATHS:
        run = EXT._module(path).run
        for args in [(X, Y, g, g), (X, X.astype(np.float32), g, g), (X, X, g, np.ones(2)),
                     (X, X, g[:0], g[:0]), (X[:1], X, g, g), (X.tolist(), X, g, g)]:
            with pytest.raises(ValueError):
                run(*args, 1, True, True, False, 1)
        for seg in (0, -3):     # rungs per exp below 1 would never leave the ladder's loop
            with pytest.raises(ValueError, match="seg >= 1"):
                run(X, X, g, g, seg, True, True, False, 1)
