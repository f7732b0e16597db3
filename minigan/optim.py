"""Optimisers that update a list of parameter arrays in place.

    SGD with momentum:  v <- mu v - lr g;            p <- p + v
    Adam:               m <- b1 m + (1 - b1) g;      v <- b2 v + (1 - b2) g^2
                        m_hat = m / (1 - b1^t);      v_hat = v / (1 - b2^t)
                        p <- p - lr m_hat / (sqrt(v_hat) + eps)

State lives per parameter (aligned with the params list) and round-trips through
`state_dict()` / `load_state_dict()` for checkpoints.

Deliberately left out: weight decay, learning-rate schedules.
"""
import numpy as np

from ._checks import check_positive_float


class Optimizer:
    """Shared bookkeeping: the parameter list, step count and per-parameter state."""

    slots = ()  # names of the per-parameter state arrays

    def __init__(self, params, lr):
        self.params = list(params)
        self.lr = check_positive_float(lr, "lr")
        self.t = 0
        self.state = {name: [np.zeros_like(p) for p in self.params] for name in self.slots}

    def step(self, grads):
        """Apply one update from `grads` (aligned with params)."""
        if len(grads) != len(self.params):
            raise ValueError(f"expected {len(self.params)} gradients, got {len(grads)}")
        self.t += 1
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if g.shape != p.shape:
                raise ValueError(f"gradient {i} has shape {g.shape}, parameter has {p.shape}")
            self._update(i, p, g)

    def state_dict(self):
        """Arrays {'<slot>.<i>': array} and the step count, for a checkpoint."""
        arrays = {f"{name}.{i}": a for name, arrs in self.state.items() for i, a in enumerate(arrs)}
        return arrays, {"t": self.t, "lr": self.lr}

    def load_state_dict(self, arrays, meta):
        """Restore what state_dict() returned; shapes must match the parameters."""
        for name in self.slots:
            for i, p in enumerate(self.params):
                a = arrays[f"{name}.{i}"]
                if a.shape != p.shape:
                    raise ValueError(f"optimizer state {name}.{i} has shape {a.shape}, "
                                     f"parameter has {p.shape}")
                self.state[name][i][...] = a
        self.t = int(meta["t"])
        self.lr = check_positive_float(meta.get("lr", self.lr), "lr")


class SGD(Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum."""

    slots = ("velocity",)

    def __init__(self, params, lr=1e-2, momentum=0.0):
        super().__init__(params, lr)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)

    def _update(self, i, p, g):
        v = self.state["velocity"][i]
        v *= self.momentum   # v <- mu v
        v -= self.lr * g     #      - lr g
        p += v               # p <- p + v


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba, 2015)."""

    slots = ("m", "v")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        self.betas = (float(b1), float(b2))
        self.eps = float(eps)

    def _update(self, i, p, g):
        b1, b2 = self.betas
        m, v = self.state["m"][i], self.state["v"][i]
        m *= b1
        m += (1 - b1) * g                     # first moment
        v *= b2
        v += (1 - b2) * g * g                 # second moment
        m_hat = m / (1 - b1 ** self.t)        # bias corrections
        v_hat = v / (1 - b2 ** self.t)
        p -= (self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(p.dtype, copy=False)
