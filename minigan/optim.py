"""Optimisers that update a list of parameter arrays in place.

    SGD with momentum:  v <- mu v - lr g;            p <- p + v
    Adam:               m <- b1 m + (1 - b1) g;      v <- b2 v + (1 - b2) g^2
                        m_hat = m / (1 - b1^t);      v_hat = v / (1 - b2^t)
                        p <- p - lr m_hat / (sqrt(v_hat) + eps)

Why the bias correction: m starts at 0, so m_t = (1 - b1) sum_{k=1..t} b1^(t-k) g_k, and for
gradients with a steady mean E m_t = E g (1 - b1) sum_{k=1..t} b1^(t-k) = E g (1 - b1^t): early
estimates are pulled towards 0 by the factor (1 - b1^t) (0.1 at t = 1 for b1 = 0.9), which
m_hat divides out; v_hat likewise. At t = 1, m_hat = g and sqrt(v_hat) = |g|: a first step of
length lr whatever the scale of g. (docs/guide.md, section 3.6, derives this and checks it.)

State lives per parameter (aligned with the params list) and round-trips through
`state_dict()` / `load_state_dict()` for checkpoints. The optimiser updates the parameter and
state arrays in place: they stay the same objects (an MLP and a checkpoint share them).

Backends: the `_update` methods below are the NumPy reference, one parameter at a time. With
backend "cython" a whole step is one call into minigan._ext.optim (built from ext/optim.pyx):
one C loop per array, the same operations in the same order, so the same numbers bit for bit.

Deliberately left out: weight decay. Learning-rate schedules are not the optimiser's business:
the trainers set `lr` before each step (minigan.trainer, fit(..., lr_decay=...)).
"""
import math

import numpy as np

from ._checks import NonFiniteError, check_number_in, check_positive_float
from .backend import ext, resolve

class Optimizer:
    """Shared bookkeeping: the parameter list, step count, per-parameter state and backend.

    backend: "numpy", "cython" or "auto" (None: $MINIGAN_BACKEND, else "auto"); see
             minigan.backend. Resolved once, here; the choice is kept in `self.backend`.
    """

    slots = ()  # names of the per-parameter state arrays

    def __init__(self, params, lr, backend=None):
        self.params = _check_params(params)
        self.lr = check_positive_float(lr, "lr")
        self.t = 0
        self.state = {name: [np.zeros_like(p) for p in self.params] for name in self.slots}
        self.backend = resolve(backend, module="optim")
        self._limits_for = None   # (lr, its _limits()): worked out again when lr changes

    def step(self, grads):
        """Apply one update from `grads` (aligned with params, each of its parameter's shape
        and dtype). Bad gradients raise ValueError before anything changes."""
        if self.backend == "cython":
            # one C call checks every array (layout, then NaN, inf and size in one pass over
            # the gradients) and updates all of them, or returns the first bad gradient's index
            bad = self._compiled_step(grads, self.t + 1)
            if bad >= 0:
                self._refuse(bad, grads[bad])
        else:
            self._check_finite(grads)
            self._check(grads)
            for i, (p, g) in enumerate(zip(self.params, grads)):
                self._update(i, p, g, self.t + 1)
        self.t += 1

    def _check(self, grads):
        if len(grads) != len(self.params):
            raise ValueError(f"expected {len(self.params)} gradients, got {len(grads)}")
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if not isinstance(g, np.ndarray) or g.shape != p.shape or g.dtype != p.dtype:
                got = (f"{g.dtype} array of shape {g.shape}" if isinstance(g, np.ndarray)
                       else type(g).__name__)
                raise ValueError(f"grads[{i}] must be a {p.dtype} array of shape {p.shape} "
                                 f"(its parameter's), got {got}")

    def _check_finite(self, grads):
        """A NaN or inf gradient, or one so large that the update overflows, is refused
        before any parameter moves (the NumPy path; the compiled step makes the same check
        in its own pass over the gradients)."""
        limits = {}   # dtype -> (limit, (limit / 2)^2): computed once per call
        with np.errstate(over="ignore", invalid="ignore"):   # NaN/inf go to the exact check
            for i, g in enumerate(grads):
                if not (isinstance(g, np.ndarray) and g.dtype.kind == "f"):
                    continue  # the shape/dtype checks that follow name it
                if g.dtype not in limits:
                    limit = self._grad_limit(g.dtype)
                    limits[g.dtype] = limit, (limit / 2) * (limit / 2)   # inf when beyond
                limit, fast_bound = limits[g.dtype]
                if g.size and g.flags.c_contiguous:
                    # fast path, one pass: max |g|^2 <= sum g^2, so a finite sum of squares
                    # within (limit / 2)^2 proves every entry finite and below the limit (the
                    # 2 covers the sum's rounding); anything else takes the exact check
                    flat = g.reshape(-1)
                    squares = float(flat @ flat)
                    if squares <= fast_bound and squares != math.inf:
                        continue
                self._refuse(i, g, limit)

    def _refuse(self, i, g, limit=None):
        """Raise NonFiniteError when grads[i] = g holds NaN or inf or an entry beyond `limit`
        (None: this optimiser's limit for g's dtype), naming it."""
        limit = self._grad_limit(g.dtype) if limit is None else limit
        top = max(float(g.max()), -float(g.min())) if g.size else 0.0
        if not np.isfinite(top):
            raise NonFiniteError(f"grads[{i}] contains NaN or inf; no parameter was "
                                 f"updated")
        if top > limit:
            raise NonFiniteError(f"grads[{i}] has entries up to {top:.3g}, beyond "
                                 f"{limit:.3g} where this update overflows {g.dtype}; "
                                 f"scale the loss down or clip the gradient (no "
                                 f"parameter was updated)")

    def _limits(self):
        """(float64 limit, float32 limit) of |g|, for the compiled steps' check. They depend
        on lr only, so they are kept until lr changes (a schedule changes it every step)."""
        if self._limits_for is None or self._limits_for[0] != self.lr:
            self._limits_for = self.lr, (self._grad_limit(np.dtype(np.float64)),
                                         self._grad_limit(np.dtype(np.float32)))
        return self._limits_for[1]

    def _grad_limit(self, dtype):
        """Largest |g| whose update stays finite: lr |g| (SGD's step) below max / 2."""
        return _largest(dtype) / (2 * self.lr)

    def state_dict(self):
        """Arrays {'<slot>.<i>': array} and the step count, for a checkpoint."""
        arrays = {f"{name}.{i}": a for name, arrs in self.state.items() for i, a in enumerate(arrs)}
        return arrays, {"t": self.t, "lr": self.lr}

    def unreachable_state(self, arrays):
        """None, or (key, what is wrong) for state arrays (as from state_dict()) that no run
        of this optimiser can produce; SGD's velocity can be any finite array."""
        return None

    def load_state_dict(self, arrays, meta):
        """Restore what state_dict() returned; shapes must match the parameters, and the
        state must be one the optimiser can reach (unreachable_state)."""
        for name in self.slots:
            for i, p in enumerate(self.params):
                a = arrays[f"{name}.{i}"]
                if a.shape != p.shape:
                    raise ValueError(f"optimizer state {name}.{i} has shape {a.shape}, "
                                     f"parameter has {p.shape}")
        problem = self.unreachable_state(arrays)
        if problem:
            raise ValueError(f"optimizer state {problem[0]} {problem[1]}")
        for name in self.slots:
            for i, p in enumerate(self.params):
                self.state[name][i][...] = arrays[f"{name}.{i}"]
        self.t = int(meta["t"])
        self.lr = check_positive_float(meta.get("lr", self.lr), "lr")


_LARGEST = {np.dtype(t): float(np.finfo(t).max) for t in (np.float32, np.float64)}


def _largest(dtype):
    """The largest finite number of a float dtype (looked up: np.finfo costs a call a step)."""
    return _LARGEST.get(dtype) or float(np.finfo(dtype).max)


def _check_params(params):
    """A list of float32/float64 arrays (updated in place, so arrays, not numbers or lists)."""
    if isinstance(params, np.ndarray) or not isinstance(params, (list, tuple)):
        raise TypeError(f"params must be a list of parameter arrays, got {params!r:.80}")
    for i, p in enumerate(params):
        if not (isinstance(p, np.ndarray) and p.dtype in (np.float32, np.float64)):
            raise TypeError(f"params[{i}] must be a float32 or float64 numpy array (updated in "
                            f"place), got {p!r:.80}")
    return list(params)


class SGD(Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum."""

    slots = ("velocity",)

    def __init__(self, params, lr=1e-2, momentum=0.0, backend=None):
        super().__init__(params, lr, backend)
        self.momentum = check_number_in(momentum, "momentum", 0, 1, low_open=False,
                                        high_open=True)

    def _update(self, i, p, g, t):
        v = self.state["velocity"][i]
        v *= self.momentum   # v <- mu v
        v -= self.lr * g     #      - lr g
        p += v               # p <- p + v

    def _compiled_step(self, grads, t):
        return ext("optim").sgd_step(self.params, grads, self.state["velocity"], self.lr,
                                     self.momentum, *self._limits())


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba, 2015)."""

    slots = ("m", "v")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, backend=None):
        super().__init__(params, lr, backend)
        try:
            b1, b2 = (float(b) for b in betas)
        except (TypeError, ValueError):
            raise TypeError(f"betas must be a pair of numbers (beta1, beta2), got {betas!r}") from None
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        self.betas = (float(b1), float(b2))
        self.eps = check_positive_float(eps, "eps")

    def _grad_limit(self, dtype):
        """Adam squares the gradient and forms lr m_hat: both must stay finite."""
        return min(math.sqrt(_largest(dtype)) / 2, super()._grad_limit(dtype))

    def unreachable_state(self, arrays):
        """v is a weighted sum of squares, so v >= 0.  And m is bounded by v: with
        a_k = (1 - b1) b1^(t-k) and c_k = (1 - b2) b2^(t-k), Cauchy-Schwarz gives
            |m| = |sum a_k g_k| <= sqrt(sum a_k^2 / c_k) sqrt(sum c_k g_k^2) <= C sqrt(v),
            C^2 = (1 - b1)^2 / ((1 - b2) (1 - b1^2 / b2))     (when b1^2 < b2; C = 7.3 at
        the defaults), plus sqrt(tiny / (1 - b2)) for gradients whose squares underflow and a
        0.1 % margin for rounding.  (A first moment of 1e308 next to a small v would make the
        next step blow up.)"""
        b1, b2 = self.betas
        for i, (m, v) in enumerate(zip(*(self._slot(arrays, s) for s in self.slots))):
            if np.any(v < 0):
                return f"v.{i}", "holds negative second moments (a sum of squares is >= 0)"
            if b1 * b1 < b2:
                C = (1 - b1) / np.sqrt((1 - b2) * (1 - b1 * b1 / b2))
                slack = np.sqrt(float(np.finfo(m.dtype).tiny) / (1 - b2))
                if np.any(np.abs(m) > 1.001 * C * np.sqrt(v) + slack):
                    return (f"m.{i}", f"holds first moments larger than Adam can reach "
                            f"(|m| <= {C:.3g} sqrt(v) for betas {self.betas})")
        return None

    def _slot(self, arrays, name):
        return [arrays[f"{name}.{i}"] for i in range(len(self.params))]

    def _update(self, i, p, g, t):
        b1, b2 = self.betas
        m, v = self.state["m"][i], self.state["v"][i]
        m *= b1
        m += (1 - b1) * g                     # first moment
        v *= b2
        v += (1 - b2) * g * g                 # second moment
        m_hat = m / (1 - b1 ** t)             # bias corrections
        v_hat = v / (1 - b2 ** t)
        p -= (self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(p.dtype, copy=False)

    def _compiled_step(self, grads, t):
        return ext("optim").adam_step(self.params, grads, self.state["m"], self.state["v"],
                                      self.lr, *self.betas, self.eps, t, *self._limits())
