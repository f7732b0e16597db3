"""`minigan mmd-test A B`: are the samples in two files from the same distribution?

    minigan mmd-test real.npy fake.npy
    minigan mmd-test a.csv b.csv --permutations 1000 --alpha 0.01 --seed 0 --json
    minigan mmd-test run.npz held_out.npz --key samples --sigma split
    minigan mmd-test a.npy b.npy --sigma aggregate       (all bandwidths of a grid, calibrated)
    minigan mmd-test a.npy b.npy --kernel deep           (learn a kernel on half, test on half)
    minigan mmd-test a.npy b.npy --kernel deep --selection last --max-steps 500 --hidden 30,30

Files: .npy, .npz (the single array inside, or the one named by --key) and .csv (comma
separated; the first line is a header when every cell in it is a name, such as x,y). Loaded without pickle. Rows are samples: a 1-D array is n
samples of one number, and an array with more than 2 dimensions is flattened per row (images).

Prints the statistic, p-value, decision and the seed (drawn at random and printed when --seed
is not given, so that any result can be repeated), or one JSON object with --json; a
--permutations too small to ever reject at --alpha (below 19 at 0.05) is refused. Exit status 0 when
the test ran, 1 for unreadable or unusable files or settings the test refuses (say
--permutations 0 or --alpha 2), 2 for options argparse cannot parse.
"""
import argparse
import json
import os
import secrets
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ._checks import as_float_array, check_same_width
from .checkpoint import CheckpointError, NpzReader, read_npy_header
from .cliargs import MAX_INT_FLAG, input_file, int_at_least
from .deep_kernel import SELECTIONS
from .two_sample import ESTIMATORS, KERNELS, METHODS, min_permutations, mmd_test, required_rows

LOAD_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)


class DataError(Exception):
    """A file that cannot be read or used; reported in one line."""


def load_sample(path, key=None):
    """The (rows, columns) float64 array stored in `path` (.npy, .npz or .csv)."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".npy", ".npz", ".csv"):
        raise DataError(f"{path}: unsupported file type {suffix or '(none)'!r}; "
                        "use .npy, .npz or .csv")
    try:
        input_file(path)  # a regular file, not too large: nothing blocks or reads forever
    except ValueError as e:
        raise DataError(str(e)) from None
    try:
        if suffix == ".npy":
            arr = _load_npy(path)
        elif suffix == ".npz":
            arr = _load_npz(path, key)
        else:
            arr = _load_csv(path)
    except DataError:
        raise
    except CheckpointError as e:
        raise DataError(str(e)) from None
    except LOAD_ERRORS as e:
        raise DataError(f"{path}: cannot read it ({type(e).__name__}: {e})") from None
    if not isinstance(arr, np.ndarray) or arr.ndim == 0:
        raise DataError(f"{path}: expected an array of samples, got a single value")
    arr = arr[:, None] if arr.ndim == 1 else arr.reshape(arr.shape[0], np.prod(arr.shape[1:]))
    try:
        return as_float_array(arr, str(path), ndim=2, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(str(e)) from None


def _load_npy(path):
    """A .npy file whose header agrees with its size (checked before anything is allocated:
    a header may claim 10^12 rows)."""
    with open(path, "rb") as f:
        shape, fortran, dtype = read_npy_header(f)
        if dtype.hasobject:
            raise DataError(f"{path}: cannot read it (it holds Python objects, i.e. pickle, "
                            f"which minigan never loads)")
        need = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
        have = os.fstat(f.fileno()).st_size - f.tell()
        if need != have:
            raise DataError(f"{path}: the header says {shape} {dtype} ({need} bytes) but the "
                            f"file holds {have} bytes of data")
    return np.load(path, allow_pickle=False)


def _load_npz(path, key):
    """The array named `key`, or the only array in the archive."""
    with NpzReader(path) as archive:
        names = archive.names
        if key is None and len(names) != 1:
            raise DataError(f"{path}: holds {len(names)} arrays ({', '.join(names) or 'none'}); "
                            "choose one with --key")
        if key is not None and key not in names:
            raise DataError(f"{path}: no array named {key!r} (it has: {', '.join(names)})")
        return archive.array(key if key is not None else names[0], kind="biuf", finite=False)


def _load_csv(path):
    """Comma-separated numbers, with an optional header line (_header_lines). A UTF-8
    byte-order mark (spreadsheets write one) is not part of the first number."""
    with open(path, encoding="utf-8-sig") as f:
        first = f.readline()
    skip = _header_lines(first, path)
    with warnings.catch_warnings():     # an empty file is reported below, not warned about
        warnings.simplefilter("ignore", UserWarning)
        return np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2, encoding="utf-8-sig")


def _header_lines(line, path):
    """1 when the first line is a header, 0 when it is data. A header is a line whose every
    cell is a name: it starts with a letter or "_" and is not a number ("inf", "nan" are
    numbers). A first line mixing numbers with anything else, or holding something that is
    neither (0x10, 1+2j), is refused naming the cell: dropping it would lose a row of data."""
    cells = [c.strip().strip("\"'").strip() for c in line.split(",")]
    numbers = [_is_number(c) for c in cells]
    names = [not number and (c[:1].isalpha() or c[:1] == "_") for c, number in zip(cells, numbers)]
    if not line.strip() or all(numbers):
        return 0
    if all(names):
        return 1
    where = lambda i: f"column {i + 1}: {cells[i]!r}"              # noqa: E731
    readable = [number or name for number, name in zip(numbers, names)]
    if not all(readable):
        odd = readable.index(False)
        raise DataError(f"{path}: row 1, {where(odd)} is not a number (nor a name, as in a "
                        f"header line of names)")
    raise DataError(f"{path}: row 1 mixes names ({where(names.index(True))}) and numbers "
                    f"({where(numbers.index(True))}): neither a header (a name in every "
                    f"column) nor a row of data")


def _is_number(cell):
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _sigmas(text):
    """--sigma: "median", "split", "aggregate" or comma-separated bandwidths."""
    if text in ("median", "split", "aggregate"):
        return None if text == "median" else text
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'median', 'split', 'aggregate' or numbers "
                                         f"like 0.5,1,2, got {text!r}") from None


def _widths(text):
    """--hidden: comma-separated layer widths like 50,50; "" or "none" for no hidden layer
    (the features are then a linear map of the input)."""
    if text.strip().lower() in ("", "none"):
        return []
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths like 50,50 (or 'none'), got "
                                         f"{text[:40]!r}") from None


# --kernel deep's training flags and the mmd_test arguments they set (None: the default there)
DEEP_FLAGS = {"train_fraction": "--train-fraction", "hidden": "--hidden",
              "n_features": "--features", "selection": "--selection", "max_steps": "--max-steps",
              "patience": "--patience", "holdout": "--holdout", "weight_decay": "--weight-decay",
              "periodic": "--periodic", "frequency": "--frequency"}


def _add_deep_flags(p):
    """The learned kernel's settings (minigan.deep_kernel.learn_kernel); each is left to the
    library's default when not given."""
    g = p.add_argument_group("--kernel deep", "how the kernel is learned (defaults: "
                             "minigan.deep_kernel; with none of --hidden, --features, "
                             "--periodic an MLP and a periodic map are both learned and the "
                             "one with the larger held-out J is tested; what each choice "
                             "buys: docs/results.md)")
    g.add_argument("--train-fraction", type=float, help="share of each sample the kernel is "
                   "learned on (default 0.5)")
    g.add_argument("--hidden", type=_widths, help="the feature MLP's hidden widths, like 50,50 ('none': the "
                   "features are a linear map of the input)")
    g.add_argument("--features", type=int_at_least(1), dest="n_features",
                   help="the feature MLP's output width")
    g.add_argument("--selection", choices=SELECTIONS, help="'holdout': keep the parameters "
                   "with the best J on held-out training rows; 'last': train on every training "
                   "row for --max-steps and keep the last")
    g.add_argument("--max-steps", type=int_at_least(1), help="Adam steps, at most (holdout) "
                   "or exactly (last)")
    g.add_argument("--patience", type=int_at_least(1), help="holdout: checks without a better "
                   "J before stopping")
    g.add_argument("--holdout", type=float, help="holdout: share of the training rows held out")
    g.add_argument("--weight-decay", type=float, help="L2 penalty on the feature MLP's weights")
    g.add_argument("--periodic", type=int_at_least(0), help="waves in a periodic first layer, "
                   "sin(x W + b), for samples on a regular grid (0: none)")
    g.add_argument("--frequency", type=float, help="--periodic: the spread of the waves' "
                   "starting frequencies, on the standardised rows")


def build_parser():
    p = argparse.ArgumentParser(prog="minigan mmd-test", description=__doc__.split("\n")[0])
    p.add_argument("a", help="first sample (X): .npy, .npz or .csv")
    p.add_argument("b", help="second sample (Y): .npy, .npz or .csv")
    p.add_argument("--key", help="array name inside .npz files")
    p.add_argument("--method", choices=METHODS, default="permutation")
    p.add_argument("--estimator", choices=ESTIMATORS, default="unbiased")
    p.add_argument("--permutations", type=int_at_least(1), default=500, help="B (default %(default)s)")
    p.add_argument("--alpha", type=float, default=0.05, help="level (default %(default)s)")
    p.add_argument("--sigma", type=_sigmas, default=None,
                   help="'median' (default), 'split', 'aggregate' (8 bandwidths, max of "
                        "studentised MMD^2, 8x the time), or bandwidths like 0.5,1,2")
    p.add_argument("--kernel", choices=KERNELS, default="gaussian",
                   help="'gaussian' (default) or 'deep': learn an MMD-D kernel on half of each "
                        "sample, test with it on the other half")
    p.add_argument("--seed", type=int_at_least(0), default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _add_deep_flags(p)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    # a result can always be repeated: without --seed one is drawn, and printed
    chosen = args.seed is None
    seed = secrets.randbelow(MAX_INT_FLAG + 1) if chosen else args.seed
    try:
        _check_permutations(args)
        _check_key(args)
        deep = _deep_settings(args)
        X, Y = load_sample(args.a, args.key), load_sample(args.b, args.key)
        _check_pair(X, Y, args)
        result = mmd_test(X, Y, sigmas=args.sigma, estimator=args.estimator,
                          method=args.method, n_permutations=args.permutations,
                          alpha=args.alpha, seed=seed, kernel=args.kernel, **deep)
    except (DataError, TypeError, ValueError, MemoryError, FloatingPointError) as e:
        print(f"minigan mmd-test: error: {e}", file=sys.stderr)
        return 1
    if args.json:
        report = {"a": args.a, "b": args.b, "seed": seed, **result.as_dict()}
        print(json.dumps(report, allow_nan=False))   # finite: too few permutations are refused
    else:
        print(f"A = {args.a} ({X.shape[0]} x {X.shape[1]}),  B = {args.b} "
              f"({Y.shape[0]} x {Y.shape[1]})")
        print(result.summary())
        print(f"  seed         {seed}" + (f"  (drawn at random: --seed {seed} repeats this "
                                           f"result)" if chosen else ""))
    return 0


def _deep_settings(args):
    """The --kernel deep flags given, as mmd_test arguments; refused with another kernel, where
    they would be ignored."""
    given = {name: getattr(args, name) for name in DEEP_FLAGS if getattr(args, name) is not None}
    if given and args.kernel != "deep":
        raise DataError(f"{', '.join(DEEP_FLAGS[name] for name in given)} only apply to "
                        f"--kernel deep (a kernel learned here)")
    return given


def _check_key(args):
    """--key names an array inside .npz files: with no .npz file it would be ignored."""
    if args.key is not None and not any(Path(f).suffix.lower() == ".npz" for f in (args.a, args.b)):
        raise DataError(f"--key {args.key!r} names an array inside .npz files, and neither "
                        f"{args.a} nor {args.b} is one")


def _check_permutations(args):
    """--permutations too few to ever reject at --alpha is refused, naming the fewest that can."""
    if args.method == "permutation" and 0 < args.alpha < 1 and \
            args.permutations < min_permutations(args.alpha):
        raise ValueError(f"--permutations {args.permutations} can never reject at alpha = "
                         f"{args.alpha:g} (the smallest p-value is 1 / (1 + B) = "
                         f"{1 / (1 + args.permutations):.3g}); use at least "
                         f"{min_permutations(args.alpha)}")


def _check_pair(X, Y, args):
    """Same number of columns, and enough rows for the chosen test (files named)."""
    try:
        check_same_width(X, Y, args.a, args.b)
    except ValueError as e:
        raise DataError(str(e)) from None
    need = required_rows(args.method, args.estimator, split=args.sigma == "split",
                         kernel=args.kernel)
    for path, arr in ((args.a, X), (args.b, Y)):
        if len(arr) < need:
            raise DataError(f"{path}: has {len(arr)} rows; this test needs at least {need}")
