"""Command-line arguments checked before any work starts (the `minigan` commands and demos).

Every bad value becomes one line from argparse ("error: argument --steps: ...") and exit
status 2, *before* training or a benchmark runs, so that a typo never costs an hour or the
output of a finished run:

    int_at_least(k)   --steps 0, --trials -1, --seeds 0, --batch-size 1, --seed -1, and above
                      MAX_INT_FLAG (--steps 10^23), the upper bound of every integer flag
    output_dir        --out <an existing file>, --out <inside a folder that cannot be written>
    output_file       --json /missing/dir/x.json, --json <a folder>
    input_file        /dev/zero, a FIFO, a folder, a file over MAX_INPUT_BYTES (regular files only,
                      so nothing blocks or reads forever)

Deliberately left out: checks that need the file's contents (minigan.mmd_test_cli reads those).
"""
import argparse
import os
import stat

MAX_INPUT_BYTES = 4 * 2**30   # a sample file larger than this is refused, not read
MAX_INT_FLAG = 10**9          # every integer flag (steps, trials, seeds, sizes, permutations):
                              # 10^9 steps would take weeks; beyond 2^63 Python's range() fails


def int_at_least(minimum, maximum=MAX_INT_FLAG):
    """An argparse type: an integer in [minimum, maximum]."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            if text.strip().lstrip("+").isdigit():     # over 4,300 digits: int() refuses
                value = maximum + 1
            else:
                raise argparse.ArgumentTypeError(f"expected an integer, got {text[:40]!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum} (the bound of every "
                                             f"integer flag), got {text[:40]}")
        return value
    return parse


def _writable_folder(folder, text):
    """The nearest existing ancestor of `folder` must be a folder we may write into."""
    folder = os.path.abspath(folder or ".")
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"{text!r}: {folder!r} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text!r}: cannot write into {folder!r}")


def output_dir(text):
    """An argparse type: a folder to write into, created now (as the run would) so that a
    folder that cannot be made is reported before the run, not after it."""
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} exists and is not a folder")
    _writable_folder(text, text)
    try:
        os.makedirs(text, exist_ok=True)
    except OSError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: cannot create it ({e.strerror})") from None
    return text


def output_file(text):
    """An argparse type: a file to write, in a folder that exists and can be written."""
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; give a file name")
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"{text!r}: the folder {folder!r} does not exist")
    _writable_folder(folder, text)
    return text


def input_file(path, max_bytes=MAX_INPUT_BYTES):
    """Check that `path` is a readable regular file of at most max_bytes (ValueError if not).

    Checked with stat() before anything opens it: a FIFO or a device would block or never end.
    """
    try:
        st = os.stat(path)
    except OSError as e:
        raise ValueError(f"{path}: cannot read it ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path}: not a regular file (a folder, device or pipe)")
    if st.st_size > max_bytes:
        raise ValueError(f"{path}: {st.st_size / 2**30:.1f} GiB is more than the "
                         f"{max_bytes / 2**30:.0f} GiB minigan reads from one file")
    return st.st_size
