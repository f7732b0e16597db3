"""From uniform noise to a 1-D Gaussian, two ways: directly (GMN) and indirectly (GAN).

The thought experiment: z ~ U(-1, 1) pushed through the right function, the inverse CDF
G*(z) = F^-1((z + 1) / 2), becomes a sample of F. Can a small MLP find such a function
from samples alone?

  GMN: minimise MMD^2 between G(z) and real samples, backpropagating its gradient.
  GAN: let a discriminator D tell them apart and train G to fool it; at equilibrium
       D(x) = p_data / (p_data + p_g) = 1/2 everywhere.

Writes gaussian_1d.png (four panels) and gaussian_1d.json, and prints:
  KS statistic of 5,000 generated samples against the target,
  sup_z |G(z) - F^-1((z+1)/2)| over z in [-0.95, 0.95] (the mirrored solution allowed),
  mean |D(x) - 1/2| over the data's bulk (mean +- 2 std),
  the p-value of the MMD two-sample test, 1,000 generated against 1,000 fresh real samples
  (a small p says the test can still tell them apart).

Run:  python demos/gaussian_1d.py      or      minigan demo gaussian-1d
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

import minigan
from minigan import data, metrics
from minigan.cliargs import int_at_least, output_dir

# ----------------------------------------------------------------- settings
TARGET_MEAN, TARGET_STD = 3.0, 0.5
HIDDEN = (32, 32)
BATCH_SIZE = 256
GMN_STEPS, GMN_LR = 10000, 1e-3
# One smooth mode: no detail finer than the bulk, so the GMN's default ladder ("data-scales",
# down to the 1 % quantile of the distances, 0.02 std here) adds narrow kernels that only see
# noise, and with them the net folds G(z) (sup |G - F^-1| 1.5 instead of 0.04, seed 0). The
# median ladder, m/4 .. 4m, is the right tool for a distribution's bulk.
GMN_SIGMAS = "median-ladder"
GAN_STEPS, GAN_LR = 25000, 1e-4
D_SNAPSHOTS = 5            # moments of GAN training at which D(x) is drawn
N_EVAL = 5000              # generated samples for the figures
N_TEST = 1000              # samples per side of the MMD two-sample test
SEED = 0
OUT_DIR = "minigan_out"


def bulk(target, k=2.0):
    """A grid over mean +- k std."""
    return np.linspace(TARGET_MEAN - k * TARGET_STD, TARGET_MEAN + k * TARGET_STD, 201)


def train_gmn(target, steps, batch_size, seed, progress):
    gmn = minigan.GMN(1, hidden=HIDDEN, lr=GMN_LR, sigmas=GMN_SIGMAS, seed=seed)
    t0 = time.perf_counter()
    gmn.fit(target, steps=steps, batch_size=batch_size, progress=progress)
    return gmn, time.perf_counter() - t0


def train_gan(target, steps, batch_size, seed, progress):
    """Train the GAN, keeping D(x) over the data range at a few moments of training."""
    gan = minigan.GAN(1, hidden=HIDDEN, lr_g=GAN_LR, lr_d=GAN_LR, seed=seed)
    xs = np.linspace(TARGET_MEAN - 4 * TARGET_STD, TARGET_MEAN + 4 * TARGET_STD, 400)
    moments = set(np.unique(np.geomspace(10, steps, D_SNAPSHOTS).astype(int)))
    snapshots = []

    def keep_d(trainer):
        if trainer.step_count in moments:
            snapshots.append((trainer.step_count, trainer.discriminate(xs)))

    t0 = time.perf_counter()
    gan.fit(target, steps=steps, batch_size=batch_size, progress=progress, callback=keep_d)
    return gan, xs, snapshots, time.perf_counter() - t0


def evaluate(trainer, target, seed):
    """KS statistic/p-value and the transform error of one trained generator."""
    samples = trainer.sample(N_EVAL, seed=seed + 1)[:, 0]
    ks, p = metrics.ks_statistic(samples, target.cdf)
    z = np.linspace(-0.95, 0.95, 381)
    err, mirrored = metrics.transform_error(trainer.transform(z[:, None])[:, 0], z, target.ppf)
    test = minigan.mmd_test(samples[:N_TEST, None], target.sample(N_TEST, seed=seed + 2),
                            n_permutations=200, seed=seed)
    return {"mean": float(samples.mean()), "std": float(samples.std()), "ks": ks, "ks_p": p,
            "sup_transform_error": err, "mirrored": mirrored, "mmd_test_p": test.p_value}, samples


def plot(path, target, results, gmn, gan, xs, snapshots):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 2, figsize=(12, 9))
    grid = np.linspace(TARGET_MEAN - 4 * TARGET_STD, TARGET_MEAN + 4 * TARGET_STD, 400)
    density = target.pdf(grid)
    colours = {"GMN": "tab:blue", "GAN": "tab:orange"}

    a = ax[0, 0]  # (a) generated histograms over the true density
    for name, (res, samples) in results.items():
        a.hist(samples, bins=60, range=(grid[0], grid[-1]), density=True, alpha=0.45,
               color=colours[name], label=f"{name}  (KS {res['ks']:.3f})")
    a.plot(grid, density, "k", lw=2, label=f"target N({TARGET_MEAN:g}, {TARGET_STD:g}²)")
    a.set(title="(a) generated samples vs the true density", xlabel="x", ylabel="density")
    a.legend()

    a = ax[0, 1]  # (b) the learned transforms against the ideal inverse CDF
    z = np.linspace(-0.999, 0.999, 500)
    a.plot(z, target.ppf((z + 1) / 2), "k", lw=2, label="ideal F⁻¹((z+1)/2)")
    a.plot(z, target.ppf((1 - z) / 2), "k:", lw=1.5, label="mirror F⁻¹((1−z)/2)")
    for name, trainer in (("GMN", gmn), ("GAN", gan)):
        err = results[name][0]["sup_transform_error"]
        a.plot(z, trainer.transform(z[:, None])[:, 0], color=colours[name], lw=2,
               label=f"{name} G(z)  (sup err {err:.2f})")
    a.set(title="(b) the learned transform G(z)", xlabel="z ~ U(−1, 1)", ylabel="G(z)",
          ylim=(TARGET_MEAN - 4 * TARGET_STD, TARGET_MEAN + 4 * TARGET_STD))
    a.legend(fontsize=8)

    a = ax[1, 0]  # (c) D(x) during training, flattening towards 1/2
    cmap = plt.get_cmap("viridis")
    for i, (step, d) in enumerate(snapshots):
        a.plot(xs, d, color=cmap(i / max(len(snapshots) - 1, 1)), lw=2, label=f"step {step}")
    a.axhline(0.5, color="k", ls="--", lw=1, label="½ (equilibrium)")
    a.fill_between(grid, 0, density / density.max() * 0.25, color="grey", alpha=0.25,
                   label="data density (scaled)")
    a.set(title="(c) the discriminator D(x) during GAN training", xlabel="x",
          ylabel="D(x) = P(real)", ylim=(0, 1))
    a.legend(fontsize=8)

    a = ax[1, 1]  # (d) training curves
    a.plot(_smooth(gan.history["d_loss"]), color=colours["GAN"], label="GAN: D loss (mean BCE)")
    a.plot(_smooth(gan.history["g_loss"]), color=colours["GAN"], ls=":", label="GAN: G loss")
    a.axhline(np.log(2), color="k", ls="--", lw=1, label="ln 2 (D says ½)")
    a.set(title="(d) training curves (running mean over 250 steps)", xlabel="step", ylabel="loss")
    b = a.twinx()
    b.plot(_smooth(gmn.history["loss"]), color=colours["GMN"], label="GMN: MMD² (right axis)")
    b.set_ylabel("MMD²", color=colours["GMN"])
    b.set_yscale("symlog", linthresh=1e-3)  # the unbiased MMD^2 estimate dips below 0
    lines = a.get_legend_handles_labels()[0] + b.get_legend_handles_labels()[0]
    a.legend(lines, [l.get_label() for l in lines], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _smooth(values, width=250):
    v = np.asarray(values)
    width = max(1, min(width, len(v)))
    return np.convolve(v, np.ones(width) / width, mode="valid")


def run(out_dir=OUT_DIR, gmn_steps=GMN_STEPS, gan_steps=GAN_STEPS, batch_size=BATCH_SIZE,
        seed=SEED, progress=True):
    """Train both models, write the PNG and JSON, return the figures."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = data.gaussian_1d(TARGET_MEAN, TARGET_STD)
    gmn, gmn_time = train_gmn(target, gmn_steps, batch_size, seed, progress)
    gan, xs, snapshots, gan_time = train_gan(target, gan_steps, batch_size, seed, progress)
    results = {"GMN": evaluate(gmn, target, seed), "GAN": evaluate(gan, target, seed)}
    x_bulk = bulk(target)
    figures = {name: res for name, (res, _) in results.items()}
    figures["GMN"]["train_seconds"] = gmn_time
    figures["GAN"]["train_seconds"] = gan_time
    figures["GAN"]["mean_abs_d_minus_half"] = float(np.abs(gan.discriminate(x_bulk) - 0.5).mean())
    figures["GAN"]["final_d_loss"] = float(np.mean(gan.history["d_loss"][-100:]))
    png, js = out / "gaussian_1d.png", out / "gaussian_1d.json"
    plot(png, target, results, gmn, gan, xs, snapshots)
    settings = {"target": [TARGET_MEAN, TARGET_STD], "hidden": HIDDEN, "batch_size": batch_size,
                "gmn_steps": gmn_steps, "gan_steps": gan_steps, "seed": seed}
    js.write_text(json.dumps({"settings": settings, "figures": figures}, indent=2))
    figures["files"] = [str(png), str(js)]
    return figures


def report(figures):
    print(f"{'':4} {'mean':>7} {'std':>7} {'KS':>7} {'KS p':>8} {'sup|G-F^-1|':>12} "
          f"{'MMD test p':>11} {'train s':>8}")
    for name in ("GMN", "GAN"):
        f = figures[name]
        print(f"{name:4} {f['mean']:7.3f} {f['std']:7.3f} {f['ks']:7.4f} {f['ks_p']:8.3g} "
              f"{f['sup_transform_error']:12.3f} {f['mmd_test_p']:11.3f} {f['train_seconds']:8.1f}")
    print(f"target mean {TARGET_MEAN}, std {TARGET_STD}; transform error over z in [-0.95, 0.95]")
    print(f"GAN: mean |D(x) - 1/2| over mean +- 2 std: {figures['GAN']['mean_abs_d_minus_half']:.4f}; "
          f"final D loss {figures['GAN']['final_d_loss']:.4f} (ln 2 = {np.log(2):.4f})")
    print("wrote " + ", ".join(figures["files"]))


def main(argv=None):
    p = argparse.ArgumentParser(prog="minigan demo gaussian-1d", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=output_dir, default=OUT_DIR, help="output folder (default %(default)s)")
    p.add_argument("--gmn-steps", type=int_at_least(1), default=GMN_STEPS)
    p.add_argument("--gan-steps", type=int_at_least(1), default=GAN_STEPS)
    p.add_argument("--batch-size", type=int_at_least(2), default=BATCH_SIZE)
    p.add_argument("--seed", type=int_at_least(0), default=SEED)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    figures = run(args.out, args.gmn_steps, args.gan_steps, args.batch_size, args.seed,
                  progress=not args.quiet)
    report(figures)
    print(f"wall time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
