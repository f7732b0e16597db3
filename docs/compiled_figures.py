"""Draw docs/compiled_tiles.png, the tile diagram of docs/compiled.md.

Run from the repository root:  python docs/compiled_figures.py

Left: which pairs (row, column) of the pooled sample [X; Y] the compiled MMD kernel visits,
split into its tasks (a task is TI rows); right: the passes over one row of one tile.
The sizes are small (n = m = 512) so that the tiles can be seen; the real kernel has
TI = 64, TJ = 256 (ext/_mmd_kernel.pxi).
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Polygon, Rectangle  # noqa: E402

N = M = 512       # rows of X and of Y in the picture
TI, TJ = 64, 256  # a tile: TI rows x TJ columns, as in the kernel
OUT = Path(__file__).with_name("compiled_tiles.png")
COLOURS = {"xx": "#4c72b0", "yy": "#dd8452", "xy": "#55a868"}


def upper_triangle(r0, c0, size):
    """The pairs j > i of the square block at row r0, column c0 (x = column, y = row)."""
    return Polygon([(c0, r0), (c0 + size, r0), (c0 + size, r0 + size)], closed=True)


def task_map(ax):
    """The pooled pair matrix: rows and columns are [X; Y]."""
    ax.set_xlim(0, N + M)
    ax.set_ylim(N + M, 0)
    ax.set_aspect("equal")
    for patch, colour, label in [
        (upper_triangle(0, 0, N), COLOURS["xx"], "X rows vs X, j > i   (Kxx, Wxx)"),
        (upper_triangle(N, N, M), COLOURS["yy"], "Y rows vs Y, j > i   (Kyy, Wyy)"),
        (Rectangle((0, N), N, M), COLOURS["xy"], "Y rows vs all of X   (Kxy, Wxy)"),
    ]:
        patch.set(facecolor=colour, alpha=0.55, edgecolor=colour, label=label)
        ax.add_patch(patch)
    # tile grid: TI row blocks (one task each), TJ column tiles
    for r in range(0, N + M + 1, TI):
        ax.axhline(r, color="k", lw=0.3, alpha=0.4)
    for c in range(0, N + M + 1, TJ):
        ax.axvline(c, color="k", lw=0.3, alpha=0.4)
    ax.axhline(N, color="k", lw=1.5)
    ax.axvline(N, color="k", lw=1.5)
    # one task of each kind, outlined
    ax.add_patch(Rectangle((TI, TI), N - TI, TI, fc="none", lw=2, ec="k"))
    ax.text(N - 8, 1.5 * TI, "one X task", ha="right", va="center", fontsize=8)
    ax.add_patch(Rectangle((0, N + 2 * TI), N + M, TI, fc="none", lw=2, ec="k", ls="--"))
    ax.text(N + M - 8, N + 2.5 * TI, "one Y task", ha="right", va="center", fontsize=8)
    ax.add_patch(Rectangle((0, N + 5 * TI), TJ, TI, fc="none", lw=2.5, ec="crimson"))
    ax.text(TJ + 6, N + 5.5 * TI, f"one tile: {TI} x {TJ}", color="crimson", va="center",
            fontsize=8)
    ax.set_xticks([N / 2, N + M / 2], ["columns: X", "Y"])
    ax.set_yticks([N / 2, N + M / 2], ["rows: X", "Y"])
    ax.set_title(f"pairs visited (n = m = {N}; tiles of {TI} rows x {TJ} columns)", fontsize=10)
    return ax.get_legend_handles_labels()


def passes(ax):
    """The unit-stride passes over one row of one tile (TJ pairs)."""
    ax.axis("off")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    steps = [
        ("1. distances", "dist2[j] = ||a_i - z_j||^2\n(d < 6: coordinate by coordinate;\nd >= 6: one gemm per tile)"),
        ("2. one exp (widest rung)", "e = exp(-gamma_4 dist2[j])\nW[j] = e / sigma_4^2,  ksum_col[j] += e"),
        ("3. down the ladder", "e <- (e^2)^2  for sigma_3, ..., sigma_0\nW[j] += e / sigma_k^2,  ksum_col[j] += e"),
        ("4. gradient sums", "row:    sum_j W[j] (a_i - z_j)  -> dX or dY\ncolumn: W[j] (z_j - a_i)  -> colT[j]"),
    ]
    for k, (title, body) in enumerate(steps):
        y = 0.8 - 0.23 * k
        ax.add_patch(FancyBboxPatch((0.03, y - 0.08), 0.94, 0.18, boxstyle="round,pad=0.01",
                                    fc="#f2f2f2", ec="#888888"))
        ax.text(0.06, y + 0.06, title, fontsize=9, weight="bold", va="center")
        ax.text(0.06, y - 0.015, body, fontsize=8, va="center", family="monospace")
        if k < len(steps) - 1:
            ax.annotate("", xy=(0.5, y - 0.1), xytext=(0.5, y - 0.08),
                        arrowprops=dict(arrowstyle="->"))
    ax.set_title(f"one tile row: {TJ} pairs, each pass a vector loop in L1", fontsize=10)


def main():
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 6.2),
                                      gridspec_kw={"width_ratios": [1, 1.05]})
    handles, labels = task_map(left)
    passes(right)
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False,
               title="a task is TI rows: X tasks (the first n/TI), then Y tasks", title_fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(OUT, dpi=110)
    plt.close(fig)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
