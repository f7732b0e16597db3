"""BCE-with-logits and the GAN losses: values, gradients, extremes."""
import numpy as np
import pytest

from minigan import losses
from minigan.gradcheck import numerical_gradient, rel_error


def test_bce_matches_the_textbook_formula():
    s = np.array([[-2.0], [0.3], [1.5]])
    t = np.array([[0.0], [1.0], [0.9]])
    p = 1 / (1 + np.exp(-s))
    expected = np.mean(-t * np.log(p) - (1 - t) * np.log(1 - p))
    assert losses.bce_with_logits(s, t)[0] == pytest.approx(expected, rel=1e-12)


def test_bce_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    s = rng.normal(scale=3, size=(7, 1))
    t = rng.uniform(size=(7, 1))
    _, ds = losses.bce_with_logits(s, t)
    assert rel_error(ds, numerical_gradient(lambda: losses.bce_with_logits(s, t)[0], s)) < 1e-7


def test_bce_is_finite_and_exact_at_huge_logits():
    s = np.array([[-1e4], [1e4]])
    loss, ds = losses.bce_with_logits(s, np.array([[1.0], [0.0]]))  # both maximally wrong
    assert loss == pytest.approx(1e4)
    assert np.allclose(ds, [[-0.5], [0.5]])
    loss, ds = losses.bce_with_logits(s, np.array([[0.0], [1.0]]))  # both right
    assert loss == 0.0 and np.allclose(ds, 0)


@pytest.mark.parametrize("name", sorted(losses.GENERATOR_LOSSES))
def test_generator_losses_gradients(name):
    fn = losses.GENERATOR_LOSSES[name]
    s = np.random.default_rng(1).normal(scale=2, size=(6, 1))
    assert rel_error(fn(s)[1], numerical_gradient(lambda: fn(s)[0], s)) < 1e-7
    big = fn(np.array([[-1e4], [1e4]]))
    assert np.isfinite(big[0]) and np.all(np.isfinite(big[1]))


def test_generator_losses_values():
    s = np.array([[0.4], [-1.2]])
    D = 1 / (1 + np.exp(-s))
    assert losses.generator_loss_minimax(s)[0] == pytest.approx(np.mean(np.log(1 - D)))
    assert losses.generator_loss_nonsaturating(s)[0] == pytest.approx(-np.mean(np.log(D)))


@pytest.mark.parametrize("real_label", [1.0, 0.9])
def test_discriminator_loss_gradients(real_label):
    rng = np.random.default_rng(2)
    r, f = rng.normal(size=(5, 1)), rng.normal(size=(3, 1))
    _, dr, df = losses.discriminator_loss(r, f, real_label)
    loss = lambda: losses.discriminator_loss(r, f, real_label)[0]
    assert rel_error(dr, numerical_gradient(loss, r)) < 1e-7
    assert rel_error(df, numerical_gradient(loss, f)) < 1e-7


def test_discriminator_loss_is_ln2_at_equilibrium():
    loss, _, _ = losses.discriminator_loss(np.zeros((4, 1)), np.zeros((4, 1)))
    assert loss == pytest.approx(np.log(2), rel=1e-12)


def test_bad_targets_and_logits():
    with pytest.raises(ValueError, match="targets"):
        losses.bce_with_logits(np.zeros((2, 1)), 2.0)
    with pytest.raises(ValueError, match="NaN"):
        losses.generator_loss_nonsaturating(np.array([[np.nan]]))


def test_softmax_cross_entropy_value_and_gradient():
    rng = np.random.default_rng(3)
    s = rng.normal(scale=3, size=(5, 4))
    y = np.array([0, 3, 1, 1, 2])
    loss, ds = losses.softmax_cross_entropy(s, y)
    p = np.exp(s) / np.exp(s).sum(1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(5), y])), rel=1e-12)
    assert rel_error(ds, numerical_gradient(lambda: losses.softmax_cross_entropy(s, y)[0], s)) < 1e-7
    big = losses.softmax_cross_entropy(np.array([[1e4, -1e4]]), np.array([1]))
    assert big[0] == pytest.approx(2e4) and np.all(np.isfinite(big[1]))
    with pytest.raises(ValueError, match="labels"):
        losses.softmax_cross_entropy(s, np.array([0, 4, 1, 1, 2]))
