# cython: language_level=3
"""Compiled MMD^2 and its gradients (X, or X and Y): the fast twin of minigan/mmd.py.

Same kernel, estimators and gradient as the NumPy reference (read that first):

    k(x, y) = sum_k exp(-||x - y||^2 / (2 sigma_k^2))          (sigma_k a length-scale)
    MMD^2   = c_xx sum k(x_i, x_j) + c_yy sum k(y_i, y_j) - 2 c_xy sum k(x_i, y_j)
    dMMD^2/dx_a = -2 c_xx sum_j w_aj (x_a - x_j) + 2 c_xy sum_j w_aj (x_a - y_j),
    dMMD^2/dy_b = -2 c_yy sum_j w_bj (y_b - y_j) + 2 c_xy sum_i w_ib (y_b - x_i),
    w = sum_k exp(-||.||^2 / (2 sigma_k^2)) / sigma_k^2

Names, maths -> minigan/mmd.py -> here (the kernel is in ext/_mmd_kernel.pxi):

    ||x_i - z_j||^2      squared_distances(...)    dist2 (a tile), normsA/normsZ (||x||^2)
    k_k(x_i, z_j)        inside Kxx, Kyy, Kxy       e, one rung k at a time (E: one row)
    sum_j k(x_i, z_j)    Kxx.sum() etc.             ksum_col (per column slot), then ksum
    w_ij                 Wxx, Wyy, Wxy              W (a tile), W_row
    1 / (2 sigma_k^2)    (in _kernel_and_weights)   gamma[k]
    1 / sigma_k^2        (in _kernel_and_weights)   inv_s2[k]
    -2 c_xx, -2 c_yy, 2 c_xy                         coef_xx, coef_yy, coef_xy (grad_coef)
    row a / b of X / Y   x_a, y_b                   a_i (row i of the row sample A), Z
    coordinate of a row  (whole rows in NumPy)      dim, a_id = a_i[dim]
    dMMD^2/dX, dY        dX, dY                     dX, dY (float64 per thread), grad_A/Z

The task split, against the three lines of _mmd2_terms that build the kernel blocks:

    Kxx, Wxx = ...(X, X)    task "X rows": TI rows of X against X, pairs j > i only (the
                            block is symmetric); each pair adds to dX at both of its rows
    Kyy, Wyy = ...(Y, Y)    task "Y rows", first half: TI rows of Y against Y, pairs j > i
    Kxy, Wxy = ...(X, Y)    task "Y rows", second half: the same rows of Y against all of X
                            (the cross block, transposed); the row side adds to dY, the
                            column side to dX

How it is fast:
  * one fused pass over the pairs, tile by tile (TI rows x TJ columns): no n x m matrix is
    ever made; extra memory is O((n + m) d + tile) per thread;
  * the X-X and Y-Y sums are symmetric: only the pairs j > i are visited;
  * within a tile row, unit-stride passes over an L1-sized buffer (distances, then one exp
    pass, then the reductions), so gcc vectorises the exp calls (with -ffast-math it calls
    glibc's vector exp, libmvec);
  * ratio-2 bandwidth ladders use one exp per pair for every MAX_LADDER bandwidths (see
    _row_kernel; a longer run of squarings would break the accuracy contract);
  * for d >= GEMM_MIN_D (6) the cross products x.z and the gradient sums of a tile are BLAS
    gemms (ext/_blas.pxi: row-major, as every ext/ module);
  * row blocks are shared among OpenMP threads (prange) with per-thread accumulators;
    OpenBLAS is held to one thread meanwhile, and the threads flush subnormals to zero.
    The schedule is static (a fixed task -> thread map, each thread's tasks in order) and the
    per-thread sums are added in thread order afterwards: for a given thread count the
    result is the same to the bit from run to run;
  * runtime CPU dispatch: the kernel source is compiled three times, for the portable
    x86-64 baseline (SSE2: two doubles per vector, libmvec's _ZGVbN2v_exp), for AVX2 + FMA
    (minigan._ext.mmd_avx2: four, _ZGVdN4v_exp) and for AVX-512 (minigan._ext.mmd_avx512:
    eight, _ZGVeN8v_exp). At each call the highest path this CPU supports runs, unless the
    environment variable MINIGAN_CPU=baseline|avx2|avx512 asks for a lower one (cpu_path()).
    A path is only imported after the CPU said it has the instructions, so no build can
    crash an older CPU. Paths differ in the last bits (FMA, vector sums), not beyond the
    contract's tolerances.

float32 inputs: distances, exps and the short partial sums of one tile (at most TJ terms along
a row, TI * len(sigmas) down a column) are float32; everything beyond is summed in float64.

Left out: input validation beyond what keeps memory safe (minigan.mmd does it: finite values,
dtypes, sizes), the linear-time estimator, other kernels.
"""
import ctypes
import importlib
import os
import sys
import threading
import time
import warnings

include "_maths.pxi"
include "_blas.pxi"
include "_mmd_kernel.pxi"

cdef extern from *:
    """
    /* What this CPU (and its OS: the AVX register state must be enabled) can run.
       __builtin_cpu_supports is gcc's and clang's; elsewhere only the baseline. */
    #if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    static int minigan_cpu_has_avx2(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    static int minigan_cpu_has_avx512(void) {
        __builtin_cpu_init();
        return minigan_cpu_has_avx2() && __builtin_cpu_supports("avx512f")
            && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512bw");
    }
    #else
    static int minigan_cpu_has_avx2(void) { return 0; }
    static int minigan_cpu_has_avx512(void) { return 0; }
    #endif
    """
    int minigan_cpu_has_avx2() noexcept nogil
    int minigan_cpu_has_avx512() noexcept nogil


# ------------------------------------------------------------------ runtime CPU dispatch
CPU_PATHS = ("baseline", "avx2", "avx512")  # lowest first; the build flags are in setup.py


class CpuPathWarning(UserWarning):
    """MINIGAN_CPU asked for a path this machine cannot run; a lower one runs instead."""


def cpu_supports(path):
    """True when this CPU can run the instruction-set level `path` (one of CPU_PATHS)."""
    if path not in CPU_PATHS:
        raise ValueError(f"cpu path must be one of {list(CPU_PATHS)}, got {path!r}")
    return (path == "baseline" or (path == "avx2" and minigan_cpu_has_avx2() == 1)
            or (path == "avx512" and minigan_cpu_has_avx512() == 1))


_MODULES = {}  # path -> the module compiled for it, or None (not built, or the CPU lacks it)


def _module(path):
    """The module whose `run` and `exp_floor` are compiled for `path`, or None when it cannot
    run here."""
    if path not in _MODULES:
        if path == "baseline":
            _MODULES[path] = sys.modules[__name__]  # this module's own copy of the kernel
        elif not cpu_supports(path):
            _MODULES[path] = None  # never import code the CPU cannot execute
        else:
            try:
                _MODULES[path] = importlib.import_module(f"minigan._ext.mmd_{path}")
            except ImportError:  # not built (not x86, or the compiler lacks the flags)
                _MODULES[path] = None
    return _MODULES[path]


def cpu_paths():
    """The paths that can run here (built, and supported by this CPU), lowest first."""
    return [path for path in CPU_PATHS if _module(path) is not None]


_WARNED = set()


def cpu_path():
    """The path the kernel runs: the highest in cpu_paths(), or MINIGAN_CPU's when set.

    MINIGAN_CPU = "baseline", "avx2" or "avx512" forces that path; one this machine cannot
    run (the CPU lacks it, or it was not built) gives a CpuPathWarning once and the highest
    path below it; "" or "auto" is the default; anything else is a ValueError.
    """
    paths = cpu_paths()  # (no paths[-1] here: the module is compiled with wraparound off)
    best = paths[len(paths) - 1]
    wanted = os.environ.get("MINIGAN_CPU", "auto") or "auto"
    if wanted == "auto":
        return best
    if wanted not in CPU_PATHS:
        raise ValueError(f"MINIGAN_CPU must be one of {list(CPU_PATHS) + ['auto']}, "
                         f"got {wanted!r}")
    if wanted in paths:
        return wanted
    lower = max((p for p in paths if CPU_PATHS.index(p) < CPU_PATHS.index(wanted)),
                key=CPU_PATHS.index)
    if wanted not in _WARNED:
        _WARNED.add(wanted)
        why = "this CPU lacks it" if not cpu_supports(wanted) else "it was not built"
        warnings.warn(f"MINIGAN_CPU={wanted}: {why}; running the {lower} path",
                      CpuPathWarning, stacklevel=2)
    return lower


def _openblas_thread_controls():
    """(get_num_threads, set_num_threads) of each OpenBLAS loaded in this process (Linux only).

    The tiles' gemms are small: OpenBLAS's own thread pool, woken for each of them, made the
    kernel 20x slower here, and it fights the OpenMP threads. So the kernel holds OpenBLAS to
    one thread while it runs (what OPENBLAS_NUM_THREADS=1 does for the whole process).
    """
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line[line.index("/"):].strip() for line in maps
                            if "openblas" in line.lower() and "/" in line})
    except OSError:
        return []
    controls = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)  # already loaded (scipy's BLAS): this only gets a handle
        except OSError:
            continue
        for name in ("scipy_openblas_{}_num_threads", "scipy_openblas_{}_num_threads64_",
                     "openblas_{}_num_threads"):
            try:
                get, set_ = getattr(lib, name.format("get")), getattr(lib, name.format("set"))
            except AttributeError:
                continue
            get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
            controls.append((get, set_))
            break
    return controls


_BLAS_THREADS = None  # filled on first use
# Calls may overlap (the kernel releases the GIL): the first one in saves OpenBLAS's thread
# counts and sets them to 1, the last one out restores them. _BLAS_LOCK guards these three.
_BLAS_LOCK = threading.Lock()
_BLAS_USERS = 0
_BLAS_SAVED = []


def _blas_cap():
    """Hold OpenBLAS to one thread (counted: pair every call with one _blas_release).

    This is process-wide (OpenBLAS has one thread count), so while a compiled MMD call with
    d >= GEMM_MIN_D runs, other threads' BLAS calls run on one thread too. _blas_release
    restores a count only if it is still the 1 set here (compare-and-restore): a
    threadpool_limits(...) or openblas_set_num_threads(k) done by another thread meanwhile is
    kept. What remains: if that other thread sets exactly 1, it cannot be told apart from our
    cap and the saved count comes back; and a count raised meanwhile also holds for the gemms
    of calls still running. Serialising every BLAS user of the process would be the only cure.
    """
    global _BLAS_THREADS, _BLAS_USERS, _BLAS_SAVED
    with _BLAS_LOCK:
        if _BLAS_THREADS is None:
            _BLAS_THREADS = _openblas_thread_controls()
        if _BLAS_USERS == 0:
            _BLAS_SAVED = [(get, set_, get()) for get, set_ in _BLAS_THREADS]
            for _, set_, _ in _BLAS_SAVED:
                set_(1)
        _BLAS_USERS += 1


def _blas_release():
    """The last caller out restores each saved count, unless someone changed it meanwhile."""
    global _BLAS_USERS, _BLAS_SAVED
    with _BLAS_LOCK:
        _BLAS_USERS -= 1
        if _BLAS_USERS == 0:
            for get, set_, threads in _BLAS_SAVED:
                if get() == 1:  # still our cap (else another thread set its own count)
                    set_(threads)
            _BLAS_SAVED = []


# The most rungs of a ratio-2 ladder one exp serves, per dtype: the narrowest kernel of a run
# of ns rungs is exp(top)^(4^(ns-1)), so exp's relative rounding error (float32 ~6e-8, float64
# ~1.1e-16) grows 4^(ns-1)-fold. float32: 4^4 * 6e-8 ~ 1.5e-5 against the contract's rtol 1e-4
# (9 rungs would give 4e-3); float64: 4^9 * 1.1e-16 ~ 3e-11 against rtol 1e-10. A longer ladder takes one
# exp per segment of at most this many rungs (10 rungs in float32: two exps a pair, not ten).
MAX_LADDER = {np.dtype(np.float32): 5, np.dtype(np.float64): 10}


def _is_ladder(s):
    """True when the sorted bandwidths double at each step (within 1e-12 relative)."""
    return s.size >= 2 and bool(np.all(np.abs(s[1:] - 2 * s[:s.size - 1]) <= 1e-12 * s[1:]))


# The most threads a caller may ask for (minigan.mmd.MAX_THREADS); the kernel runs at most
# MAX_THREADS (64) of them. Checked in Python, before the conversion to a C int.
MAX_THREAD_REQUEST = 1024


def _thread_count(n_threads):
    """n_threads as the kernel's C int: 0 (automatic) for n_threads <= 0, else the count;
    TypeError for a non-integer, ValueError above MAX_THREAD_REQUEST (a Python int of 2^31 or
    more would otherwise be an OverflowError that does not say which argument)."""
    if isinstance(n_threads, (bool, np.bool_)) or not isinstance(n_threads, (int, np.integer)):
        raise TypeError(f"n_threads must be an integer, got {type(n_threads).__name__}")
    if n_threads > MAX_THREAD_REQUEST:
        raise ValueError(f"n_threads must be at most {MAX_THREAD_REQUEST} (<= 0: automatic), "
                         f"got {n_threads}")
    return max(0, int(n_threads))


def sigma_range(dtype):
    """(lo, hi): the bandwidths the kernel takes in `dtype`. The coefficients 0.5 / sigma^2
    and 1 / sigma^2 are made in float64 and used in `dtype`: below lo = sqrt(4 / max) they
    overflow; at hi = 2^(maxexp / 4) (2^32 in float32, 2^256 in float64) 1 / (2 sigma^2) is
    2^-(maxexp / 2 + 1), still far above the smallest normal float, so that its products with
    the distances stay normal too (subnormals are flushed to zero in the kernel's threads:
    a coefficient that reached them would make every k exactly 1 and MMD^2 exactly 0)."""
    info = np.finfo(dtype)
    return float(np.sqrt(4 / info.max)), 2.0 ** (info.maxexp // 4)


def mmd2_and_grad(X, Y, sigmas, bint unbiased, bint with_grad, n_threads,
                  bint grad_y=False, cpu=None, bint parts=False):
    """MMD^2 of X: (n, d) against Y: (m, d) and (if with_grad) its gradient w.r.t. X, and
    w.r.t. Y too when grad_y, or dX's X-X and X-Y terms apart when parts.

    X, Y: C-contiguous, both float32 or both float64, finite (minigan.mmd checks this);
    sigmas: float64 1-D C-contiguous bandwidths (length-scales) within sigma_range(X.dtype).
    unbiased: U-statistic (else V-statistic). n_threads: an integer <= MAX_THREAD_REQUEST
    (more: ValueError); <= 0: 1 thread when n m < SMALL_WORK, else omp_get_max_threads()
    (OMP_NUM_THREADS); the kernel uses at most MAX_THREADS and one per row block.
    cpu: the instruction-set path to run (one of cpu_paths(); a path that cannot run here is
    a ValueError); None: cpu_path().
    Returns (value: float, dX: (n, d) of X's dtype, or None), and dY: (m, d) (or None) as a
    third item when grad_y; with parts (which needs with_grad and not grad_y), (None, dX's
    X-X term, dX's X-Y term), each (n, d): the Y-Y block, which only the value needs, is
    skipped.
    Shapes, dtypes and layout are re-checked here (ValueError) so that no call can read out
    of bounds.
    """
    threads = _thread_count(n_threads)
    for name, arr in (("X", X), ("Y", Y)):
        if not isinstance(arr, np.ndarray) or arr.ndim != 2:
            raise ValueError(f"{name} must be a 2-D numpy array")
        if arr.dtype not in (np.float32, np.float64) or not arr.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous float32 or float64, "
                             f"got {arr.dtype}, C-contiguous={arr.flags.c_contiguous}")
        if arr.shape[0] < 1 + unbiased or not 1 <= arr.shape[1] < 2**31:
            raise ValueError(f"{name} must have at least {1 + unbiased} rows and 1 to 2^31 - 1 "
                             f"columns, got shape {arr.shape}")
    if X.dtype != Y.dtype or X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y must share dtype and width, got {X.dtype} {X.shape} "
                         f"and {Y.dtype} {Y.shape}")
    if (not isinstance(sigmas, np.ndarray) or sigmas.dtype != np.float64 or sigmas.ndim != 1
            or sigmas.size == 0 or not sigmas.flags.c_contiguous):
        raise ValueError("sigmas must be a non-empty 1-D C-contiguous float64 array")
    if not np.all(np.isfinite(sigmas)) or np.any(sigmas <= 0):
        raise ValueError("sigmas must be finite and > 0")
    s = np.sort(sigmas)
    lo, hi = sigma_range(X.dtype)
    if not (lo <= s[0] and s[-1] <= hi):
        raise ValueError(f"sigmas must lie in [{lo:.3g}, {hi:.3g}] for {X.dtype} (below, "
                         f"1 / sigma^2 overflows; above, 1 / (2 sigma^2) heads for the "
                         f"subnormals, where the kernel flushes it to 0 and k = 1), got "
                         f"{s[0]:.3g} to {s[-1]:.3g}; minigan.mmd rescales data and "
                         f"bandwidths into this range")
    kernel = _module(_checked_path(cpu)).run
    seg = MAX_LADDER[X.dtype] if _is_ladder(s) else 1   # rungs per exp (_row_kernel)
    capped = X.shape[1] >= GEMM_MIN_D  # only the gemm path calls BLAS
    if capped:
        _blas_cap()
    try:
        return kernel(X, Y, 0.5 / s**2, 1.0 / s**2, seg, unbiased, with_grad, grad_y,
                      threads, parts)
    finally:
        if capped:
            _blas_release()


def _checked_path(cpu):
    """cpu_path() for None, else `cpu` when this machine runs it (else ValueError)."""
    if cpu is None:
        return cpu_path()
    if cpu not in CPU_PATHS or _module(cpu) is None:
        raise ValueError(f"cpu must be one of the paths this machine runs, {cpu_paths()}, "
                         f"got {cpu!r}")
    return cpu


def exp_floor_rate(dtype, cpu=None, Py_ssize_t n_evals=20_000_000):
    """Exps per second of the kernel's vector exp loop (exp_floor) on path `cpu` (None:
    cpu_path()), in dtype: the most pairs per second a one-exp-per-pair kernel could do."""
    floor = _module(_checked_path(cpu)).exp_floor
    floor(dtype, 1000)  # warm up
    start = time.perf_counter()
    done = floor(dtype, n_evals)
    return done / (time.perf_counter() - start)
