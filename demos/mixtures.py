"""Mode collapse on 2-D mixtures: ring-8 and grid-25, GMN, GAN and MMD-GAN side by side.

Every generator maps uniform noise through a ReLU MLP (the recipes' widths and depths: the GMN
3 x 128 on the ring and 6 x 128 on the grid, the GAN 3 x 128 and 6 x 64, the MMD-GAN 6 x 64 on
both). The GMN matches the data by MMD with a ladder of bandwidths from below a mode's width to
the data's extent; the GAN fights a discriminator; the MMD-GAN adds to the GMN's kernel a
second one on the features of a spectrally normalised critic. The recipes (steps, batch sizes,
learning rates) are minigan.protocol.RECIPES, shared with `minigan modes`. Scored on the published protocol
(VEEGAN, PacGAN): 2,500 samples, high quality = within 3 std of the nearest centre,
modes covered, % high quality, reverse KL of the mode histogram against uniform.

Also prints the p-value of the MMD two-sample test, 1,000 generated against 1,000 real samples.
Writes <dataset>.png (data beside each method's samples), <dataset>.json (the figures)
and, with --animate, <dataset>.gif (training, frame by frame).

Run:  python demos/mixtures.py --dataset ring     or     minigan demo ring | minigan demo grid
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

from minigan import protocol
from minigan.cliargs import int_at_least, output_dir

# ----------------------------------------------------------------- settings
DATASET = "ring"
SEED = 0
OUT_DIR = "minigan_out"
N_FRAMES = 40          # frames of the --animate GIF
N_SHOW = 2500          # samples drawn in each panel


def train_with_frames(method, dataset, seed, steps, progress, animate):
    """Train one method; when animating keep N_FRAMES snapshots of its samples."""
    frames = []
    total = protocol.RECIPES[method, dataset]["steps"] if steps is None else steps
    every = max(1, total // N_FRAMES)

    def snapshot(trainer):
        if trainer.step_count % every == 0:
            frames.append((trainer.step_count, trainer.sample(N_SHOW // 2, seed=seed)))

    trainer, seconds = protocol.train(method, dataset, seed, steps, progress,
                                      callback=snapshot if animate else None)
    return trainer, seconds, frames


def plot(path, target, samples, figures):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("data", target.sample(N_SHOW, seed=0), None)] + [
        (m, samples[m], figures[m]) for m in protocol.METHODS]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 5.2))
    lim = np.abs(target.centres).max() * 1.35 + 0.1
    for ax, (name, x, f) in zip(axes, panels):
        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.5, color="tab:blue" if f else "k")
        ax.scatter(*target.centres.T, s=60, facecolors="none", edgecolors="tab:red", lw=1)
        title = f"{target.name}: real samples" if f is None else (
            f"{name}: {f['modes']}/{len(target.centres)} modes, {f['high_quality_pct']:.1f}% HQ, "
            f"rev. KL {f['reverse_kl']:.3f}")
        ax.set(title=title, xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def animate(path, target, frames):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    fig, axes = plt.subplots(1, len(protocol.METHODS), figsize=(5 * len(protocol.METHODS), 5))
    lim = np.abs(target.centres).max() * 1.35 + 0.1
    dots = {}
    for ax, method in zip(axes, protocol.METHODS):
        ax.scatter(*target.centres.T, s=60, facecolors="none", edgecolors="tab:red", lw=1)
        dots[method] = ax.scatter([], [], s=2, color="tab:blue")
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
    n = min(len(frames[m]) for m in protocol.METHODS)

    def draw(i):
        for ax, method in zip(axes, protocol.METHODS):
            step, x = frames[method][i]
            dots[method].set_offsets(x)
            ax.set_title(f"{method} on {target.name}, step {step}")
        return list(dots.values())

    FuncAnimation(fig, draw, frames=n, blit=False).save(path, writer=PillowWriter(fps=8))
    plt.close(fig)


def run(dataset=DATASET, out_dir=OUT_DIR, seed=SEED, steps=None, progress=True, make_gif=False):
    """Train both methods on one mixture; write PNG, JSON (and GIF); return the figures."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = protocol.DATASETS[dataset]()
    figures, samples, frames = {}, {}, {}
    for method in protocol.METHODS:
        trainer, seconds, frames[method] = train_with_frames(method, dataset, seed, steps,
                                                             progress, make_gif)
        figures[method] = {**protocol.evaluate(trainer, dataset, seed, two_sample_test=True),
                           "train_seconds": seconds}
        samples[method] = trainer.sample(N_SHOW, seed=seed + 10_000)
    files = [out / f"{dataset}.png", out / f"{dataset}.json"]
    plot(files[0], target, samples, figures)
    files[1].write_text(json.dumps({"dataset": dataset, "seed": seed, "figures": figures}, indent=2))
    if make_gif:
        files.append(out / f"{dataset}.gif")
        animate(files[2], target, frames)
    figures["files"] = [str(f) for f in files]
    return figures


def main(argv=None, dataset=DATASET):
    p = argparse.ArgumentParser(prog=f"minigan demo {dataset}", description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default=dataset, choices=list(protocol.DATASETS))
    p.add_argument("--out", type=output_dir, default=OUT_DIR, help="output folder (default %(default)s)")
    p.add_argument("--seed", type=int_at_least(0), default=SEED)
    p.add_argument("--steps", type=int_at_least(1), default=None, help="override the recipes' step counts")
    p.add_argument("--animate", action="store_true", help="also write a GIF of training")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    figures = run(args.dataset, args.out, args.seed, args.steps, not args.quiet, args.animate)
    for method in protocol.METHODS:
        f = figures[method]
        print(f"{method}: {protocol.describe(f)}, MMD two-sample test vs real p = "
              f"{f['mmd_test_p']:.3f}, trained in {f['train_seconds']:.1f} s")
    print("wrote " + ", ".join(figures["files"]))
    print(f"wall time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
