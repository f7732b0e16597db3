"""The one switch between the NumPy reference and the compiled (Cython) core.

    "numpy"   the readable reference in minigan.mmd, .mlp, .optim and .losses; always there
    "cython"  the compiled modules under minigan._ext (built from ext/*.pyx); same
              functions, same results (float64 within rtol 1e-10, float32 within 1e-4)
    "auto"    "cython" when it is built, else "numpy" with one warning

The choice comes from the `backend=` argument of a call or constructor, else from the
MINIGAN_BACKEND environment variable, else "auto". Asking for "cython" when it is not
built is an error that says how to build it.

Inside "cython", the MMD kernel has one build per instruction set (runtime CPU dispatch, see
ext/mmd.pyx): "baseline" (portable x86-64 SSE2, or whatever the compiler targets elsewhere),
"avx2" and "avx512". The highest one this CPU runs is used; MINIGAN_CPU=baseline|avx2|avx512
forces a lower one (a path the CPU lacks gives a warning and the highest path below it).
info() says which runs.
"""
import importlib
import os
import warnings

BACKENDS = ("numpy", "cython")
CHOICES = BACKENDS + ("auto",)
EXT_MODULES = ("mmd", "dense", "optim", "losses")
BUILD_HINT = ('build it with `pip install -e ".[test]"` (or `python setup.py build_ext --inplace`) '
              "from the repository root; a C compiler is needed")

_modules = {}
_warned = False


class BackendWarning(UserWarning):
    """The compiled core was asked for by "auto" but is not built."""


def _load(name):
    """The compiled module minigan._ext.<name>, or None when it is not built."""
    if name not in _modules:
        try:
            _modules[name] = importlib.import_module(f"minigan._ext.{name}")
        except ImportError:
            _modules[name] = None
    return _modules[name]


def available():
    """The backends that can run here: ["numpy"] or ["numpy", "cython"]."""
    built = all(_load(name) is not None for name in EXT_MODULES)
    return ["numpy", "cython"] if built else ["numpy"]


def resolve(backend=None, module=None):
    """Turn a requested backend (None, "auto", "numpy", "cython") into "numpy" or "cython".

    module: the one compiled module the caller needs (e.g. "dense" for an MLP);
            None (default): all of EXT_MODULES.
    """
    global _warned
    if backend is None:
        backend = os.environ.get("MINIGAN_BACKEND", "auto") or "auto"
    if backend not in CHOICES:
        raise ValueError(f"backend must be one of {list(CHOICES)}, got {backend!r}")
    if module is not None and module not in EXT_MODULES:
        raise ValueError(f"module must be one of {list(EXT_MODULES)}, got {module!r}")
    if backend == "numpy":
        return "numpy"
    missing = [n for n in (EXT_MODULES if module is None else (module,)) if _load(n) is None]
    if not missing:
        return "cython"
    if backend == "cython":
        raise RuntimeError(f"the cython backend is not built (missing minigan._ext: "
                           f"{', '.join(missing)}); {BUILD_HINT}")
    if not _warned:
        _warned = True
        warnings.warn(f"minigan's compiled core is not built, so the NumPy backend runs; "
                      f"{BUILD_HINT}", BackendWarning, stacklevel=3)
    return "numpy"


def ext(name):
    """The compiled module minigan._ext.<name> (call after resolve(...) returned "cython")."""
    module = _load(name)
    if module is None:
        raise RuntimeError(f"minigan._ext.{name} is not built; {BUILD_HINT}")
    return module


def info():
    """What runs here, as a dict (printed in the header of `minigan bench`):

    backends   available()
    cpu_path   the instruction set the compiled MMD kernel runs ("baseline", "avx2",
               "avx512"; None without the compiled core)
    cpu_paths  every path this machine can run (MINIGAN_CPU may pick a lower one)
    openmp     whether the compiled kernel was built with OpenMP threads
    """
    mmd = _load("mmd")
    return {"backends": available(),
            "cpu_path": mmd.cpu_path() if mmd is not None else None,
            "cpu_paths": mmd.cpu_paths() if mmd is not None else [],
            "openmp": bool(mmd.OPENMP) if mmd is not None else False}
