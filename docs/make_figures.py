"""The diagrams of the reader's guide (docs/guide.md), drawn with matplotlib.

Each figure illustrates one derivation of the guide, computed with minigan itself:

    guide_mean_embeddings.png  MMD as the distance between two mean embeddings (section 3.1)
    guide_kernel_blocks.png    the pooled kernel matrix and the U-statistic's weights (section 3.1)
    guide_mmd_gradient.png     the two terms of dMMD^2/dx_a as arrows on a 2-D sample (section 3.2)
    guide_optimal_d.png        the optimal discriminator p / (p + q), and 1/2 at equilibrium
    guide_adam_bias.png        Adam's moment estimates with and without bias correction
    guide_inverse_cdf.png      uniform noise through F^-1((z + 1) / 2) becomes N(3, 0.5^2)

Run from the repository root (writes into docs/ next to this file, or into --out):

    python docs/make_figures.py
"""
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minigan  # noqa: E402
from minigan import data  # noqa: E402

# ----------------------------------------------------------------- settings
SIGMA = 0.5                          # kernel length-scale of the 1-D embedding picture
X_1D = np.array([-1.0, -0.4, 0.3])   # a small "generated" sample
Y_1D = np.array([0.2, 0.9, 1.4])     # a small "real" sample
N_X, N_Y = 4, 3                      # sizes of the kernel-matrix picture
GRAD_N, GRAD_SIGMAS, GRAD_SEED = 12, [0.5, 1.0, 2.0], 0   # the gradient picture (2-D)
GRAD_ARROW = 0.6                     # drawn length of its longest arrow
BETA1, BETA2, ADAM_STEPS = 0.9, 0.999, 60
TARGET_MEAN, TARGET_STD = 3.0, 0.5   # the 1-D demo's target
DPI = 110


def save(fig, out, name):
    """Write the figure to out/name and close it; returns the path."""
    fig.tight_layout()
    fig.savefig(out / name, dpi=DPI)
    plt.close(fig)
    return out / name


def gaussian_k(a, b, sigma=SIGMA):
    """k(a, b) = exp(-(a - b)^2 / (2 sigma^2)) on every pair of two 1-D arrays."""
    return np.exp(-(a[:, None] - b[None, :]) ** 2 / (2 * sigma**2))


def mean_embeddings(out):
    t = np.linspace(-2.5, 3.0, 400)
    mu_x = gaussian_k(t, X_1D).mean(1)        # mu_X(t) = mean_i k(t, x_i)
    mu_y = gaussian_k(t, Y_1D).mean(1)        # mu_Y(t) = mean_j k(t, y_j)
    witness = mu_x - mu_y
    mmd2 = minigan.mmd2(X_1D[:, None], Y_1D[:, None], SIGMA, estimator="biased")
    # <mu_X - mu_Y, mu_X - mu_Y> = mean_i witness(x_i) - mean_j witness(y_j), since k(., x) is
    # the bump the inner product evaluates: <f, k(., x)> = f(x)
    at_x = gaussian_k(X_1D, X_1D).mean(1) - gaussian_k(X_1D, Y_1D).mean(1)
    at_y = gaussian_k(Y_1D, X_1D).mean(1) - gaussian_k(Y_1D, Y_1D).mean(1)
    assert np.isclose(mmd2, at_x.mean() - at_y.mean())

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    for xi in X_1D:
        a.plot(t, gaussian_k(t, np.array([xi]))[:, 0], color="C0", lw=0.8, alpha=0.5)
    for yj in Y_1D:
        a.plot(t, gaussian_k(t, np.array([yj]))[:, 0], color="C1", lw=0.8, alpha=0.5)
    a.plot(t, mu_x, color="C0", lw=2.2, label=r"$\mu_X(t)=\mathrm{mean}_i\,k(t,x_i)$")
    a.plot(t, mu_y, color="C1", lw=2.2, label=r"$\mu_Y(t)=\mathrm{mean}_j\,k(t,y_j)$")
    a.plot(X_1D, np.zeros_like(X_1D), "o", color="C0", ms=7, label="x_i (generated)")
    a.plot(Y_1D, np.zeros_like(Y_1D), "s", color="C1", ms=7, label="y_j (real)")
    a.set_title(r"(a) each point is a bump $\psi(x)=k(\cdot,x)$; a sample is their mean",
                fontsize=9)
    a.set_xlabel("t")
    a.legend(fontsize=7, loc="upper left")
    b.axhline(0, color="0.6", lw=0.8)
    b.plot(t, witness, color="C2", lw=2, label=r"$\mu_X(t)-\mu_Y(t)$")
    b.plot(X_1D, np.zeros_like(X_1D), "o", color="C0", ms=7)
    b.plot(Y_1D, np.zeros_like(Y_1D), "s", color="C1", ms=7)
    b.set_title(r"(b) MMD$^2$ = $\|\mu_X-\mu_Y\|^2$ = " + f"{mmd2:.4f} (biased, sigma = {SIGMA})",
                fontsize=9)
    b.set_xlabel("t")
    b.legend(fontsize=8)
    return save(fig, out, "guide_mean_embeddings.png")


def kernel_blocks(out):
    n, m = N_X, N_Y
    weights = np.zeros((n + m, n + m))
    weights[:n, :n] = 1 / (n * (n - 1))     # +c_xx on the X-X block
    weights[n:, n:] = 1 / (m * (m - 1))     # +c_yy on the Y-Y block
    weights[:n, n:] = -1 / (n * m)          # -c_xy on both cross blocks (-2 c_xy in all)
    weights[n:, :n] = -1 / (n * m)
    np.fill_diagonal(weights, 0)            # the U-statistic leaves out i = j
    lim = np.abs(weights).max()
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    im = ax.imshow(weights, cmap="coolwarm", vmin=-lim, vmax=lim)
    for i in range(n + m):
        ax.text(i, i, "×", ha="center", va="center", fontsize=14, color="0.3")
    names = [f"x{i}" for i in range(n)] + [f"y{j}" for j in range(m)]
    ax.set_xticks(range(n + m), names)
    ax.set_yticks(range(n + m), names)
    ax.axhline(n - 0.5, color="k", lw=1.5)
    ax.axvline(n - 0.5, color="k", lw=1.5)
    # each block's weight, written on cells off the diagonal
    for (x, y), label in {(n - 1.5, 0): "+1/(n(n−1))", (n + 1.5, n): "+1/(m(m−1))",
                          (n + (m - 1) / 2, (n - 1) / 2): "−1/(nm)",
                          ((n - 1) / 2, n + (m - 1) / 2): "−1/(nm)"}.items():
        ax.text(x, y, label, ha="center", va="center", fontsize=8.5)
    ax.set_title(f"unbiased MMD² = Σ weight × k(row, column), n = {n}, m = {m};\n"
                 "× = the i = j terms, left out", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8, label="weight of k in MMD²")
    return save(fig, out, "guide_kernel_blocks.png")


def mmd_gradient(out):
    rng = np.random.default_rng(GRAD_SEED)
    X = rng.normal(size=(GRAD_N, 2)) * 0.35 + [-1.0, -0.3]   # generated: one tight blob
    Y = rng.normal(size=(GRAD_N, 2)) * 0.6 + [0.8, 0.4]      # real: elsewhere, wider
    n, m = len(X), len(Y)
    _, dX = minigan.mmd2_and_grad(X, Y, GRAD_SIGMAS, backend="numpy")

    def weights(A, B):                   # w(a, b) = sum_s k_s(a, b) / s^2 for every pair
        d2 = ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)
        return sum(np.exp(-d2 / (2 * s**2)) / s**2 for s in GRAD_SIGMAS)

    def pull(A, B):                      # sum_j w(a, b_j) (a - b_j) for every row a
        W = weights(A, B)
        return W.sum(1)[:, None] * A - W @ B

    xx_term = -2 / (n * (n - 1)) * pull(X, X)    # the X-X term of dMMD^2/dx_a
    cross_term = 2 / (n * m) * pull(X, Y)        # the cross term
    assert np.allclose(xx_term + cross_term, dX)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharex=True, sharey=True)
    longest = np.linalg.norm(np.concatenate([xx_term, cross_term, dX]), axis=1).max()
    scale = longest / GRAD_ARROW                # one scale for all panels: lengths compare
    for ax, arrows, title in ((axes[0], xx_term, "X–X term: generated points repel"),
                              (axes[1], cross_term, "cross term: pulled towards Y"),
                              (axes[2], dX, "both: −dMMD²/dx_a, the GMN's step")):
        ax.scatter(*Y.T, marker="s", color="C1", s=18, label="y_j (real)")
        ax.scatter(*X.T, color="C0", s=18, label="x_a (generated)")
        ax.quiver(*X.T, *(-arrows).T, angles="xy", scale_units="xy", scale=scale, width=0.006,
                  color="C0")
        ax.set_title(title, fontsize=9)
        ax.set_aspect("equal")
    tips = [X - t / scale for t in (xx_term, cross_term, dX)]
    lo, hi = np.vstack([X, Y, *tips]).min(0) - 0.15, np.vstack([X, Y, *tips]).max(0) + 0.15
    axes[0].set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]))
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"arrows: minus each term of the gradient, one scale (sigmas {GRAD_SIGMAS})",
                 fontsize=9)
    return save(fig, out, "guide_mmd_gradient.png")


def optimal_discriminator(out):
    p = data.gaussian_1d(TARGET_MEAN, TARGET_STD)
    t = np.linspace(1.0, 5.0, 400)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
    for ax, q, title in ((a, data.gaussian_1d(2.3, 0.6), "(a) a generator still off target"),
                         (b, p, "(b) at equilibrium, q = p")):
        pd, qd = p.pdf(t), q.pdf(t)
        ax.plot(t, pd / pd.max(), color="C1", label="p (data), scaled")
        ax.plot(t, qd / pd.max(), color="C0", ls="--", label="q (generator), same scale")
        ax.plot(t, pd / (pd + qd), color="k", lw=2, label="D*(x) = p / (p + q)")
        ax.axhline(0.5, color="0.6", lw=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x")
        ax.legend(fontsize=7, loc="upper left")
    return save(fig, out, "guide_optimal_d.png")


def adam_bias(out):
    grad = 1.0                               # the same gradient every step
    p = np.zeros(1)
    opt = minigan.Adam([p], lr=1e-3, betas=(BETA1, BETA2), backend="numpy")
    m_raw, m_hat, v_raw, v_hat = [], [], [], []
    for t in range(1, ADAM_STEPS + 1):
        opt.step([np.array([grad])])
        m, v = opt.state["m"][0][0], opt.state["v"][0][0]
        m_raw.append(m)
        v_raw.append(v)
        m_hat.append(m / (1 - BETA1**t))
        v_hat.append(v / (1 - BETA2**t))
    steps = np.arange(1, ADAM_STEPS + 1)
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(steps, m_raw, color="C0", label="m_t (β₁ = 0.9)")
    ax.plot(steps, v_raw, color="C1", label="v_t (β₂ = 0.999)")
    ax.plot(steps, m_hat, color="C0", ls="--", lw=2, label="m_t / (1 − β₁ᵗ)")
    ax.plot(steps, v_hat, color="C1", ls=":", lw=2, label="v_t / (1 − β₂ᵗ)")
    ax.set_xlabel("step t (the gradient is 1 at every step)")
    ax.set_title("moments start at 0; dividing by 1 − βᵗ removes that pull", fontsize=9)
    ax.set_ylim(0, 1.1)
    ax.legend(fontsize=8)
    return save(fig, out, "guide_adam_bias.png")


def inverse_cdf(out):
    target = data.gaussian_1d(TARGET_MEAN, TARGET_STD)
    z = np.random.default_rng(0).uniform(-1, 1, 20000)
    x = target.ppf((z + 1) / 2)              # G*(z) = F^-1((z + 1) / 2)
    zs = np.linspace(-0.999, 0.999, 400)
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(11, 3.2))
    a.hist(z, bins=40, density=True, color="C0", alpha=0.7)
    a.set_title("(a) z ~ U(−1, 1)", fontsize=9)
    a.set_xlabel("z")
    b.plot(zs, target.ppf((zs + 1) / 2), color="k", lw=2, label="G*(z) = F⁻¹((z+1)/2)")
    b.plot(zs, target.ppf((1 - zs) / 2), color="0.6", ls="--", label="mirror F⁻¹((1−z)/2)")
    b.set_title("(b) the ideal generators", fontsize=9)
    b.set_xlabel("z")
    b.legend(fontsize=7)
    grid = np.linspace(1, 5, 300)
    c.hist(x, bins=60, density=True, color="C1", alpha=0.7, label="G*(z)")
    c.plot(grid, target.pdf(grid), color="k", label="N(3, 0.5²) density")
    c.set_title("(c) G*(z) follows the target", fontsize=9)
    c.set_xlabel("x")
    c.legend(fontsize=7)
    return save(fig, out, "guide_inverse_cdf.png")


FIGURES = (mean_embeddings, kernel_blocks, mmd_gradient, optimal_discriminator, adam_bias,
           inverse_cdf)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent),
                        help="folder for the PNGs (default: docs/)")
    out = Path(parser.parse_args(argv).out)
    out.mkdir(parents=True, exist_ok=True)
    for draw in FIGURES:
        print("wrote", draw(out))


if __name__ == "__main__":
    main()
