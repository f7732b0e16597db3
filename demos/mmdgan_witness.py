"""What an MMD-GAN's critic learns: the witness function over the plane, fixed vs learned kernel.

The MMD between real samples y_i and generated samples x_j is the gap, averaged over the two
samples, of the *witness function*

    h(t) = mean_i k(t, y_i) - mean_j k(t, x_j),     MMD^2 = mean_i h(y_i) - mean_j h(x_j),

positive (red) where the data has more mass than the generator, negative (blue) where the
generator puts too much. The generator is pushed along the gradient of h: towards red, out of
blue. This demo trains the MMD-GAN recipe on ring-8 (minigan.protocol) and draws h over the
plane at three moments, for two kernels:

  top row     the fixed Gaussian kernel on the raw inputs (the GMN's yardstick, the ladder of
              bandwidths the recipe uses);
  bottom row  the kernel on the critic's learned features, k(f(t), f(x)).

Writes mmdgan_witness.png. Run:  python demos/mmdgan_witness.py   or   minigan demo mmdgan-witness
"""
import argparse
import time
from pathlib import Path

import numpy as np

from minigan import protocol
from minigan.cliargs import int_at_least, output_dir

# ----------------------------------------------------------------- settings
DATASET = "ring"
SEED = 0
STEPS = protocol.RECIPES["MMDGAN", DATASET]["steps"]   # training steps: the recipe's length
SNAPSHOTS = (1, 150, None)   # steps at which to draw h (None: the end of training)
N_POINTS = 500               # real and generated samples behind each witness
GRID = 150                   # pixels per side of the plane
OUT_DIR = "minigan_out"


def witness_maps(trainer, target, seed, extent):
    """h over a GRID x GRID square of the plane, for the raw and the learned-feature kernel."""
    axis = np.linspace(-extent, extent, GRID)
    plane = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    real = target.sample(N_POINTS, seed=seed)
    fake = trainer.sample(N_POINTS, seed=seed + 1)
    maps = {kernel: trainer.witness(plane, real, fake, kernel=kernel).reshape(GRID, GRID)
            for kernel in ("raw", "features")}
    return {"step": trainer.step_count, "real": real, "fake": fake, **maps}


def train(dataset=DATASET, seed=SEED, steps=STEPS, progress=True):
    """Train the MMD-GAN recipe, keeping the witness maps at the SNAPSHOTS steps."""
    target = protocol.DATASETS[dataset]()
    extent = np.abs(target.centres).max() * 1.4 + 0.1
    wanted = {s if s is not None else steps for s in SNAPSHOTS}
    snaps = []

    def snapshot(trainer):
        if trainer.step_count in wanted:
            snaps.append(witness_maps(trainer, target, seed, extent))

    trainer, seconds = protocol.train("MMDGAN", dataset, seed, steps, progress, callback=snapshot)
    return trainer, snaps, extent, seconds


def plot(path, snaps, extent, dataset):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = (("raw", "fixed Gaussian kernel on x"), ("features", "kernel on learned features f(x)"))
    fig, axes = plt.subplots(2, len(snaps), figsize=(4.2 * len(snaps), 8.4), squeeze=False)
    for col, snap in enumerate(snaps):
        for row, (kernel, name) in enumerate(rows):
            ax = axes[row, col]
            h = snap[kernel]
            lim = np.abs(h).max() or 1.0   # each map on its own symmetric scale: 0 is white
            ax.imshow(h, origin="lower", extent=(-extent, extent, -extent, extent), cmap="RdBu_r",
                      vmin=-lim, vmax=lim)
            ax.scatter(*snap["real"].T, s=3, color="k", label="real")
            ax.scatter(*snap["fake"].T, s=3, color="tab:orange", label="generated")
            ax.set(title=f"{name}\nstep {snap['step']}", xticks=[], yticks=[], aspect="equal",
                   xlim=(-extent, extent), ylim=(-extent, extent))
    axes[0, 0].legend(loc="lower left", fontsize=8, markerscale=3)
    fig.suptitle(f"MMD-GAN on {dataset}: witness h(t) = mean k(t, real) - mean k(t, generated) "
                 "(red: too few generated samples here, blue: too many)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run(out_dir=OUT_DIR, dataset=DATASET, seed=SEED, steps=STEPS, progress=True):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trainer, snaps, extent, seconds = train(dataset, seed, steps, progress)
    path = out / "mmdgan_witness.png"
    plot(path, snaps, extent, dataset)
    return {"figures": protocol.evaluate(trainer, dataset, seed), "train_seconds": seconds,
            "snapshots": [s["step"] for s in snaps], "files": [str(path)]}


def main(argv=None):
    p = argparse.ArgumentParser(prog="minigan demo mmdgan-witness", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=output_dir, default=OUT_DIR,
                   help="output folder (default %(default)s)")
    p.add_argument("--dataset", default=DATASET, choices=list(protocol.DATASETS))
    p.add_argument("--seed", type=int_at_least(0), default=SEED)
    p.add_argument("--steps", type=int_at_least(1), default=STEPS)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    r = run(args.out, args.dataset, args.seed, args.steps, not args.quiet)
    f = r["figures"]
    print(f"MMD-GAN on {args.dataset}: {protocol.describe(f)}, trained in "
          f"{r['train_seconds']:.1f} s; witness at steps {r['snapshots']}")
    print("wrote " + ", ".join(r["files"]))
    print(f"wall time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
