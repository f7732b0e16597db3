"""MMDGAN and spectral normalisation: gradient checks, backend parity, exact resume, bad input,
and a short fixed-seed learning test."""
import json

import numpy as np
import pytest

from minigan import MLP, MMDGAN, TrainingDiverged, data, mmd2
from minigan.checkpoint import CheckpointError
from minigan.gradcheck import numerical_gradient, rel_error
from minigan.spectral import (SpectralNorm, power_iteration, spectral_normalize_backward,
                              spectral_normalize_forward)
from compiled import require_built

from test_trainers import check_matches_target, TARGET


# ------------------------------------------------------------ spectral normalisation
def test_spectral_normalize_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(5, 3))
    u = power_iteration(W, rng.normal(size=5), n_iter=2)  # not converged: u is just a fixed vector
    dout = rng.normal(size=(5, 3))
    _, cache = spectral_normalize_forward(W, u)
    dW = spectral_normalize_backward(dout, cache)
    num = numerical_gradient(lambda: spectral_normalize_forward(W, u)[0], W, dout=dout)
    assert rel_error(dW, num) < 1e-7


def test_power_iteration_finds_the_largest_singular_value():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(20, 7))
    u = power_iteration(W, rng.normal(size=20), n_iter=200)
    W_sn, _ = spectral_normalize_forward(W, u)
    assert np.linalg.norm(W.T @ u) == pytest.approx(np.linalg.svd(W, compute_uv=False)[0], rel=1e-10)
    assert np.linalg.svd(W_sn, compute_uv=False)[0] == pytest.approx(1.0, rel=1e-10)


def test_spectral_norm_mlp_gradients_and_lipschitz_bound(mlp_backend):
    rng = np.random.default_rng(2)
    net = MLP([3, 8, 6, 2], "leaky_relu", seed=0, backend=mlp_backend)
    sn = SpectralNorm(net, seed=1)
    sn.refresh(update_u=True)
    x, dout = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))

    def f():
        sn.refresh(update_u=False)   # W_sn as a function of the raw W, u fixed
        return sn.normed.forward(x)

    f()
    sn.normed.zero_grad()
    sn.normed.backward(dout, need_input_grad=False)
    net.zero_grad()
    sn.backward()
    for p, g in zip(net.params, net.grads):
        assert rel_error(g, numerical_gradient(f, p, dout=dout)) < 1e-7
    # each layer is 1-Lipschitz (leaky ReLU too), so the whole net is: ||f(a) - f(b)|| <= ||a - b||
    for W in sn.normed.params[0::2]:
        assert np.linalg.svd(W, compute_uv=False)[0] == pytest.approx(1.0, rel=1e-6)
    a, b = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
    ratio = (np.linalg.norm(sn.normed.forward(a) - sn.normed.forward(b), axis=1)
             / np.linalg.norm(a - b, axis=1))
    assert ratio.max() <= 1 + 1e-9


# ------------------------------------------------------------------- the trainer
def small(stabilizer="spectral", seed=0, **kw):
    return MMDGAN(2, hidden=(6,), critic_hidden=(7,), features=3, stabilizer=stabilizer,
                  seed=seed, **kw)


@pytest.mark.parametrize("stabilizer", ["spectral", "none", "clip"])
@pytest.mark.parametrize("raw_kernel, raw_weight", [(True, 1.0), (True, 7.5), (False, 1.0)])
def test_critic_and_generator_gradients_match_finite_differences(stabilizer, raw_kernel,
                                                                 raw_weight, mlp_backend):
    t = small(stabilizer, raw_kernel=raw_kernel, raw_weight=raw_weight, clip_value=10.0,
              backend=mlp_backend)
    rng = np.random.default_rng(3)
    Y = data.ring().sample(9, seed=4)
    t.step(np.concatenate([Y, Y]))       # calibrates; weights move off their initial values
    Y = t._to_model(Y)
    X, z = rng.normal(size=(8, 2)) * 0.5, rng.uniform(-1, 1, size=(8, 2))

    def critic_loss():                   # -MMD^2(f(X), f(Y)) as a function of the raw critic
        t._refresh(update_u=False)
        F_X, F_Y = t._f.forward(X), t._f.forward(Y)
        return -mmd2(F_X, F_Y, t.sigmas)

    t._refresh(update_u=False)
    value = t._critic_gradients(X, Y)
    assert value == pytest.approx(-critic_loss(), rel=1e-12)
    *inner, last_bias = zip(t.critic.params, t.critic.grads)
    for p, g in inner:
        assert rel_error(g, numerical_gradient(critic_loss, p)) < 1e-7
    # MMD^2 sees only feature differences: shifting every f(x) by the output bias changes nothing
    assert not last_bias[1].any()   # set to exactly 0 (see MMDGAN._critic_gradients)
    assert np.abs(numerical_gradient(critic_loss, last_bias[0])).max() < 1e-9

    loss = t._generator_gradients(z, Y)
    grads = [g.copy() for g in t.generator.grads]
    critic_grads = [g.copy() for g in t.critic.grads]
    gen_loss = lambda: t._generator_gradients(z, Y)
    for p, g in zip(t.generator.params, grads):
        assert rel_error(g, numerical_gradient(gen_loss, p)) < 1e-7
    assert all(np.array_equal(a, b) for a, b in zip(critic_grads, t.critic.grads))  # untouched
    raw = raw_weight * mmd2(t.generator.forward(z), Y, t.raw_sigmas) if raw_kernel else 0.0
    assert loss == pytest.approx(mmd2(t._f.forward(t.generator.forward(z)), t._f.forward(Y),
                                      t.sigmas) + raw, rel=1e-12)


@pytest.mark.parametrize("stabilizer", ["spectral", "none"])
@pytest.mark.parametrize("raw_kernel, raw_weight", [(True, 1.0), (True, 7.5), (False, 1.0)])
def test_simultaneous_pass_gives_both_players_their_gradients(stabilizer, raw_kernel,
                                                              raw_weight, mlp_backend):
    # the joint pass (simultaneous=True) must give, from one forward and one backward through
    # the critic, exactly what the two separate, finite-difference-checked passes give
    t = small(stabilizer, raw_kernel=raw_kernel, raw_weight=raw_weight, backend=mlp_backend)
    Y = data.ring().sample(9, seed=4)
    t.step(np.concatenate([Y, Y]))       # calibrates; weights move off their initial values
    Y, z = t._to_model(Y), np.random.default_rng(5).uniform(-1, 1, size=(8, 2))
    t._refresh(update_u=False)
    value, loss = t._joint_gradients(z, Y)
    joint_g = [g.copy() for g in t.generator.grads]
    joint_c = [g.copy() for g in t.critic.grads]

    assert value == pytest.approx(t._critic_gradients(t.generator.forward(z), Y), rel=1e-12)
    for a, b in zip(joint_c, t.critic.grads):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert loss == pytest.approx(t._generator_gradients(z, Y), rel=1e-12)
    for a, b in zip(joint_g, t.generator.grads):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-15)
    gen_loss = lambda: t._joint_gradients(z, Y)[1]
    for p, g in zip(t.generator.params, joint_g):
        assert rel_error(g, numerical_gradient(gen_loss, p)) < 1e-7


def test_simultaneous_step_uses_one_batch_and_moves_both_players():
    t = small(simultaneous=True)
    X = data.ring().sample(16, seed=0)
    t.step(X[:4])                        # critic_steps=1: the one batch is shared, 2 rows each
    before = [p.copy() for p in t.generator.params + t.critic.params]
    t.step(X[4:12])
    after = t.generator.params + t.critic.params
    assert all(not np.array_equal(a, b) for a, b in zip(before[:-1], after[:-1]))
    assert np.array_equal(before[-1], after[-1])     # the output bias's gradient is exactly 0
    assert small(simultaneous=True, critic_steps=3)._rows_per_step(8) == 24
    assert small(critic_steps=3)._rows_per_step(8) == 32
    with pytest.raises(ValueError, match="at least 2 rows"):
        small(simultaneous=True).step(X[:1])
    with pytest.raises(TypeError, match="simultaneous must be True or False"):
        small(simultaneous=1)


@pytest.mark.parametrize("simultaneous", [False, True])
def test_numpy_and_compiled_steps_agree(simultaneous):
    require_built("dense", "mmd", "optim")
    X = data.grid().sample(400, seed=0)
    runs = {b: small(backend=b, seed=3, simultaneous=simultaneous).fit(X, steps=15, batch_size=16, progress=False)
            for b in ("numpy", "cython")}
    np_run, cy_run = runs["numpy"], runs["cython"]
    for key in MMDGAN.history_keys:
        np.testing.assert_allclose(cy_run.history[key], np_run.history[key], rtol=1e-10, atol=1e-14)
    for name in ("G", "C"):
        for a, b in zip(cy_run.nets[name].params, np_run.nets[name].params):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(cy_run.sample(5, seed=1), np_run.sample(5, seed=1), rtol=1e-10)


@pytest.mark.parametrize("stabilizer, simultaneous", [("spectral", False), ("clip", False),
                                                      ("spectral", True)])
def test_save_load_continue_equals_uninterrupted(stabilizer, simultaneous, tmp_path):
    X = data.grid().sample(500, seed=0)
    kw = dict(stabilizer=stabilizer, critic_steps=2, simultaneous=simultaneous, seed=1)
    straight = small(**kw).fit(X, steps=30, batch_size=16, progress=False)
    first = small(**kw).fit(X, steps=15, batch_size=16, progress=False)
    resumed = MMDGAN.load(first.save(tmp_path / "ckpt"))
    assert resumed.witness(X[:5], X[5:20], X[20:30]) == pytest.approx(
        first.witness(X[:5], X[5:20], X[20:30]), rel=1e-15)
    resumed.fit(X, steps=15, batch_size=16, progress=False)
    assert resumed.step_count == 30
    assert resumed.history == straight.history
    assert np.array_equal(resumed.sample(7, seed=2), straight.sample(7, seed=2))
    assert np.array_equal(resumed.features_of(X[:4]), straight.features_of(X[:4]))


@pytest.mark.parametrize("edit, words", [
    (lambda m: m["power_iteration_u"].pop(), "power_iteration_u must hold one list per critic"),
    (lambda m: m["power_iteration_u"][0].append(0.5), "power_iteration_u must hold one list"),
    (lambda m: m.update(power_iteration_u="abc"), "power_iteration_u must hold one list"),
    (lambda m: m.update(raw_sigmas=[-1.0]), "sigmas"),
    (lambda m: m["power_iteration_u"][0].__setitem__(slice(None), [0.0, 0.0]),
     "for layer 1 that is 0.0"),          # a zero u: W_sn = W / 0 would have been NaN
    (lambda m: m.update(sigmas="abc"), "sigmas"),
])
def test_hostile_checkpoint_fields_are_refused(tmp_path, edit, words):
    # a missing or extra u vector used to be dropped silently by zip (stale W_sn for a layer);
    # sigmas were taken from the file unchecked
    good = small().fit(data.ring(), steps=2, batch_size=8, progress=False).save(tmp_path / "g")
    with np.load(good) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    edit(meta)
    np.savez(tmp_path / "bad.npz", __meta__=np.array(json.dumps(meta)), **arrays)
    with pytest.raises(CheckpointError, match=words):
        MMDGAN.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("simultaneous", [False, True])
def test_a_rolled_back_step_puts_the_power_iteration_vectors_back(simultaneous):
    # a diverged step is undone whole (minigan.divergence): the spectral norm's u vectors
    # too, so that continuing afterwards gives the numbers of a run that never diverged
    X = data.grid().sample(500, seed=0)
    kw = dict(critic_steps=2, simultaneous=simultaneous, seed=1)
    straight = small(**kw).fit(X, steps=10, batch_size=16, progress=False)
    t = small(**kw).fit(X, steps=5, batch_size=16, progress=False)
    u_before = [u.copy() for u in t._sn.u]
    lr_g, lr_c = t.opts["G"].lr, t.opts["C"].lr
    t.opts["G"].lr = t.opts["C"].lr = 1e100
    with pytest.raises(TrainingDiverged, match="at step 6"):
        t.step(X[:48])        # a direct step: fit's own batch draw would move the stream

    assert all(np.array_equal(a, b) for a, b in zip(t._sn.u, u_before))
    t.opts["G"].lr, t.opts["C"].lr = lr_g, lr_c
    t.fit(X, steps=5, batch_size=16, progress=False)
    assert t.history == straight.history
    assert np.array_equal(t.sample(7, seed=2), straight.sample(7, seed=2))


def test_same_seed_same_numbers_and_history_shape():
    a, b, c = (small(seed=s).fit(data.ring(), steps=12, batch_size=8, progress=False)
               for s in (5, 5, 6))
    assert a.history == b.history and a.history != c.history
    assert set(a.history) == {"critic_mmd2", "generator_mmd2"}
    assert all(len(v) == 12 for v in a.history.values())
    assert np.array_equal(a.sample(4, seed=0), b.sample(4, seed=0))


def test_clip_keeps_every_critic_parameter_in_the_box():
    t = small("clip", clip_value=0.05).fit(data.ring(), steps=5, batch_size=8, progress=False)
    assert max(np.abs(p).max() for p in t.critic.params) <= 0.05


def test_clipped_critic_has_bandwidths_at_its_own_scale():
    """The clip comes before the feature bandwidths are fitted: after the first clip the
    features are where the bandwidths were calibrated, not orders of magnitude inside the
    narrowest one (which makes k = 1 for every pair and the critic blind)."""
    t = MMDGAN(2, stabilizer="clip", seed=0)
    assert max(np.abs(p).max() for p in t.critic.params) <= t.clip_value   # clipped at birth
    real = data.ring().sample(1000, seed=1)
    t.fit(data.ring(), steps=20, batch_size=64, progress=False)
    F = t.features_of(real)
    d = np.sqrt(((F[:300, None, :] - F[None, :300, :]) ** 2).sum(-1))
    median = np.median(d[np.triu_indices(300, 1)])
    assert min(t.sigmas) < median < max(t.sigmas)
    assert 0.25 < median / np.median(t.sigmas) < 4
    assert np.mean(t.history["critic_mmd2"][-5:]) > 1e-2                   # it sees something


def test_float32_end_to_end():
    t = small(dtype=np.float32).fit(data.ring(), steps=5, batch_size=8, progress=False)
    assert t.sample(3).dtype == np.float32 and t.features_of(np.zeros((2, 2))).dtype == np.float32


def test_witness_is_positive_on_missing_data_and_integrates_to_mmd2():
    t = small(raw_weight=3.0).fit(data.ring(), steps=3, batch_size=8, progress=False)
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(30, 2)), rng.normal(size=(20, 2)) + 3.0
    h = t.witness(np.concatenate([real, fake]), real, fake, kernel="raw")
    assert h[:30].mean() > 0 > h[30:].mean()
    scale = t.data_scale  # the witness works in the trainer's standardised space
    z_real, z_fake = (real - t.data_shift) / scale, (fake - t.data_shift) / scale
    assert h[:30].mean() - h[30:].mean() == pytest.approx(
        mmd2(z_real, z_fake, t.raw_sigmas, "biased"), rel=1e-10)
    both = t.witness(real, real, fake)
    assert both == pytest.approx(3.0 * t.witness(real, real, fake, kernel="raw")
                                 + t.witness(real, real, fake, kernel="features"), rel=1e-12, abs=1e-14)
    with pytest.raises(ValueError, match="kernel"):
        t.witness(real, real, fake, kernel="linear")
    # bad arrays: the error names the argument that is wrong
    for args, match in [((real[:, :1], real, fake), "points must have 2 columns"),
                        ((real, real, fake[:, :1]), "fake must have 2 columns"),
                        ((real, np.full((3, 2), np.nan), fake), "real contains NaN")]:
        with pytest.raises(ValueError, match=match):
            t.witness(*args)
    with pytest.raises(ValueError, match="x must have 2 columns"):
        t.features_of(np.zeros((2, 3)))


def test_bandwidth_rules_are_applied_at_calibration_and_survive_save_load(tmp_path):
    from minigan.mmd import data_scales, median_ladder
    X = data.grid().sample(2000, seed=0)
    t = small(raw_sigmas="data-scales", sigmas="median-ladder")
    unfit = MMDGAN.load(t.save(tmp_path / "unfit"))     # saved before calibration: rules kept
    t._calibrate(X[:1000])                              # what fit does with its first 1000
    x = t._to_model(X[:1000])
    assert t.raw_sigmas == data_scales(x)
    assert t.sigmas == median_ladder(t._f.forward(x))
    unfit._calibrate(X[:1000])                          # the same seed: the same critic
    assert (unfit.raw_sigmas, unfit.sigmas) == (t.raw_sigmas, t.sigmas)
    t.fit(X, steps=1, batch_size=8, progress=False)
    assert MMDGAN.load(t.save(tmp_path / "fit")).raw_sigmas == t.raw_sigmas
    with pytest.raises(ValueError, match="raw_sigmas must be one of"):
        small(raw_sigmas="silverman")


def test_bad_input_and_settings():
    t = small()
    with pytest.raises(RuntimeError, match="call fit or step first"):
        t.features_of(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="real must have 2 columns"):
        t.fit(np.zeros((10, 3)), steps=1, progress=False)
    with pytest.raises(ValueError, match="NaN"):
        t.step(np.full((8, 2), np.inf))
    with pytest.raises(ValueError, match="at least 4 rows"):
        t.step(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="stabilizer"):
        small("weight-decay")
    with pytest.raises(ValueError, match="features"):
        MMDGAN(2, features=0)
    with pytest.raises(ValueError, match="critic_steps"):
        MMDGAN(2, critic_steps=0)
    with pytest.raises(ValueError, match="clip_value"):
        MMDGAN(2, clip_value=-1.0)
    with pytest.raises(ValueError, match="sigmas"):
        MMDGAN(2, sigmas=[0.0])
    with pytest.raises(ValueError, match="critic must map 2 -> 8"):
        MMDGAN(2, critic=MLP([2, 4, 3]))
    with pytest.raises(TypeError, match="MLP"):
        SpectralNorm(lambda x: x)
    zeroed = MLP([2, 4, 8], "leaky_relu", seed=0)
    zeroed.params[2][...] = 0          # sigma = 0: W / sigma would be NaN, not an error
    with pytest.raises(ValueError, match="for layer 2 that is nan"):
        MMDGAN(2, critic=zeroed)
    assert MMDGAN(2, critic=zeroed, stabilizer="none").critic is zeroed   # nothing to divide
    with pytest.raises(TypeError, match="raw_kernel must be True or False"):
        MMDGAN(2, raw_kernel="False")       # bool("False") would have been True
    with pytest.raises(ValueError, match="raw_weight"):
        MMDGAN(2, raw_weight=0.0)


@pytest.mark.slow
@pytest.mark.parametrize("simultaneous", [False, True])
def test_mmdgan_learns_a_gaussian_from_uniform_noise(simultaneous):
    t = MMDGAN(1, hidden=(32, 32), critic_hidden=(32,), features=8, lr_g=2e-3, lr_c=1e-3,
               raw_sigmas="median-ladder", simultaneous=simultaneous, seed=0)  # 1 smooth mode
    t.fit(TARGET, steps=1500, batch_size=128, progress=False, lr_decay=0.1)
    check_matches_target(t)
