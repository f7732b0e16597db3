"""Checkpoints: one .npz file of named arrays plus JSON metadata.

The metadata (a JSON string stored as a plain unicode array under the key
`__meta__`) says what kind of object this is and carries everything a resume
needs besides the arrays: configuration, step count, RNG state.

Safety: files are read with allow_pickle=False (no code runs on load) and written
atomically: a temporary file in the same folder, then os.replace, so a crash
mid-write never leaves a half-written checkpoint under the real name.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "minigan-checkpoint"
VERSION = 1
_META_KEY = "__meta__"


class CheckpointError(ValueError):
    """The file is not a readable minigan checkpoint of the expected kind."""


def save_checkpoint(path, arrays, meta):
    """Write `arrays` (dict name -> ndarray) and `meta` (JSON-ready dict) to `path` atomically."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    payload = {name: np.asarray(a) for name, a in arrays.items()}
    for name, a in payload.items():
        if a.dtype == object:
            raise TypeError(f"array {name!r} has dtype object, which cannot be saved without pickle")
    payload[_META_KEY] = np.array(json.dumps({"format": FORMAT, "version": VERSION, **meta}))
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())  # on disk before it takes the real name
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the usual permissions, not mkstemp's private 0600
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def load_checkpoint(path, kind=None):
    """Read a checkpoint -> (arrays: dict, meta: dict).

    Raises FileNotFoundError for a missing file and CheckpointError for anything that is
    not an intact minigan checkpoint (of `kind`, when given): truncated or corrupt files,
    pickled objects, missing metadata, a different format version.
    """
    path = os.fspath(path)
    if not os.path.exists(path) and os.path.exists(path + ".npz"):
        path += ".npz"  # save_checkpoint adds the suffix, so load accepts the name without it
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except ValueError as e:  # numpy refuses object arrays when allow_pickle=False
        raise CheckpointError(f"{path!r} holds pickled objects, which minigan never loads: {e}") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise CheckpointError(f"{path!r} is not a readable .npz checkpoint: {e}") from None
    if _META_KEY not in arrays:
        raise CheckpointError(f"{path!r} has no minigan metadata")
    try:
        meta = json.loads(str(arrays.pop(_META_KEY)))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path!r} has corrupt metadata: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path!r} is not a minigan checkpoint")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path!r} has format version {meta.get('version')}, "
                              f"this minigan reads version {VERSION}")
    if kind is not None and meta.get("kind") != kind:
        raise CheckpointError(f"{path!r} holds a {meta.get('kind')}, not a {kind}")
    return arrays, meta
