"""The MLP's whole backward pass, its bookkeeping, initialisation and input checks."""
import numpy as np
import pytest

from minigan import MLP
from minigan.gradcheck import numerical_gradient, rel_error


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid", "identity"])
@pytest.mark.parametrize("output_activation", ["identity", "sigmoid", "tanh"])
def test_mlp_gradients_match_finite_differences(activation, output_activation, mlp_backend):
    rng = np.random.default_rng(2)
    net = MLP([3, 7, 5, 2], activation, output_activation, seed=0, backend=mlp_backend)
    x = rng.normal(size=(4, 3))
    dout = rng.normal(size=(4, 2))
    net.forward(x)
    net.zero_grad()
    dx = net.backward(dout)
    f = lambda: net.forward(x)
    assert rel_error(dx, numerical_gradient(f, x, dout=dout)) < 1e-7
    for p, g in zip(net.params, net.grads):
        assert rel_error(g, numerical_gradient(f, p, dout=dout)) < 1e-7


def test_backward_input_leaves_parameter_gradients_alone(mlp_backend):
    rng = np.random.default_rng(3)
    net = MLP([2, 8, 1], "leaky_relu", seed=1, backend=mlp_backend)
    x = rng.normal(size=(5, 2))
    dout = rng.normal(size=(5, 1))
    net.forward(x)
    net.zero_grad()
    dx_full = net.backward(dout)
    saved = [g.copy() for g in net.grads]
    dx_only = net.backward_input(dout)
    assert np.allclose(dx_only, dx_full, rtol=1e-12)
    assert all(np.array_equal(a, b) for a, b in zip(saved, net.grads))


def test_gradients_accumulate_until_zero_grad(mlp_backend):
    rng = np.random.default_rng(4)
    net = MLP([2, 4, 1], seed=0, backend=mlp_backend)
    x, dout = rng.normal(size=(3, 2)), rng.normal(size=(3, 1))
    net.forward(x)
    net.zero_grad()
    net.backward(dout)
    once = [g.copy() for g in net.grads]
    net.backward(dout)
    assert all(np.allclose(g, 2 * o) for g, o in zip(net.grads, once))
    net.zero_grad()
    assert all(not g.any() for g in net.grads)
    assert net.backward(dout, need_input_grad=False) is None


def test_initialisation_scales():
    he = MLP([400, 300, 1], "relu", seed=0)
    assert he.params[0].std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    xavier = MLP([400, 300, 1], "tanh", seed=0)
    assert xavier.params[0].std() == pytest.approx(np.sqrt(2 / 700), rel=0.02)
    assert not he.params[1].any()
    assert np.array_equal(MLP([3, 5, 1], seed=7).params[0], MLP([3, 5, 1], seed=7).params[0])


def test_float32_end_to_end():
    net = MLP([3, 8, 2], seed=0, dtype=np.float32)
    out = net.forward(np.ones((4, 3)))
    dx = net.backward(np.ones((4, 2)))
    assert out.dtype == dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.grads)


def test_bad_input_is_refused(mlp_backend):
    net = MLP([3, 4, 1], seed=0, backend=mlp_backend)
    with pytest.raises(ValueError, match="x must have 3 columns"):
        net.forward(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="x must be 2-D"):
        net.forward(np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        net.forward(np.array([[0.0, np.nan, 1.0]]))
    with pytest.raises(ValueError, match="non-empty"):
        net.forward(np.zeros((0, 3)))
    with pytest.raises(RuntimeError, match="forward"):
        MLP([3, 1]).backward(np.zeros((1, 1)))
    net.forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="dout must have shape"):
        net.backward(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="activation"):
        MLP([3, 1], activation="swish")
    with pytest.raises(ValueError, match="sizes"):
        MLP([3])
    with pytest.raises(TypeError, match="dtype"):
        MLP([3, 1], dtype=np.int64)


def test_integer_input_is_converted_to_float():
    net = MLP([2, 3, 1], seed=0)
    assert np.allclose(net.forward(np.array([[1, 2]])), net.forward(np.array([[1.0, 2.0]])))
