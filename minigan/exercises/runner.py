"""The machinery behind `minigan exercise check`: load a learner's file, call it, compare.

Every way an answer can be wrong ends as one `Failure` (what is wrong, in which case, and a
hint), never as a traceback: a syntax error, an exception raised by the learner's code, a
missing function, an untouched TODO (the skeleton's NotImplementedError), a result that is not
an array, a wrong shape or dtype, NaN or inf, or numbers that differ from the library's own code
or from a finite-difference gradient (minigan.gradcheck).

Deliberately left out: time limits (an endless loop in a learner's file hangs the check, as it
would hang the learner's own script) and sandboxing (the file is the learner's own code, run
with the learner's rights, as `python file.py` would).
"""
import contextlib
import traceback
import types
import warnings

import numpy as np

from ..gradcheck import numerical_gradient, rel_error

# A correct float64 answer agrees with the library to rounding (~1e-15) and with a centred
# finite difference to ~1e-10 (minigan.gradcheck), so 1e-7 separates right from wrong. float32
# answers are compared with the library's float32 results at the library's own float32 tolerance.
TOLERANCE = {np.dtype(np.float64): 1e-7, np.dtype(np.float32): 1e-4}


class Failure(Exception):
    """A wrong answer: `message` says what and where, `hint` (or None) what to look at."""

    def __init__(self, message, hint=None):
        super().__init__(message)
        self.message, self.hint = message, hint


def load(path):
    """The learner's file as a fresh module (not put in sys.modules), or a Failure."""
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise Failure(f"there is no {path}", "write the skeleton first: minigan exercise start "
                      f"{path.stem} (with --dir {path.parent} if it is not the default)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise Failure(f"cannot read {path}: {e}") from None
    try:
        code = compile(source, str(path), "exec")
    except ValueError as e:   # null bytes in the source
        raise Failure(f"cannot read {path}: {e}") from None
    except SyntaxError as e:
        where = f"line {e.lineno}" + (f", column {e.offset}" if e.offset else "")
        text = (e.text or "").rstrip("\n")
        shown = f"\n    {text.strip()}" if text.strip() else ""
        raise Failure(f"syntax error in {path}, {where}: {e.msg}{shown}",
                      "Python cannot read the file, so nothing in it ran; fix that line "
                      "(or the line just above it: an unclosed bracket is reported late)") from None
    module = types.ModuleType(path.stem)
    module.__file__ = str(path)
    try:
        with _quiet():
            exec(code, module.__dict__)
    except (Exception, SystemExit) as e:
        raise Failure(f"importing {path} raised {_describe(e, path)}",
                      "code at the top level of the file runs when the checker loads it; keep "
                      "it to imports and definitions") from None
    return module


class Learner:
    """The learner's functions, called so that whatever they raise becomes a Failure."""

    def __init__(self, module, path, names):
        self.path = path
        self.functions = {}
        for name in names:
            fn = getattr(module, name, None)
            if not callable(fn):
                found = "is not a function" if fn is not None else "is missing"
                raise Failure(f"{path}: the function {name} {found}",
                              f"the checker calls {name}(...) by that name; restore it from "
                              f"the skeleton (minigan exercise start {path.stem} --force "
                              f"overwrites your file: copy your work out first)")
            self.functions[name] = fn

    def __call__(self, name, *args, shape_hint=None):
        """self.functions[name](*args); `shape_hint` is the hint if it raises a ValueError
        (NumPy's error for operands of mismatched shapes)."""
        try:
            with _quiet():
                return self.functions[name](*args)
        except NotImplementedError as e:
            raise Failure(f"{name} is not written yet: it still raises NotImplementedError "
                          f"({_where(e, self.path, code=False)})",
                          "write the lines marked TODO, then delete the `raise "
                          "NotImplementedError(...)` line below them") from None
        except (Exception, SystemExit) as e:
            hint = ("read the line it names: a wrong shape in a product or a misspelt name is "
                    "the usual cause")
            if isinstance(e, TypeError) and not _frames(e, self.path):  # the call itself failed
                hint = f"the checker calls {name} with the skeleton's arguments: keep its signature"
            elif isinstance(e, ValueError) and shape_hint:
                hint = shape_hint
            raise Failure(f"{name} raised {_describe(e, self.path)}", hint) from None


@contextlib.contextmanager
def _quiet():
    """Learner code runs with NumPy's warnings off: a NaN or inf it makes is reported as such."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _where(error, path, code=True):
    """'line N of PATH: `code`' for the innermost frame of the learner's file in the traceback."""
    frames = _frames(error, path)
    if not frames:
        return f"in {path}"
    frame = frames[-1]
    shown = f": `{frame.line.strip()}`" if code and frame.line else ""
    return f"line {frame.lineno} of {path}{shown}"


def _frames(error, path):
    """The traceback's frames that lie in the learner's file."""
    return [f for f in traceback.extract_tb(error.__traceback__) if f.filename == str(path)]


def _describe(error, path):
    return f"{type(error).__name__}: {error} ({_where(error, path)})"


# ------------------------------------------------------------------------- comparisons
def as_result(what, got):
    """The learner's `what` as a float array, or a Failure saying what it is instead."""
    if got is None:
        raise Failure(f"{what} is None", f"the line that computes {what} is missing, or the "
                      f"function does not return it")
    try:
        a = np.asarray(got)
    except Exception:
        raise Failure(f"{what} is a {type(got).__name__}, not an array of numbers") from None
    if a.dtype == bool:
        raise Failure(f"{what} is an array of booleans (True/False), not of numbers",
                      "a comparison such as x > 0 gives a mask; multiply it by what it selects")
    if a.dtype.kind not in "fiu":
        kind = f"an array of {a.dtype}" if isinstance(got, np.ndarray) else f"a {type(got).__name__}"
        raise Failure(f"{what} is {kind}, not an array of real numbers")
    return a


def unpack(what, got, count):
    """The learner's tuple of `count` results, or a Failure naming what came back instead."""
    if not isinstance(got, (tuple, list)) or len(got) != count:
        shape = (f"{type(got).__name__} of length {len(got)}" if isinstance(got, (tuple, list))
                 else type(got).__name__)
        raise Failure(f"{what} must return {count} values, got a {shape}",
                      "keep the skeleton's return line")
    return got


def compare(what, got, expected, against, mistakes=(), nonfinite_hint=None):
    """Check the learner's `what` against the right answer `expected` (an array or a number).

    against:  what `expected` is, for the message ("the library's minigan.layers.relu_backward")
    mistakes: (hint, wrong answer) pairs: when `got` matches a known wrong answer, its hint
    Shape, dtype (arrays: float32 in, float32 out), finiteness, then the relative error
    (minigan.gradcheck.rel_error) at the tolerance of expected's dtype; on a miss, the hint of
    a matching mistake, else a scale factor, a flipped sign or a transpose when one explains it.
    """
    got = as_result(what, got)
    expected = np.asarray(expected)
    if got.shape != expected.shape and not (got.size == 1 and expected.size == 1):
        transposed = got.ndim == 2 and got.shape == expected.shape[::-1]
        raise Failure(f"{what} has shape {got.shape}, expected {expected.shape}",
                      f"your {what} is transposed" if transposed else
                      f"{what} is one number (a mean over the entries)" if expected.ndim == 0
                      else "a gradient has the shape of what it is the gradient of")
    tol = TOLERANCE.get(expected.dtype, TOLERANCE[np.dtype(np.float64)])
    if expected.ndim and got.dtype != expected.dtype:
        raise Failure(f"{what} is {got.dtype} where the inputs are {expected.dtype}",
                      "minigan keeps the inputs' dtype: float32 in, float32 out (a float64 "
                      "array, np.zeros without dtype=, or a NumPy integer such as "
                      "np.prod(shape) promotes; a Python number does not)")
    if not np.all(np.isfinite(got)):
        bad = int(np.size(got) - np.isfinite(got).sum())
        kind = "NaN" if np.any(np.isnan(got)) else "inf"
        raise Failure(f"{what} contains {kind} ({bad} of {got.size} entries)",
                      nonfinite_hint or "an overflow (exp of a large number) or 0/0 somewhere")
    got = got.astype(np.float64)
    want = expected.astype(np.float64)
    with np.errstate(all="ignore"):   # a learner's 1e300 may overflow the norms: then err = inf
        err = rel_error(got, want)
        if err <= tol:
            return
        hint = _diagnose(what, got, want, tol, mistakes)
    raise Failure(f"{what}: relative error {err:.3g} (tolerance {tol:g}) against {against}", hint)


def _diagnose(what, got, want, tol, mistakes):
    """A hint for a wrong answer `what` of the right shape, or None."""
    close = max(tol, 1e-6)
    for hint, wrong in mistakes:
        wrong = np.asarray(wrong, dtype=np.float64)
        if wrong.shape == got.shape and rel_error(got, wrong) <= close:
            return hint
    if not np.any(got):
        return f"your {what} is all zeros"
    norm2 = float(np.sum(want * want))
    if norm2 > 0:
        c = float(np.sum(got * want)) / norm2          # the least-squares scale of got on want
        if rel_error(got, c * want) <= close:
            if abs(c + 1) < 1e-3:
                return f"your {what} is the right shape but its sign is flipped"
            return f"your {what} is the right shape but off by a factor of {_factor(c)}"
    if got.ndim == 2 and got.shape[0] == got.shape[1] and rel_error(got, want.T) <= close:
        return f"your {what} is transposed"
    return None


def _factor(c):
    """c as '2', '1/5', '-0.5' or '0.731'."""
    for value, fmt in ((c, "{}"), (1 / c, "1/{}")):
        k = round(value)
        if abs(value) >= 1.5 and abs(value - k) < 1e-6 * abs(value):
            return fmt.format(k) if k > 0 else "-" + fmt.format(-k)
    return f"{c:.3g}"


def finite_difference(f, x, dout=None):
    """minigan.gradcheck.numerical_gradient of the library's f at a float64 copy of x.

    f takes the array and returns a number (or an array, with dout for its vector product)."""
    x = np.array(x, dtype=np.float64)
    return numerical_gradient(lambda: f(x), x, dout=dout)
