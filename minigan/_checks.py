"""Input checks shared by every public entry point.

Each helper either returns a clean array (C-contiguous, floating dtype, finite)
or raises a ValueError/TypeError that names the argument and what was expected.
Conversions are documented: integer, boolean, float16 and long-double arrays become
float64; complex, string and object arrays are refused.
"""
import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def as_float_array(x, name, ndim=None, dtype=None, min_rows=1):
    """Validate `x` and return it as a C-contiguous float array.

    x:        array-like
    name:     argument name used in error messages
    ndim:     required number of dimensions (None: any)
    dtype:    convert to this float dtype (None: keep float32/float64, ints -> float64)
    min_rows: smallest allowed len(x) (first axis)
    """
    if isinstance(x, np.ndarray) and x.dtype == object or isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}")
    arr = np.asarray(x)
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
        raise ValueError(f"{name} contains NaN or inf")
    return np.ascontiguousarray(arr)


def check_same_width(a, b, name_a, name_b):
    """Both 2-D arrays must have the same number of columns."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{name_a} and {name_b} must have the same number of columns, "
                         f"got {a.shape[1]} and {b.shape[1]}")


def common_dtype(a, b):
    """float32 only when both inputs are float32, float64 otherwise."""
    return np.result_type(a.dtype, b.dtype)


def check_positive_int(value, name, minimum=1):
    """An int >= minimum (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_positive_float(value, name):
    """A finite float > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a positive number, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def check_choice(value, name, choices):
    """One of a fixed set of strings."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value
