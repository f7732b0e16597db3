"""`minigan exercise`: every skeleton fails until written, the library's own lines pass, and
wrong answers (a missing factor, a transpose, a flipped sign, a syntax error, an exception,
NaN, a wrong dtype) fail with one message, a hint and the guide section, never a traceback."""
import re
from pathlib import Path

import pytest

from exercise_solutions import SOLUTIONS, fill, replaced
from minigan import cli, exercise_cli, exercises

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"
NAMES = list(exercises.EXERCISES)


def check(tmp_path, capsys, name, text):
    """Write `text` as the learner's tmp_path/name.py, run the check: (exit code, output)."""
    (tmp_path / f"{name}.py").write_text(text)
    code = exercise_cli.main(["check", name, "--dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out + err


def section(name):
    return f"section {exercises.EXERCISES[name].section.split()[0]} "


def test_the_exercises_the_task_asks_for_are_there():
    assert set(NAMES) >= {"affine_backward", "relu_backward", "bce_with_logits", "mmd_grad_x",
                          "mmd_grad_both", "adam", "spectral_backward", "witness"}
    assert set(SOLUTIONS) == set(NAMES)


def test_every_guide_section_named_is_a_heading_of_the_guide():
    headings = set(re.findall(r"^### (.+)$", GUIDE.read_text(encoding="utf-8"), re.M))
    for e in exercises.EXERCISES.values():
        assert e.section in headings, e.name


@pytest.mark.parametrize("name", NAMES)
def test_an_untouched_skeleton_fails_with_a_message(tmp_path, capsys, name):
    assert exercise_cli.main(["start", name, "--dir", str(tmp_path)]) == 0
    text = (tmp_path / f"{name}.py").read_text()
    assert "# TODO" in text and f"minigan exercise check {name}\n" in text
    assert section(name) in text            # the skeleton sends the reader to the same section
    code, out = check(tmp_path, capsys, name, text)
    assert code == 1
    assert "is not written yet: it still raises NotImplementedError" in out
    assert re.search(rf"line \d+ of {re.escape(str(tmp_path / name))}\.py", out)
    assert section(name) in out and "pass" not in out.splitlines()[-1]


@pytest.mark.parametrize("name", NAMES)
def test_the_library_lines_filled_in_pass(tmp_path, capsys, name):
    code, out = check(tmp_path, capsys, name, fill(name))
    assert code == 0, out
    lines = out.splitlines()
    if name != NAMES[-1]:
        assert lines.pop() == f"next: minigan exercise start {NAMES[NAMES.index(name) + 1]}"
    assert lines[-1].startswith(f"pass: {name} (")
    n_cases = int(re.search(r"\((\d+) cases\)", lines[-1]).group(1))
    assert sum(line.startswith("  ok ") for line in lines) == n_cases >= 4
    assert any("float32" in line for line in lines) and any("float64" in line for line in lines)


# (exercise, solution line, the wrong line, what the message must say)
MISTAKES = [
    ("affine_backward", "dW = x.T @ dout", "dW = x.T @ dout / len(x)",
     "sum over the batch, do not average"),
    ("affine_backward", "dx = dout @ W.T", "dx = (dout @ W.T).T", "your dx is transposed"),
    ("affine_backward", "db = dout.sum(axis=0)", "db = -dout.sum(axis=0)",
     "your db is the right shape but its sign is flipped"),
    ("affine_backward", "dx = dout @ W.T", "dx = 2 * dout @ W.T",
     "your dx is the right shape but off by a factor of 2"),
    ("affine_backward", "dx = dout @ W.T", "dx = (dout @ W.T).astype(np.float64)",
     "float32 in, float32 out"),
    ("relu_backward", "dx = dout * (x > 0)", "dx = dout * (x >= 0)",
     "at x = 0 exactly, max(x, 0) has no derivative"),
    ("relu_backward", "dx = dout * (x > 0)", "dx = x > 0", "array of booleans"),
    ("bce_with_logits", "loss = np.mean(softplus(s) - t * s)", "loss = softplus(s) - t * s",
     "loss is one number (a mean over the entries)"),
    ("bce_with_logits", "dlogits = (sigmoid(s) - t) / s.size", "dlogits = sigmoid(s) - t",
     "the gradient carries 1/N"),
    ("bce_with_logits", "return np.maximum(s, 0) + np.log1p(np.exp(-np.abs(s)))",
     "return np.log(1 + np.exp(s))", "exp(s) overflows"),
    ("mmd_grad_x", "dX = -2 * c_xx * (Wxx.sum(1)[:, None] * X - Wxx @ X)",
     "dX = -c_xx * (Wxx.sum(1)[:, None] * X - Wxx @ X)",
     "off in its X-X term by a factor of 2: did you forget the symmetric term?"),
    ("mmd_grad_x", "dX += 2 * c_xy * (Wxy.sum(1)[:, None] * X - Wxy @ Y)",
     "dX -= 2 * c_xy * (Wxy.sum(1)[:, None] * X - Wxy @ Y)", "cross term's sign is flipped"),
    ("mmd_grad_x", "Ks = np.exp(D2 * (-0.5 / s**2))", "Ks = np.exp(-D2 / (2 * s))",
     "sigma is a length-scale"),
    ("mmd_grad_x", "if unbiased:\n    np.fill_diagonal(Kxx, 0)\n    np.fill_diagonal(Kyy, 0)",
     "pass", "leaves out the i = j terms"),
    ("mmd_grad_both", "dY += 2 * c_xy * (Wxy.sum(0)[:, None] * Y - Wxy.T @ X)",
     "dY += 2 * c_xy * (Wxy.sum(0)[:, None] * Y - Wxy @ X)",
     "column b, so the cross term uses Wxy.sum(0) and Wxy.T @ X"),
    ("mmd_grad_both", "dY = -2 * c_yy * (Wyy.sum(1)[:, None] * Y - Wyy @ Y)",
     "dY = -c_yy * (Wyy.sum(1)[:, None] * Y - Wyy @ Y)", "forget the symmetric term?"),
    ("adam", "m_hat = m / (1 - beta1 ** t)\nv_hat = v / (1 - beta2 ** t)",
     "m_hat, v_hat = m, v", "the bias correction is missing"),
    ("adam", "m *= beta1\nm += (1 - beta1) * g", "m = beta1 * m + (1 - beta1) * g",
     "update it in place"),
    ("adam", "m_hat = m / (1 - beta1 ** t)\nv_hat = v / (1 - beta2 ** t)",
     "m_hat = m / (1 - beta1 ** (t - 1))\nv_hat = v / (1 - beta2 ** (t - 1))",
     "t counts from 1"),
    ("spectral_backward", "dW = (dW_sn - G_dot_W_sn * np.outer(u, v)) / sigma",
     "dW = dW_sn / sigma", "left out the path through sigma"),
    ("spectral_backward", "dW = (dW_sn - G_dot_W_sn * np.outer(u, v)) / sigma",
     "dW = (dW_sn + G_dot_W_sn * np.outer(u, v)) / sigma", "enters with a minus"),
    ("witness", "h = gaussian_kernel(points, X, sigmas).mean(1) - "
                "gaussian_kernel(points, Y, sigmas).mean(1)",
     "h = gaussian_kernel(points, Y, sigmas).mean(1) - gaussian_kernel(points, X, sigmas).mean(1)",
     "the first sample's mean comes first"),
    ("witness", "K = sum(np.exp(D2 * (-0.5 / s**2)) for s in sigmas)",
     "K = sum(np.exp(D2 * (-0.5 / s**2)) for s in sigmas) / len(sigmas)",
     "the sum of one kernel per sigma"),
]


@pytest.mark.parametrize("name, old, new, says", MISTAKES,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(MISTAKES)])
def test_a_wrong_answer_fails_with_a_hint_and_the_guide_section(tmp_path, capsys, name, old, new,
                                                                 says):
    code, out = check(tmp_path, capsys, name, fill(name, replaced(name, old, new)))
    assert code == 1
    assert says in out
    assert "  FAIL  case " in out and out.splitlines()[-1].startswith("read: docs/guide.md, ")
    assert section(name) in out


def test_the_failing_case_comes_with_its_relative_error(tmp_path, capsys):
    wrong = replaced("affine_backward", "dW = x.T @ dout", "dW = x.T @ dout / len(x)")
    code, out = check(tmp_path, capsys, "affine_backward", fill("affine_backward", wrong))
    # dW = numeric / n: the relative error is (n - 1) / (n + 1), case 1 has n = 3
    assert "case 1 of" in out and "x (3, " in out
    assert "dW: relative error 0.5 (tolerance 1e-07) against a finite-difference gradient" in out


def test_a_syntax_error_is_reported_as_such_with_its_line(tmp_path, capsys):
    text = fill("affine_backward", replaced("affine_backward", "dx = dout @ W.T",
                                            "dx = dout @@ W.T"))
    lineno = text.splitlines().index("    dx = dout @@ W.T") + 1
    code, out = check(tmp_path, capsys, "affine_backward", text)
    assert code == 1
    assert f"syntax error in {tmp_path / 'affine_backward.py'}, line {lineno}" in out
    assert "dx = dout @@ W.T" in out and section("affine_backward") in out


def test_an_exception_in_the_learners_code_names_its_line(tmp_path, capsys):
    text = fill("affine_backward", replaced("affine_backward", "dx = dout @ W.T",
                                            "dx = dout @ W"))
    lineno = text.splitlines().index("    dx = dout @ W") + 1
    code, out = check(tmp_path, capsys, "affine_backward", text)
    assert code == 1
    assert "affine_backward raised ValueError" in out
    assert f"line {lineno} of {tmp_path / 'affine_backward.py'}: `dx = dout @ W`" in out


def test_a_missing_function_an_import_error_and_a_missing_file(tmp_path, capsys):
    renamed = fill("relu_backward").replace("def relu_backward(", "def my_relu_backward(")
    code, out = check(tmp_path, capsys, "relu_backward", renamed)
    assert code == 1 and "the function relu_backward is missing" in out
    resigned = fill("relu_backward").replace("def relu_backward(dout, cache)",
                                             "def relu_backward(dout)")
    code, out = check(tmp_path, capsys, "relu_backward", resigned)
    assert code == 1 and "TypeError" in out and "keep its signature" in out
    code, out = check(tmp_path, capsys, "relu_backward", "import numpy as np\nnp.nope()\n")
    assert code == 1 and "importing" in out and "AttributeError" in out and "line 2" in out
    code = exercise_cli.main(["check", "adam", "--dir", str(tmp_path / "nowhere")])
    out = capsys.readouterr().out
    assert code == 1 and "there is no" in out and "minigan exercise start adam" in out


def test_none_nan_and_a_wrong_shape_are_one_clear_message(tmp_path, capsys):
    name = "spectral_backward"
    for new, says in (("dW = None", "dW is None"),
                      ("dW = dW_sn / 0.0", "contains inf"),
                      ("dW = dW_sn * np.nan", "contains NaN"),
                      ("dW = dW_sn[:1]", "has shape (1, ")):
        code, out = check(tmp_path, capsys, name, fill(name, replaced(
            name, "dW = (dW_sn - G_dot_W_sn * np.outer(u, v)) / sigma", new)))
        assert code == 1 and says in out and section(name) in out


def test_start_writes_the_skeleton_and_refuses_to_overwrite(tmp_path, capsys):
    target = tmp_path / "work"
    assert exercise_cli.main(["start", "adam", "--dir", str(target)]) == 0
    path = target / "adam.py"
    assert path.read_text() == exercises.skeleton("adam")
    path.write_text("# my answer\n")
    capsys.readouterr()
    assert exercise_cli.main(["start", "adam", "--dir", str(target)]) == 1
    assert "exists" in capsys.readouterr().err and path.read_text() == "# my answer\n"
    assert exercise_cli.main(["start", "adam", "--dir", str(target), "--force"]) == 0
    assert path.read_text() == exercises.skeleton("adam")


def test_start_defaults_to_minigan_exercises_in_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert exercise_cli.main(["start", "witness"]) == 0
    assert (tmp_path / "minigan_exercises" / "witness.py").exists()


def test_the_command_line(capsys):
    assert cli.main(["exercise", "list"]) == 0
    out = capsys.readouterr().out
    for e in exercises.EXERCISES.values():
        assert e.name in out and exercises.reading(e) in out
    with pytest.raises(SystemExit) as exit_:
        exercise_cli.main(["check", "no_such_exercise"])
    assert exit_.value.code == 2 and "unknown exercise 'no_such_exercise'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        exercise_cli.main([])
    assert exit_.value.code == 2
