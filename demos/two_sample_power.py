"""How often does the MMD two-sample test say "different"? Type-I error and power, measured.

Repeats minigan.mmd_test on fresh samples and counts rejections at alpha = 0.05:

  nulls (should reject ~5% of the time: the type-I error)
    N(0, I) vs N(0, I), d = 2, n = 200                     permutation test, median heuristic
    Student-t(3) vs Student-t(3) (heavy tails), d = 2      permutation test, median heuristic
    N(0, I) vs N(0, I), the linear-time test               asymptotic normal null
    N(0, I) vs N(0, I), aggregated over 8 bandwidths       sigmas="aggregate"
    blobs vs blobs, n = 500                                split bandwidth; aggregated
  alternatives (power: should reject often)
    mean shift 0.5 along one axis, d = 2, n = 200          permutation, linear-time, aggregated
    blobs, n = 500, 1000, 2000 per sample                  median heuristic vs split bandwidth
                                                           vs aggregated (n <= 1000)

Blobs (Gretton et al. 2012; Sutherland et al. 2017): a 4 x 4 grid of Gaussians, spacing 5.
In P each blob is N(centre, I); in Q its covariance is R diag(2, 1) R^T, R a rotation by pi/4
(eigenvalue ratio 2). The difference lives at the scale of one blob (~1), while the median
distance spans the grid (~10): the median heuristic is blind to it, a bandwidth chosen for power
on half of the data is not, at the price of testing on the other half only; the aggregated test
keeps all the data and pays instead for looking at 8 bandwidths (8 times the compute).

Writes two_sample_power.json and two_sample_power.png (rejection rates with 95% intervals;
blobs power against n; one blobs draw).

Run:  python demos/two_sample_power.py [--quick]     (or: minigan demo two-sample-power)
      a smoke run: ... --trials 3 --blobs-n 20
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

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
QUICK = dict(null_trials=200, power_trials=100, blobs_trials=50, blobs_ns=(500, 1000),
             aggregate_max_n=500)
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


# ------------------------------------------------------------- experiments
def rejection_rate(draw_x, draw_y, n, trials, seed, **test_options):
    """Fraction of `trials` fresh (X, Y) pairs on which mmd_test rejects at ALPHA."""
    rng = np.random.default_rng(seed)
    rejections = 0
    for _ in range(trials):
        X, Y = draw_x(n, rng), draw_y(n, rng)
        rejections += minigan.mmd_test(X, Y, alpha=ALPHA, n_permutations=N_PERMUTATIONS,
                                       seed=rng, **test_options).reject
    return rejections / trials


def experiments(null_trials, power_trials, blobs_trials, blobs_ns, aggregate_max_n):
    """(name, kind, n, trials, draw_x, draw_y, test options) for every row of the table."""
    shifted = lambda n, rng: gaussian(n, rng, SHIFT)
    aggregate = {"sigmas": "aggregate"}
    rows = [
        ("N(0,I) vs N(0,I)", "null", N, null_trials, gaussian, gaussian, {}),
        (f"t({T_DOF}) vs t({T_DOF})", "null", N, null_trials, student_t, student_t, {}),
        ("N(0,I) vs N(0,I), linear", "null", N, null_trials, gaussian, gaussian,
         {"method": "linear"}),
        ("N(0,I) vs N(0,I), aggregate", "null", N, null_trials, gaussian, gaussian, aggregate),
        ("blobs P vs P, split", "null", blobs_ns[0], blobs_trials, blobs, blobs,
         {"sigmas": "split"}),
        ("blobs P vs P, aggregate", "null", blobs_ns[0], blobs_trials, blobs, blobs, aggregate),
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
    return rows


def run(out_dir=OUT_DIR, null_trials=NULL_TRIALS, power_trials=POWER_TRIALS,
        blobs_trials=BLOBS_TRIALS, blobs_ns=BLOBS_NS, aggregate_max_n=AGGREGATE_MAX_N, seed=SEED,
        progress=True):
    """Measure every rejection rate, print the table, write the JSON and PNG; return the rows."""
    t_start = time.perf_counter()
    results = []
    if progress:
        print(f"{'experiment':28} {'kind':5} {'n':>5} {'trials':>6} {'rate':>6}   95% interval"
              f"   seconds")
    for i, (name, kind, n, trials, draw_x, draw_y, options) in enumerate(
            experiments(null_trials, power_trials, blobs_trials, blobs_ns, aggregate_max_n)):
        t0 = time.perf_counter()
        rate = rejection_rate(draw_x, draw_y, n, trials, seed=[seed, i], **options)
        half = 1.96 * np.sqrt(rate * (1 - rate) / trials)
        row = dict(name=name, kind=kind, n=n, trials=trials, rate=rate,
                   interval=[max(rate - half, 0.0), min(rate + half, 1.0)],
                   seconds=time.perf_counter() - t0)
        results.append(row)
        if progress:
            print(f"{name:28} {kind:5} {n:5d} {trials:6d} {rate:6.3f}   "
                  f"[{row['interval'][0]:.3f}, {row['interval'][1]:.3f}]   {row['seconds']:7.1f}")
    total = time.perf_counter() - t_start
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = dict(alpha=ALPHA, n_permutations=N_PERMUTATIONS, dim=DIM, shift=SHIFT, seed=seed,
                    blobs=dict(grid=BLOBS_GRID, spacing=BLOBS_SPACING, stretch=BLOBS_STRETCH,
                               angle=BLOBS_ANGLE))
    (out / "two_sample_power.json").write_text(json.dumps(
        dict(settings=settings, results=results, total_seconds=total), indent=2))
    plot(results, out / "two_sample_power.png", seed)
    if progress:
        print(f"total {total:.0f} s; wrote {out / 'two_sample_power.json'} and "
              f"{out / 'two_sample_power.png'}")
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
                         ("blobs, aggregate", "tab:purple")):
        rows = [r for r in results if r["name"] == name]
        if not rows:
            continue
        ns = [r["n"] for r in rows]
        ax_blobs.errorbar(ns, [r["rate"] for r in rows], marker="o", color=colour, label=name,
                          yerr=np.abs(np.array([r["interval"] for r in rows]).T
                                      - [r["rate"] for r in rows]))
    ax_blobs.axhline(ALPHA, color="k", ls="--", lw=1)
    ax_blobs.set(ylim=(0, 1), xlabel="n per sample", ylabel="power",
                 title="blobs: median heuristic, split, aggregated")
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


def main(argv=None):
    p = argparse.ArgumentParser(prog="two_sample_power", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=output_dir, default=OUT_DIR, help="output folder (default %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help=f"fewer trials and smaller blobs: {QUICK}")
    p.add_argument("--seed", type=int_at_least(0), default=SEED)
    p.add_argument("--trials", type=int_at_least(1), help="trials of every experiment (a smoke run)")
    p.add_argument("--blobs-n", type=int_at_least(2), nargs="+", help=f"blobs sizes (default {BLOBS_NS})")
    args = p.parse_args(argv)
    options = dict(QUICK) if args.quick else {}
    if args.trials:
        options.update(null_trials=args.trials, power_trials=args.trials,
                       blobs_trials=args.trials)
    if args.blobs_n:
        options.update(blobs_ns=tuple(args.blobs_n))
    run(args.out, seed=args.seed, **options)


if __name__ == "__main__":
    main()
