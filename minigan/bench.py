"""`minigan bench`: the compiled core against the NumPy reference, side by side in one run.

For each case: the median time per call over repeats (after a warm-up call), the speedup,
the peak extra memory of one call (tracemalloc: NumPy's and the extension's allocations),
the dtype and the thread count. Cases:
  - MMD^2 value + gradient (unbiased, the default 5-bandwidth ratio-2 ladder), n = m, d;
  - one GMN, GAN and MMD-GAN step on the 1-D demo's nets, the 2-D nets and the digits nets (the
    MMD-GAN's critic has the generator's hidden widths; one critic update per step; alternating,
    and simultaneous=True, where the generator shares the critic's pass);
  - the n = 4096 MMD with 1 and with 2 threads;
  - n = m = 65,536, d = 2, compiled only, 1 and 2 threads (NumPy would need 32 GiB per n x m
    matrix);
  - the two-sample test mmd_test at n = m = 20,000, d = 2, 200 permutations (pure NumPy, the
    pooled kernel in row blocks: bounded memory).
--quick keeps the small cases (about a minute); the full run takes about a quarter of an
hour, and says after each row how far it is and a guess of the time left.

Threads: the bench sets its own policy and prints it before the table: every row runs BLAS
(NumPy's `@` and the compiled core's gemms) on one thread, whatever OPENBLAS_NUM_THREADS
says (minigan.threads), and the compiled MMD on the threads its `thr` column says.

For the d = 2 MMD rows, two more columns say how close the compiled kernel is to its limit:
  - Mpair/s: pairs (x, z) visited per second, in millions. Each pair is one kernel value
    k(x, z) over all the bandwidths and its gradient weight; the unbiased estimator visits
    n(n-1)/2 + m(m-1)/2 + nm pairs (the X-X and Y-Y blocks are symmetric);
  - exp%: that rate as a percentage of the throughput of the vectorised exp alone, measured
    here in the extension on the same instruction-set path (exp_floor_rate). On a ratio-2
    bandwidth ladder the kernel takes one exp per pair, so 100 % would mean the distances,
    the ladder and the gradient sums cost nothing.
A cell without a figure (no NumPy time for a compiled-only row, no pair rate for d = 64) is
left blank. The header says which instruction set the compiled kernel runs
(minigan.backend.info(); MINIGAN_CPU=baseline|avx2|avx512 forces a lower one).

--peers (optional, when PyTorch is importable; never a dependency): the same MMD^2 + gradient
through torch autograd (the three kernel blocks as dense matrices, as a torch user would
write it) and the 2-D GMN step in torch eager (same net, batch, bandwidths, Adam), on one
torch thread, against the compiled core in the same run.

Timings on a shared machine are noisy; both backends run in the same process, one after
the other, so the ratios are what to read. Nothing here is asserted in tests.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc

import numpy as np

from . import backend as backend_mod
from . import threads as thread_policy
from .cliargs import output_file
from .data import grid
from .gan import GAN
from .gmn import GMN
from .mmd import median_ladder, mmd2_and_grad
from .mmdgan import MMDGAN
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
    sigmas = median_ladder(X[:1000], Y[:1000])
    return lambda: mmd2_and_grad(X, Y, sigmas, backend=backend, n_threads=n_threads, wrt=wrt)


# the trainers a step row times: class and extra settings
STEP_KINDS = {"GMN": (GMN, {}), "GAN": (GAN, {}), "MMD-GAN": (MMDGAN, {}),
              "MMD-GAN simultaneous": (MMDGAN, {"simultaneous": True})}


def _step_trainer(kind, net, backend, seed=0):
    """A calibrated trainer of `kind` on the `net` sizes, and the real rows one step takes."""
    noise_dim, hidden, data_dim = NETS[net]
    cls, settings = STEP_KINDS[kind]
    if cls is MMDGAN:   # the rows' critic: the generator's widths, 16 features, 5 bandwidths
        settings = {"critic_hidden": hidden, "features": 16, "raw_sigmas": "median-ladder",
                    **settings}
    trainer = cls(data_dim, noise_dim=noise_dim, hidden=hidden, seed=seed, backend=backend,
                  **settings)
    rows = trainer._rows_per_step(BATCH)  # the MMD-GAN: one batch per critic update (+ one for G)
    real = np.random.default_rng(seed).normal(size=(rows, data_dim))
    if data_dim == 2:
        real = grid().sample(rows, seed=seed)
    trainer.step(real)  # calibrates the standardisation (and the GMN's bandwidths)
    return trainer, real


def _step_call(kind, net, backend, seed=0):
    trainer, real = _step_trainer(kind, net, backend, seed)
    return lambda: trainer.step(real)


def _mmd_test_call(n, n_permutations, seed=0):
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 0.05
    return lambda: mmd_test(X, Y, n_permutations=n_permutations, seed=seed)


def _row(case, dtype, threads, t_np, t_cy, mem_np, mem_cy):
    return {"case": case, "dtype": dtype, "threads": threads, "numpy_s": t_np, "cython_s": t_cy,
            "speedup": (t_np / t_cy) if (t_np and t_cy) else None,
            "numpy_peak_MiB": mem_np, "cython_peak_MiB": mem_cy}


def pairs_visited(n, m):
    """Pairs the compiled kernel visits for the unbiased MMD^2: j > i in X-X and Y-Y, all X-Y."""
    return n * (n - 1) // 2 + m * (m - 1) // 2 + n * m


def exp_floors():
    """Vector exps per second of the running instruction-set path, per dtype (the kernel's
    ceiling at one exp per pair), or {} without the compiled core."""
    if "cython" not in backend_mod.available():
        return {}
    ext = backend_mod.ext("mmd")
    return {dtype: ext.exp_floor_rate(dtype) for dtype in ("float64", "float32")}


def _add_pair_rate(row, n, floors):
    """The Mpair/s and exp% columns of a d = 2 compiled MMD row (see the module docstring)."""
    if row["cython_s"] and row["dtype"] in floors:
        rate = pairs_visited(n, n) / row["cython_s"]
        row["pairs_per_s"] = rate
        row["exp_floor_fraction"] = rate / floors[row["dtype"]]
    return row


def _mmd_row(n, d, dtype, reps, floors, has_cython, wrt="X"):
    """The MMD^2 + gradient row at n = m, d: NumPy against the compiled core, one thread."""
    slow = n * n * d > 1e8  # the NumPy reference at this size: fewer repeats
    f_np = _mmd_call(n, d, dtype, "numpy", wrt=wrt)
    t_np = median_time(f_np, 1 if slow else reps)
    m_np = peak_memory(f_np) / 2**20
    t_cy = m_cy = None
    if has_cython:
        f_cy = _mmd_call(n, d, dtype, "cython", wrt=wrt)
        t_cy, m_cy = median_time(f_cy, reps), peak_memory(f_cy) / 2**20
    what = "MMD² + grad X and Y" if wrt == "both" else "MMD² + grad"
    row = _row(f"{what}, n=m={n}, d={d}", dtype, 1, t_np, t_cy, m_np, m_cy)
    return _add_pair_rate(row, n, floors) if d == 2 else row


def _compiled_mmd_row(n, threads, reps, warmup=1):
    """The compiled MMD^2 + gradient alone at n = m, d = 2, float64, on `threads` threads."""
    f = _mmd_call(n, 2, "float64", "cython", n_threads=threads)
    return _row(f"MMD² + grad, n=m={n}, d=2", "float64", threads, None,
                median_time(f, reps, warmup), None, peak_memory(f) / 2**20)


def _step_row(kind, net, calls, has_cython):
    t_np = median_time(_step_call(kind, net, "numpy"), calls)
    t_cy = median_time(_step_call(kind, net, "cython"), calls) if has_cython else None
    return _row(f"{kind} step, {net}, batch {BATCH}", "float64", 1, t_np, t_cy, None, None)


def _mmd_test_row():
    f = _mmd_test_call(TEST_N, TEST_PERMUTATIONS)
    return _row(f"mmd_test, {TEST_PERMUTATIONS} permutations, n=m={TEST_N}, d=2", "float64",
                1, median_time(f, 1, warmup=0), None, peak_memory(f) / 2**20, None)


# A rough guess of each row's seconds, for the progress line's estimate only (the run's own
# pace corrects it as rows finish): per call, the NumPy MMD about 3e-7 s per pair of rows
# at d = 2 (d = 64: 5e-7 s), the compiled one 1e-8 s (d = 64: 6e-8 s); a training step
# about 20 ms; the 65,536-point MMD 40 s on one thread; the two-sample test 35 s.
def _guess_mmd(n, d, reps, has_cython, slow_factor=1.0):
    numpy_calls = (1 if n * n * d > 1e8 else reps) + 2   # + the warm-up and the memory call
    per_pair_np, per_pair_cy = (3e-7, 1e-8) if d == 2 else (5e-7, 6e-8)
    return n * n * slow_factor * (numpy_calls * per_pair_np
                                  + has_cython * (reps + 2) * per_pair_cy)


def plan(quick=False, floors=None):
    """The rows `run` makes, in order: a list of (guessed seconds, function -> row).

    quick: the small cases only, about a minute on a 2-core machine (the NumPy reference at
    n = 1024, the training steps with fewer calls, the compiled 4096-point MMD on 1 and 2
    threads); otherwise every case (about a quarter of an hour)."""
    has_cython = "cython" in backend_mod.available()
    reps = 3 if quick else 7
    floors = {} if floors is None else floors
    rows = []
    mmd_cases = [(256, 2), (1024, 2), (1024, 64)] if quick else MMD_CASES
    for n, d in mmd_cases:
        for dtype in ("float64", "float32"):
            rows.append((_guess_mmd(n, d, reps, has_cython),
                         lambda n=n, d=d, dtype=dtype: _mmd_row(n, d, dtype, reps, floors,
                                                               has_cython)))
    both_n = 1024 if quick else BOTH_N
    for dtype in ("float64", "float32"):  # the gradient through both samples (MMD-GAN critic)
        rows.append((_guess_mmd(both_n, 2, reps, has_cython, slow_factor=1.3),
                     lambda dtype=dtype: _mmd_row(both_n, 2, dtype, reps, floors, has_cython,
                                                  wrt="both")))
    for kind in STEP_KINDS:
        for net in NETS:
            rows.append((0.02 * (reps * 5 + 2) * (1 + has_cython),
                         lambda kind=kind, net=net: _step_row(kind, net, reps * 5, has_cython)))
    if has_cython:
        for threads in (1, 2):
            rows.append((0.3 * (reps + 2) / threads,
                         lambda threads=threads: _compiled_mmd_row(4096, threads, reps)))
        if not quick:
            for threads in (1, 2):
                rows.append((40.0 / threads,
                             lambda threads=threads: _compiled_mmd_row(HUGE, threads, 1, 0)))
    if not quick:
        rows.append((35.0, _mmd_test_row))
    return rows


def _minutes(seconds):
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def run(quick=False, progress=print, floors=None, status=None):
    """All cases -> list of rows (dicts), each printed by `progress` as it is made.
    status: called with a line that says how far the run is and a guess of the time left
    (None: no such line). floors: exp_floors() when already measured.
    Every row runs under one BLAS thread (minigan.threads); the compiled MMD on the
    row's `threads`."""
    planned = plan(quick, exp_floors() if floors is None else floors)
    total_guess = sum(g for g, _ in planned)
    start, guessed_done, rows = time.perf_counter(), 0.0, []
    with thread_policy.limit(1):
        for k, (guess, make_row) in enumerate(planned):
            rows.append(make_row())
            progress(format_row(rows[-1]))
            guessed_done += guess
            if status is not None and k + 1 < len(planned):
                elapsed = time.perf_counter() - start
                left = (total_guess - guessed_done) * elapsed / guessed_done
                status(f"[{k + 1}/{len(planned)} rows, {_minutes(elapsed)} so far, "
                       f"about {_minutes(left)} left]")
    return rows


def _torch():
    """The torch module, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_mmd2_and_grad(torch, X, Y, sigmas):
    """Unbiased MMD^2 of X against Y and dMMD^2/dX through torch autograd (for --peers).

    The same maths as minigan.mmd._mmd2_terms, written the way a torch user would: the three
    kernel blocks as dense matrices, distances ||x||^2 + ||y||^2 - 2 x.y, backward().
    """
    x = torch.from_numpy(X).requires_grad_(True)
    y = torch.from_numpy(Y)

    def kernel_sum(a, b, drop_diagonal):
        dist2 = ((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T).clamp_min(0)
        K = sum(torch.exp(-dist2 / (2 * s * s)) for s in sigmas)
        return K.sum() - (K.diagonal().sum() if drop_diagonal else 0)

    n, m = len(X), len(Y)
    value = (kernel_sum(x, x, True) / (n * (n - 1)) + kernel_sum(y, y, True) / (m * (m - 1))
             - 2 * kernel_sum(x, y, False) / (n * m))
    value.backward()
    return value.item(), x.grad.numpy()


def _torch_gmn_step(torch, net, seed=0):
    """One GMN step in torch eager on the net `net` of NETS: noise -> MLP -> MMD^2 -> Adam."""
    noise_dim, hidden, data_dim = NETS[net]
    torch.manual_seed(seed)
    sizes = [noise_dim, *hidden, data_dim]
    layers = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(d_in, d_out, dtype=torch.float64), torch.nn.ReLU()]
    G = torch.nn.Sequential(*layers[:-1])  # linear output, as minigan's GMN
    opt = torch.optim.Adam(G.parameters(), lr=1e-3)
    real_np = grid().sample(BATCH, seed=seed) if data_dim == 2 else (
        np.random.default_rng(seed).normal(size=(BATCH, data_dim)))
    real = torch.from_numpy((real_np - real_np.mean(0)) / real_np.std(0))
    sigmas = [float(s) for s in median_ladder(real_np)]

    def step():
        fake = G(torch.rand(BATCH, noise_dim, dtype=torch.float64) * 2 - 1)
        n = BATCH
        def ksum(a, b):
            dist2 = ((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :]
                     - 2 * a @ b.T).clamp_min(0)
            K = sum(torch.exp(-dist2 / (2 * s * s)) for s in sigmas)
            return K.sum() - K.diagonal().sum()
        loss = ksum(fake, fake) / (n * (n - 1)) - 2 * ksum(fake, real) / (n * n)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


PEER_HEADER = f"{'case':62} {'dtype':7} {'torch':>10} {'cython':>10} {'cy/torch':>8}"


def run_peers(quick=False, progress=print):
    """The --peers rows: torch against the compiled core, one thread each, or [] (with a
    one-line note) when torch or the compiled core is missing."""
    torch = _torch()
    if torch is None or "cython" not in backend_mod.available():
        progress("peers: skipped (" + ("PyTorch is not installed; pip install torch to add "
                                       "them" if torch is None else "the compiled core is "
                                       "not built") + ")")
        return []
    reps = 3 if quick else 7
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    progress(f"peers: torch {torch.__version__} (1 thread, {torch.backends.cpu.get_cpu_capability()})")
    progress(PEER_HEADER)
    try:
        for dtype in ("float64", "float32"):
            rng = np.random.default_rng(0)
            X = rng.normal(size=(BOTH_N, 2)).astype(dtype)
            Y = (rng.normal(size=(BOTH_N, 2)) + 0.5).astype(dtype)
            sigmas = median_ladder(X[:1000], Y[:1000])
            t_torch = median_time(lambda: torch_mmd2_and_grad(torch, X, Y, sigmas), reps)
            t_cy = median_time(_mmd_call(BOTH_N, 2, dtype, "cython"), reps)
            rows.append({"case": f"MMD² + grad, n=m={BOTH_N}, d=2", "dtype": dtype,
                         "torch_s": t_torch, "cython_s": t_cy})
            progress(format_peer_row(rows[-1]))
        net = "2-D (2-128-128-2)"
        t_torch = median_time(_torch_gmn_step(torch, net), reps * 5)
        t_cy = median_time(_step_call("GMN", net, "cython"), reps * 5)
        rows.append({"case": f"GMN step, {net}, batch {BATCH}", "dtype": "float64",
                     "torch_s": t_torch, "cython_s": t_cy})
        progress(format_peer_row(rows[-1]))
    finally:
        torch.set_num_threads(threads)
    return rows


def format_peer_row(r):
    return (f"{r['case']:62} {r['dtype']:7} {r['torch_s']:10.5f} {r['cython_s']:10.5f} "
            f"{r['torch_s'] / r['cython_s']:7.1f}x")


def _fmt(v, spec):
    """v formatted by spec ("10.5f"), or blanks as wide when there is no figure."""
    return format(v, spec) if v is not None else " " * int(spec.split(".")[0])


HEADER = (f"{'case':62} {'dtype':7} {'thr':>3} {'numpy':>10} {'cython':>10} {'speedup':>8} "
          f"{'np MiB':>8} {'cy MiB':>8} {'Mpair/s':>8} {'exp%':>5}")


def format_row(r):
    """One table line; a cell without a figure is left blank."""
    rate, frac, speedup = r.get("pairs_per_s"), r.get("exp_floor_fraction"), r["speedup"]
    return (f"{r['case']:62} {r['dtype']:7} {r['threads']:>3} {_fmt(r['numpy_s'], '10.5f')} "
            f"{_fmt(r['cython_s'], '10.5f')} "
            f"{format(speedup, '7.1f') + 'x' if speedup is not None else ' ' * 8} "
            f"{_fmt(r['numpy_peak_MiB'], '8.1f')} {_fmt(r['cython_peak_MiB'], '8.2f')} "
            f"{_fmt(rate and rate / 1e6, '8.0f')} "
            f"{format(100 * frac, '4.0f') + '%' if frac is not None else ' ' * 5}")


def policy_line():
    """What `minigan bench` runs on, said before the table."""
    counts = sorted(set(thread_policy.blas_counts().values()))
    return (f"threads: every row runs BLAS (NumPy's and the compiled core's) on 1 thread "
            f"(minigan.threads; outside the bench they run {'/'.join(map(str, counts))}); "
            f"the compiled MMD on the 'thr' column's threads; {os.cpu_count()} cores here")


def machine():
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            **backend_mod.info(),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
            "threads": policy_line(),
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
                   if r["case"].startswith("MMD² + grad, ") and f"d={d}" in r["case"]
                   and r["dtype"] == dtype
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
    p.add_argument("--quick", action="store_true",
                   help="fewer repeats, small cases only: about a minute (the full run: about "
                        "a quarter of an hour, with progress and a guess of the time left)")
    p.add_argument("--json", type=output_file, metavar="PATH", help="write the rows and the machine as JSON")
    p.add_argument("--plot", type=output_file, metavar="PATH", help="write a PNG of the MMD speedup against n")
    p.add_argument("--peers", action="store_true",
                   help="also time PyTorch (when installed) on the same MMD and GMN step")
    args = p.parse_args(argv)
    info = machine()
    print(f"machine: {info['processor']}, {info['cpus']} cpus, {info['platform']}; "
          f"backends: {', '.join(info['backends'])}")
    floors = info["exp_floor_per_s"] = exp_floors()
    if info["cpu_path"]:
        print(f"compiled MMD kernel: {info['cpu_path']} instruction set (this CPU runs "
              f"{', '.join(info['cpu_paths'])}; MINIGAN_CPU forces a lower one); vector exp "
              f"alone: {floors['float64'] / 1e6:.0f} M/s float64, "
              f"{floors['float32'] / 1e6:.0f} M/s float32")
    print(policy_line())
    # the progress line is rewritten in place on a terminal, one line per update otherwise
    live = sys.stderr.isatty()
    clear = "\r\033[K" if live and sys.stdout.isatty() else ""
    row_out = lambda line: print(clear + line, flush=True)
    status = lambda line: sys.stderr.write(("\r\033[K" + line) if live else line + "\n")
    planned = plan(args.quick)
    print(f"{len(planned)} rows, a first guess of {_minutes(sum(g for g, _ in planned))} here"
          f"{'' if args.quick else ' (--quick: the small cases, about a minute)'}")
    print(HEADER)
    rows = run(quick=args.quick, progress=row_out, floors=floors, status=status)
    peers = run_peers(quick=args.quick) if args.peers else []
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "rows": rows, "peers": peers}, f, indent=2)
        print(f"wrote {args.json}")
    if args.plot:
        plot(args.plot, rows)
        print(f"wrote {args.plot}")
    return 0
