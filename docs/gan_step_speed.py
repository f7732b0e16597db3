"""How fast a GAN step runs, against the NumPy backend and against its matrix-product floor.

Run from the repository root: `python docs/gan_step_speed.py [--rounds R] [--steps S] [--parts]
[--dtype float32]`. For the 2-D nets (G and D 2-128-128, ring-8) and the 1-D demo's (1-32-32-1),
batch 256, float64 (or --dtype), one BLAS thread (the trainers' own policy), it prints:

  - the floor: the multiply-adds of one step's matrix products, counted layer by layer (the
    discriminator's update, the generator's update through a frozen discriminator, the
    divergence guard's probe batch), and this machine's one-thread gemm rate at the step's
    widest products (b x h) @ (h x h): the time those products alone need;
  - side by side: `GAN(d, hidden=h, seed=0, backend=b).fit(target, steps=S, batch_size=256)`
    for the compiled core and the NumPy reference in turn, R rounds in one process; the
    median time per step, its spread (min-max) and the median of the pair-by-pair ratios,
    with the load average before and after (the machine may be shared);
  - with --parts: where a compiled step's time goes. Each part is wrapped by a timer that adds
    up its own time without the parts it calls, over 1,000 steps after 50 of warm-up;
  - with --against DIR: the side-by-side timing of this checkout and of the one at DIR (e.g.
    an earlier commit, built in place), each in its own process, in turn, --pairs times; the
    medians over the processes and the median of the pair-by-pair ratios of the compiled
    step (the machine's load drifts less within a pair than over the whole run).
The figures are in docs/results.md, "Where a compiled GAN step's time goes"; the same step
beside JAX and PyTorch is docs/gan_step_peers.py.
"""
import argparse
import functools
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np

from minigan import GAN, data, divergence, losses, mlp, optim, threads, trainer
from minigan import gan as gan_module

CASES = {"2-D (2-128-128)": (2, (128, 128), data.ring),
         "1-D demo (1-32-32-1)": (1, (32, 32), lambda: data.gaussian_1d(3, 0.5))}
BATCH = 256


def pass_macs(sizes, n, forward=True, weights=False, inputs=False, first_dx=False, only=None):
    """Multiply-adds of one pass of an MLP of these sizes over n rows: the forward products,
    the weight gradients, the input gradients (the first layer's only when first_dx); only
    the layers of shape `only` (d_in, d_out) when it is given."""
    total = 0
    for layer, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if only is None or (a, b) == only:
            total += n * a * b * (forward + weights + (inputs and (layer > 0 or first_dx)))
    return total


def step_macs(g_sizes, d_sizes, b, only=None):
    """One GAN step (pack 1, one discriminator update): D's update on b real + b fake rows,
    G's update through D, and the guard's probe forward pass."""
    return (pass_macs(g_sizes, b, only=only)                               # X = G(z) for D
            + pass_macs(d_sizes, 2 * b, weights=True, inputs=True, only=only)  # D on [real; X]
            + pass_macs(g_sizes, b, only=only)                             # X = G(z) for G
            + pass_macs(d_sizes, b, inputs=True, first_dx=True, only=only)     # dL/dX through D
            + pass_macs(g_sizes, b, forward=False, weights=True, inputs=True, only=only)  # G
            + pass_macs(g_sizes, divergence.PROBE_ROWS, only=only))        # the guard's probe


def gemm_rate(h, dtype, rows=(BATCH, 2 * BATCH), seconds=1.0):
    """Flop/s of (r x h) @ (h x h) on one BLAS thread, the best of many timed calls."""
    rng = np.random.default_rng(0)
    best = []
    with threads.limit(1):
        for r in rows:
            A, B = rng.normal(size=(r, h)).astype(dtype), rng.normal(size=(h, h)).astype(dtype)
            out = np.empty((r, h), dtype)
            times, end = [], time.perf_counter() + seconds
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                np.matmul(A, B, out=out)
                times.append(time.perf_counter() - t0)
            best.append(2 * r * h * h / min(times))
    return min(best)


def floor(name, dtype):
    d, hidden, _ = CASES[name]
    g_sizes, d_sizes = [d, *hidden, d], [d, *hidden, 1]
    macs = step_macs(g_sizes, d_sizes, BATCH)
    h = hidden[-1]
    wide = step_macs(g_sizes, d_sizes, BATCH, only=(h, h))             # the h x h layers
    rate = gemm_rate(h, dtype)
    print(f"{name}: {2 * macs / 1e6:.1f} MFlop a step, {2 * wide / 1e6:.1f} of them in the "
          f"{h} x {h} products; {dtype} gemm at those shapes {rate / 1e9:.1f} GFlop/s -> "
          f"{2 * wide / rate * 1e3:.2f} ms for those products alone")


def side_by_side(name, rounds, steps, dtype):
    """{"cython": [ms a step, ...], "numpy": [...]}: one fit of `steps` steps per round each."""
    d, hidden, target = CASES[name]
    target = target()
    trainers = {b: GAN(d, hidden=hidden, seed=0, dtype=dtype, backend=b)
                for b in ("cython", "numpy")}
    for t in trainers.values():
        t.fit(target, steps=30, batch_size=BATCH, progress=False)        # warm-up
    ms = {b: [] for b in trainers}
    for _ in range(rounds):
        for b, t in trainers.items():
            t0 = time.perf_counter()
            t.fit(target, steps=steps, batch_size=BATCH, progress=False)
            ms[b].append((time.perf_counter() - t0) / steps * 1e3)
    return ms


def spread(values, digits=3):
    """'median (min-max)'."""
    return (f"{statistics.median(values):.{digits}f} "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})")


def report(name, ms):
    ratios = [n / c for c, n in zip(ms["cython"], ms["numpy"])]
    print(f"{name}: compiled {spread(ms['cython'])} ms, NumPy {spread(ms['numpy'])} ms, "
          f"NumPy / compiled {spread(ratios, 2)}x")


def against(other, pairs, rounds, steps, dtype):
    """This checkout and the one at `other`, each timed in its own process, in turn."""
    roots = {"this checkout": pathlib.Path(__file__).resolve().parents[1],
             f"{other}": pathlib.Path(other).resolve()}
    runs = {label: [] for label in roots}
    for _ in range(pairs):
        for label, root in roots.items():
            env = dict(os.environ, PYTHONPATH=str(root))   # import minigan from that checkout
            out = subprocess.run([sys.executable, __file__, "--json", "--rounds", str(rounds),
                                  "--steps", str(steps), "--dtype", dtype], env=env, check=True,
                                 capture_output=True, text=True).stdout
            runs[label].append(json.loads(out))
    for name in CASES:
        for label, results in runs.items():
            medians = {b: [statistics.median(r[name][b]) for r in results]
                       for b in ("cython", "numpy")}
            print(f"{label}, ", end="")
            report(name, medians)
        this, that = runs.values()
        ratio = [statistics.median(b[name]["cython"]) / statistics.median(a[name]["cython"])
                 for a, b in zip(this, that)]
        print(f"{name}: compiled step, {other} / this checkout, pair by pair: {spread(ratio, 2)}")


PARTS = [(mlp.MLP, "_forward", "network passes"), (mlp.MLP, "_backward", "network passes"),
         (mlp.MLP, "_backward_input", "network passes"), (mlp.MLP, "zero_grad", "zero_grad"),
         (optim.Optimizer, "step", "optimiser (Adam, its gradient check included)"),
         (gan_module, "discriminator_loss_pooled", "losses"),
         (losses, "generator_loss_nonsaturating", "losses"),
         (divergence, "_snapshot", "guard: snapshot"),
         (divergence, "_all_finite", "guard: finite sums"),
         (divergence, "_blowup", "guard: probe forward pass"), (trainer.Trainer, "_noise", "noise"),
         (trainer.Trainer, "_model_batch", "checks of the real batch (and standardising it)"),
         (threads, "enter", "thread policy"), (threads, "leave", "thread policy")]


def parts(name, dtype, steps=1000):
    """Exclusive time per part of the compiled step (timers wrap the functions above)."""
    totals, stack = {}, []

    def timed(fn, label):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            stack.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                spent, inner = time.perf_counter() - t0, stack.pop()
                totals[label] = totals.get(label, 0.0) + spent - inner
                if stack:
                    stack[-1] += spent
        return wrapper

    originals = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in PARTS]
    for owner, attr, label in PARTS:
        setattr(owner, attr, timed(getattr(owner, attr), label))
    gan_module.GENERATOR_LOSSES["non-saturating"] = losses.generator_loss_nonsaturating
    step = GAN.step
    GAN.step = timed(step, "the step's own lines (and the timers)")
    try:
        d, hidden, target = CASES[name]
        t = GAN(d, hidden=hidden, seed=0, dtype=dtype, backend="cython")
        t.fit(target(), steps=50, batch_size=BATCH, progress=False)
        draw = t._data_source(target())
        batches = [draw(BATCH) for _ in range(steps)]
        totals.clear()
        for real in batches:
            t.step(real)
    finally:
        GAN.step = step
        for owner, attr, fn in originals:
            setattr(owner, attr, fn)
        gan_module.GENERATOR_LOSSES["non-saturating"] = losses.generator_loss_nonsaturating
    whole = sum(totals.values())
    print(f"{name}: {whole / steps * 1e3:.3f} ms a step (a direct step(), the batches drawn "
          f"beforehand)")
    for label, spent in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {label:50s} {spent / steps * 1e6:8.1f} us {100 * spent / whole:6.1f} %")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--parts", action="store_true")
    parser.add_argument("--against", metavar="DIR")
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--json", action="store_true", help="only the side-by-side times, as JSON")
    args = parser.parse_args()
    if args.json:
        print(json.dumps({name: side_by_side(name, args.rounds, args.steps, args.dtype)
                          for name in CASES}))
        return
    print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    for name in CASES:
        floor(name, args.dtype)
    if args.against:
        against(args.against, args.pairs, args.rounds, args.steps, args.dtype)
    else:
        for name in CASES:
            report(name, side_by_side(name, args.rounds, args.steps, args.dtype))
    if args.parts:
        for name in CASES:
            parts(name, args.dtype)
    print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
