"""The library's own lines for every `# TODO` of the exercise skeletons, and a filler.

fill(name) returns the skeleton of exercise `name` with its TODO lines replaced, in order, by
SOLUTIONS[name] (each entry one or more lines, indented like its TODO) and its
`raise NotImplementedError` lines removed: what a learner who copied minigan would hand in.
Used by tests/test_exercises.py only.
"""
from minigan import exercises

SOLUTIONS = {
    "affine_backward": [                        # minigan.layers.affine_backward
        "dx = dout @ W.T",
        "dW = x.T @ dout",
        "db = dout.sum(axis=0)",
    ],
    "relu_backward": [                          # minigan.layers.relu_backward
        "dx = dout * (x > 0)",
    ],
    "bce_with_logits": [                        # minigan.losses.softplus, bce_with_logits
        "return np.maximum(s, 0) + np.log1p(np.exp(-np.abs(s)))",
        "loss = np.mean(softplus(s) - t * s)",
        "dlogits = (sigmoid(s) - t) / s.size",
    ],
    "mmd_grad_x": [                             # minigan.mmd._kernel_and_weights, _mmd2_terms
        "Ks = np.exp(D2 * (-0.5 / s**2))",
        "K += Ks\nW += Ks / s**2",
        "c_xx, c_yy = ((1.0 / (n * (n - 1)), 1.0 / (m * (m - 1))) if unbiased\n"
        "              else (1.0 / n**2, 1.0 / m**2))",
        "if unbiased:\n    np.fill_diagonal(Kxx, 0)\n    np.fill_diagonal(Kyy, 0)",
        "value = c_xx * Kxx.sum() + c_yy * Kyy.sum() - 2 * c_xy * Kxy.sum()",
        "dX = -2 * c_xx * (Wxx.sum(1)[:, None] * X - Wxx @ X)",
        "dX += 2 * c_xy * (Wxy.sum(1)[:, None] * X - Wxy @ Y)",
    ],
    "mmd_grad_both": [                          # minigan.mmd._mmd2_terms, wrt="both"
        "dY = -2 * c_yy * (Wyy.sum(1)[:, None] * Y - Wyy @ Y)",
        "dY += 2 * c_xy * (Wxy.sum(0)[:, None] * Y - Wxy.T @ X)",
    ],
    "adam": [                                   # minigan.optim.Adam._update
        "m *= beta1\nm += (1 - beta1) * g",
        "v *= beta2\nv += (1 - beta2) * g * g",
        "m_hat = m / (1 - beta1 ** t)\nv_hat = v / (1 - beta2 ** t)",
        "p -= (lr * m_hat / (np.sqrt(v_hat) + eps)).astype(p.dtype, copy=False)",
    ],
    "spectral_backward": [                      # minigan.spectral.spectral_normalize_backward
        "G_dot_W_sn = np.sum(dW_sn * W_sn)",
        "dW = (dW_sn - G_dot_W_sn * np.outer(u, v)) / sigma",
    ],
    "witness": [                                # minigan.mmd.gaussian_kernel, witness
        "K = sum(np.exp(D2 * (-0.5 / s**2)) for s in sigmas)",
        "h = gaussian_kernel(points, X, sigmas).mean(1) - gaussian_kernel(points, Y, sigmas).mean(1)",
    ],
}


def fill(name, solutions=None):
    """The skeleton of `name` with `solutions` (default SOLUTIONS[name]) in its TODO lines."""
    answers = list(SOLUTIONS[name] if solutions is None else solutions)
    out = []
    for line in exercises.skeleton(name).splitlines():
        stripped = line.lstrip()
        indent = line[:len(line) - len(stripped)]
        if stripped.startswith("# TODO"):
            if not answers:
                raise AssertionError(f"{name}: more TODO lines than solutions")
            out += [indent + part for part in answers.pop(0).splitlines()]
        elif not stripped.startswith("raise NotImplementedError("):
            out.append(line)
    if answers:
        raise AssertionError(f"{name}: {len(answers)} solutions left over")
    return "\n".join(out) + "\n"


def replaced(name, old, new):
    """SOLUTIONS[name] with the line `old` replaced by `new` (a deliberate mistake)."""
    solutions = SOLUTIONS[name]
    if old not in solutions:
        raise AssertionError(f"{name}: no solution line {old!r}")
    return [new if s == old else s for s in solutions]
