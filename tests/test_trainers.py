"""GMN and GAN: learning with fixed seeds, determinism, exact resume, bad input."""
import numpy as np
import pytest

from minigan import GAN, GMN, MLP, data, metrics
from minigan.checkpoint import CheckpointError

TARGET = data.gaussian_1d(3.0, 0.5)
BULK = np.linspace(2.0, 4.0, 201)  # mean +- 2 std


def check_matches_target(trainer):
    """Mean within 0.1, std within 15%, and a 1% KS test on 1,000 samples does not reject."""
    x = trainer.sample(1000, seed=123)[:, 0]
    assert abs(x.mean() - 3.0) < 0.1
    assert abs(x.std() / 0.5 - 1) < 0.15
    _, p = metrics.ks_statistic(x, TARGET.cdf)
    assert p > 0.01


@pytest.mark.slow
def test_gmn_learns_a_gaussian_from_uniform_noise():
    gmn = GMN(1, hidden=(32, 32), lr=1e-3, seed=0)
    gmn.fit(TARGET, steps=3000, batch_size=256, progress=False)
    check_matches_target(gmn)
    assert np.mean(gmn.history["loss"][-200:]) < 0.01 * np.mean(gmn.history["loss"][:20])


@pytest.mark.slow
def test_gan_learns_a_gaussian_and_d_goes_to_one_half():
    gan = GAN(1, hidden=(32, 32), lr_g=1e-4, lr_d=1e-4, seed=0)
    gan.fit(TARGET, steps=8000, batch_size=256, progress=False)
    check_matches_target(gan)
    assert np.abs(gan.discriminate(BULK) - 0.5).mean() < 0.1
    assert np.mean(gan.history["d_loss"][-500:]) == pytest.approx(np.log(2), abs=0.02)


@pytest.mark.parametrize("cls", [GMN, GAN])
def test_same_seed_same_history(cls):
    runs = [cls(2, hidden=(8,), seed=5).fit(data.ring(), steps=30, batch_size=16, progress=False)
            for _ in range(2)]
    assert runs[0].history == runs[1].history
    assert np.array_equal(runs[0].sample(10, seed=1), runs[1].sample(10, seed=1))
    other = cls(2, hidden=(8,), seed=6).fit(data.ring(), steps=30, batch_size=16, progress=False)
    assert other.history != runs[0].history


@pytest.mark.parametrize("cls", [GMN, GAN])
def test_save_load_continue_equals_uninterrupted(cls, tmp_path):
    X = data.grid().sample(500, seed=0)  # an array: batches drawn by the trainer's own rng
    straight = cls(2, hidden=(8, 8), seed=1).fit(X, steps=40, batch_size=32, progress=False)
    first = cls(2, hidden=(8, 8), seed=1).fit(X, steps=20, batch_size=32, progress=False)
    path = first.save(tmp_path / "ckpt")
    resumed = cls.load(path).fit(X, steps=20, batch_size=32, progress=False)
    assert resumed.step_count == 40
    assert resumed.history == straight.history
    assert np.array_equal(resumed.sample(7, seed=2), straight.sample(7, seed=2))


def test_gan_history_and_discriminate():
    gan = GAN(1, hidden=(8,), seed=0).fit(TARGET, steps=5, batch_size=16, progress=False)
    assert set(gan.history) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(len(v) == 5 for v in gan.history.values())
    p = gan.discriminate(BULK)
    assert p.shape == BULK.shape and np.all((p > 0) & (p < 1))


def test_d_steps_uses_one_real_batch_per_discriminator_update():
    gan = GAN(2, hidden=(8,), d_steps=3, seed=0)
    gan.fit(data.ring(), steps=4, batch_size=10, progress=False)
    assert gan.step_count == 4
    with pytest.raises(ValueError, match="at least 3 rows"):
        gan.step(np.zeros((2, 2)))


def test_custom_networks_and_their_checks():
    G = MLP([3, 16, 2], "tanh", seed=0)
    gmn = GMN(2, noise_dim=3, generator=G, seed=0)
    assert gmn.generator is G
    with pytest.raises(ValueError, match="generator must map 3 -> 2"):
        GMN(2, noise_dim=3, generator=MLP([3, 4, 1]))
    with pytest.raises(TypeError, match="MLP"):
        GAN(2, discriminator=lambda x: x)


def test_float32_training_end_to_end():
    gmn = GMN(2, hidden=(8,), seed=0, dtype=np.float32)
    gmn.fit(data.ring(), steps=5, batch_size=16, progress=False)
    assert gmn.sample(4).dtype == np.float32
    gan = GAN(2, hidden=(8,), seed=0, dtype=np.float32)
    gan.fit(data.ring(), steps=5, batch_size=16, progress=False)
    assert gan.sample(4).dtype == np.float32 and gan.discriminate(np.zeros((3, 2))).dtype == np.float32


def test_standardisation_maps_back_to_data_space():
    gmn = GMN(1, hidden=(8,), seed=0)
    gmn.step(np.array([[10.0], [12.0], [14.0]]))  # calibrates on the first batch
    assert gmn.data_shift[0] == 12.0 and gmn.data_scale == pytest.approx(np.sqrt(8 / 3))
    z = np.zeros((1, 1))
    raw = gmn.generator.forward(z)
    assert np.allclose(gmn.transform(z), raw * gmn.data_scale + 12.0)
    plain = GMN(1, hidden=(8,), seed=0, standardize=False)
    plain.step(np.array([[10.0], [12.0], [14.0]]))
    assert np.allclose(plain.transform(z), plain.generator.forward(z))


@pytest.mark.parametrize("cls", [GMN, GAN])
def test_bad_training_input(cls):
    t = cls(2, hidden=(4,), seed=0)
    with pytest.raises(ValueError, match="real must have 2 columns"):
        t.fit(np.zeros((10, 3)), steps=1, progress=False)
    with pytest.raises(ValueError, match="NaN"):
        t.fit(np.full((10, 2), np.nan), steps=1, progress=False)
    with pytest.raises(ValueError, match="non-empty"):
        t.fit(np.zeros((0, 2)), steps=1, progress=False)
    with pytest.raises(ValueError, match="steps"):
        t.fit(np.zeros((10, 2)), steps=0, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        t.fit(np.zeros((10, 2)), batch_size=1, progress=False)
    with pytest.raises(ValueError, match="noise"):
        cls(2, noise="cauchy")
    with pytest.raises(ValueError, match="z must have 2 columns"):
        t.transform(np.zeros((3, 1)))


def test_bad_trainer_settings():
    with pytest.raises(ValueError, match="loss"):
        GAN(1, loss="wasserstein")
    with pytest.raises(ValueError, match="estimator"):
        GMN(1, estimator="linear-time")
    with pytest.raises(ValueError, match="sigmas"):
        GMN(1, sigmas=[1.0, 0.0])
    with pytest.raises(ValueError, match="real_label"):
        GAN(1, real_label=0.0)
    with pytest.raises(ValueError, match="data_dim"):
        GMN(0)


def test_corrupt_and_foreign_checkpoints(tmp_path):
    gmn = GMN(1, hidden=(4,), seed=0).fit(TARGET, steps=2, batch_size=8, progress=False)
    good = gmn.save(tmp_path / "g.npz")
    with pytest.raises(FileNotFoundError):
        GMN.load(tmp_path / "missing.npz")
    with pytest.raises(CheckpointError, match="holds a GMN, not a GAN"):
        GAN.load(good)
    raw = open(good, "rb").read()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="not a readable"):
        GMN.load(tmp_path / "cut.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(CheckpointError):
        GMN.load(tmp_path / "text.npz")
    np.savez(tmp_path / "pickle.npz", evil=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CheckpointError, match="pickle"):
        GMN.load(tmp_path / "pickle.npz")
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(CheckpointError, match="no minigan metadata"):
        GMN.load(tmp_path / "plain.npz")
    arrays = dict(np.load(good))
    del arrays["G.param.0"]
    np.savez(tmp_path / "partial.npz", **arrays)
    with pytest.raises(CheckpointError, match="incomplete"):
        GMN.load(tmp_path / "partial.npz")


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    gmn = GMN(1, hidden=(4,), seed=0)
    gmn.save(tmp_path / "a")
    gmn.save(tmp_path / "a.npz")  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]


def test_lr_decay_reaches_the_final_factor_and_is_saved(tmp_path):
    gan = GAN(2, hidden=(4,), lr_g=1e-3, lr_d=2e-3, seed=0)
    gan.fit(data.ring(), steps=11, batch_size=8, progress=False, lr_decay=0.1)
    assert gan.opts["G"].lr == pytest.approx(1e-4) and gan.opts["D"].lr == pytest.approx(2e-4)
    assert GAN.load(gan.save(tmp_path / "g")).opts["D"].lr == pytest.approx(2e-4)
    with pytest.raises(ValueError, match="lr_decay"):
        gan.fit(data.ring(), steps=1, progress=False, lr_decay=0.0)


def test_resume_in_the_middle_of_a_decaying_fit_is_exact(tmp_path):
    X = data.ring().sample(400, seed=0)
    straight = GAN(2, hidden=(8,), seed=3).fit(X, steps=20, batch_size=16, progress=False,
                                               lr_decay=0.1)
    saved = []

    def save_at_10(trainer):
        if trainer.step_count == 10:
            saved.append(trainer.save(tmp_path / "mid"))

    GAN(2, hidden=(8,), seed=3).fit(X, steps=20, batch_size=16, progress=False, lr_decay=0.1,
                                    callback=save_at_10)
    resumed = GAN.load(saved[0]).fit(X, steps=10, batch_size=16, progress=False)  # continues the decay
    assert resumed.history == straight.history
    assert resumed.opts["G"].lr == pytest.approx(straight.opts["G"].lr)
    assert all(np.array_equal(a, b) for a, b in zip(resumed.generator.params, straight.generator.params))


@pytest.mark.parametrize("bit_generator", [np.random.MT19937, np.random.Philox, np.random.PCG64DXSM])
def test_any_generator_as_seed_gives_a_savable_trainer(bit_generator, tmp_path):
    gmn = GMN(1, hidden=(4,), seed=np.random.Generator(bit_generator(7)))
    gmn.fit(TARGET, steps=3, batch_size=8, progress=False)
    again = GMN.load(gmn.save(tmp_path / "g"))
    assert np.array_equal(again.fit(TARGET, steps=2, batch_size=8, progress=False).history["loss"][-2:],
                          gmn.fit(TARGET, steps=2, batch_size=8, progress=False).history["loss"][-2:])


def test_discriminate_and_transform_before_any_training():
    gan = GAN(1, hidden=(4,), seed=0)
    assert gan.discriminate(BULK).shape == BULK.shape
    assert gan.transform(np.zeros((2, 1))).shape == (2, 1)


def test_sample_noise_checks_its_arguments():
    from minigan import sample_noise
    assert sample_noise(3, 2, seed=0).shape == (3, 2)
    assert np.array_equal(sample_noise(3, 2, seed=0), sample_noise(3, 2, seed=0))
    with pytest.raises(ValueError, match="n must"):
        sample_noise(0, 2)
    with pytest.raises(TypeError, match="dtype"):
        sample_noise(3, 2, dtype=int)


def test_checkpoint_name_without_suffix_and_permissions(tmp_path):
    import os
    gmn = GMN(1, hidden=(4,), seed=0)
    path = gmn.save(tmp_path / "model")
    assert path.endswith("model.npz")
    assert GMN.load(tmp_path / "model").step_count == 0
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
