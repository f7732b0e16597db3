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
    assert text.endswith(f"{pairs / 0.01 / 1e6:8.0f} {pairs / 0.01 / 1e9:6.2f}")
    # rows without those numbers keep the columns aligned with dashes
    plain = bench.format_row(bench._row("GMN step", "float64", 1, 0.1, None, None, None))
    assert len(plain) == len(bench.HEADER) and plain.rstrip().endswith("-")


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
