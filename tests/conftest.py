import os

# Keep BLAS single-threaded in tests: two cores shared by several thread pools oversubscribe.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


def _backends(module):
    """"numpy", plus "cython" when minigan._ext.<module> is built."""
    from minigan import backend
    return ["numpy"] + (["cython"] if backend._load(module) is not None else [])


def pytest_generate_tests(metafunc):
    """Tests that take `mmd_backend` / `mlp_backend` run once per available backend, so the
    NumPy reference is always checked, and the compiled core too when it is built."""
    for name, module in (("mmd_backend", "mmd"), ("mlp_backend", "dense")):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, _backends(module))
