"""Demos and the command line run on tiny settings and write their files."""
import json
import subprocess
import sys

import numpy as np
import pytest

from minigan import cli
from minigan.demos import gaussian_1d


def test_gaussian_1d_demo_writes_png_and_json(tmp_path):
    figures = gaussian_1d.run(tmp_path, gmn_steps=30, gan_steps=30, batch_size=32, progress=False)
    png, js = tmp_path / "gaussian_1d.png", tmp_path / "gaussian_1d.json"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    saved = json.loads(js.read_text())
    for name in ("GMN", "GAN"):
        f = saved["figures"][name]
        assert 0 <= f["ks"] <= 1 and 0 <= f["ks_p"] <= 1 and f["sup_transform_error"] >= 0
        assert 0 < f["mmd_test_p"] <= 1
    assert 0 <= figures["GAN"]["mean_abs_d_minus_half"] <= 0.5


def test_cli_runs_the_demo(tmp_path, capsys):
    cli.main(["demo", "gaussian-1d", "--out", str(tmp_path), "--gmn-steps", "5",
              "--gan-steps", "5", "--batch-size", "16", "--quiet"])
    out = capsys.readouterr().out
    assert "KS" in out and "wrote" in out and str(tmp_path) in out
    assert (tmp_path / "gaussian_1d.png").exists()


def test_cli_lists_and_refuses_unknown_demos_and_commands(capsys):
    assert cli.main(["demo", "--list"]) == 0
    assert "gaussian-1d" in capsys.readouterr().out
    assert cli.main(["demo", "no-such-demo"]) == 2
    assert cli.main(["no-such-command"]) == 2
    assert "demo" in capsys.readouterr().err


def test_digits_steps_sets_every_method_and_the_per_method_options_win(monkeypatch, tmp_path):
    from minigan.demos import digits

    class Stop(Exception):
        pass

    def record(out_dir, gmn_steps, gan_steps, seed, progress, backend, mmdgan_steps):
        raise Stop(gmn_steps, gan_steps, mmdgan_steps)

    monkeypatch.setattr(digits, "run", record)
    with pytest.raises(Stop) as told:
        cli.main(["demo", "digits", "--steps", "7", "--gan-steps", "9", "--out", str(tmp_path)])
    assert told.value.args == (7, 9, 7)
    with pytest.raises(Stop) as told:
        cli.main(["demo", "digits", "--out", str(tmp_path)])
    assert told.value.args == (digits.GMN_STEPS, digits.GAN_STEPS, digits.MMDGAN_STEPS)


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "minigan", "demo", "--list"],
                         capture_output=True, text=True, check=True).stdout
    assert "gaussian-1d" in out


def test_transform_error_allows_the_mirror():
    from minigan import data, metrics
    target = data.gaussian_1d(0.0, 1.0)
    z = np.linspace(-0.9, 0.9, 50)
    err, mirrored = metrics.transform_error(target.ppf((1 - z) / 2), z, target.ppf)
    assert err < 1e-9 and mirrored


@pytest.mark.parametrize("dataset", ["ring", "grid"])
def test_mixture_demo_writes_png_json_and_gif(tmp_path, dataset):
    from minigan.demos import mixtures
    figures = mixtures.run(dataset, tmp_path, steps=20, progress=False, make_gif=True)
    for name in (f"{dataset}.png", f"{dataset}.json", f"{dataset}.gif"):
        assert (tmp_path / name).stat().st_size > 200
    assert (tmp_path / f"{dataset}.gif").read_bytes()[:3] == b"GIF"
    saved = json.loads((tmp_path / f"{dataset}.json").read_text())["figures"]
    for method in ("GMN", "GAN", "MMDGAN"):
        assert 0 <= saved[method]["modes"] <= (8 if dataset == "ring" else 25)
        assert 0 <= saved[method]["high_quality_pct"] <= 100
        assert 0 < saved[method]["mmd_test_p"] <= 1
    assert figures["GMN"]["train_seconds"] > 0


def test_digits_demo_writes_its_files(tmp_path):
    from minigan.demos import digits
    f = digits.run(tmp_path, gmn_steps=5, gan_steps=5, progress=False, mmdgan_steps=5)
    assert (tmp_path / "digits.png").stat().st_size > 10_000
    assert f["classifier_heldout_accuracy"] > 0.9  # the classifier itself is trained in full
    assert f["mmd2_floor"] > 0 and sum(f["GMN"]["class_counts"]) == 2000
    assert sum(f["MMDGAN"]["class_counts"]) == 2000


def test_modes_command_prints_the_table_and_json(tmp_path, capsys):
    out = tmp_path / "modes.json"
    cli.main(["modes", "--datasets", "ring", "--seeds", "2", "--steps", "10", "--quiet",
              "--json", str(out)])
    text = capsys.readouterr().out
    assert "minigan GMN" in text and "PacGAN2 (published)" in text and "95.6" in text
    assert "minigan MMDGAN" in text
    saved = json.loads(out.read_text())
    assert len(saved["runs"]) == 6 and {r["seed"] for r in saved["runs"]} == {0, 1}


def test_protocol_train_takes_the_recipe_length_only_when_not_told(capsys):
    from minigan import protocol
    trainer, _ = protocol.train("MMDGAN", "ring", steps=3, progress=False)
    assert trainer.step_count == 3
    with pytest.raises(ValueError, match="steps"):   # 0 used to mean "the recipe's 7,000"
        protocol.train("MMDGAN", "ring", steps=0, progress=False)
    assert set(protocol.evaluate(trainer, "ring")) == {"modes", "high_quality_pct", "reverse_kl"}
    assert (protocol.describe({"modes": 8, "high_quality_pct": 95.24, "reverse_kl": 0.00116})
            == "8 modes, 95.2% high quality, reverse KL 0.001")


def test_cli_runs_the_mmdgan_witness_demo(tmp_path, capsys):
    cli.main(["demo", "mmdgan-witness", "--out", str(tmp_path), "--steps", "3", "--quiet"])
    assert "MMD-GAN on ring" in capsys.readouterr().out
    assert (tmp_path / "mmdgan_witness.png").stat().st_size > 10_000


def test_cli_runs_the_two_sample_power_demo(tmp_path, capsys):
    cli.main(["demo", "two-sample-power", "--out", str(tmp_path), "--trials", "2",
              "--blobs-n", "20", "--blobd-n", "45", "--hdgm-n", "40"])
    captured = capsys.readouterr()
    assert "blobs, aggregate" in captured.out and "wrote" in captured.out
    # progress on stderr: the rows done and each row's trials, with the time left
    assert "rows:" in captured.err and "trial" in captured.err and "<" in captured.err
    saved = json.loads((tmp_path / "two_sample_power.json").read_text())
    assert len(saved["results"]) == 20 and all(r["trials"] == 2 for r in saved["results"])
    for png in ("two_sample_power.png", "deep_kernel_witness.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


def test_demo_without_its_optional_dependency_says_what_to_install(monkeypatch, capsys, tmp_path):
    from minigan import data

    def no_sklearn(*args, **kwargs):
        raise ImportError('minigan.data.digits() needs scikit-learn: pip install "minigan[demos]"')

    monkeypatch.setattr(data, "digits", no_sklearn)
    assert cli.main(["demo", "digits", "--out", str(tmp_path), "--quiet"]) == 1
    assert "minigan[demos]" in capsys.readouterr().err
