"""`minigan bench`: the compiled core against the NumPy reference, side by side in one run.

For each case: the median time per call over repeats (after a warm-up call), the speedup,
the peak extra memory of one call (tracemalloc: NumPy's and the extension's allocations),
the dtype and the thread count. Cases:
  - MMD^2 value + gradient (unbiased, the default 5-bandwidth ratio-2 ladder), n = m, d;
  - one GMN, GAN and MMD-GAN step on the 1-D demo's nets, the 2-D nets and the digits nets (the
    MMD-GAN's critic has the generator's hidden widths; one critic update per step);
  - n = m = 65,536, d = 2, compiled only (NumPy would need 32 GiB per n x m matrix);
  - the n = 4096 MMD with 1 and with 2 threads;
  - the two-sample test mmd_test at n = m = 20,000, d = 2, 200 permutations (pure NumPy, the
    pooled kernel in row blocks: bounded memory).

Timings on a shared machine are noisy; both backends run in the same process, one after
the other, so the ratios are what to read. Nothing here is asserted in tests.
"""
import argparse
import json
import os
import platform
import statistics
import time
import tracemalloc

import numpy as np

from . import backend as backend_mod
from .data import grid
from .gan import GAN
from .gmn import GMN
from .mmdgan import MMDGAN
from .mmd import default_sigmas, mmd2_and_grad
from .two_sample import mmd_test

MMD_CASES = [(256, 2), (1024, 2), (4096, 2), (1024, 64), (4096, 64)]
NETS = {  # name: (noise_dim, hidden, data_dim)
    "1-D demo (1-32-32-1)": (1, (32, 32), 1),
    "2-D (2-128-128-2)": (2, (128, 128), 2),
    "digits (32-256-256-64)": (32, (256, 256), 64),
}
BATCH = 256
HUGE = 65536
BOTH_N = 4096                            # the both-sides gradient case
TEST_N, TEST_PERMUTATIONS = 20000, 200   # the two-sample test case


def median_time(fn, repeats, warmup=1):
    """Median wall time of fn() over `repeats` calls, after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_memory(fn):
    """Peak bytes allocated (and traced) during one call of fn()."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _mmd_call(n, d, dtype, backend, n_threads=1, seed=0, wrt="X"):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(dtype)
    Y = (rng.normal(size=(n, d)) + 0.5).astype(dtype)
    sigmas = default_sigmas(X[:1000], Y[:1000])
    return lambda: mmd2_and_grad(X, Y, sigmas, backend=backend, n_threads=n_threads, wrt=wrt)


def _step_call(kind, net, backend, seed=0):
    noise_dim, hidden, data_dim = NETS[net]
    cls = {"GMN": GMN, "GAN": GAN, "MMD-GAN": MMDGAN}[kind]
    trainer = cls(data_dim, noise_dim=noise_dim, hidden=hidden, seed=seed, backend=backend)
    rows = trainer._rows_per_step(BATCH)  # the MMD-GAN: one batch per critic update + one for G
    real = np.random.default_rng(seed).normal(size=(rows, data_dim))
    if data_dim == 2:
        real = grid().sample(rows, seed=seed)
    trainer.step(real)  # calibrates the standardisation (and the GMN's bandwidths)
    return lambda: trainer.step(real)


def _mmd_test_call(n, n_permutations, seed=0):
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 0.05
    return lambda: mmd_test(X, Y, n_permutations=n_permutations, seed=seed)


def _row(case, dtype, threads, t_np, t_cy, mem_np, mem_cy):
    return {"case": case, "dtype": dtype, "threads": threads, "numpy_s": t_np, "cython_s": t_cy,
            "speedup": (t_np / t_cy) if (t_np and t_cy) else None,
            "numpy_peak_MiB": mem_np, "cython_peak_MiB": mem_cy}


def run(quick=False, progress=print):
    """All cases -> list of rows (dicts). `quick`: fewer repeats and the smaller cases only."""
    has_cython = "cython" in backend_mod.available()
    reps = 3 if quick else 7
    mib = lambda b: b / 2**20
    rows = []
    for n, d in MMD_CASES[:3] if quick else MMD_CASES:
        for dtype in ("float64", "float32"):
            case = f"MMD² + grad, n=m={n}, d={d}"
            slow = n * n * d > 1e8  # the NumPy reference at this size: fewer repeats
            f_np = _mmd_call(n, d, dtype, "numpy")
            t_np = median_time(f_np, 1 if slow else reps)
            m_np = mib(peak_memory(f_np))
            t_cy = m_cy = None
            if has_cython:
                f_cy = _mmd_call(n, d, dtype, "cython")
                t_cy, m_cy = median_time(f_cy, reps), mib(peak_memory(f_cy))
            rows.append(_row(case, dtype, 1, t_np, t_cy, m_np, m_cy))
            progress(format_row(rows[-1]))
    for dtype in ("float64", "float32"):  # the gradient through both samples (MMD-GAN critic)
        f_np = _mmd_call(BOTH_N, 2, dtype, "numpy", wrt="both")
        t_cy = m_cy = None
        if has_cython:
            f_cy = _mmd_call(BOTH_N, 2, dtype, "cython", wrt="both")
            t_cy, m_cy = median_time(f_cy, reps), mib(peak_memory(f_cy))
        rows.append(_row(f"MMD² + grad X and Y, n=m={BOTH_N}, d=2", dtype, 1,
                         median_time(f_np, reps), t_cy, mib(peak_memory(f_np)), m_cy))
        progress(format_row(rows[-1]))
    for kind in ("GMN", "GAN", "MMD-GAN"):
        for net in NETS:
            case = f"{kind} step, {net}, batch {BATCH}"
            t_np = median_time(_step_call(kind, net, "numpy"), reps * 5)
            t_cy = median_time(_step_call(kind, net, "cython"), reps * 5) if has_cython else None
            rows.append(_row(case, "float64", 1, t_np, t_cy, None, None))
            progress(format_row(rows[-1]))
    if has_cython:
        for threads in (1, 2):
            f = _mmd_call(4096, 2, "float64", "cython", n_threads=threads)
            rows.append(_row("MMD² + grad, n=m=4096, d=2", "float64", threads, None,
                             median_time(f, reps), None, mib(peak_memory(f))))
            progress(format_row(rows[-1]))
        if not quick:
            f = _mmd_call(HUGE, 2, "float64", "cython")
            rows.append(_row(f"MMD² + grad, n=m={HUGE}, d=2", "float64", 1, None,
                             median_time(f, 1, warmup=0), None, mib(peak_memory(f))))
            progress(format_row(rows[-1]))
    if not quick:
        f = _mmd_test_call(TEST_N, TEST_PERMUTATIONS)
        rows.append(_row(f"mmd_test, {TEST_PERMUTATIONS} permutations, n=m={TEST_N}, d=2",
                         "float64", 1, median_time(f, 1, warmup=0), None,
                         mib(peak_memory(f)), None))
        progress(format_row(rows[-1]))
    return rows


def _fmt(v, spec):
    return format(v, spec) if v is not None else "-"


HEADER = (f"{'case':52} {'dtype':7} {'thr':>3} {'numpy':>10} {'cython':>10} {'speedup':>8} "
          f"{'np MiB':>8} {'cy MiB':>8}")


def format_row(r):
    return (f"{r['case']:52} {r['dtype']:7} {r['threads']:>3} {_fmt(r['numpy_s'], '10.5f')} "
            f"{_fmt(r['cython_s'], '10.5f')} {_fmt(r['speedup'], '7.1f')}x "
            f"{_fmt(r['numpy_peak_MiB'], '8.1f')} {_fmt(r['cython_peak_MiB'], '8.2f')}")


def machine():
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "backends": backend_mod.available(),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}


def plot(path, rows):
    """Speedup of the compiled MMD against n (d = 2 and d = 64, both dtypes)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for d in (2, 64):
        for dtype, style in (("float64", "-o"), ("float32", "--s")):
            pts = [(int(r["case"].split("n=m=")[1].split(",")[0]), r["speedup"]) for r in rows
                   if r["case"].startswith("MMD") and f"d={d}" in r["case"] and r["dtype"] == dtype
                   and r["speedup"] and r["threads"] == 1]
            if pts:
                ax.plot(*zip(*sorted(pts)), style, label=f"d = {d}, {dtype}")
    ax.set(xscale="log", yscale="log", xlabel="n = m", ylabel="speedup over NumPy (×)",
           title="MMD² + gradient: compiled core vs NumPy reference (1 thread)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(prog="minigan bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats, small cases only")
    p.add_argument("--json", metavar="PATH", help="write the rows and the machine as JSON")
    p.add_argument("--plot", metavar="PATH", help="write a PNG of the MMD speedup against n")
    args = p.parse_args(argv)
    info = machine()
    print(f"machine: {info['processor']}, {info['cpus']} cpus, {info['platform']}; "
          f"backends: {', '.join(info['backends'])}")
    print(HEADER)
    rows = run(quick=args.quick)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "rows": rows}, f, indent=2)
        print(f"wrote {args.json}")
    if args.plot:
        plot(args.plot, rows)
        print(f"wrote {args.plot}")
    return 0
