"""A multilayer perceptron with hand-written backpropagation.

    h_0 = x,   a_l = h_{l-1} @ W_l + b_l,   h_l = act_l(a_l)   for l = 1..L

Layers are numbered from 1 in this maths and from 0 in the code: layer l is index l - 1,
so W_l = params[2 (l - 1)], b_l = params[2 (l - 1) + 1], act_l = activations[l - 1].

Hidden layers use `activation`, the last layer `output_activation`. The MLP keeps
the caches of its last forward pass; `backward(dout)` walks the layers in reverse,
accumulating dL/dW_l and dL/db_l into `grads` (aligned with `params`) and returning
dL/dx. The chain rule, layer by layer from l = L down to 1, starting from dL/dh_L = dout:

    dL/da_l     = dL/dh_l * act_l'(a_l)             (elementwise: layers.<act>_backward)
    dL/dW_l    += h_{l-1}.T @ dL/da_l;  dL/db_l += sum over the batch of dL/da_l
    dL/dh_{l-1} = dL/da_l @ W_l.T                   (layers.affine_backward)

`backward_input(dout)` returns dL/dx only and leaves `grads` untouched: that
is how a GAN's generator gradient passes through a frozen discriminator.

Backends: the loops below are the NumPy reference. With backend "cython" the same
three passes run in the compiled module minigan._ext.dense (built from ext/dense.pyx):
one call per pass for all layers, same results (float64 within rtol 1e-10).

Deliberately left out: autodiff, layer objects, regularisers (the optimisers have no weight
decay either).
"""
import numpy as np

from ._checks import (NonFiniteError, as_float_array, check_choice, check_float_dtype,
                      check_seed, check_widths)
from .backend import ext, resolve
from .layers import ACTIVATIONS, affine_backward, affine_backward_input, affine_forward

_HE_ACTIVATIONS = ("relu", "leaky_relu")


class MLP:
    """Fully connected network.

    sizes:  layer widths [d_in, h_1, ..., d_out] (at least two entries)
    activation: hidden activation, one of relu, leaky_relu, tanh, sigmoid, identity
    output_activation: activation of the last layer (default identity: raw outputs/logits)
    seed:   int or numpy Generator for the initial weights
    dtype:  np.float64 (default, needed by gradient checks) or np.float32
    backend: "numpy", "cython" or "auto" (None: $MINIGAN_BACKEND, else "auto"); see
            minigan.backend. The resolved choice is kept in `self.backend`.

    Initialisation: He normal, N(0, 2 / fan_in), for layers followed by relu/leaky_relu;
    Xavier uniform, U(+-sqrt(6 / (fan_in + fan_out))), otherwise. Biases start at 0.
    """

    def __init__(self, sizes, activation="relu", output_activation="identity", seed=None,
                 dtype=np.float64, backend=None):
        sizes = check_widths(sizes, "sizes")
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least two positive widths, got {sizes}")
        check_choice(activation, "activation", ACTIVATIONS)
        check_choice(output_activation, "output_activation", ACTIVATIONS)
        self.dtype = check_float_dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        self.sizes = sizes
        self.activation = activation
        self.output_activation = output_activation
        self.activations = [activation] * (len(sizes) - 2) + [output_activation]
        rng = np.random.default_rng(check_seed(seed))
        self.params = []
        for fan_in, fan_out, act in zip(sizes[:-1], sizes[1:], self.activations):
            if act in _HE_ACTIVATIONS:
                W = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
            else:
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                W = rng.uniform(-limit, limit, size=(fan_in, fan_out))
            self.params += [W.astype(self.dtype), np.zeros(fan_out, dtype=self.dtype)]
        self.grads = [np.zeros_like(p) for p in self.params]
        self._caches = None
        self._batch = None  # rows of the last forward pass
        self.backend = resolve(backend, module="dense")
        # the compiled passes keep their caches in buffers this object owns
        self._dense = (ext("dense").Dense(sizes, self.activations, self.dtype)
                       if self.backend == "cython" else None)

    @property
    def n_layers(self):
        return len(self.sizes) - 1

    def config(self):
        """JSON-ready constructor arguments (weights excluded).

        The backend is left out on purpose: it is how to run the net, not part of the model,
        and a checkpoint saved where the compiled core is built must load where it is not.
        """
        return {"sizes": self.sizes, "activation": self.activation,
                "output_activation": self.output_activation, "dtype": self.dtype.name}

    def zero_grad(self):
        """Reset every accumulated parameter gradient to 0."""
        for g in self.grads:
            g.fill(0)

    # ------------------------------------------------------------------ forward
    def forward(self, x):
        """x: (n, d_in) -> out: (n, d_out); caches what backward needs."""
        x = as_float_array(x, "x", ndim=2, dtype=self.dtype)
        if x.shape[1] != self.sizes[0]:
            raise ValueError(f"x must have {self.sizes[0]} columns, got shape {x.shape}")
        for i, p in enumerate(self.params):  # NaN weights: the compiled ReLU would hide them
            if not np.all(np.isfinite(p)):
                raise NonFiniteError(f"params[{i}] contains NaN or inf")
        self.check_range(x, "x")
        out = self._forward(x)
        if not np.all(np.isfinite(out)):
            raise NonFiniteError(f"x: the output overflowed to NaN or inf (|x| up to "
                                 f"{np.abs(x).max():.3g}); rescale the input")
        return out

    __call__ = forward

    def check_range(self, x, name):
        """Refuse inputs so large that a layer could overflow (inf - inf = NaN, which the
        compiled ReLU would turn into 0): a bound on every layer's |output|, from
        |h_l| <= |h_{l-1}| * max_j sum_i |W_ij| + max |b|, must stay below the dtype's max."""
        bound = float(np.abs(x).max())
        for W, b in zip(self.params[::2], self.params[1::2]):
            bound = bound * float(np.abs(W).sum(axis=0).max()) + float(np.abs(b).max())
        if not bound < np.finfo(self.dtype).max / 4:
            raise ValueError(f"{name}: values up to {np.abs(x).max():.3g} could overflow this "
                             f"network in {self.dtype} (bound {bound:.3g}); rescale the input")

    def _forward(self, x):
        self._batch = len(x)
        if self._dense is not None:
            return self._dense.forward(x, self.params)  # all layers in one compiled call
        caches = []
        h = x
        for l, act in enumerate(self.activations):
            W, b = self.params[2 * l], self.params[2 * l + 1]
            a, affine_cache = affine_forward(h, W, b)  # pre-activation
            h, act_cache = ACTIVATIONS[act][0](a)
            caches.append((affine_cache, act_cache))
        self._caches = caches
        return h

    # ----------------------------------------------------------------- backward
    def _check_dout(self, dout):
        if self._batch is None:
            raise RuntimeError("call forward(x) before backward(dout)")
        n = self._batch
        dout = as_float_array(dout, "dout", ndim=2, dtype=self.dtype)
        if dout.shape != (n, self.sizes[-1]):
            raise ValueError(f"dout must have shape {(n, self.sizes[-1])} (the last output), "
                             f"got {dout.shape}")
        return dout

    def backward(self, dout, need_input_grad=True):
        """Backpropagate dL/dout, accumulating parameter gradients into `grads`.

        dout: (n, d_out) -> dx: (n, d_in), or None when need_input_grad is False
        (which skips the first layer's dx matmul).
        """
        dout = self._check_dout(dout)
        return self._backward(dout, need_input_grad)

    def _backward(self, dout, need_input_grad=True):
        if self._dense is not None:
            return self._dense.backward(dout, self.grads, need_input_grad)
        dh = dout
        for l in reversed(range(self.n_layers)):                      # l: 0-based layer index
            affine_cache, act_cache = self._caches[l]
            da = ACTIVATIONS[self.activations[l]][1](dh, act_cache)  # through the activation
            need_dx = l > 0 or need_input_grad
            dh, dW, db = affine_backward(da, affine_cache, need_dx)  # through the affine map
            self.grads[2 * l] += dW                                   # accumulate, micrograd-style
            self.grads[2 * l + 1] += db
        return dh

    def backward_input(self, dout):
        """dL/dx only; parameter gradients are not touched.

        dout: (n, d_out) -> dx: (n, d_in)
        """
        dout = self._check_dout(dout)
        return self._backward_input(dout)

    def _backward_input(self, dout):
        if self._dense is not None:
            return self._dense.backward_input(dout)
        dh = dout
        for l in reversed(range(self.n_layers)):
            affine_cache, act_cache = self._caches[l]
            da = ACTIVATIONS[self.activations[l]][1](dh, act_cache)  # through the activation
            dh = affine_backward_input(da, affine_cache)             # through W only
        return dh

    def __repr__(self):
        arrows = " -> ".join(map(str, self.sizes))
        return (f"MLP({arrows}, activation={self.activation!r}, "
                f"output_activation={self.output_activation!r}, dtype={self.dtype.name}, "
                f"backend={self.backend!r})")
