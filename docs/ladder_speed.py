"""One exp per segment of a long bandwidth ladder, against one exp per bandwidth, side by side.

A ratio-2 ladder longer than one exp can serve (MAX_LADDER: 5 rungs in float32, 10 in float64)
is cut into segments, one exp at the top of each; the same bandwidths nudged off the ladder by
1e-9 (relative) take the general path, one exp per bandwidth. MMD^2 + dX, n = m = 512, d = 2,
one thread, the best of 7 rounds of 50 calls.

    python docs/ladder_speed.py

Figures: docs/results.md ("One exp for many bandwidths").
"""
import timeit

import numpy as np

from minigan import threads
from minigan._ext import mmd


def best_ms(X, Y, sigmas):
    """The fastest of 7 rounds of 50 calls, in ms a call."""
    call = lambda: mmd.mmd2_and_grad(X, Y, sigmas, True, True, 1)    # noqa: E731
    return min(timeit.repeat(call, number=50, repeat=7)) / 50 * 1e3


def main():
    rng = np.random.default_rng(0)
    for dtype, rungs in [(np.float32, 10), (np.float64, 13)]:
        X, Y = (rng.normal(size=(512, 2)).astype(dtype) for _ in range(2))
        ladder = 0.01 * 2.0 ** np.arange(rungs)
        off = ladder * (1 + 1e-9 * np.arange(rungs))   # not a ladder: one exp per bandwidth
        with threads.limit(1):
            segmented, general = best_ms(X, Y, ladder), best_ms(X, Y, off)
        print(f"{np.dtype(dtype).name}, {rungs} rungs: one exp per segment {segmented:.2f} ms, "
              f"one per rung {general:.2f} ms, {general / segmented:.2f}x")


if __name__ == "__main__":
    main()
