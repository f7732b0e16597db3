import os

# Keep BLAS single-threaded in tests: two cores shared by several thread pools oversubscribe.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
