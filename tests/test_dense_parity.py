"""The compiled MLP passes (minigan._ext.dense, from ext/dense.pyx) against the NumPy reference.

NumPy is the oracle: every compiled result must match the "numpy" backend's, float64 within
rtol 1e-10 and float32 within rtol 1e-4, and bad input must give the reference's answer or a
clear error, never a crash. Without the built extension these tests skip, unless
MINIGAN_REQUIRE_EXT=1 (as in CI), where they fail.
"""
import copy
import pickle
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigan import GAN, GMN, MLP, backend, data, losses
from minigan.optim import Adam
from compiled import require_built

BUILT = require_built("dense")

ACTIVATIONS = ["relu", "leaky_relu", "tanh", "sigmoid", "identity"]
RTOL = {np.float64: 1e-10, np.float32: 1e-4}
# (sizes, batch): width 1 in and out, a single layer, batch 1, wider and deeper nets
SHAPES = [([1, 1], 1), ([3, 7, 5, 2], 4), ([2, 1, 3, 1], 1), ([1, 32, 32, 1], 64),
          ([5, 16, 1, 16, 4], 33), ([2, 64, 64, 2], 300)]


def test_extension_is_built():
    assert BUILT, ("minigan._ext.dense is not built: run `python setup.py build_ext --inplace` "
                   "(or `pip install -e .`) from the repository root")


def pair(sizes, activation="relu", output_activation="identity", dtype=np.float64, seed=0):
    """The same net (same weights) on the NumPy and on the compiled backend."""
    ref = MLP(sizes, activation, output_activation, seed=seed, dtype=dtype, backend="numpy")
    fast = MLP(sizes, activation, output_activation, seed=seed, dtype=dtype, backend="cython")
    assert fast.backend == "cython" and ref.backend == "numpy"
    return ref, fast


def close(actual, expected, dtype):
    """Elementwise rtol, plus an atol far below it relative to the array's scale (entries that
    cancel to ~0 in a batch sum carry the rounding error of the larger terms)."""
    assert actual.dtype == expected.dtype == dtype
    rtol = RTOL[dtype]
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-2 * rtol * scale)


def inputs(sizes, n, dtype, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, sizes[0])).astype(dtype)
    dout = rng.normal(size=(n, sizes[-1])).astype(dtype)
    return x, dout


# ----------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes, n", SHAPES)
@pytest.mark.parametrize("output_activation", ACTIVATIONS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_and_backward_match_numpy(activation, output_activation, sizes, n, dtype):
    ref, fast = pair(sizes, activation, output_activation, dtype)
    x, dout = inputs(sizes, n, dtype)
    close(fast.forward(x), ref.forward(x), dtype)
    for net in (ref, fast):
        net.zero_grad()
    close(fast.backward(dout), ref.backward(dout), dtype)                  # dx
    for g_fast, g_ref in zip(fast.grads, ref.grads):                       # dW, db
        close(g_fast, g_ref, dtype)
    # a second backward accumulates (+=); need_input_grad=False skips dx, still accumulates
    assert fast.backward(dout, need_input_grad=False) is None
    ref.backward(dout, need_input_grad=False)
    for g_fast, g_ref in zip(fast.grads, ref.grads):
        close(g_fast, g_ref, dtype)
    # backward_input: dx only, parameter gradients untouched
    saved = [g.copy() for g in fast.grads]
    close(fast.backward_input(dout), ref.backward_input(dout), dtype)
    assert all(np.array_equal(g, s) for g, s in zip(fast.grads, saved))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_accumulation_is_twice_one_pass(dtype):
    _, fast = pair([3, 8, 8, 2], "tanh", "sigmoid", dtype)
    x, dout = inputs(fast.sizes, 10, dtype)
    fast.forward(x)
    fast.zero_grad()
    fast.backward(dout)
    once = [g.copy() for g in fast.grads]
    fast.backward(dout)
    for g, o in zip(fast.grads, once):
        np.testing.assert_allclose(g, 2 * o, rtol=RTOL[dtype])


@settings(max_examples=60, deadline=None)
@given(widths=st.lists(st.integers(1, 40), min_size=2, max_size=5), n=st.integers(1, 70),
       activation=st.sampled_from(ACTIVATIONS), output_activation=st.sampled_from(ACTIVATIONS),
       dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 2**16))
def test_random_shapes_match_numpy(widths, n, activation, output_activation, dtype, seed):
    ref, fast = pair(widths, activation, output_activation, dtype, seed)
    x, dout = inputs(widths, n, dtype, seed)
    close(fast.forward(x), ref.forward(x), dtype)
    close(fast.backward(dout), ref.backward(dout), dtype)
    for g_fast, g_ref in zip(fast.grads, ref.grads):
        close(g_fast, g_ref, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_changing_batch_size_reuses_and_grows_the_buffers(dtype):
    ref, fast = pair([2, 16, 8, 3], "leaky_relu", "tanh", dtype)
    for n in [5, 300, 1, 64, 300, 2, 17]:  # grow, shrink, grow again within capacity
        x, dout = inputs(ref.sizes, n, dtype, seed=n)
        close(fast.forward(x), ref.forward(x), dtype)
        close(fast.backward(dout), ref.backward(dout), dtype)
        close(fast.backward_input(dout), ref.backward_input(dout), dtype)
    for g_fast, g_ref in zip(fast.grads, ref.grads):
        close(g_fast, g_ref, dtype)


def test_outputs_are_fresh_arrays_and_params_stay_the_same_objects():
    ref, fast = pair([2, 4, 3], "tanh", "sigmoid")
    params, grads = list(fast.params), list(fast.grads)
    x, dout = inputs(ref.sizes, 6, np.float64)
    out1 = fast.forward(x)
    kept = out1.copy()
    out2 = fast.forward(2 * x)                # a new pass must not overwrite the old output
    assert out1 is not out2 and np.array_equal(out1, kept)
    out2[...] = 0                             # nor can changing the output corrupt backward
    ref.forward(2 * x)
    close(fast.backward(dout), ref.backward(dout), np.float64)
    assert all(a is b for a, b in zip(fast.params, params))
    assert all(a is b for a, b in zip(fast.grads, grads))


def test_in_place_optimizer_updates_are_seen():
    ref, fast = pair([3, 8, 1], "relu")
    opts = {net: Adam(net.params, lr=1e-2) for net in (ref, fast)}
    for step in range(5):
        x, dout = inputs(ref.sizes, 16, np.float64, seed=step)
        for net in (ref, fast):
            net.forward(x)
            net.zero_grad()
            net.backward(dout, need_input_grad=False)
            opts[net].step(net.grads)
    for p_fast, p_ref in zip(fast.params, ref.params):
        close(p_fast, p_ref, np.float64)


# -------------------------------------------------------------------------- training
def test_gan_training_agrees_between_backends():
    nets = {}
    for be in ("numpy", "cython"):
        G = MLP([2, 16, 16, 2], "relu", seed=3, backend=be)
        D = MLP([2, 16, 16, 1], "leaky_relu", seed=4, backend=be)
        gan = GAN(2, generator=G, discriminator=D, seed=5)
        nets[be] = gan.fit(data.ring(), steps=50, batch_size=32, progress=False)
    for key in GAN.history_keys:
        np.testing.assert_allclose(nets["cython"].history[key], nets["numpy"].history[key],
                                   rtol=1e-8)
    np.testing.assert_allclose(nets["cython"].sample(20, seed=0), nets["numpy"].sample(20, seed=0),
                               rtol=1e-8, atol=1e-10)



def test_float32_gan_step_is_compiled_and_float32_end_to_end(monkeypatch):
    # the compiled float32 step runs sgemm passes, the compiled float32 losses and Adam, with
    # no NumPy fallback (the NumPy losses and Adam update raise here), keeps every array in
    # float32, and gives the reference's figures to float32 rounding (1-D nets: their 1-wide
    # layers take the compiled outer-product path)
    target = data.gaussian_1d(3, 0.5)
    ref = GAN(1, hidden=(32, 32), seed=0, dtype=np.float32, backend="numpy")
    ref.fit(target, steps=30, batch_size=64, progress=False)

    def refuse(*args, **kwargs):
        raise AssertionError("a NumPy path ran in the compiled step")
    monkeypatch.setattr(losses, "softplus", refuse)
    monkeypatch.setattr(Adam, "_update", refuse)
    gan = GAN(1, hidden=(32, 32), seed=0, dtype=np.float32, backend="cython")
    gan.fit(target, steps=30, batch_size=64, progress=False)
    assert all(net._dense is not None for net in gan.nets.values())
    arrays = [a for net in gan.nets.values() for a in (*net.params, *net.grads)]
    arrays += [a for opt in gan.opts.values() for slot in opt.state.values() for a in slot]
    assert all(a.dtype == np.float32 for a in arrays) and gan.data_shift.dtype == np.float32
    for key in GAN.history_keys:
        np.testing.assert_allclose(gan.history[key], ref.history[key], rtol=1e-3, atol=1e-5)

def test_gmn_training_agrees_between_backends():
    runs = {}
    for be in ("numpy", "cython"):
        G = MLP([2, 16, 16, 2], "tanh", seed=3, backend=be)
        runs[be] = GMN(2, generator=G, seed=5).fit(data.ring(), steps=50, batch_size=32,
                                                  progress=False)
    np.testing.assert_allclose(runs["cython"].history["loss"], runs["numpy"].history["loss"],
                               rtol=1e-8)


# ----------------------------------------------------------- bad input never crashes
def _outcome(f):
    """f()'s result, or the type of the error it raised."""
    try:
        return f()
    except (ValueError, TypeError) as e:
        return type(e)


def _variants(a):
    """a, and the awkward ways a caller can hand it over."""
    ro = a.copy()
    ro.setflags(write=False)
    wide = np.zeros((a.shape[0], 2 * a.shape[1]))
    wide[:, ::2] = a
    return {"plain": a, "non-contiguous": wide[:, ::2], "fortran": np.asfortranarray(a),
            "read-only": ro, "float32": a.astype(np.float32), "big-endian": a.astype(">f8"),
            "integer": np.round(3 * a).astype(np.int64), "list": a.tolist(),
            "wrong-width": np.zeros((a.shape[0], a.shape[1] + 1)), "1-D": a[:, 0].copy(),
            "3-D": a[None], "empty": a[:0], "nan": np.full_like(a, np.nan),
            "wrong-rows": np.zeros((a.shape[0] + 1, a.shape[1]))}


def _same(a, b):
    if isinstance(a, type) or isinstance(b, type) or a is None or b is None:
        return a is b
    return a.dtype == b.dtype and np.allclose(a, b, rtol=1e-10, atol=0)


@pytest.mark.parametrize("kind", list(_variants(np.zeros((4, 3)))))
def test_public_methods_give_the_reference_answer_or_a_clear_error(kind):
    ref, fast = pair([3, 5, 2], "tanh")
    x, dout = inputs(ref.sizes, 4, np.float64)
    bad_x, bad_dout = _variants(x)[kind], _variants(dout)[kind]
    out = {net: _outcome(lambda: net.forward(bad_x)) for net in (ref, fast)}
    assert _same(out[fast], out[ref]), kind
    for net in (ref, fast):
        net.forward(x)
        net.zero_grad()
    for method in ("backward", "backward_input"):
        got = {net: _outcome(lambda: getattr(net, method)(bad_dout)) for net in (ref, fast)}
        assert _same(got[fast], got[ref]), (kind, method)
    for g_fast, g_ref in zip(fast.grads, ref.grads):
        close(g_fast, g_ref, np.float64)


def test_the_compiled_passes_refuse_what_they_cannot_read_safely():
    """The internal entry points skip the public checks; the compiled code still checks."""
    _, net = pair([3, 4, 2])
    x, dout = inputs(net.sizes, 5, np.float64)
    with pytest.raises(RuntimeError, match="forward"):
        net._backward(dout)
    for bad in (x[:, ::2], np.asfortranarray(x), x.astype(np.float32), x.astype(">f8"),
                x.tolist(), x[0], np.zeros((5, 4)), np.zeros((0, 3)), x.astype(np.int64)):
        with pytest.raises(ValueError, match="x must"):
            net._forward(bad)
    net._forward(x)
    for bad in (dout[:, :1], dout[:3], np.asfortranarray(np.zeros((5, 2)))[:, ::-1],
                dout.astype(np.float32), None):
        with pytest.raises(ValueError, match="dout must"):
            net._backward(bad)
        with pytest.raises(ValueError, match="dout must"):
            net._backward_input(bad)
    net.grads[1].setflags(write=False)
    with pytest.raises(ValueError, match=r"grads\[1\] must be writeable"):
        net._backward(dout)
    net.grads[1] = np.zeros(3)                          # a gradient of the wrong shape
    with pytest.raises(ValueError, match=r"grads\[1\] must have shape \(4,\)"):
        net._backward(dout)
    net.grads[1] = np.zeros(4)
    net.params[2] = np.zeros((2, 4))                     # a weight swapped for a wrong one
    with pytest.raises(ValueError, match=r"params\[2\] must have shape \(4, 2\)"):
        net._forward(x)
    with pytest.raises(RuntimeError, match="forward"):   # the failed pass left no caches
        net._backward(dout)
    net.params[2] = np.zeros((4, 2))                     # a right one is simply used
    assert not net._forward(x)[:, :].any()
    del net.params[-1]
    with pytest.raises(ValueError, match="params must hold 4 arrays"):
        net._forward(x)


def test_threads_run_separate_nets_and_refuse_to_share_one():
    """The GIL is released during a pass: separate nets run side by side; one net used from
    two threads at once gives a clear RuntimeError, never a crash or a torn result."""
    pairs = [pair([3, 32, 32, 2], "tanh", seed=s) for s in range(2)]
    x, dout = inputs([3, 32, 32, 2], 64, np.float64)
    expected = [ref.forward(x) for ref, _ in pairs]
    results, errors = {}, []

    def run(i, net):
        for _ in range(200):
            try:
                results[i] = net._forward(x)
                net._backward_input(dout)
            except RuntimeError as e:
                errors.append(str(e))

    threads = [threading.Thread(target=run, args=(i, fast)) for i, (_, fast) in enumerate(pairs)]
    threads += [threading.Thread(target=run, args=(2 + i, pairs[0][1])) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, out in results.items():
        close(out, expected[i if i < 2 else 0], np.float64)
    assert all("already running" in e for e in errors)


# ------------------------------------------------------------------------ bookkeeping
def test_backend_choice_config_copy_and_pickle(monkeypatch):
    net = MLP([2, 3, 1], seed=0, backend="cython")
    assert "backend='cython'" in repr(net)
    assert "backend" not in net.config()          # checkpoints load on any machine
    with pytest.raises(ValueError, match="module"):
        backend.resolve("cython", module="no_such_module")
    monkeypatch.setenv("MINIGAN_BACKEND", "cython")
    assert MLP(**net.config()).backend == "cython"
    monkeypatch.setenv("MINIGAN_BACKEND", "numpy")
    assert MLP(**net.config()).backend == "numpy"
    x = np.ones((2, 2))
    for twin in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert twin.backend == "cython"
        np.testing.assert_array_equal(twin.forward(x), net.forward(x))
        twin.backward(np.ones((2, 1)))


def test_float32_stays_float32():
    _, net = pair([3, 8, 2], dtype=np.float32)
    out = net.forward(np.ones((4, 3)))
    dx = net.backward(np.ones((4, 2)))
    assert out.dtype == dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.grads)


def test_leaky_relu_slope_is_the_reference_one():
    from minigan import layers
    assert backend.ext("dense").LEAKY_SLOPE == layers.LEAKY_SLOPE


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes", [[3, 4], [3, 5, 4]])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_nan_propagates_through_relu_as_in_numpy(activation, sizes, dtype):
    """A NaN pre-activation stays NaN through (leaky) ReLU, as np.maximum / np.where keep it
    (the compiled ReLU once turned it into 0, hiding it), and the backward puts NaN in the same
    places as the reference. minigan.mlp refuses NaN at its public methods, so this feeds it to
    the compiled module (Dense) and to the reference's private passes directly."""
    ref, fast = pair(sizes, activation, activation, dtype)
    x, dout = inputs(sizes, 6, dtype)
    x[2, 1] = np.nan        # one NaN row
    ref.params[-1][2] = np.nan  # one NaN unit (bias) in the last layer
    expected = ref._forward(x)
    got = fast._dense.forward(x, ref.params)
    assert np.isnan(expected).any() and not np.isnan(expected).all()  # NaN in some places
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    close(got[~np.isnan(got)], expected[~np.isnan(expected)], dtype)
    ref.zero_grad()
    grads = [np.zeros_like(p) for p in ref.params]
    dx_expected = ref._backward(dout)
    dx_got = fast._dense.backward(dout, grads)
    for g_got, g_expected in zip([dx_got] + grads, [dx_expected] + ref.grads):
        np.testing.assert_array_equal(np.isnan(g_got), np.isnan(g_expected))
        close(g_got[~np.isnan(g_got)], g_expected[~np.isnan(g_expected)], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes", [[1, 16, 1], [1, 1], [3, 1, 5]])
def test_products_with_a_side_of_one_accumulate_as_numpy_does(sizes, dtype):
    """1-wide inputs and outputs make every product with a side of 1 a plain loop (outer
    products and matrix-vector products, transposed or not); gradients accumulate (+=)
    over batches of different sizes, including single rows."""
    ref, fast = pair(sizes, "leaky_relu", "identity", dtype)
    for n in [7, 1, 300, 2]:
        x, dout = inputs(ref.sizes, n, dtype, seed=n)
        close(fast.forward(x), ref.forward(x), dtype)
        close(fast.backward(dout), ref.backward(dout), dtype)
        close(fast.backward_input(dout), ref.backward_input(dout), dtype)
    for g_fast, g_ref in zip(fast.grads, ref.grads):
        assert np.any(g_ref != 0)
        close(g_fast, g_ref, dtype)
