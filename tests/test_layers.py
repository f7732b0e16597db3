"""Every layer's backward against centred finite differences (float64, rel. error < 1e-7)."""
import numpy as np
import pytest

from minigan import layers
from minigan.gradcheck import numerical_gradient, rel_error

TOL = 1e-7


def away_from_kinks(x, margin=1e-3):
    """Push values off 0, where relu/leaky_relu have no derivative."""
    return np.where(np.abs(x) < margin, margin * np.sign(x + 1e-300) * 2, x)


def test_affine_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    x, W, b = rng.normal(size=(5, 4)), rng.normal(size=(4, 3)), rng.normal(size=3)
    dout = rng.normal(size=(5, 3))
    dx, dW, db = layers.affine_backward(dout, layers.affine_forward(x, W, b)[1])
    f = lambda: layers.affine_forward(x, W, b)[0]
    assert rel_error(dx, numerical_gradient(f, x, dout=dout)) < TOL
    assert rel_error(dW, numerical_gradient(f, W, dout=dout)) < TOL
    assert rel_error(db, numerical_gradient(f, b, dout=dout)) < TOL
    assert np.array_equal(layers.affine_backward_input(dout, (x, W)), dx)
    assert layers.affine_backward(dout, (x, W), need_dx=False)[0] is None


@pytest.mark.parametrize("name", sorted(layers.ACTIVATIONS))
def test_activation_backward_matches_finite_differences(name):
    forward, backward = layers.ACTIVATIONS[name]
    rng = np.random.default_rng(1)
    x = away_from_kinks(rng.normal(scale=2, size=(6, 5)))
    dout = rng.normal(size=x.shape)
    _, cache = forward(x)
    dx = backward(dout, cache)
    assert dx.shape == x.shape
    assert rel_error(dx, numerical_gradient(lambda: forward(x)[0], x, dout=dout)) < TOL


def test_activation_values():
    x = np.array([-2.0, -0.5, 0.5, 2.0])
    assert np.array_equal(layers.relu_forward(x)[0], [0, 0, 0.5, 2])
    assert np.allclose(layers.leaky_relu_forward(x, 0.1)[0], [-0.2, -0.05, 0.5, 2])
    assert np.allclose(layers.sigmoid_forward(x)[0], 1 / (1 + np.exp(-x)))
    assert np.allclose(layers.tanh_forward(x)[0], np.tanh(x))


def test_sigmoid_is_finite_and_exact_at_extremes():
    s = layers.sigmoid(np.array([-1e4, -800.0, 0.0, 800.0, 1e4]))
    assert np.all(np.isfinite(s))
    assert np.array_equal(s, [0.0, 0.0, 0.5, 1.0, 1.0])


def test_sin_backward_matches_finite_differences_and_is_periodic():
    rng = np.random.default_rng(2)
    x = rng.normal(scale=3, size=(6, 5))
    dout = rng.normal(size=x.shape)
    out, cache = layers.sin_forward(x)
    assert np.array_equal(out, np.sin(x))
    dx = layers.sin_backward(dout, cache)
    assert rel_error(dx, numerical_gradient(lambda: layers.sin_forward(x)[0], x, dout=dout)) < TOL
    # a whole period apart, the same value and the same derivative
    assert np.allclose(layers.sin_forward(x + 2 * np.pi)[0], out, atol=1e-12)
    assert np.allclose(layers.sin_backward(dout, x + 2 * np.pi), dx, atol=1e-12)
    assert "sin" not in layers.ACTIVATIONS        # the compiled core has no sin
