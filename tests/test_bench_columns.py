"""minigan bench's exp-floor columns and its optional torch peers (no timing is asserted)."""
import numpy as np
import pytest

from minigan import bench, mmd


def test_pair_rate_columns():
    row = bench._row("MMD² + grad, n=m=100, d=2", "float64", 1, 0.5, 0.01, 1.0, 0.1)
    bench._add_pair_rate(row, 100, {"float64": 1e9})
    pairs = 100 * 99 // 2 * 2 + 100 * 100
    assert row["pairs_per_s"] == pytest.approx(pairs / 0.01)
    assert row["exp_floor_fraction"] == pytest.approx(pairs / 0.01 / 1e9)
    text = bench.format_row(row)
    assert text.endswith(f"{pairs / 0.01 / 1e6:8.0f} {100 * pairs / 0.01 / 1e9:4.0f}%")
    assert len(text) == len(bench.HEADER)


def test_cells_without_a_figure_are_blank():
    # a compiled-only row: no NumPy time, so no speedup; no "-" or "-x" stands in for them
    row = bench._row("MMD² + grad, n=m=4096, d=2", "float64", 2, None, 0.09, None, 0.5)
    text = bench.format_row(row)
    assert len(text) == len(bench.HEADER) and "-" not in text.replace("MMD²", "")
    cells = text[62:].split()
    assert cells == ["float64", "2", "0.09000", "0.50"]
    assert bench.format_row(bench._row("GMN step", "float64", 1, 0.1, 0.05, None, None)).split(
        )[-3:] == ["0.10000", "0.05000", "2.0x"]


def test_every_header_title_is_one_word_over_its_column():
    # each title ends where its column ends (right-aligned), so "np MiB" is the only title
    # with a space in it and nothing reads as two columns
    row = bench._row("MMD² + grad, n=m=100, d=2", "float64", 1, 0.5, 0.01, 1.0, 0.1)
    text = bench.format_row(bench._add_pair_rate(row, 100, {"float64": 1e9}))
    header = bench.HEADER
    assert "of exp" not in header and "exp%" in header
    ends = lambda line: [i for i in range(1, len(line) + 1)
                         if line[i - 1] != " " and (i == len(line) or line[i] == " ")]
    titles = header.replace("np MiB", "np_MiB").replace("cy MiB", "cy_MiB")
    assert set(ends(titles)[2:]) <= set(ends(text))


def test_the_rows_run_on_one_blas_thread_and_say_so(monkeypatch):
    # the bench sets its own policy: inside every row BLAS runs on one thread, whatever the
    # process had, and the counts are back afterwards
    from threadpoolctl import threadpool_info, threadpool_limits

    def counts():
        return {i["filepath"]: i["num_threads"] for i in threadpool_info()
                if i["user_api"] == "blas"}

    seen = []

    def fake_row():
        seen.append(set(counts().values()))
        return bench._row("GMN step", "float64", 1, 0.1, 0.05, None, None)

    monkeypatch.setattr(bench, "plan", lambda quick, floors: [(2.0, fake_row), (1.0, fake_row)])
    lines, status = [], []
    with threadpool_limits(limits=2, user_api="blas"):
        before = counts()
        rows = bench.run(quick=True, progress=lines.append, floors={}, status=status.append)
        assert counts() == before
    assert seen == [{1}, {1}] and len(rows) == 2 and len(lines) == 2
    assert len(status) == 1 and status[0].startswith("[1/2 rows,") and "left]" in status[0]
    assert "1 thread" in bench.policy_line()


def test_quick_keeps_the_small_cases():
    # --quick: no NumPy MMD beyond n = 1024 and no 65,536-point or two-sample-test rows
    quick, full = bench.plan(quick=True), bench.plan(quick=False)
    assert len(quick) < len(full)
    assert sum(g for g, _ in quick) < sum(g for g, _ in full) / 5


def test_peers_are_skipped_with_one_line_without_torch(monkeypatch):
    monkeypatch.setattr(bench, "_torch", lambda: None)
    lines = []
    assert bench.run_peers(quick=True, progress=lines.append) == []
    assert len(lines) == 1 and "PyTorch is not installed" in lines[0]


def test_the_torch_peer_computes_the_same_mmd():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(120, 2)), rng.normal(loc=0.4, size=(90, 2))
    sigmas = mmd.default_sigmas(X, Y)
    value, dX = bench.torch_mmd2_and_grad(torch, X, Y, sigmas)
    ref_value, ref_dX = mmd.mmd2_and_grad(X, Y, sigmas, backend="numpy")
    assert value == pytest.approx(ref_value, rel=1e-10)
    np.testing.assert_allclose(dX, ref_dX, rtol=1e-10, atol=1e-10 * np.abs(ref_dX).max())


def test_every_step_row_times_a_real_step_of_its_trainer():
    # each step case builds its trainer with the case's settings, calibrated, and one more
    # step moves the generator
    for kind, (cls, settings) in bench.STEP_KINDS.items():
        trainer, real = bench._step_trainer(kind, "2-D (2-128-128-2)", "numpy")
        assert isinstance(trainer, cls) and trainer.step_count == 1
        assert all(getattr(trainer, k) == v for k, v in settings.items())
        before = [p.copy() for p in trainer.generator.params]
        figures = trainer.step(real)
        assert all(np.isfinite(v) for v in figures.values()), kind
        assert not np.array_equal(before[0], trainer.generator.params[0]), kind
