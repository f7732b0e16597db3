"""minigan's thread policy: how many threads BLAS and the compiled MMD kernel may use.

Why a library needs one. NumPy's `@` and the compiled core's gemms call OpenBLAS (two
copies in one process: NumPy's own, and SciPy's, which `scipy.linalg.cython_blas` gives the
compiled core), and OpenBLAS starts one thread per core for every product. The products of
a training step are small (a batch of 256 rows through a 32- or 128-wide layer: microseconds
of work), so waking those threads costs more than the product; on a machine whose cores are
busy with other programs (a browser, an editor, a second process) the threads spin waiting
for a core, and a step takes many times longer. Measured figures: docs/results.md, "Threads".

The policy:
  - a training step, called by fit() or directly (every trainer's step() runs inside
    `limit(step_threads())`, see minigan.divergence), and the training of a learned kernel
    (minigan.deep_kernel.learn_kernel) run BLAS on one thread, whatever OPENBLAS_NUM_THREADS
    says: every product of a step at the shipped sizes is far below the measured crossover
    (docs/compiled.md, "Threads"), where a second thread starts to pay;
  - outside a step minigan leaves BLAS as the process has it (large products, e.g. the NumPy
    MMD at n = 4096, d = 64, are above the crossover and use every core);
  - the compiled MMD kernel's OpenMP threads: one for small work, all cores for large
    (minigan.mmd, n_threads=None).
One override: `set_num_threads(n)` (or the environment variable MINIGAN_NUM_THREADS, read
at import) makes all of it run on n threads: the BLAS of a step and the compiled MMD kernel.
`set_num_threads(None)` returns to the policy.

Compare-and-restore: `limit(n)` sets each BLAS library's count to n and, when it ends,
puts back the count it found, but only where the count is still the one it set: a count
changed meanwhile (threadpoolctl's threadpool_limits in another thread, an
openblas_set_num_threads call) is kept. Limits are counted: nested or overlapping limits
(fit() around its steps, two trainers in two threads) leave the first one's count in force
until the last one ends, and the process is as it was when the last limit ends, also after
an exception.

The BLAS libraries are found once, by threadpoolctl (Linux, macOS, Windows; OpenBLAS, MKL,
BLIS), at the first limit; a BLAS loaded into the process after that is not held. Setting
the counts through threadpoolctl's own threadpool_limits costs milliseconds a call (it
searches the loaded libraries every time; docs/results.md), as much as a small training
step; the libraries it finds are kept and their counts set directly instead (microseconds).

Deliberately left out: a size-by-size rule inside a step (every product of a step is on the
same side of the crossover), and holding the OpenMP runtime itself (the compiled kernel is
told its thread count per call).
"""
import ctypes
import operator
import os
import threading

ENV = "MINIGAN_NUM_THREADS"

_lock = threading.Lock()   # guards the three names below
_users = 0                 # limits in force (nested or in other threads)
_saved = []                # (library, count found, count set) of the first limit in force
_libraries = None          # the BLAS libraries (_Blas), found at the first limit
_override = None           # set_num_threads(n) or MINIGAN_NUM_THREADS: n; None: the policy


def _checked_count(n, name):
    """n as a positive int, or None; TypeError/ValueError naming `name` otherwise."""
    if n is None:
        return None
    try:
        if isinstance(n, bool):
            raise TypeError
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"{name} must be a positive integer or None, "
                        f"got {type(n).__name__}") from None
    if not 1 <= n <= 1024:
        raise ValueError(f"{name} must be between 1 and 1024 (or None for minigan's policy), "
                         f"got {n}")
    return n


def set_num_threads(n):
    """Run minigan's BLAS products and compiled MMD kernel on n threads (None: the policy:
    one BLAS thread in a training step, the compiled MMD by problem size). Returns the
    previous setting."""
    global _override
    n = _checked_count(n, "n")
    previous, _override = _override, n
    return previous


def get_num_threads():
    """The override set by set_num_threads() or MINIGAN_NUM_THREADS, or None (the policy)."""
    return _override


def step_threads():
    """BLAS threads for one training step: the override, else 1."""
    return 1 if _override is None else _override


def mmd_threads():
    """The compiled MMD kernel's thread count: the override, else 0 (the kernel chooses:
    one thread for small work, all cores for large)."""
    return 0 if _override is None else _override


# OpenBLAS's own thread-count functions, as its builds name them (NumPy's wheel: 64-bit
# integers and a suffix; SciPy's: a prefix only; a system OpenBLAS: neither)
OPENBLAS_NAMES = ("scipy_openblas_{}_num_threads64_", "scipy_openblas_{}_num_threads",
                  "openblas_{}_num_threads64_", "openblas_{}_num_threads")


class _Blas:
    """One BLAS library's thread count: `get()`, `set(n)`, and its `filepath`.

    threadpoolctl finds the library; an OpenBLAS on its own thread pool (pthreads) is then
    set through its C functions directly: threadpoolctl lets only the first Python thread
    that sets such a library change it later (a step running in a background thread would
    be ignored), and compare-and-restore already keeps threads from undoing each other."""

    def __init__(self, lib):
        self.filepath = lib.filepath
        self.get, self.set = lib.get_num_threads, lib.set_num_threads
        if lib.internal_api == "openblas" and getattr(lib, "threading_layer", "") == "pthreads":
            for name in OPENBLAS_NAMES:
                get = getattr(lib.dynlib, name.format("get"), None)
                set_ = getattr(lib.dynlib, name.format("set"), None)
                if get is not None and set_ is not None:
                    get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
                    self.get, self.set = get, set_
                    break


def _blas_libraries():
    """The BLAS libraries loaded in this process (found once, by threadpoolctl)."""
    global _libraries
    if _libraries is None:
        from threadpoolctl import ThreadpoolController
        _libraries = [_Blas(lib) for lib in ThreadpoolController().lib_controllers
                      if lib.user_api == "blas"]
    return _libraries


def blas_counts():
    """{library path: its current thread count} for every BLAS minigan holds."""
    return {lib.filepath: lib.get() for lib in _blas_libraries()}


def enter(n):
    """Start a limit of n BLAS threads (pair every call with one `leave()`; `limit` does)."""
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = []
            for lib in _blas_libraries():
                found = lib.get()
                if found != n:
                    lib.set(n)
                    _saved.append((lib, found, lib.get()))  # the library may cap n
        _users += 1


def leave():
    """End a limit; the last one out puts back each count it changed, unless that count
    was changed again meanwhile (then the newer count stays)."""
    global _users, _saved
    with _lock:
        _users -= 1
        if _users == 0:
            for lib, found, set_to in _saved:
                if lib.get() == set_to:
                    lib.set(found)
            _saved = []


class limit:
    """`with limit(n):` BLAS on n threads inside, the process's counts back afterwards
    (compare-and-restore, see the module docstring)."""

    def __init__(self, n):
        if n is None:
            raise TypeError("n must be a positive integer, got None")
        self.n = _checked_count(n, "n")

    def __enter__(self):
        enter(self.n)
        return self

    def __exit__(self, *exc):
        leave()
        return False


def _from_environment():
    """MINIGAN_NUM_THREADS as a count, or None when it is unset or empty."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return None
    try:
        return _checked_count(int(text), ENV)
    except ValueError:
        raise ValueError(f"{ENV} must be a whole number from 1 to 1024, got {text!r}") from None


_override = _from_environment()
