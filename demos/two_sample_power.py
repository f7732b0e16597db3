"""How often does the MMD two-sample test say "different"? Type-I error and power, measured.

Repeats minigan.mmd_test on fresh samples and counts rejections at alpha = 0.05:

  nulls (should reject ~5% of the time: the type-I error)
    N(0, I) vs N(0, I), d = 2, n = 200                     permutation test, median heuristic
    Student-t(3) vs Student-t(3) (heavy tails), d = 2      permutation test, median heuristic
    N(0, I) vs N(0, I), the linear-time test               asymptotic normal null
    N(0, I) vs N(0, I), aggregated over 8 bandwidths       sigmas="aggregate"
    blobs vs blobs, n = 500                                split bandwidth; aggregated
    N(0, I) vs N(0, I) (n = 200) and blobs vs blobs        learned kernel (kernel="deep")
  alternatives (power: should reject often)
    mean shift 0.5 along one axis, d = 2, n = 200          permutation, linear-time, aggregated
    blobs, n = 500, 1000, 2000 per sample                  median heuristic vs split bandwidth
                                                           vs aggregated (n <= 1000)
                                                           vs learned kernel (n = 500)
    Blob-D, 9 x 80 rows per sample                         aggregated vs learned kernel
    HDGM, d = 10, n = 1000                                 median vs aggregated vs learned

Blobs (Gretton et al. 2012; Sutherland et al. 2017): a 4 x 4 grid of Gaussians, spacing 5.
In P each blob is N(centre, I); in Q its covariance is R diag(2, 1) R^T, R a rotation by pi/4
(eigenvalue ratio 2). The difference lives at the scale of one blob (~1), while the median
distance spans the grid (~10): the median heuristic is blind to it, a bandwidth chosen for power
on half of the data is not, at the price of testing on the other half only; the aggregated test
keeps all the data and pays instead for looking at 8 bandwidths (8 times the compute).
The learned kernel (MMD-D, Liu et al. 2020) trains a small network's features on half of each
sample and tests on the other half.

Blob-D (Liu et al. 2020): a 3 x 3 grid of Gaussians at spacing 1, covariance 0.03 I in P; in Q
blob i (i = 3 row + column) has off-diagonal covariance -0.02 - 0.002 i for i < 4, 0 for i = 4,
0.02 + 0.002 (i - 5) for i > 4.  Each row picks its blob at random.  9 x 80 rows per sample:
Liu et al.'s 9 x 40 to train and 9 x 40 to test.

HDGM (Liu et al. 2020, d = 10): a two-component Gaussian mixture (means 0 and 0.5 * 1, identity
covariance, half the rows each); in Q the first two coordinates are correlated, +0.5 in one
component and -0.5 in the other.  A difference in a 2-D subspace of 10 dimensions, the case
a learned kernel is meant for.

Also draws the witness function of one blobs test, learned kernel beside the Gaussian kernel
of the aggregated test's best bandwidth (deep_kernel_witness.png).

Writes two_sample_power.json and two_sample_power.png (rejection rates with 95% intervals;
blobs power against n; one blobs draw) and deep_kernel_witness.png.

The full run takes over an hour on 2 cores, most of it in the learned kernel's rows; --quick,
about a minute, runs every row with a few trials (one for the learned kernel's rows): a tour of
the table, not a measurement (times measured: docs/results.md). A progress bar shows the rows
done and each row's trials, with an estimate of the time left.

Run:  minigan demo two-sample-power [--quick]     (or: python demos/two_sample_power.py)
      a smoke run: ... --trials 3 --blobs-n 20 --blobd-n 45
      only some rows: ... --only deep               (rows whose name holds the text)
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

import minigan
from minigan.cliargs import int_at_least, output_dir

# ----------------------------------------------------------------- settings
ALPHA = 0.05
N_PERMUTATIONS = 200       # p-values in steps of 1/201; enough for a level-0.05 decision
NULL_TRIALS = 1000         # binomial sd of a 5% rate: 0.007
POWER_TRIALS = 500
N, DIM, SHIFT = 200, 2, 0.5
T_DOF = 3                  # Student-t degrees of freedom for the heavy-tailed null
BLOBS_GRID, BLOBS_SPACING, BLOBS_STRETCH, BLOBS_ANGLE = 4, 5.0, 2.0, np.pi / 4
BLOBS_NS = (500, 1000, 2000)
AGGREGATE_MAX_N = 1000     # sigmas="aggregate" costs 8 single tests: ~15 s a trial at n = 2000
BLOBS_TRIALS = 200
BLOBD_N = 9 * 80           # Blob-D rows per sample (9 x 40 train + 9 x 40 test for "deep")
HDGM_D, HDGM_N = 10, 1000   # HDGM (Liu et al. 2020): dimension, rows per sample
HDGM_TRIALS = 100          # three tests, the deep one about 5 s of CPU at n = 1000
DEEP_NULL_TRIALS = 500     # kernel="deep" costs about a second a trial: fewer than NULL_TRIALS
DEEP_POWER_TRIALS = 200
# --quick: about a minute; every row at the first blobs size with a few trials (rates to
# about +-0.1), the learned kernel's rows with one (it trains for seconds on each trial)
QUICK = dict(null_trials=50, power_trials=30, blobs_trials=10, blobs_ns=(500,),
             aggregate_max_n=500, deep_null_trials=1, deep_power_trials=1)
SEED = 0
OUT_DIR = "minigan_out"


# -------------------------------------------------------------------- data
def gaussian(n, rng, shift=0.0):
    """N(shift e_1, I) in DIM dimensions, (n, DIM)."""
    x = rng.standard_normal((n, DIM))
    x[:, 0] += shift
    return x


def student_t(n, rng):
    """Independent Student-t(T_DOF) coordinates, (n, DIM)."""
    return rng.standard_t(T_DOF, size=(n, DIM))


def blobs(n, rng, stretch=1.0, angle=0.0):
    """Blobs on the BLOBS_GRID x BLOBS_GRID grid; covariance R(angle) diag(stretch, 1) R^T."""
    c, s = np.cos(angle), np.sin(angle)
    shape = np.array([[c, -s], [s, c]]) @ np.diag([np.sqrt(stretch), 1.0])
    centres = (rng.integers(0, BLOBS_GRID, size=(n, 2)) - (BLOBS_GRID - 1) / 2) * BLOBS_SPACING
    return centres + rng.standard_normal((n, 2)) @ shape.T


def blobs_q(n, rng):
    return blobs(n, rng, BLOBS_STRETCH, BLOBS_ANGLE)


def blob_d(n, rng, q=False):
    """Blob-D (module docstring): P, or Q with q=True; (n, 2), each row in a random blob."""
    centres = np.array([(r, c) for r in range(3) for c in range(3)], dtype=np.float64)
    offdiag = [-0.02 - 0.002 * i if i < 4 else 0.0 if i == 4 else 0.02 + 0.002 * (i - 5)
               for i in range(9)] if q else [0.0] * 9
    chol = np.linalg.cholesky([[[0.03, c], [c, 0.03]] for c in offdiag])    # (9, 2, 2)
    blob = rng.integers(0, 9, size=n)
    return centres[blob] + np.einsum("nij,nj->ni", chol[blob], rng.standard_normal((n, 2)))


def blob_d_q(n, rng):
    return blob_d(n, rng, q=True)



def blobs3(n, rng, stretch=(1.0, 1.0), angle=0.0):
    """Blobs on a 3 x 3 grid, spacing BLOBS_SPACING; covariance R(angle) diag(stretch) R^T."""
    c, s = np.cos(angle), np.sin(angle)
    shape = np.array([[c, -s], [s, c]]) @ np.diag(np.sqrt(stretch))
    centres = (rng.integers(0, 3, size=(n, 2)) - 1) * BLOBS_SPACING
    return centres + rng.standard_normal((n, 2)) @ shape.T


def blobs3_q(n, rng):
    """The 3 x 3 blobs stretched 2 : 1/2 (same area as P's) and turned by pi/4."""
    return blobs3(n, rng, (2.0, 0.5), np.pi / 4)


def hdgm(n, rng, q=False):
    """HDGM (Liu et al. 2020, their code's sampler): half the rows from N(0, I), half from
    N(0.5 * 1, I), in HDGM_D dimensions; with q=True the two halves' first two coordinates
    are correlated, +0.5 in the first mode and -0.5 in the second.  (n, HDGM_D)."""
    halves = []
    for mode, rows in enumerate((n // 2, n - n // 2)):
        cov = np.eye(HDGM_D)
        if q:
            cov[0, 1] = cov[1, 0] = 0.5 if mode == 0 else -0.5
        halves.append(0.5 * mode + rng.standard_normal((rows, HDGM_D)) @ np.linalg.cholesky(cov).T)
    return np.vstack(halves)


def hdgm_q(n, rng):
    return hdgm(n, rng, q=True)

# ------------------------------------------------------------- experiments
def rejection_rate(draw_x, draw_y, n, trials, seed, progress=False, name="", **test_options):
    """Fraction of `trials` fresh (X, Y) pairs on which mmd_test rejects at ALPHA (a progress
    bar over the trials, labelled `name`, when `progress`)."""
    rng = np.random.default_rng(seed)
    rejections = 0
    for _ in tqdm(range(trials), desc=name, unit="trial", leave=False, disable=not progress):
        X, Y = draw_x(n, rng), draw_y(n, rng)
        rejections += minigan.mmd_test(X, Y, alpha=ALPHA, n_permutations=N_PERMUTATIONS,
                                       seed=rng, **test_options).reject
    return rejections / trials


def experiments(null_trials, power_trials, blobs_trials, blobs_ns, aggregate_max_n,
                deep_null_trials, deep_power_trials, blobd_n, hdgm_n=HDGM_N):
    """(name, kind, n, trials, draw_x, draw_y, test options) for every row of the table."""
    shifted = lambda n, rng: gaussian(n, rng, SHIFT)
    aggregate, deep = {"sigmas": "aggregate"}, {"kernel": "deep"}
    rows = [
        ("N(0,I) vs N(0,I)", "null", N, null_trials, gaussian, gaussian, {}),
        (f"t({T_DOF}) vs t({T_DOF})", "null", N, null_trials, student_t, student_t, {}),
        ("N(0,I) vs N(0,I), linear", "null", N, null_trials, gaussian, gaussian,
         {"method": "linear"}),
        ("N(0,I) vs N(0,I), aggregate", "null", N, null_trials, gaussian, gaussian, aggregate),
        ("blobs P vs P, split", "null", blobs_ns[0], blobs_trials, blobs, blobs,
         {"sigmas": "split"}),
        ("blobs P vs P, aggregate", "null", blobs_ns[0], blobs_trials, blobs, blobs, aggregate),
        ("N(0,I) vs N(0,I), deep", "null", N, deep_null_trials, gaussian, gaussian, deep),
        ("blobs P vs P, deep", "null", blobs_ns[0], deep_null_trials, blobs, blobs, deep),
        (f"shift {SHIFT}", "power", N, power_trials, gaussian, shifted, {}),
        (f"shift {SHIFT}, linear", "power", N, power_trials, gaussian, shifted,
         {"method": "linear"}),
        (f"shift {SHIFT}, aggregate", "power", N, power_trials, gaussian, shifted, aggregate),
    ]
    for n in blobs_ns:
        rows.append(("blobs, median", "power", n, blobs_trials, blobs, blobs_q, {}))
        rows.append(("blobs, split", "power", n, blobs_trials, blobs, blobs_q,
                     {"sigmas": "split"}))
        if n <= aggregate_max_n:
            rows.append(("blobs, aggregate", "power", n, blobs_trials, blobs, blobs_q, aggregate))
        if n == blobs_ns[0]:
            rows.append(("blobs, deep", "power", n, deep_power_trials, blobs, blobs_q, deep))
    rows.append(("Blob-D, aggregate", "power", blobd_n, deep_power_trials, blob_d, blob_d_q,
                 aggregate))
    rows.append(("Blob-D, deep", "power", blobd_n, deep_power_trials, blob_d, blob_d_q, deep))
    for name, options in (("median", {}), ("aggregate", aggregate), ("deep", deep)):
        rows.append((f"HDGM d={HDGM_D}, {name}", "power", hdgm_n,
                     min(HDGM_TRIALS, deep_power_trials),
                     hdgm, hdgm_q, options))
    return rows


def run(out_dir=OUT_DIR, null_trials=NULL_TRIALS, power_trials=POWER_TRIALS,
        blobs_trials=BLOBS_TRIALS, blobs_ns=BLOBS_NS, aggregate_max_n=AGGREGATE_MAX_N,
        deep_null_trials=DEEP_NULL_TRIALS, deep_power_trials=DEEP_POWER_TRIALS, blobd_n=BLOBD_N,
        only=None, seed=SEED, progress=True, hdgm_n=HDGM_N):
    """Measure every rejection rate (of the rows whose name holds `only`, if given), print the
    table, write the JSON and PNGs; return the rows."""
    t_start = time.perf_counter()
    results = []
    if progress:
        print(f"{'experiment':28} {'kind':5} {'n':>5} {'trials':>6} {'rate':>6}   95% interval"
              f"   seconds")
    rows = [(i, row) for i, row in enumerate(
        experiments(null_trials, power_trials, blobs_trials, blobs_ns, aggregate_max_n,
                    deep_null_trials, deep_power_trials, blobd_n, hdgm_n))
        if only is None or only in row[0]]
    # the rows done, with an estimate of the time left (rows differ in cost: a rough one)
    # above each row's own bar over its trials
    for i, (name, kind, n, trials, draw_x, draw_y, options) in tqdm(
            rows, desc="rows", unit="row", leave=False, disable=not progress):
        t0 = time.perf_counter()
        rate = rejection_rate(draw_x, draw_y, n, trials, seed=[seed, i], progress=progress,
                              name=name, **options)
        half = 1.96 * np.sqrt(rate * (1 - rate) / trials)
        row = dict(name=name, kind=kind, n=n, trials=trials, rate=rate,
                   interval=[max(rate - half, 0.0), min(rate + half, 1.0)],
                   seconds=time.perf_counter() - t0)
        results.append(row)
        if progress:  # tqdm.write keeps the table clear of the bars
            tqdm.write(f"{name:28} {kind:5} {n:5d} {trials:6d} {rate:6.3f}   "
                       f"[{row['interval'][0]:.3f}, {row['interval'][1]:.3f}]   "
                       f"{row['seconds']:7.1f}")
    total = time.perf_counter() - t_start
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = dict(alpha=ALPHA, n_permutations=N_PERMUTATIONS, dim=DIM, shift=SHIFT, seed=seed,
                    blobs=dict(grid=BLOBS_GRID, spacing=BLOBS_SPACING, stretch=BLOBS_STRETCH,
                               angle=BLOBS_ANGLE))
    (out / "two_sample_power.json").write_text(json.dumps(
        dict(settings=settings, results=results, total_seconds=total), indent=2))
    plot(results, out / "two_sample_power.png", seed)
    witness_figure(out / "deep_kernel_witness.png", blobs_ns[0], seed)
    if progress:
        print(f"total {total:.0f} s; wrote {out / 'two_sample_power.json'}, "
              f"{out / 'two_sample_power.png'} and {out / 'deep_kernel_witness.png'}")
    return results


# ------------------------------------------------------------------ figure
def plot(results, path, seed):
    """Rejection rates with intervals; blobs power against n; one blobs draw."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_rates, ax_blobs, ax_draw) = plt.subplots(1, 3, figsize=(16, 5.6))
    fixed = [r for r in results if not r["name"].startswith("blobs,")]
    labels = [f"{r['name']}\n({r['kind']}, n={r['n']})" for r in fixed]
    rates = np.array([r["rate"] for r in fixed])
    errors = np.abs(np.array([r["interval"] for r in fixed]).T - rates)
    ax_rates.barh(labels, rates, xerr=errors,
                  color=["tab:gray" if r["kind"] == "null" else "tab:blue" for r in fixed])
    ax_rates.axvline(ALPHA, color="k", ls="--", lw=1, label=f"alpha = {ALPHA}")
    ax_rates.set(xlim=(0, 1), xlabel="rejection rate", title="type-I error (grey) and power")
    ax_rates.invert_yaxis()
    ax_rates.legend(loc="lower right")
    for name, colour in (("blobs, median", "tab:orange"), ("blobs, split", "tab:green"),
                         ("blobs, aggregate", "tab:purple"), ("blobs, deep", "tab:red")):
        rows = [r for r in results if r["name"] == name]
        if not rows:
            continue
        ns = [r["n"] for r in rows]
        ax_blobs.errorbar(ns, [r["rate"] for r in rows], marker="o", color=colour, label=name,
                          yerr=np.abs(np.array([r["interval"] for r in rows]).T
                                      - [r["rate"] for r in rows]))
    ax_blobs.axhline(ALPHA, color="k", ls="--", lw=1)
    ax_blobs.set(ylim=(0, 1), xlabel="n per sample", ylabel="power",
                 title="blobs: median heuristic, split, aggregated, learned")
    ax_blobs.legend()
    rng = np.random.default_rng(seed)
    X, Y = blobs(500, rng), blobs_q(500, rng)
    ax_draw.scatter(*X.T, s=4, alpha=0.6, label="P: round blobs")
    ax_draw.scatter(*Y.T, s=4, alpha=0.6, label="Q: stretched x2, rotated pi/4")
    ax_draw.set(aspect="equal", title="blobs, n = 500 each")
    ax_draw.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def witness_figure(path, n, seed):
    """The witness of one blobs test over the plane: learned kernel beside the Gaussian one.

    One draw of n rows per sample; kernel="deep" learns on half and tests on the other half.
    The Gaussian kernel uses the bandwidth where the aggregated test's J is largest, and its
    witness is taken on the same tested rows.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng([seed, 1])
    X, Y = blobs(n, rng), blobs_q(n, rng)
    # phi an MLP, given (no choice of feature map): what an MLP's features learn to see
    deep = minigan.mmd_test(X, Y, kernel="deep", n_permutations=N_PERMUTATIONS, seed=rng,
                            hidden=minigan.deep_kernel.HIDDEN)
    X_test, Y_test = deep.witness.X, deep.witness.Y
    aggregate = minigan.mmd_test(X, Y, sigmas="aggregate", n_permutations=N_PERMUTATIONS,
                                 seed=rng)
    sigma = aggregate.best_sigma
    gaussian_witness = minigan.deep_kernel.Witness(
        lambda A, B: minigan.mmd.gaussian_kernel(A, B, sigma), X_test, Y_test)
    half = (BLOBS_GRID / 2) * BLOBS_SPACING + 1
    ticks = np.linspace(-half, half, 241)
    grid = np.stack(np.meshgrid(ticks, ticks), -1).reshape(-1, 2)
    fig, axes = plt.subplots(1, 2, figsize=(13, 6.2))
    for ax, witness, title in (
            (axes[0], deep.witness, f"learned kernel (MMD-D, phi an MLP): p = {deep.p_value:.3g}"),
            (axes[1], gaussian_witness,
             f"Gaussian kernel, sigma = {sigma:.3g} (aggregate's best): "
             f"p = {aggregate.p_value:.3g}")):
        w = witness(grid).reshape(len(ticks), len(ticks))
        limit = np.abs(w).max()
        image = ax.imshow(w, origin="lower", extent=(-half, half, -half, half), cmap="RdBu_r",
                          vmin=-limit, vmax=limit)
        ax.scatter(*X_test.T, s=3, c="k", marker=".", label="P (round), tested rows")
        ax.scatter(*Y_test.T, s=3, c="tab:green", marker=".", label="Q (stretched), tested rows")
        ax.set(title=title, aspect="equal", xlim=(-half, half), ylim=(-half, half))
        fig.colorbar(image, ax=ax, shrink=0.8, label="witness: mean k(., P) - mean k(., Q)")
    axes[0].legend(loc="upper right", fontsize=8, markerscale=4)
    fig.suptitle(f"blobs, n = {n} per sample: where each kernel sees P (red) and Q (blue) "
                 f"differ")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(prog="minigan demo two-sample-power",
                                description=__doc__.split("\n")[0])
    p.add_argument("--out", type=output_dir, default=OUT_DIR, help="output folder (default %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="about a minute instead of over an hour: every row, with a few trials "
                        "(QUICK in demos/two_sample_power.py)")
    p.add_argument("--seed", type=int_at_least(0), default=SEED)
    p.add_argument("--trials", type=int_at_least(1), help="trials of every experiment (a smoke run)")
    p.add_argument("--blobs-n", type=int_at_least(2), nargs="+", help=f"blobs sizes (default {BLOBS_NS})")
    p.add_argument("--blobd-n", type=int_at_least(2), help=f"Blob-D rows per sample (default {BLOBD_N})")
    p.add_argument("--hdgm-n", type=int_at_least(4), help=f"HDGM rows per sample (default {HDGM_N})")
    p.add_argument("--only", help="run only the rows whose name holds this text (say 'deep')")
    args = p.parse_args(argv)
    options = dict(QUICK) if args.quick else {}
    if args.trials:
        options.update(null_trials=args.trials, power_trials=args.trials,
                       blobs_trials=args.trials, deep_null_trials=args.trials,
                       deep_power_trials=args.trials)
    if args.blobs_n:
        options.update(blobs_ns=tuple(args.blobs_n))
    if args.blobd_n:
        options.update(blobd_n=args.blobd_n)
    if args.hdgm_n:
        options.update(hdgm_n=args.hdgm_n)
    run(args.out, only=args.only, seed=args.seed, **options)


if __name__ == "__main__":
    main()
