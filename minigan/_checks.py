"""Input checks shared by every public entry point.

Each helper either returns a clean array (C-contiguous, floating dtype, finite)
or raises a ValueError/TypeError that names the argument and what was expected.
Conversions are documented: integer, boolean, float16 and long-double arrays become
float64; complex, string and object arrays are refused.
"""
import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


class NonFiniteError(ValueError):
    """An array holds NaN or inf. `argument` names the array when it is an argument checked by
    as_float_array (None otherwise): a trainer reads a NaN in its argument `real` as bad input,
    and one in an array its step computed as divergence (minigan.divergence)."""

    def __init__(self, message, argument=None):
        super().__init__(message)
        self.argument = argument


def as_float_array(x, name, ndim=None, dtype=None, min_rows=1):
    """Validate `x` and return it as a C-contiguous float array.

    x:        array-like
    name:     argument name used in error messages
    ndim:     required number of dimensions (None: any)
    dtype:    convert to this float dtype (None: keep float32/float64, ints -> float64)
    min_rows: smallest allowed len(x) (first axis)
    """
    if isinstance(x, np.ndarray) and x.dtype == object or isinstance(x, (str, bytes)):
        what = "an object array" if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{name} must be a numeric array, got {what}")
    try:
        arr = np.asarray(x)
    except ValueError as e:  # ragged nested lists
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__} ({e})") from None
    if arr.dtype == object:
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__} of objects")
    if arr.dtype.kind in "biu":  # documented conversion: bool/int -> float64
        arr = arr.astype(np.float64)
    elif arr.dtype.kind == "f" and arr.dtype not in FLOAT_DTYPES:
        arr = arr.astype(np.float64)  # float16 / longdouble -> float64
    elif arr.dtype.kind != "f":
        raise TypeError(f"{name} must be a real floating array, got dtype {arr.dtype}")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if arr.size == 0 or (arr.ndim >= 1 and arr.shape[0] < min_rows):
        need = f"at least {min_rows} rows" if min_rows > 1 else "a non-empty array"
        raise ValueError(f"{name} must be {need}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise NonFiniteError(f"{name} contains NaN or inf", argument=name)
    return np.ascontiguousarray(arr)


def check_float_dtype(dtype, name="dtype"):
    """np.float32 or np.float64 (as a dtype, type or name), returned as a numpy dtype."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r:.40}")
    return dt


def check_same_width(a, b, name_a, name_b):
    """Both 2-D arrays must have the same number of columns."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{name_a} and {name_b} must have the same number of columns, "
                         f"got {a.shape[1]} and {b.shape[1]}")


def common_dtype(a, b):
    """float32 only when both inputs are float32, float64 otherwise."""
    return np.result_type(a.dtype, b.dtype)


def check_positive_int(value, name, minimum=1, maximum=None):
    """An int >= minimum (and <= maximum, when given). Not a number at all (a string, a
    bool): TypeError; a number that is not such an int (2.5, 0): ValueError."""
    if not is_number(value):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r:.80}")
    if not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {value!r}")
    return int(value)


def is_number(value):
    """The one coercion rule for settings: numbers are numbers. An int, a float or a numpy
    scalar of either (or a 0-d array of one) is a number; a string ("0.1"), a bool, a complex,
    None or a list is not, everywhere, whatever float() would make of it."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


def check_number(value, name):
    """A finite real number (is_number), returned as a float."""
    if not is_number(value):
        raise TypeError(f"{name} must be a number, got {value!r:.80}")
    v = _as_float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r:.80}")
    return v


def check_positive_float(value, name):
    """A finite float > 0 (a string or a bool is refused: lr=True is not a learning rate)."""
    if not is_number(value):
        raise TypeError(f"{name} must be a positive number, got {value!r:.80}")
    v = _as_float(value)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r:.80}")
    return v


def _as_float(value):
    """float(value), inf for an int beyond the float range (10**400)."""
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def check_choice(value, name, choices):
    """One of a fixed set of strings. Anything else is refused before it is compared: `in`
    would hash a list (TypeError without the argument's name) or compare an array
    elementwise (accepting np.array(["relu"]), or "truth value ... ambiguous")."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


# ------------------------------------------------------- settings (not arrays)
def check_bool(value, name):
    """True or False (numpy bools too); the string "False" is refused, not read as True."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


MAX_INNER_STEPS = 1000   # discriminator or critic steps per generator step
MAX_WIDTH = 2**14   # widest layer: a MAX_WIDTH^2 float64 weight is 2 GiB, the largest array a
                    # checkpoint holds (minigan.checkpoint.MAX_ARRAY_BYTES)


def check_widths(value, name):
    """A sequence of integer layer widths in [1, MAX_WIDTH] (a string, a float like 2.7 or a
    bare int is refused rather than iterated over or truncated). Returns a list of ints."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a list of integer widths like (64, 64), got {value!r}")
    widths = list(value)
    for w in widths:
        if (isinstance(w, (bool, np.bool_)) or not isinstance(w, (int, np.integer, float, np.floating))
                or not float(w).is_integer()):
            raise TypeError(f"{name} must hold integer widths, got {value!r}")
        if not 1 <= w <= MAX_WIDTH:
            raise ValueError(f"{name} must hold widths in [1, {MAX_WIDTH}], got {value!r:.80}")
    return [int(w) for w in widths]


def check_seed(seed, name="seed"):
    """None, an int >= 0, a numpy SeedSequence or a Generator (what numpy accepts as a seed)."""
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        return seed
    if not is_number(seed):
        raise TypeError(f"{name} must be None, an integer >= 0 or a numpy Generator, "
                        f"got {seed!r:.80}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{name} must be None, an integer >= 0 or a numpy Generator, "
                         f"got {seed!r}")
    return int(seed)


def check_number_in(value, name, low, high, low_open=True, high_open=False):
    """A finite real number in (low, high] (low_open / high_open say which ends are open)."""
    v = check_number(value, name)
    if not (low < v if low_open else low <= v) or not (v < high if high_open else v <= high):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return v


def check_callable(value, name):
    """None or something callable (checked before any work starts)."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable (or None), got {value!r}")
    return value
