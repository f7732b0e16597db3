"""Checks for the training exercises: Adam with bias correction, spectral normalisation's backward.

Adam has no backward to check: the learner's update runs for a few steps beside
minigan.Adam(backend="numpy") on the same gradients, and m, v and each step of p are compared.
Spectral normalisation's backward is checked against finite differences of the library's
forward (u held fixed, float64) and against minigan.spectral.spectral_normalize_backward.
"""
import numpy as np

from ..optim import Adam
from ..spectral import power_iteration, spectral_normalize_backward, spectral_normalize_forward
from .runner import compare, finite_difference

STEPS = 4  # Adam steps per case: t = 1 (where the bias correction matters most) to 4


# --------------------------------------------------------------------------------- Adam
def adam_cases(rng):
    cases = []
    for dtype, lr, betas in ((np.float64, 0.01, (0.9, 0.999)), (np.float64, 0.05, (0.5, 0.9)),
                             (np.float32, 0.1, (0.9, 0.999)), (np.float32, 0.02, (0.8, 0.99))):
        shape = tuple(int(v) for v in rng.integers(2, 6, int(rng.integers(1, 3))))
        p = rng.standard_normal(shape).astype(dtype)
        offset = rng.standard_normal(shape)     # gradients with a steady mean, as in section 3.6
        grads = [(offset + 0.5 * rng.standard_normal(shape)).astype(dtype) for _ in range(STEPS)]
        cases.append({"label": f"p {shape}, lr {lr}, betas {betas}, {np.dtype(dtype)}, "
                               f"{STEPS} steps",
                      "p": p, "grads": grads, "lr": lr, "betas": betas, "eps": 1e-8})
    return cases


def check_adam(learner, case):
    lr, (b1, b2), eps = case["lr"], case["betas"], case["eps"]
    p_ref = case["p"].copy()
    opt = Adam([p_ref], lr=lr, betas=(b1, b2), eps=eps, backend="numpy")
    p, m, v = case["p"].copy(), np.zeros_like(p_ref), np.zeros_like(p_ref)
    in_place = ("{} did not change: update it in place ({}...), as minigan.optim does; "
                "`{} = ...` inside the function makes a new array the caller never sees")
    for t, g in enumerate(case["grads"], start=1):
        before = p_ref.copy()
        opt.step([g.copy()])
        learner("adam_update", p, g.copy(), m, v, t, lr, b1, b2, eps)
        at = f" at t = {t}"
        m_ref, v_ref = opt.state["m"][0], opt.state["v"][0]
        against = "the library's minigan.Adam"
        compare("m" + at, m, m_ref, against,
                [(in_place.format("m", "m *= beta1; m += ", "m"), np.zeros_like(m))])
        compare("v" + at, v, v_ref, against,
                [("v is a running mean of the squared gradient, g * g", m_ref),
                 (in_place.format("v", "v *= beta2; v += ", "v"), np.zeros_like(v))])
        m_hat, v_hat = m_ref / (1 - b1**t), v_ref / (1 - b2**t)
        wrong_steps = [
            ("the bias correction is missing: divide m by 1 - beta1^t and v by 1 - beta2^t "
             "(at t = 1 the uncorrected step is (1 - beta1) / sqrt(1 - beta2) times the "
             "corrected one, 3.2 for betas (0.9, 0.999))", -lr * m_ref / (np.sqrt(v_ref) + eps)),
            ("m is bias-corrected but v is not", -lr * m_hat / (np.sqrt(v_ref) + eps)),
            ("v is bias-corrected but m is not", -lr * m_ref / (np.sqrt(v_hat) + eps)),
            ("the step divides by sqrt(v_hat) + eps: the square root is missing",
             -lr * m_hat / (v_hat + eps)),
            (in_place.format("p", "p -= ", "p"), np.zeros_like(p)),
            ("gradient descent moves p against m_hat: p -= lr m_hat / (sqrt(v_hat) + eps)",
             lr * m_hat / (np.sqrt(v_hat) + eps))]
        compare("the step p_t - p_(t-1)" + at, p - before, p_ref - before, against, wrong_steps,
                "the bias correction 1 - beta^t is 0 at t = 0, and t counts from 1")


# ---------------------------------------------------------------- spectral normalisation
def spectral_cases(rng):
    cases = []
    shapes = [(np.float64, (5, 3)), (np.float64, (2, 6)), (np.float64, (4, 4)),
              (np.float32, (6, 4)), (np.float32, (3, 5))]
    for dtype, shape in shapes:
        W = rng.standard_normal(shape)
        u = power_iteration(W, rng.standard_normal(shape[0]), n_iter=2)  # unit, not converged
        cases.append({"label": f"W {shape}, u after 2 power iterations, {np.dtype(dtype)}",
                      "W": W.astype(dtype), "u": u.astype(dtype),
                      "G": rng.standard_normal(shape).astype(dtype)})
    return cases


def check_spectral(learner, case):
    W, u, G = case["W"], case["u"], case["G"]
    W_sn, cache = spectral_normalize_forward(W, u)
    _, _, v, sigma = cache
    got = learner("spectral_normalize_backward", G.copy(),
                  (W_sn.copy(), u.copy(), v.copy(), sigma))
    G_dot = np.sum(G * W_sn)
    uv = np.outer(u, v)
    mistakes = [
        ("you left out the path through sigma: every entry of W_sn = W / sigma depends on W_ij "
         "through sigma too, with dsigma/dW = u v^T", G / sigma),
        ("the whole gradient is divided by sigma: (G - <G, W_sn> u v^T) / sigma", G - G_dot * uv),
        ("the path through sigma enters with a minus: dL/dsigma = -<G, W_sn> / sigma",
         (G + G_dot * uv) / sigma),
        ("the inner product is with W_sn = W / sigma, not with W", (G - np.sum(G * W) * uv) / sigma),
        ("sigma divides twice: (G - <G, W_sn> u v^T) / sigma has one 1/sigma",
         (G - G_dot / sigma * uv) / sigma)]
    if W.shape[0] == W.shape[1]:
        mistakes.append(("dsigma/dW = u v^T, with u of length d_in (rows of W) and v of length "
                         "d_out: np.outer(u, v), not np.outer(v, u)",
                         (G - G_dot * np.outer(v, u)) / sigma))
    if W.dtype == np.float64:
        numeric = finite_difference(lambda w: spectral_normalize_forward(w, u)[0], W, dout=G)
        compare("dW", got, numeric, "a finite-difference gradient of W / ||W^T u|| "
                "(u held fixed; minigan.gradcheck)", mistakes)
    compare("dW", got, spectral_normalize_backward(G, cache),
            "the library's minigan.spectral.spectral_normalize_backward", mistakes)
