"""`minigan mmd-test --kernel deep`'s training flags: each reaches mmd_test under its argument
name, a flag left out leaves the library's default, and misuse is refused with a message."""
import numpy as np
import pytest

from minigan import cli, mmd_test_cli


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(3)
    np.save(tmp_path / "x.npy", rng.standard_normal((60, 2)))
    np.save(tmp_path / "y.npy", rng.standard_normal((60, 2)) + [1.5, 0.0])
    return str(tmp_path / "x.npy"), str(tmp_path / "y.npy")


def test_every_flag_reaches_mmd_test(files, monkeypatch):
    seen = {}

    def fake_test(X, Y, **kwargs):
        seen.update(kwargs)
        raise ValueError("stop here")             # the CLI reports it and returns 1

    monkeypatch.setattr(mmd_test_cli, "mmd_test", fake_test)
    flags = ["--train-fraction", "0.4", "--hidden", "30,20", "--features", "7",
             "--selection", "last", "--max-steps", "12", "--patience", "3", "--holdout", "0.25",
             "--weight-decay", "0.01", "--periodic", "16", "--frequency", "5"]
    assert cli.main(["mmd-test", *files, "--kernel", "deep", *flags]) == 1
    assert {k: seen[k] for k in mmd_test_cli.DEEP_FLAGS} == dict(
        train_fraction=0.4, hidden=[30, 20], n_features=7, selection="last", max_steps=12,
        patience=3, holdout=0.25, weight_decay=0.01, periodic=16, frequency=5.0)
    seen.clear()
    cli.main(["mmd-test", *files, "--kernel", "deep"])   # none given: the library's defaults
    assert not set(seen) & set(mmd_test_cli.DEEP_FLAGS) and seen["kernel"] == "deep"


def test_a_linear_feature_map_from_the_command_line(files, capsys):
    code = cli.main(["mmd-test", *files, "--kernel", "deep", "--hidden", "none", "--features",
                     "2", "--selection", "last", "--max-steps", "20", "--seed", "0",
                     "--permutations", "99"])
    out = capsys.readouterr().out
    assert code == 0 and "phi 2 -> 2 (tanh)" in out and "reject H0" in out


@pytest.mark.parametrize("args, message", [
    (["--selection", "last", "--max-steps", "5"], "--selection, --max-steps only apply to "
                                                  "--kernel deep"),
    (["--kernel", "deep", "--holdout", "1.5"], "holdout must lie in (0, 1)"),
    (["--kernel", "deep", "--weight-decay", "-1"], "weight_decay"),
    (["--kernel", "deep", "--train-fraction", "0.99"], "train_fraction=0.99"),
    (["--kernel", "deep", "--hidden", "0"], "hidden must hold widths"),
    (["--periodic", "8"], "--periodic only apply to --kernel deep"),
    (["--kernel", "deep", "--periodic", "8", "--frequency", "0.1"], "frequency"),
])
def test_misused_flags_are_refused(files, capsys, args, message):
    assert cli.main(["mmd-test", *files, *args]) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--hidden", "5,x"], ["--max-steps", "0"],
                                  ["--selection", "best"], ["--features", "two"]])
def test_unparseable_flags_exit_2(files, capsys, args):
    with pytest.raises(SystemExit) as stop:
        cli.main(["mmd-test", *files, "--kernel", "deep", *args])
    assert stop.value.code == 2 and "error: argument" in capsys.readouterr().err
