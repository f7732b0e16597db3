"""minigan's thread policy (minigan.threads): one BLAS thread in a training step, the
caller's counts back afterwards, counts set meanwhile kept, one override.

Every BLAS count is read through threadpoolctl, the way a user would check it; the caller's
count is set to 2 first (threadpool_limits), so that a step left at the process's default
could not pass for the policy.
"""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import minigan
from minigan import GAN, GMN, MMDGAN, TrainingDiverged, threads

# the 1-D demo's sizes (gaussian-1d: 1-32-32-1 networks, batch 256)
DEMO = dict(hidden=(32, 32), seed=0)
TRAINERS = {"GMN": lambda: GMN(1, **DEMO), "GAN": lambda: GAN(1, **DEMO),
            "MMDGAN": lambda: MMDGAN(1, **DEMO)}


def blas_counts():
    """{library path: thread count} of every BLAS library loaded, read by threadpoolctl."""
    return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


@pytest.fixture
def caller_at_2():
    """The caller holds every BLAS at 2 threads (skips where a BLAS cannot run 2)."""
    with threadpool_limits(limits=2, user_api="blas"):
        counts = blas_counts()
        if not counts or set(counts.values()) != {2}:
            pytest.skip(f"the BLAS libraries here cannot be set to 2 threads: {counts}")
        yield counts


def real_rows(n=256, seed=0):
    return np.random.default_rng(seed).normal(3.0, 0.5, size=(n, 1))


def test_both_blas_libraries_are_held():
    # NumPy's @ and the compiled core's gemms (scipy.linalg.cython_blas) are two OpenBLAS
    # copies with two thread pools; the policy holds every BLAS threadpoolctl finds
    held = {lib.filepath for lib in threads._blas_libraries()}
    assert held == set(blas_counts())


@pytest.mark.parametrize("kind", TRAINERS)
def test_a_fit_at_the_demo_sizes_runs_blas_on_one_thread(kind, caller_at_2):
    trainer, seen = TRAINERS[kind](), []
    trainer.fit(real_rows(2000), steps=3, batch_size=256, progress=False,
                callback=lambda t: seen.append(blas_counts()))
    assert len(seen) == 3 and all(set(c.values()) == {1} for c in seen)
    assert blas_counts() == caller_at_2          # the caller's counts are back


@pytest.mark.parametrize("kind", TRAINERS)
def test_a_direct_step_runs_blas_on_one_thread(kind, caller_at_2):
    base = type(TRAINERS[kind]())
    seen = []

    class Recording(base):          # its step is guarded too: the counts inside the step
        def step(self, real):
            seen.append(blas_counts())
            return super().step(real)

    trainer = Recording(1, **DEMO)
    trainer.step(real_rows(trainer._rows_per_step(256)))
    assert len(seen) == 1 and set(seen[0].values()) == {1}
    assert blas_counts() == caller_at_2


def test_the_counts_are_back_after_an_exception(caller_at_2):
    gan = GAN(1, **DEMO)

    def fail(trainer):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gan.fit(real_rows(2000), steps=5, batch_size=256, progress=False, callback=fail)
    assert blas_counts() == caller_at_2
    bad = real_rows()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="real"):
        gan.step(bad)
    assert blas_counts() == caller_at_2


def test_the_counts_are_back_after_a_rolled_back_step(caller_at_2):
    gmn = GMN(1, **DEMO).fit(real_rows(2000), steps=2, batch_size=64, progress=False)
    gmn.opts["G"].lr = 1e100
    with pytest.raises(TrainingDiverged):
        gmn.step(real_rows(64))
    assert blas_counts() == caller_at_2
    with pytest.raises(TrainingDiverged):
        gmn.fit(real_rows(2000), steps=3, batch_size=64, progress=False)
    assert blas_counts() == caller_at_2


def test_a_count_set_during_the_fit_is_kept(caller_at_2):
    # compare-and-restore: a count changed meanwhile (here by the callback, as another
    # thread could) is not overwritten when the fit ends
    def raise_to_3(trainer):
        if trainer.step_count == 2:
            threadpool_limits(limits=3, user_api="blas")   # not undone: the caller's choice
    set_to = None
    try:
        GAN(1, **DEMO).fit(real_rows(2000), steps=4, batch_size=256, progress=False,
                           callback=raise_to_3)
        set_to = blas_counts()
    finally:
        threadpool_limits(limits=2, user_api="blas")
    assert set(set_to.values()) == {3}


def test_the_process_is_as_it_was_without_a_caller_limit():
    before = blas_counts()
    GAN(1, **DEMO).fit(real_rows(2000), steps=2, batch_size=256, progress=False)
    assert blas_counts() == before


def test_steps_in_two_threads_leave_the_counts_as_found(caller_at_2):
    # overlapping limits: the first one in sets 1, the last one out restores
    errors, seen = [], []

    def train(seed):
        try:
            gan = GAN(1, hidden=(32, 32), seed=seed)
            gan.fit(real_rows(2000, seed), steps=20, batch_size=256, progress=False,
                    callback=lambda t: seen.append(set(blas_counts().values())))
        except BaseException as e:    # reported below, in the main thread
            errors.append(e)

    workers = [threading.Thread(target=train, args=(s,)) for s in (1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors and len(seen) == 40 and all(s == {1} for s in seen)
    assert blas_counts() == caller_at_2


def test_set_num_threads_is_the_override(caller_at_2):
    previous = minigan.set_num_threads(3)
    try:
        assert minigan.get_num_threads() == 3 and threads.mmd_threads() == 3
        seen = []
        GAN(1, **DEMO).fit(real_rows(2000), steps=2, batch_size=256, progress=False,
                           callback=lambda t: seen.append(set(blas_counts().values())))
        assert seen == [{3}, {3}]
    finally:
        minigan.set_num_threads(previous)
    assert blas_counts() == caller_at_2
    assert minigan.get_num_threads() is None and threads.mmd_threads() == 0
    assert threads.step_threads() == 1


def test_the_override_reaches_the_compiled_mmd(monkeypatch):
    # n_threads=None takes the override: the compiled kernel is called with it
    from minigan import backend
    if "cython" not in backend.available():
        pytest.skip("the compiled core is not built")
    calls = []
    ext = backend.ext("mmd")
    real_kernel = ext.mmd2_and_grad
    monkeypatch.setattr(ext, "mmd2_and_grad",
                        lambda *a, **k: calls.append(a[5]) or real_kernel(*a, **k))
    X, Y = real_rows(50, 1), real_rows(40, 2)
    with_policy = minigan.mmd2(X, Y, backend="cython")
    minigan.set_num_threads(3)
    try:
        overridden = minigan.mmd2(X, Y, backend="cython")
    finally:
        minigan.set_num_threads(None)
    assert calls == [0, 3] and overridden == pytest.approx(with_policy, rel=1e-12)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (2000, ValueError),
                                        (1.5, TypeError), (True, TypeError), ("2", TypeError)])
def test_bad_counts_are_refused_and_change_nothing(bad, error):
    with pytest.raises(error, match="n must be"):
        minigan.set_num_threads(bad)
    assert minigan.get_num_threads() is None
    with pytest.raises(error, match="n must be"):
        threads.limit(bad)
    with pytest.raises(TypeError, match="n must be"):
        threads.limit(None)


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env})


def test_the_environment_variable_sets_the_override():
    out = run_python("import minigan; print(minigan.get_num_threads())", MINIGAN_NUM_THREADS="2")
    assert out.returncode == 0 and out.stdout.strip() == "2"
    out = run_python("import minigan", MINIGAN_NUM_THREADS="two")
    assert out.returncode != 0 and "MINIGAN_NUM_THREADS must be a whole number" in out.stderr


def test_learning_a_deep_kernel_runs_blas_on_one_thread(monkeypatch, caller_at_2):
    # learn_kernel is training too: full-batch Adam on small products
    from minigan import deep_kernel
    seen = []
    original = deep_kernel.DeepKernel.criterion_and_grad

    def recording(self, *args, **kwargs):
        seen.append(set(blas_counts().values()))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(deep_kernel.DeepKernel, "criterion_and_grad", recording)
    rng = np.random.default_rng(0)
    deep_kernel.learn_kernel(rng.normal(size=(40, 2)), rng.normal(size=(40, 2)), max_steps=3,
                             seed=0)
    assert seen and all(s == {1} for s in seen)
    assert blas_counts() == caller_at_2


def test_the_labs_views_run_blas_on_one_thread(caller_at_2, monkeypatch):
    """The lab's views (a heat map over a grid, the arrows) are products as small as a step's:
    computed on one BLAS thread, and the caller's count is back afterwards."""
    from minigan.lab import session as lab_session

    seen = []
    original = lab_session.render

    def recording(frame, now):
        seen.append(blas_counts())
        return original(frame, now)

    monkeypatch.setattr(lab_session, "render", recording)
    lab = lab_session.LabSession("t")
    try:
        lab.control("step")
    finally:
        lab.close()
        lab.thread.join(timeout=30)
        lab.views_thread.join(timeout=30)
    assert seen and all(set(counts.values()) == {1} for counts in seen)
    assert blas_counts() == caller_at_2
