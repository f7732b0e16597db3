"""GAN(..., pack=k), PacGAN packing: gradients, pack=1 as the plain GAN, checkpoints, bad input."""
import numpy as np
import pytest

from minigan import GAN, MLP, data
from minigan.gradcheck import numerical_gradient, rel_error

# GAN(2, hidden=(8, 8), d_steps=2, seed=4, backend="numpy") fitted on data.ring() for 6 steps
# of batch 16, recorded with the GAN as it was before packing existed (commit 33061ee)
BEFORE_PACKING = {
    "d_loss": [0.8156514266480505, 0.8895793847453752, 0.7969512614885489, 0.8073644425288324,
               0.8143442841655197, 0.8251720447097659],
    "g_loss": [1.3988373450076708, 1.458533134740128, 1.4188175101383715, 1.6012628705889984,
               1.199091013604306, 1.2638351949833382],
    "d_real": [0.35521599906400864, 0.3089973698720765, 0.3268076240617337, 0.32254511742509706,
               0.30613291545155746, 0.3083060427291586],
    "d_fake": [0.2926863584646219, 0.29160926275373145, 0.2648210390595102, 0.2572741723864522,
               0.2501656148538389, 0.21137137040693296],
}
SAMPLES_BEFORE_PACKING = [[-0.2460634518174918, -0.11341439582572588],
                          [-0.36474656901328095, -0.12923737083555775],
                          [-0.23690128005983271, 0.007908568054377629]]


@pytest.mark.parametrize("backend", ["numpy", "auto"])
def test_pack_1_is_the_gan_before_packing(backend):
    gan = GAN(2, hidden=(8, 8), d_steps=2, pack=1, seed=4, backend=backend)
    gan.fit(data.ring(), steps=6, batch_size=16, progress=False)
    for key, values in BEFORE_PACKING.items():
        np.testing.assert_allclose(gan.history[key], values, rtol=1e-12)
    np.testing.assert_allclose(gan.sample(3, seed=1), SAMPLES_BEFORE_PACKING, rtol=1e-12)
    assert gan.discriminator.sizes[0] == 2


def trained_packed_gan(pack, loss="non-saturating"):
    """A packed GAN a few steps into training (so its weights are not the initial ones)."""
    gan = GAN(2, hidden=(6, 5), pack=pack, loss=loss, seed=3, backend="numpy")
    return gan.fit(data.grid(), steps=3, batch_size=4, progress=False)


@pytest.mark.parametrize("pack", [2, 3])
@pytest.mark.parametrize("loss", ["non-saturating", "minimax"])
def test_generator_gradient_through_the_packs(pack, loss):
    gan = trained_packed_gan(pack, loss)
    z = gan._noise(pack * 4, np.random.default_rng(0))
    gan._generator_loss(z)
    analytic = [g.copy() for g in gan.generator.grads]
    d_grads = [g.copy() for g in gan.discriminator.grads]
    for p, a in zip(gan.generator.params, analytic):
        num = numerical_gradient(lambda: gan._generator_loss(z), p)
        assert rel_error(num, a) < 1e-7
    for before, after in zip(d_grads, gan.discriminator.grads):  # D's gradients untouched
        assert np.array_equal(before, after)


@pytest.mark.parametrize("pack", [2, 4])
def test_discriminator_gradient_on_packs(pack):
    gan = trained_packed_gan(pack)
    rng = np.random.default_rng(1)
    real_packs = rng.standard_normal((5, pack * 2))
    fake = rng.standard_normal((pack * 5, 2))
    gan._discriminator_loss(real_packs, fake)
    analytic = [g.copy() for g in gan.discriminator.grads]
    for p, a in zip(gan.discriminator.params, analytic):
        num = numerical_gradient(lambda: gan._discriminator_loss(real_packs, fake)[0], p)
        assert rel_error(num, a) < 1e-7


def test_packs_hold_consecutive_samples_side_by_side():
    gan = GAN(2, hidden=(4,), pack=3, seed=0)
    x = np.arange(12.0).reshape(6, 2)
    packed = gan._packed(x, "x")
    assert packed.tolist() == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]
    assert np.array_equal(gan._unpacked(packed), x)
    assert gan.discriminator.sizes[0] == 6
    assert gan.discriminate(data.ring().sample(9, seed=0)).shape == (3,)


class CountingSource:
    """A distribution that records how many rows each draw asks for."""

    def __init__(self):
        self.sizes, self.target = [], data.ring()

    def sample(self, n, seed=None):
        self.sizes.append(n)
        return self.target.sample(n, seed=seed)


def test_fit_draws_pack_times_more_real_rows():
    source = CountingSource()
    GAN(2, hidden=(4,), pack=4, d_steps=2, seed=0).fit(source, steps=3, batch_size=8,
                                                       progress=False)
    assert source.sizes == [1000] + [2 * 4 * 8] * 3  # calibration, then d_steps * pack * b


def test_packed_save_load_continue_equals_uninterrupted(tmp_path):
    X = data.grid().sample(500, seed=0)
    straight = GAN(2, hidden=(8,), pack=2, seed=1).fit(X, steps=20, batch_size=8, progress=False)
    first = GAN(2, hidden=(8,), pack=2, seed=1).fit(X, steps=10, batch_size=8, progress=False)
    resumed = GAN.load(first.save(tmp_path / "packed"))
    assert resumed.pack == 2 and resumed.discriminator.sizes[0] == 4
    resumed.fit(X, steps=10, batch_size=8, progress=False)
    assert resumed.history == straight.history
    assert np.array_equal(resumed.sample(5, seed=2), straight.sample(5, seed=2))


@pytest.mark.parametrize("pack", [0, -1, 1.5, "2", None])
def test_bad_pack_values(pack):
    with pytest.raises((ValueError, TypeError), match="pack"):
        GAN(2, pack=pack)


def test_row_counts_that_do_not_split_into_packs():
    gan = GAN(2, hidden=(4,), pack=3, seed=0)
    with pytest.raises(ValueError, match="multiple of pack=3"):
        gan.step(data.ring().sample(10, seed=0))
    with pytest.raises(ValueError, match="multiple of pack=3"):
        gan.discriminate(data.ring().sample(4, seed=0))
    with pytest.raises(ValueError, match="discriminator must map 6 -> 1"):
        GAN(2, pack=3, discriminator=MLP([2, 4, 1]))
