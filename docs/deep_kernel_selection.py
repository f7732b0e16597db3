"""How should mmd_test(kernel="deep") choose its kernel?  Power of each way, measured.

Each candidate is a set of mmd_test(kernel="deep") arguments (`train_fraction`, `hidden`,
`n_features`, `periodic`, `frequency`, and those of minigan.deep_kernel.learn_kernel:
`selection`, `max_steps`, `patience`, `holdout`, `weight_decay`). A candidate that also sets
Adam's step size `lr` (not an mmd_test argument) learns its kernel with learn_kernel on the
first half of each sample (after shuffling the rows, as mmd_test does) and tests it with
mmd_test(kernel=the learned kernel) on the second half: the same test. A candidate that gives
none of `hidden`, `n_features`, `periodic` (with hold-out selection) gets mmd_test's choice
between two feature maps (minigan.deep_kernel.choose_kernel); the MLP's candidates give
`hidden` to stay the MLP alone. Every trial draws one
(X, Y) pair and runs every candidate and the aggregated Gaussian test (sigmas="aggregate") on
that same pair, so the columns differ by the test only. Rejection rates at alpha = 0.05, 200
permutations; the CPU seconds are the mean process time of one deep test (learning the kernel
and testing).
"J on fresh rows" is the criterion J of each learned kernel on the rows it is tested on
(never trained on): what the training is meant to raise, a less noisy screen than the
rejection rate (trial-to-trial spread of J is about 1).

The "gaussian-S" columns are the ceiling a kernel choice is measured against: the Gaussian
kernel of length-scale S, fixed in hindsight (no rows spent on choosing it), tested on as many
rows as the deep test tests (the last half of each sample); "gaussian-S-all" tests every row.
"within-blob-S" (the 4 x 4 blobs only) is an oracle no learner is given: the Gaussian kernel
of length-scale S on each row's offset from its nearest blob centre, which sees the 16 blobs
as one; it tests the same rows as "gaussian-S".

Problems (samplers of demos/two_sample_power.py):
  blobs          the 4 x 4 blobs, Q stretched 2 : 1 and turned by pi/4, n = 500 per sample
  blobs null     blobs P vs P, n = 500 (the type-I error)
  blobs 3x3      3 x 3 blobs, Q stretched 2 : 1/2 and turned by pi/4, n = 400
  Blob-D         Liu et al.'s Blob-D, 9 x 80 rows per sample
  HDGM           Liu et al.'s HDGM, d = 10, n = 1000 per sample (--n for another n)
  HDGM null      HDGM P vs P (the type-I error)

Run:  python docs/deep_kernel_selection.py                 (every problem and candidate)
      ... --problems blobs --candidates last-100 --trials 100 --workers 2
      ... --problems HDGM --n 2000 --candidates last-300-lr1e-4 --trials 20 --workers 1
Prints one Markdown row per problem: rate of each candidate, then the aggregate's, then the
CPU seconds and the mean J on fresh rows of each deep candidate.
"""
import argparse
import importlib.util
import json
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

import minigan

ALPHA, N_PERMUTATIONS = 0.05, 200

_spec = importlib.util.spec_from_file_location(
    "two_sample_power", Path(__file__).resolve().parent.parent / "demos" / "two_sample_power.py")
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)

MLP = dict(hidden=minigan.deep_kernel.HIDDEN)   # phi an MLP, given: mmd_test does not choose
CANDIDATES = {   # name: mmd_test arguments (kernel="deep")
    "holdout-0.2": dict(MLP, selection="holdout", holdout=0.2, patience=5, max_steps=300),
    "holdout-0.5": dict(MLP, selection="holdout", holdout=0.5, patience=10, max_steps=300),
    "last-100": dict(selection="last", max_steps=100),
    "weight-decay-0.01": dict(MLP, weight_decay=0.01),
    "train-0.3": dict(MLP, train_fraction=0.3),
    "last-50": dict(selection="last", max_steps=50),
    "last-300": dict(selection="last", max_steps=300),
    "last-1000": dict(selection="last", max_steps=1000),
    "last-300-lr1e-4": dict(selection="last", max_steps=300, lr=1e-4),
    # Liu et al.'s HDGM schedule and phi's widths (3 x 3d hidden, 3d features; they use softplus)
    "liu-hdgm": dict(selection="last", max_steps=1000, lr=5e-5, hidden=(30, 30, 30),
                     n_features=30),
    # a periodic first layer of p waves (periodic=p), its frequencies sought in N(0, f^2)
    "sin-8": dict(periodic=8),
    "sin-16": dict(periodic=16),
    "sin-32": dict(periodic=32),
    "sin-16-f4": dict(periodic=16, frequency=4.0),
    "sin-16-f12": dict(periodic=16, frequency=12.0),
    "sin-16-linear": dict(periodic=16, hidden=(), n_features=16),
    "sin-16-last-100": dict(periodic=16, selection="last", max_steps=100),
    # mmd_test's default: the MLP and sin-16-linear learned on the same fit rows, the one
    # whose held-out J is the larger kept (minigan.deep_kernel.choose_kernel)
    "choose-sin-16-linear": dict(),
}
CEILINGS = {     # name: (Gaussian length-scale, share of each sample tested)
    "gaussian-0.5": (0.5, 0.5), "gaussian-0.7": (0.7, 0.5), "gaussian-1.0": (1.0, 0.5),
    "gaussian-0.7-all": (0.7, 1.0),
    "within-blob-0.5": (0.5, 0.5), "within-blob-1.0": (1.0, 0.5),
}


def within_blob_kernel(sigma):
    """The oracle kernel of "within-blob-S": k(a, b) = exp(-||u(a) - u(b)||^2 / (2 S^2)), u(x)
    = x minus the centre of the 4 x 4 grid nearest to x."""
    spacing, side = demo.BLOBS_SPACING, demo.BLOBS_GRID

    def offsets(A):
        centre = (np.clip(np.round(A / spacing + (side - 1) / 2), 0, side - 1)
                  - (side - 1) / 2) * spacing
        return A - centre

    def kernel(A, B):
        return np.exp(-minigan.mmd.squared_distances(offsets(A), offsets(B)) / (2 * sigma**2))
    return kernel
PROBLEMS = {     # name: (P sampler, Q sampler, n per sample, trials)
    "blobs": (demo.blobs, demo.blobs_q, 500, 100),
    "blobs null": (demo.blobs, demo.blobs, 500, 200),
    "blobs 3x3": (demo.blobs3, demo.blobs3_q, 400, 100),
    "Blob-D": (demo.blob_d, demo.blob_d_q, demo.BLOBD_N, 100),
    "HDGM": (demo.hdgm, demo.hdgm_q, demo.HDGM_N, 20),
    "HDGM null": (demo.hdgm, demo.hdgm, demo.HDGM_N, 200),
}


def deep_test(X, Y, options, seed):
    """One deep test with the candidate's options -> (MMDTestResult, J on the tested rows)."""
    if "lr" in options:        # learn_kernel on half the rows, mmd_test on the others
        X, Y = X[seed.permutation(len(X))], Y[seed.permutation(len(Y))]   # as mmd_test does
        h, g = len(X) // 2, len(Y) // 2
        kernel, _ = minigan.deep_kernel.learn_kernel(X[:h], Y[:g], seed=seed, **options)
        result = minigan.mmd_test(X[h:], Y[g:], kernel=kernel, alpha=ALPHA,
                                  n_permutations=N_PERMUTATIONS, seed=seed)
    else:
        result = minigan.mmd_test(X, Y, kernel="deep", alpha=ALPHA, n_permutations=N_PERMUTATIONS,
                                  seed=seed, **options)
    return result, result.kernel.criterion(result.witness.X, result.witness.Y)


def trial(job):
    """One draw of a problem: (rejections of each candidate, of the aggregate, CPU seconds of
    each candidate, J on fresh rows of each candidate (nan for a fixed Gaussian))."""
    problem, candidates, seed, index, n = job
    minigan.threads.set_num_threads(1)
    draw_x, draw_y, default_n, _ = PROBLEMS[problem]
    n = n or default_n
    rng = np.random.default_rng([*seed, index])
    X, Y = draw_x(n, rng), draw_y(n, rng)
    rejects, seconds, fresh = [], [], []
    for name in candidates:
        if name in CEILINGS:
            sigma, tested = CEILINGS[name]
            rows = n - int(round((1 - tested) * n))   # the last rows: iid draws (not HDGM's)
            how = (dict(kernel=within_blob_kernel(sigma)) if name.startswith("within-blob")
                   else dict(sigmas=sigma))
            rejects.append(minigan.mmd_test(X[n - rows:], Y[n - rows:], alpha=ALPHA,
                                            n_permutations=N_PERMUTATIONS,
                                            seed=np.random.default_rng([*seed, index, 3]),
                                            **how).reject)
            seconds.append(0.0)
            fresh.append(float("nan"))
            continue
        t0 = time.process_time()
        result, J = deep_test(X, Y, CANDIDATES[name], np.random.default_rng([*seed, index, 1]))
        seconds.append(time.process_time() - t0)
        rejects.append(result.reject)
        fresh.append(J)
    aggregate = minigan.mmd_test(X, Y, sigmas="aggregate", alpha=ALPHA,
                                 n_permutations=N_PERMUTATIONS,
                                 seed=np.random.default_rng([*seed, index, 2]))
    return rejects, bool(aggregate.reject), seconds, fresh


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    p.add_argument("--candidates", nargs="+", choices=[*CANDIDATES, *CEILINGS],
                   default=list(CANDIDATES))
    p.add_argument("--trials", type=int, help="trials of every problem (default: the table's)")
    p.add_argument("--workers", type=int, default=2, help="processes (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, help="rows per sample of every problem (default: the table's)")
    p.add_argument("--log", help="append one JSON line per trial to this file")
    args = p.parse_args(argv)
    print(f"| problem | n | trials | {' | '.join(args.candidates)} | aggregate | "
          f"CPU s / deep test | J on fresh rows |")
    print("|---" * (len(args.candidates) + 6) + "|")
    with Pool(args.workers) as pool:
        for problem in args.problems:
            trials = args.trials or PROBLEMS[problem][3]
            seed = [args.seed, list(PROBLEMS).index(problem)]
            jobs = [(problem, args.candidates, seed, i, args.n) for i in range(trials)]
            out = []
            for result in pool.imap(trial, jobs):     # in order: a log line per trial
                out.append(result)
                if args.log:
                    with open(args.log, "a") as log:
                        log.write(json.dumps(dict(problem=problem, candidates=args.candidates,
                                                  trial=len(out) - 1, rejects=result[0],
                                                  aggregate=result[1], seconds=result[2],
                                                  fresh_J=result[3], n=args.n))
                                  + "\n")
            rates = np.mean([rejects for rejects, _, _, _ in out], axis=0)
            aggregate = np.mean([a for _, a, _, _ in out])
            cpu = np.mean([s for _, _, s, _ in out], axis=0)
            fresh = np.mean([J for _, _, _, J in out], axis=0)
            print(f"| {problem} | {args.n or PROBLEMS[problem][2]} | {trials} | "
                  f"{' | '.join(f'{r:.3f}' for r in rates)} | {aggregate:.3f} | "
                  f"{', '.join(f'{c:.1f}' for c in cpu)} | "
                  f"{', '.join(f'{J:.2f}' for J in fresh)} |", flush=True)


if __name__ == "__main__":
    main()
