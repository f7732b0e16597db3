"""Checks for the layer exercises: affine backward, ReLU backward, BCE with logits.

Each `*_cases(rng)` draws the cases (random shapes, float64 then float32); each `check_*`
runs one case: the learner's answer against a finite-difference gradient of the library's
forward (float64) and against the library's own backward (both dtypes), with hints for the
usual mistakes.
"""
import numpy as np

from .. import layers, losses
from .runner import compare, finite_difference, unpack

FD = "a finite-difference gradient (minigan.gradcheck)"


def _shapes(rng, count):
    """`count` random (n, d_in, d_out) with n >= 2 and d_in != d_out, so that a missing sum
    over the batch or a transpose shows."""
    out = []
    while len(out) < count:
        n, d_in, d_out = (int(v) for v in rng.integers(2, 7, 3))
        if d_in != d_out:
            out.append((n, d_in, d_out))
    return out


# ------------------------------------------------------------------------------- affine
def affine_cases(rng):
    shapes = [(dtype, shape) for dtype, count in ((np.float64, 3), (np.float32, 2))
              for shape in _shapes(rng, count)] + [(np.float64, (3, 4, 4))]
    cases = []
    for dtype, (n, d_in, d_out) in shapes:
        x, W, b, dout = (rng.standard_normal(s).astype(dtype)
                         for s in ((n, d_in), (d_in, d_out), (d_out,), (n, d_out)))
        cases.append({"label": f"x {x.shape}, W {W.shape}, {x.dtype}",
                      "x": x, "W": W, "b": b, "dout": dout})
    return cases


def check_affine(learner, case):
    x, W, b, dout = case["x"], case["W"], case["b"], case["dout"]
    got = unpack("affine_backward", learner("affine_backward", dout.copy(), (x.copy(), W.copy())), 3)
    dx, dW, db = layers.affine_backward(dout, (x, W))
    n = len(x)
    batch = ("every sample of the batch uses the same W (and b), so their contributions add: "
             "sum over the batch, do not average")
    mistakes = {"dx": [("dx_ij = sum_k dout_ik W_jk: dout times W transposed", dout @ W)]
                if W.shape[0] == W.shape[1] else [],
                "dW": [(batch, dW / n)], "db": [(batch, db / n)]}
    if x.dtype == np.float64:
        forward = {"dx": lambda v: layers.affine_forward(v, W, b)[0],
                   "dW": lambda v: layers.affine_forward(x, v, b)[0],
                   "db": lambda v: layers.affine_forward(x, W, v)[0]}
        for name, value, at in zip(("dx", "dW", "db"), got, (x, W, b)):
            compare(name, value, finite_difference(forward[name], at, dout), FD,
                    mistakes[name])
    for name, value, want in zip(("dx", "dW", "db"), got, (dx, dW, db)):
        compare(name, value, want, "the library's minigan.layers.affine_backward",
                mistakes[name])


# --------------------------------------------------------------------------------- ReLU
def relu_cases(rng):
    cases = []
    for dtype in (np.float64, np.float64, np.float32):
        shape = tuple(int(v) for v in rng.integers(2, 7, 2))
        x = rng.standard_normal(shape).astype(dtype)
        cases.append({"label": f"x {shape}, {x.dtype}", "x": x,
                      "dout": rng.standard_normal(shape).astype(dtype)})
    x = rng.integers(-2, 3, (5, 4)).astype(np.float64)     # whole numbers: exact zeros among them
    cases.append({"label": "x (5, 4) with entries exactly 0, float64", "x": x,
                  "dout": rng.standard_normal(x.shape), "at_zero": True})
    return cases


def check_relu(learner, case):
    x, dout = case["x"], case["dout"]
    got = learner("relu_backward", dout.copy(), x.copy())
    mistakes = [("an elementwise op's backward multiplies dout by its derivative: "
                 "dx = dout * [x > 0]", (x > 0).astype(x.dtype)),
                ("the derivative of max(x, 0) is 1 where x > 0 and 0 elsewhere: it is the mask "
                 "[x > 0], not x", dout * np.maximum(x, 0)),
                ("the derivative of max(x, 0) is 1 where x > 0 and 0 elsewhere: it is the mask "
                 "[x > 0], not x", dout * x)]
    if case.get("at_zero"):
        mistakes.insert(0, (
            "at x = 0 exactly, max(x, 0) has no derivative; minigan takes 0 there, "
            "dout * (x > 0), as its compiled core does. A finite difference cannot settle it: "
            "at 0 the centred difference is 1/2, and 0 and 1 both miss it by as much "
            "(docs/guide.md, section 5, exercise 1)", dout * (x >= 0)))
    elif x.dtype == np.float64:
        numeric = finite_difference(lambda v: layers.relu_forward(v)[0], x, dout)
        compare("dx", got, numeric, FD, mistakes)
    compare("dx", got, layers.relu_backward(dout, x), "the library's minigan.layers.relu_backward",
            mistakes)


# ---------------------------------------------------------------------------------- BCE
def bce_cases(rng):
    cases = []
    for dtype, shape, target in ((np.float64, (7,), "soft"), (np.float64, (4, 3), "hard"),
                                 (np.float64, (6,), 1.0), (np.float32, (5, 2), "soft"),
                                 (np.float32, (8,), 0.0)):
        s = (3 * rng.standard_normal(shape)).astype(dtype)
        t = (rng.uniform(0, 1, shape) if target == "soft"
             else rng.integers(0, 2, shape).astype(float) if target == "hard" else target)
        t = t.astype(dtype) if isinstance(t, np.ndarray) else t
        kind = f"targets {target}" if isinstance(target, float) else f"{target} targets"
        cases.append({"label": f"logits {shape}, {kind}, {np.dtype(dtype)}", "s": s, "t": t})
    s = np.array([-1000.0, -40.0, -1.0, 0.0, 2.0, 40.0, 1000.0])
    cases.append({"label": "logits from -1000 to 1000, float64", "s": s,
                  "t": np.array([1.0, 0.0, 1.0, 0.5, 0.0, 1.0, 0.0])})
    return cases


def check_bce(learner, case):
    s, t = case["s"], case["t"]
    copy = lambda a: a.copy() if isinstance(a, np.ndarray) else a
    overflow = ("exp(s) overflows for s above ~709 (float64) or ~88 (float32): compute "
                "softplus(s) = log(1 + e^s) as max(s, 0) + log1p(exp(-|s|))")
    compare("softplus(s)", learner("softplus", s.copy()), losses.softplus(s),
            "the library's minigan.losses.softplus", nonfinite_hint=overflow)
    got = unpack("bce_with_logits", learner("bce_with_logits", s.copy(), copy(t)), 2)
    loss, dlogits = losses.bce_with_logits(s, t, backend="numpy")
    N = s.size
    mean = "the loss is the mean over all N entries of s, so the gradient carries 1/N"
    loss_mistakes = [(mean, loss * N),
                     ("BCE = softplus(s) - t s (section 3.4): check the sign of t s",
                      np.mean(losses.softplus(s) + np.asarray(t) * s))]
    grad_mistakes = [(mean, dlogits * N)]
    compare("loss", got[0], loss, "the library's minigan.losses.bce_with_logits", loss_mistakes,
            overflow)
    if s.dtype == np.float64:
        numeric = finite_difference(lambda v: losses.bce_with_logits(v, t, backend="numpy")[0], s)
        compare("dlogits", got[1], numeric, FD, grad_mistakes)
    compare("dlogits", got[1], dlogits, "the library's minigan.losses.bce_with_logits",
            grad_mistakes)
