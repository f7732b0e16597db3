"""The compiled optimiser updates (minigan._ext.optim, from ext/optim.pyx) against the NumPy
reference in minigan.optim, and whole GAN / GMN runs with every compiled piece against NumPy.

Tolerances. The compiled Adam and SGD loops do the NumPy path's operations in the same order
and the module is built without -ffast-math and without fused multiply-adds, so on this build
they give the same bits; one test checks that promise. The other parity tests allow what the
design allows for a reordering of operations: float64 within rtol 1e-12 after many steps (a
few units in the last place per step, added up over hundreds of steps, stays below 1e-13),
float32 within rtol 1e-5. Each also allows an absolute error of that rtol times the array's
largest entry, for entries that pass near zero.

Without the built extension these tests skip, unless MINIGAN_REQUIRE_EXT=1 (as in CI), where
they fail.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigan import GAN, GMN, SGD, Adam, backend, data
from compiled import require_built

BUILT = require_built("optim", "losses")

RTOL = {np.float64: 1e-12, np.float32: 1e-5}
SHAPES = [[(1,)], [(3, 4), (4,)], [(1, 32), (32,), (32, 32), (32,), (32, 1), (1,)],
          [(2, 128), (128,), (128, 128), (128,), (128, 2), (2,)], [(5, 1, 3), (0,), (7,)]]
OPTIMIZERS = {"adam": lambda ps, be: Adam(ps, lr=1e-2, betas=(0.5, 0.999), backend=be),
              "sgd": lambda ps, be: SGD(ps, lr=1e-2, momentum=0.9, backend=be),
              "plain sgd": lambda ps, be: SGD(ps, lr=0.1, backend=be)}


def test_extensions_are_built():
    assert BUILT, ("minigan._ext.optim / .losses are not built: run `python setup.py "
                   "build_ext --inplace` (or `pip install -e .`) from the repository root")


def close(actual, expected):
    assert actual.dtype == expected.dtype
    rtol = RTOL[expected.dtype.type]
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def twins(kind, shapes, dtype, seed=0):
    """The same optimiser on the same parameters, NumPy and compiled."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=s).astype(dtype) for s in shapes]
    ref = OPTIMIZERS[kind]([p.copy() for p in params], "numpy")
    fast = OPTIMIZERS[kind]([p.copy() for p in params], "cython")
    assert (ref.backend, fast.backend) == ("numpy", "cython")
    return ref, fast


def gradients(shapes, dtype, rng):
    """Gradients over many orders of magnitude, as a training run sees them."""
    return [(rng.normal(size=s) * 10.0 ** rng.integers(-6, 3)).astype(dtype) for s in shapes]


def stepped_twins(kind, shapes, dtype, steps, seed):
    """The NumPy and the compiled optimiser after the same `steps` random gradients."""
    ref, fast = twins(kind, shapes, dtype)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        grads = gradients(shapes, dtype, rng)
        ref.step(grads)
        fast.step(grads)
    return ref, fast


def state_arrays(opt):
    return opt.params + [a for name in opt.slots for a in opt.state[name]]


# ----------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: f"{len(s)}-arrays")
@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_many_steps_match_numpy(kind, shapes, dtype):
    ref, fast = stepped_twins(kind, shapes, dtype, steps=300, seed=1)
    assert ref.t == fast.t == 300
    for a, b in zip(state_arrays(fast), state_arrays(ref)):
        close(a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_same_bits_as_numpy_on_this_build(kind, dtype):
    """ext/optim.pyx promises bit-for-bit equality (no fast-math, no FMA in that module)."""
    ref, fast = stepped_twins(kind, SHAPES[3], dtype, steps=50, seed=2)
    for a, b in zip(state_arrays(fast), state_arrays(ref)):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=40, deadline=None)
@given(shapes=st.lists(st.lists(st.integers(1, 9), min_size=1, max_size=3).map(tuple),
                       min_size=1, max_size=6),
       dtype=st.sampled_from([np.float64, np.float32]), kind=st.sampled_from(sorted(OPTIMIZERS)),
       lr=st.floats(1e-5, 1.0), seed=st.integers(0, 2**16))
def test_random_shapes_and_settings_match_numpy(shapes, dtype, kind, lr, seed):
    ref, fast = twins(kind, shapes, dtype, seed)
    ref.lr = fast.lr = lr
    rng = np.random.default_rng(seed)
    for _ in range(5):
        grads = gradients(shapes, dtype, rng)
        ref.step(grads)
        fast.step(grads)
    for a, b in zip(state_arrays(fast), state_arrays(ref)):
        close(a, b)


def test_arrays_stay_the_same_objects_and_state_round_trips_across_backends():
    shapes = SHAPES[2]
    ref, fast = twins("adam", shapes, np.float64)
    before = [id(a) for a in state_arrays(fast)]
    rng = np.random.default_rng(3)
    for _ in range(5):
        grads = gradients(shapes, np.float64, rng)
        ref.step(grads)
        fast.step(grads)
    assert [id(a) for a in state_arrays(fast)] == before
    # a checkpoint written by one backend continues identically on the other
    arrays, meta = ref.state_dict()
    resumed = Adam([p.copy() for p in ref.params], lr=1e-2, betas=(0.5, 0.999), backend="cython")
    resumed.load_state_dict(arrays, meta)
    grads = gradients(shapes, np.float64, rng)
    ref.step(grads)
    resumed.step(grads)
    for a, b in zip(state_arrays(resumed), state_arrays(ref)):
        close(a, b)


def test_strided_gradients_are_fine():
    p_ref, p_fast = np.zeros((3, 4)), np.zeros((3, 4))
    ref, fast = Adam([p_ref], backend="numpy"), Adam([p_fast], backend="cython")
    g = np.arange(24.0).reshape(4, 6)[:, ::2].T   # (3, 4), neither C- nor F-contiguous
    ref.step([g])
    fast.step([g])
    close(p_fast, p_ref)


# ------------------------------------------------------------------------------- bad input
def _bad_cases():
    """(description, params, grads) that must raise ValueError on both backends."""
    ok = lambda: [np.zeros((2, 3)), np.zeros(3)]
    read_only = np.zeros(3)
    read_only.flags.writeable = False
    return [
        ("too few gradients", ok(), [np.zeros((2, 3))]),
        ("too many gradients", ok(), [np.zeros((2, 3)), np.zeros(3), np.zeros(1)]),
        ("wrong shape", ok(), [np.zeros((3, 2)), np.zeros(3)]),
        ("wrong dtype", ok(), [np.zeros((2, 3), np.float32), np.zeros(3)]),
        ("integer gradient", ok(), [np.zeros((2, 3), int), np.zeros(3)]),
        ("not an array", ok(), [[[0.0] * 3] * 2, np.zeros(3)]),
        ("read-only parameter", [np.zeros((2, 3)), read_only], [np.zeros((2, 3)), np.zeros(3)]),
    ]


@pytest.mark.parametrize("be", ["numpy", "cython"])
@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
@pytest.mark.parametrize("case", _bad_cases(), ids=lambda c: c[0])
def test_bad_gradients_raise_and_change_nothing(case, kind, be):
    _, params, grads = case
    opt = OPTIMIZERS[kind](params, be)
    opt.t = 3
    for p in opt.params[:1]:
        p += 1.0                                   # something that a partial update would change
    saved = [a.copy() for a in state_arrays(opt)]
    with pytest.raises(ValueError):
        opt.step(grads)
    assert opt.t == 3
    if be == "cython":                             # the compiled step checks all, then updates
        for a, s in zip(state_arrays(opt), saved):
            np.testing.assert_array_equal(a, s)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_both_backends_refuse_the_same_gradients_and_name_them(kind, dtype):
    # the compiled step checks the gradients in its own C pass: it must refuse exactly what
    # the exact check refuses (NaN, inf, beyond the limit), name the same array, change nothing
    from minigan._checks import NonFiniteError
    shapes = [(3, 4), (4,), (4, 2)]
    results = {}
    for be in ("numpy", "cython"):
        opt = OPTIMIZERS[kind]([np.ones(s, dtype) for s in shapes], be)
        limit = opt._grad_limit(np.dtype(dtype))
        outcomes, expected = [], []
        for top in [1.0, 0.99 * limit, limit, 1.01 * limit, np.inf, -np.inf, np.nan]:
            grads = [np.full(s, 1e-3, dtype) for s in shapes]
            with np.errstate(over="ignore"):
                grads[1][2] = dtype(top)
            top = float(grads[1][2])
            expected.append(bool(np.isfinite(top) and abs(top) <= limit))
            saved = [a.copy() for a in state_arrays(opt)]
            try:
                opt.step(grads)
                outcomes.append("updated")
            except NonFiniteError as e:
                outcomes.append(str(e))
                for a, old in zip(state_arrays(opt), saved):
                    np.testing.assert_array_equal(a, old)
        results[be] = outcomes
    assert results["numpy"] == results["cython"]
    for outcome, accepted in zip(results["cython"], expected):
        assert outcome == "updated" if accepted else outcome.startswith("grads[1] "), outcome



@pytest.mark.parametrize("be", ["numpy", "cython"])
def test_the_gradient_limit_follows_a_changed_learning_rate(be):
    # SGD's limit is max / (2 lr): a gradient of 1e250 is fine at lr = 1, and beyond the
    # limit once lr is 1e100 (as a schedule may set it between steps): refused, nothing moved
    from minigan._checks import NonFiniteError
    opt = SGD([np.ones(3)], lr=1.0, backend=be)
    opt.step([np.full(3, 1e250)])
    opt.lr = 1e100
    before = [a.copy() for a in state_arrays(opt)]
    with pytest.raises(NonFiniteError, match="grads\\[0\\] has entries up to 1e\\+250"):
        opt.step([np.full(3, 1e250)])
    for a, old in zip(state_arrays(opt), before):
        np.testing.assert_array_equal(a, old)

def test_compiled_step_refuses_bad_state_and_layouts():
    ext = backend.ext("optim")
    p, g = np.zeros((2, 3)), np.ones((2, 3))
    m, v = np.zeros((2, 3)), np.zeros((2, 3))
    frozen = np.zeros((2, 3))
    frozen.flags.writeable = False
    fortran = np.zeros((2, 3), order="F")
    cases = {
        "m count": ([p], [g], [], [v]),
        "v count": ([p], [g], [m], [v, v]),
        "m shape": ([p], [g], [np.zeros(6)], [v]),
        "v dtype": ([p], [g], [m], [v.astype(np.float32)]),
        "read-only m": ([p], [g], [frozen], [v]),
        "Fortran-ordered parameter": ([fortran], [g], [m], [v]),
        "non-contiguous v": ([p], [g], [m], [np.zeros((2, 6))[:, ::2]]),
        "float16 parameter": ([p.astype(np.float16)], [g.astype(np.float16)], [m], [v]),
        "parameter not an array": ([[0.0, 1.0]], [g], [m], [v]),
    }
    for what, (ps, gs, ms, vs) in cases.items():
        with pytest.raises(ValueError):
            ext.adam_step(ps, gs, ms, vs, 0.1, 0.9, 0.999, 1e-8, 1)
        assert not p.any() and not m.any() and not v.any(), what
    with pytest.raises(ValueError, match="t must be"):
        ext.adam_step([p], [g], [m], [v], 0.1, 0.9, 0.999, 1e-8, 0)
    with pytest.raises(ValueError, match="velocity"):
        ext.sgd_step([p], [g], [], 0.1, 0.9)
    ext.adam_step([], [], [], [], 0.1, 0.9, 0.999, 1e-8, 1)   # nothing to do is fine


# --------------------------------------------------------------------------------- training
@pytest.mark.parametrize("d_steps, loss, real_label", [(1, "non-saturating", 1.0),
                                                       (2, "minimax", 0.9)])
def test_gan_steps_agree_between_backends(d_steps, loss, real_label):
    """50 GAN steps with every piece compiled (MLP passes, losses, Adam) against NumPy."""
    runs = {}
    for be in ("numpy", "cython"):
        gan = GAN(2, hidden=(16, 16), d_steps=d_steps, loss=loss, real_label=real_label,
                  seed=5, backend=be)
        assert gan.opts["D"].backend == gan.generator.backend == be
        runs[be] = gan.fit(data.ring(), steps=50, batch_size=32, progress=False)
    fast, ref = runs["cython"], runs["numpy"]
    for key in GAN.history_keys:
        np.testing.assert_allclose(fast.history[key], ref.history[key], rtol=1e-10)
    for name in ("G", "D"):
        for a, b in zip(fast.nets[name].params + state_arrays(fast.opts[name]),
                        ref.nets[name].params + state_arrays(ref.opts[name])):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.max(np.abs(b)))


def test_gan_float32_and_gmn_agree_between_backends():
    runs = {}
    for be in ("numpy", "cython"):
        gan = GAN(1, hidden=(8, 8), seed=2, dtype=np.float32, backend=be)
        gan.fit(np.random.default_rng(0).normal(size=(500, 1)), steps=50, batch_size=16,
                progress=False)
        gmn = GMN(2, hidden=(16, 16), seed=3, backend=be)
        gmn.fit(data.ring(), steps=50, batch_size=32, progress=False)
        assert gmn.opts["G"].backend == be
        runs[be] = gan, gmn
    (gan_c, gmn_c), (gan_n, gmn_n) = runs["cython"], runs["numpy"]
    for a, b in zip(gan_c.generator.params, gan_n.generator.params):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.max(np.abs(b)))
    np.testing.assert_allclose(gmn_c.history["loss"], gmn_n.history["loss"], rtol=1e-9)
