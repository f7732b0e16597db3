"""When does a second BLAS thread pay? One matrix product, on 1 and on 2 BLAS threads.

Run from the repository root: `python docs/thread_crossover.py [seconds per size]`. For a
ladder of products (r x k) @ (k x c), from a training step's (256 rows through a 32-wide
layer) to the NumPy MMD's largest (4096 x 64 by 64 x 4096), it times the product on one and
on two threads, alternating, and prints the medians and their ratio. Run it on an idle
machine and again beside busy processes (e.g. two `python -c "while True: pass"`): the
crossover it finds is written down in docs/compiled.md, section 8; the figures in
docs/results.md, "Threads".
"""
import statistics
import sys
import time

import numpy as np

from minigan import threads

SHAPES = [(256, 32, 32), (256, 128, 128), (256, 256, 256), (1024, 256, 256), (1024, 64, 1024),
          (256, 1024, 1024), (4096, 2, 4096), (4096, 64, 4096), (2048, 512, 2048)]


def main(budget=1.0):
    rng = np.random.default_rng(0)
    print(f"{'r x k x c':>18} {'GFlop':>7} {'1 thr ms':>9} {'2 thr ms':>9} {'1 / 2':>6}")
    for r, k, c in SHAPES:
        A, B = rng.normal(size=(r, k)), rng.normal(size=(k, c))
        times = {1: [], 2: []}
        end = time.perf_counter() + budget
        while time.perf_counter() < end or len(times[2]) < 5:
            for n in (1, 2):
                with threads.limit(n):
                    A @ B                                   # wake the pool at this count
                    t0 = time.perf_counter()
                    A @ B
                    times[n].append(time.perf_counter() - t0)
        one, two = statistics.median(times[1]), statistics.median(times[2])
        print(f"{r:>6} x{k:>5} x{c:>5} {2 * r * k * c / 1e9:7.3f} {one * 1e3:9.3f} "
              f"{two * 1e3:9.3f} {one / two:6.2f}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
