"""Checkpoints: one .npz file of named arrays plus JSON metadata.

The metadata (a JSON string stored as a plain unicode array under the key
`__meta__`) says what kind of object this is and carries everything a resume
needs besides the arrays: configuration, step count, RNG state.

Safety: files are read with allow_pickle=False (no code runs on load) and written
atomically: a temporary file in the same folder, then os.replace, so a crash
mid-write never leaves a half-written checkpoint under the real name. A save that was
killed outright (SIGKILL, power loss) can leave its temporary file behind; the next save
into that folder removes such leftovers of our own naming pattern (`.tmp-minigan-*.npz`)
once they are older than STALE_SECONDS. Arrays holding NaN or inf are refused on save, so a
good checkpoint is never replaced by a ruined one.

Hostile files. CheckpointReader reads the metadata first (at most MAX_META_BYTES), then
only the arrays the caller asks for, each checked against the shape and dtype it must have
*before* its data is read (the .npy header and the zip directory say how big it is), so an
edited size or a zip member declaring gigabytes allocates nothing. The JSON may not hold
NaN, Infinity, numbers that overflow (1e400), integers of 2^128 or more (no field holds one;
10**400 would overflow a float later) or nesting deeper than Python can parse.
load_trainer_checkpoint (minigan.trainer's load) validates every field, its type and its
range, against the arrays and names the field it refuses: counters below MAX_COUNT, data_scale
and data_shift within what the trainer's dtype can standardise (as fit() requires), optimiser
state that the optimiser could have reached (Optimizer.load_state_dict), and networks whose
outputs the trainer's own bandwidths can measure (_check_generator).
"""
import json
import os
import tempfile
import time
import zipfile

import numpy as np

from ._checks import check_widths

FORMAT = "minigan-checkpoint"
VERSION = 1
_META_KEY = "__meta__"
_TMP_PREFIX = ".tmp-minigan-"
STALE_SECONDS = 3600           # a temporary file this old belongs to a save that was killed
MAX_META_BYTES = 4 * 2**20     # the JSON metadata (configs, RNG state) is a few KiB
MAX_ARRAY_BYTES = 2**31        # no trainer array is larger (a 2 GiB network is not "mini")
MAX_EXPANSION = 1100           # deflate cannot expand data more than ~1032-fold
MAX_JSON_INT = 2**128          # the largest JSON integers are the RNG's 128-bit state words
MAX_COUNT = 2**53              # step and optimiser counters (no run comes near; a float holds
                               # every count below it exactly)
# what zipfile and the .npy header reader raise on corrupt bytes (NotImplementedError: a
# flipped flag bit asking for an unsupported zip feature)
_ZIP_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError)


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
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            raise ValueError(f"refusing to save: array {name!r} contains NaN or inf "
                             f"(the file at {path!r}, if any, was left as it was)")
    payload[_META_KEY] = np.array(json.dumps({"format": FORMAT, "version": VERSION, **meta},
                                             allow_nan=False))
    folder = os.path.dirname(os.path.abspath(path))
    remove_stale_temporaries(folder)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=".npz", dir=folder)
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


def remove_stale_temporaries(folder, older_than=STALE_SECONDS):
    """Delete `.tmp-minigan-*.npz` files in `folder` older than `older_than` seconds (the
    leftovers of saves that were killed); younger ones may belong to a save in progress.
    Returns the names removed. Other files, and anything not a regular file, are left alone."""
    removed, now = [], time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(_TMP_PREFIX) and entry.name.endswith(".npz")):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and now - entry.stat().st_mtime > older_than:
                os.unlink(entry.path)
                removed.append(entry.name)
        except OSError:
            pass  # another process removed or renamed it first
    return removed


def load_checkpoint(path, kind=None):
    """Read a whole checkpoint -> (arrays: dict, meta: dict).

    Raises FileNotFoundError for a missing file and CheckpointError for anything that is
    not an intact minigan checkpoint (of `kind`, when given): truncated or corrupt files,
    pickled objects, missing metadata, a different format version, arrays over
    MAX_ARRAY_BYTES. (Trainers load through CheckpointReader, which reads only what it needs.)
    """
    with CheckpointReader(path, kind) as ckpt:
        return {name: ckpt.array(name) for name in ckpt.names}, ckpt.meta


class NpzReader:
    """An open .npz file: `names` (its arrays) and `array(name, ...)`, each array checked
    against what it must be before its data is read. Use as a context manager. Every failure
    is a CheckpointError naming the file (minigan.mmd_test_cli reads sample files with it)."""

    what = ".npz file"

    def __init__(self, path):
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise CheckpointError(f"{path!r} is not a regular file")
        self.path, self.kind = path, None
        try:
            self._zip = zipfile.ZipFile(path)
        except _ZIP_ERRORS as e:
            raise CheckpointError(f"{path!r} is not a readable {self.what}: {e}") from None
        self.names = [n[:-4] for n in self._zip.namelist() if n.endswith(".npy")]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._zip.close()

    def fail(self, what):
        """A CheckpointError about this file."""
        kind = f"{self.kind} " if self.kind else ""
        return CheckpointError(f"{self.path!r} is an incomplete or inconsistent {kind}"
                               f"{self.what}: {what}")

    def _header(self, name):
        """(zip info, shape, dtype, fortran order, header length) of one array, data unread."""
        try:
            info = self._zip.getinfo(name + ".npy")
            with self._zip.open(info) as f:
                shape, fortran, dtype = read_npy_header(f)
                return info, shape, dtype, fortran, f.tell()
        except KeyError:
            raise self.fail(f"no array {name!r}") from None
        except _ZIP_ERRORS as e:
            raise CheckpointError(f"{self.path!r} is not a readable {self.what} "
                                  f"(array {name!r}: {e})") from None

    def array(self, name, shape=None, dtype=None, kind="f", max_bytes=MAX_ARRAY_BYTES,
              max_len=None, finite=True):
        """The array `name`, checked before its data is read: exactly `shape` (None: any
        shape; max_len: 1-D of at most that length), `dtype` (None: any whose dtype.kind is
        in `kind`), at most max_bytes, and as many bytes in the zip as its header says.
        Floating arrays must be finite (unless finite=False)."""
        info, got_shape, got_dtype, fortran, offset = self._header(name)
        if got_dtype.hasobject:
            raise CheckpointError(f"{self.path!r} holds pickled objects, which minigan never loads")
        if got_dtype.kind not in kind or (dtype is not None and got_dtype != np.dtype(dtype)):
            want = np.dtype(dtype).name if dtype is not None else f"kind {kind!r}"
            raise self.fail(f"array {name!r} has dtype {got_dtype}, expected {want}")
        if shape is not None and tuple(got_shape) != tuple(shape):
            raise self.fail(f"array {name!r} has shape {got_shape}, expected {tuple(shape)}")
        if max_len is not None and (len(got_shape) != 1 or got_shape[0] > max_len):
            raise self.fail(f"array {name!r} has shape {got_shape}, expected 1-D with at "
                            f"most {max_len} entries")
        nbytes = int(np.prod(got_shape, dtype=np.float64)) * got_dtype.itemsize
        if nbytes > max_bytes:
            raise self.fail(f"array {name!r} would take {nbytes / 2**20:.1f} MiB "
                            f"(more than {max_bytes / 2**20:.0f} MiB)")
        if (info.file_size != offset + nbytes or info.compress_size > os.path.getsize(self.path)
                or info.file_size > MAX_EXPANSION * max(info.compress_size, 1)):
            raise self.fail(f"array {name!r}: the zip entry's sizes ({info.compress_size} "
                            f"stored, {info.file_size} declared) do not match its header "
                            f"({nbytes} bytes of data)")
        try:
            with self._zip.open(info) as f:
                f.seek(offset)
                data = f.read(nbytes)
                if len(data) != nbytes or f.read(1):
                    raise EOFError("the data is cut short")
        except _ZIP_ERRORS as e:
            raise CheckpointError(f"{self.path!r} is not a readable {self.what} "
                                  f"(array {name!r}: {e})") from None
        arr = np.frombuffer(data, dtype=got_dtype).reshape(got_shape, order="F" if fortran else "C")
        if finite and arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise self.fail(f"array {name!r} contains NaN or inf")
        return arr.copy()


class CheckpointReader(NpzReader):
    """An open checkpoint: an NpzReader with `meta` (the JSON dict), of `kind` when given."""

    what = "checkpoint"

    def __init__(self, path, kind=None):
        path = os.fspath(path)
        if not os.path.exists(path) and os.path.exists(path + ".npz"):
            path += ".npz"  # save_checkpoint adds the suffix, so load accepts the name without it
        if not os.path.exists(path):
            raise FileNotFoundError(f"no checkpoint at {path!r}")
        super().__init__(path)
        self.kind = kind
        try:
            self.meta = self._read_meta()
        except BaseException:
            self._zip.close()
            raise

    def _read_meta(self):
        if _META_KEY not in self.names:
            if any(self._header(n)[2].hasobject for n in self.names):
                raise CheckpointError(f"{self.path!r} holds pickled objects, which minigan "
                                      f"never loads")
            raise CheckpointError(f"{self.path!r} has no minigan metadata")
        raw = self.array(_META_KEY, shape=(), max_bytes=MAX_META_BYTES, kind="U")
        try:
            meta = json.loads(str(raw), parse_constant=_refuse_constant, parse_float=_finite_float,
                              parse_int=_bounded_int)
        except ValueError as e:  # JSONDecodeError is a ValueError
            raise CheckpointError(f"{self.path!r} has corrupt metadata: {e}") from None
        except RecursionError:
            raise CheckpointError(f"{self.path!r} has corrupt metadata: nested deeper than "
                                  f"any checkpoint field") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CheckpointError(f"{self.path!r} is not a minigan checkpoint")
        if type(meta.get("version")) is not int or meta.get("version") != VERSION:
            raise CheckpointError(f"{self.path!r} has format version {meta.get('version')}, "
                                  f"this minigan reads version {VERSION}")
        if self.kind is not None and meta.get("kind") != self.kind:
            raise CheckpointError(f"{self.path!r} holds a {meta.get('kind')}, not a {self.kind}")
        return meta


def read_npy_header(f):
    """(shape, fortran_order, dtype) from the .npy header at f's position (data unread)."""
    version = np.lib.format.read_magic(f)
    read = {(1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read is None:
        raise ValueError(f".npy format version {version} (minigan reads 1.0 and 2.0)")
    return read(f)


def _refuse_constant(name):
    raise ValueError(f"the JSON holds {name}, which is not a number a checkpoint may carry")


def _finite_float(text):
    value = float(text)
    if not np.isfinite(value):
        raise ValueError(f"the JSON number {text} overflows a float")
    return value


def _bounded_int(text):
    value = int(text)  # more than 4300 digits: Python's own ValueError
    if abs(value) >= MAX_JSON_INT:
        raise ValueError(f"the JSON integer {text:.40} is 2^128 or more, larger than any field "
                         f"a checkpoint holds")
    return value


# ------------------------------------------------------------ trainer checkpoints
def load_trainer_checkpoint(cls, path, backend=None):
    """Rebuild a minigan.trainer.Trainer subclass `cls` from a checkpoint written by its save().

    Order matters for hostile files: the metadata's fields are checked first (types, ranges,
    layer widths), then each network's parameters are read against the shapes its config
    implies (before any network is built), then the optimiser states against the parameters.
    """
    from .mlp import MLP  # here, not at the top: minigan.mlp must not depend on checkpoints

    with CheckpointReader(path, kind=cls.kind) as ckpt:
        meta = ckpt.meta
        step = _field(ckpt, meta, "step", _is_count, f"an integer in [0, {MAX_COUNT}]")
        config = dict(_field(ckpt, meta, "config", lambda v: isinstance(v, dict), "an object"))
        net_configs = _field(ckpt, config, "nets", lambda v: isinstance(v, dict) and v,
                             "an object naming the networks", where="config.nets")
        opt_meta = _field(ckpt, meta, "optimizers", lambda v: isinstance(v, dict), "an object")
        _check_extra_fields(ckpt, meta, step, sorted(net_configs))
        _check_rng(ckpt, meta)
        params = {name: _read_params(ckpt, name, c) for name, c in net_configs.items()}
        del config["nets"]
        try:
            nets = {name: MLP(**c, backend=backend) for name, c in net_configs.items()}
            obj = cls._from_config(config, nets, backend)
        except (TypeError, ValueError, KeyError) as e:
            raise ckpt.fail(f"field 'config': {e}") from None
        if set(obj.nets) != set(net_configs):
            raise ckpt.fail(f"field 'config.nets' names {sorted(net_configs)}, a {cls.kind} "
                            f"has {sorted(obj.nets)}")
        for name, net in obj.nets.items():
            for p, a in zip(net.params, params[name]):
                p[...] = a
            opt = obj.opts[name]
            state = {f"{slot}.{i}": ckpt.array(f"{name}.opt.{slot}.{i}", p.shape, p.dtype)
                     for slot in opt.slots for i, p in enumerate(net.params)}
            om = _field(ckpt, opt_meta, name, lambda v: isinstance(v, dict), "an object",
                        where=f"optimizers.{name}")
            _field(ckpt, om, "t", _is_count, f"an integer in [0, {MAX_COUNT}]",
                   where=f"optimizers.{name}.t")
            _field(ckpt, om, "lr", _is_positive, "a finite number > 0",
                   where=f"optimizers.{name}.lr")
            problem = opt.unreachable_state(state)
            if problem:
                raise ckpt.fail(f"array '{name}.opt.{problem[0]}' {problem[1]}")
            opt.load_state_dict(state, om)
        obj.history = {k: ckpt.array(f"history.{k}", dtype=np.float64, max_len=step).tolist()
                       for k in cls.history_keys}
        obj.step_count = step
        obj.lr_schedule = meta.get("lr_schedule")
        try:
            obj.rng.bit_generator.state = meta["rng"]
            obj._load_extra_meta(meta)
        except KeyError as e:
            raise ckpt.fail(f"field {e} is missing") from None
        except (TypeError, ValueError) as e:   # the message names the field (sigmas, ...)
            raise ckpt.fail(f"a metadata field is out of range: {e}") from None
        if obj.data_shift is not None:
            _check_standardisation(ckpt, meta, obj)
        _check_generator(ckpt, obj)
    return obj


def _check_generator(ckpt, obj):
    """The networks must be ones their next training step can use: on the divergence guard's
    probe noise, the generator's outputs (the networks' space; an MMDGAN's raw kernel) and a
    critic's features of them within what the trainer's own bandwidths can measure
    (minigan.mmd.check_narrowest, the check that step would fail). Weights or biases edited to
    1e300 load otherwise, and every later fit() stops on the bandwidths."""
    from .divergence import PROBE_ROWS, PROBE_SEED
    from .mmd import check_narrowest

    G = obj.nets.get("G")
    if G is None or getattr(obj, "sigmas", None) is None:
        return
    critic = getattr(obj, "_f", None)          # MMDGAN: sigmas measure the critic's features
    with np.errstate(over="ignore", invalid="ignore"):      # an overflow is refused below
        out = G._forward(obj._noise(PROBE_ROWS, np.random.default_rng(PROBE_SEED)))
        stages = ([("G", out, obj.raw_sigmas), ("C", critic._forward(out), obj.sigmas)]
                  if critic is not None else [("G", out, obj.sigmas)])
    for name, values, sigmas in stages:
        if sigmas is None:
            continue
        try:
            if not np.all(np.isfinite(values)):
                raise ValueError("they overflow")
            check_narrowest(sigmas, values, values)
        except ValueError:
            raise ckpt.fail(f"the arrays '{name}.param.*' make outputs up to "
                            f"{float(np.abs(values).max()):.3g} on probe noise, more than the "
                            f"bandwidths (from {min(sigmas):.3g}) can measure: no training run "
                            f"ends there") from None


def _check_standardisation(ckpt, meta, obj):
    """data_shift: data_dim numbers with |x| <= max / 2 of the trainer's dtype (so that
    shift + G(z) * scale has room); data_scale in [tiny / eps, max], the spreads fit()
    accepts (minigan.trainer._mean_and_spread), and at least eps * max |data_shift| (or 1.0,
    the scale of constant data)."""
    info = np.finfo(obj.dtype)
    if obj.data_shift.shape != (obj.data_dim,):
        raise ckpt.fail(f"field 'data_shift' must hold {obj.data_dim} numbers, "
                        f"got {len(obj.data_shift)}")
    top = float(info.max) / 2
    if not all(abs(x) <= top for x in meta["data_shift"]):
        raise ckpt.fail(f"field 'data_shift' must hold numbers in [-{top:.4g}, {top:.4g}] "
                        f"({obj.dtype}), got {meta['data_shift']!r:.80}")
    low = float(info.tiny / info.eps)
    if not low <= obj.data_scale <= float(info.max):
        raise ckpt.fail(f"field 'data_scale' must lie in [{low:.4g}, {float(info.max):.4g}] "
                        f"({obj.dtype}: a smaller spread cannot be divided by), got "
                        f"{obj.data_scale!r}")
    # a spread below the float spacing at the shift: shift + G(z) * scale rounds to the shift
    # (1.0 is what calibration gives constant data, whose spread is 0)
    resolvable = float(info.eps) * max(abs(x) for x in meta["data_shift"])
    if obj.data_scale < resolvable and obj.data_scale != 1.0:
        raise ckpt.fail(f"field 'data_scale' = {obj.data_scale!r} is below the float spacing "
                        f"at data_shift ({resolvable:.3g}): no data has that mean and spread")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_count(v):
    return _is_int(v) and 0 <= v <= MAX_COUNT


def _is_positive(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf")


def _field(ckpt, obj, key, ok, expected, where=None):
    """obj[key] when ok(obj[key]), else a CheckpointError naming the field."""
    where = where or key
    if not isinstance(obj, dict) or key not in obj:
        raise ckpt.fail(f"field {where!r} is missing")
    if not ok(obj[key]):
        raise ckpt.fail(f"field {where!r} must be {expected}, got {obj[key]!r:.80}")
    return obj[key]


def _check_extra_fields(ckpt, meta, step, names):
    """lr_schedule, data_shift and data_scale: absent/None or in range. `names`: the
    networks, one optimiser each, whose learning rates a schedule must all give."""
    s = meta.get("lr_schedule")
    if s is not None:
        _field(ckpt, meta, "lr_schedule", lambda v: isinstance(v, dict), "null or an object")
        _field(ckpt, s, "lr0", lambda v: isinstance(v, dict) and sorted(v) == names
               and all(map(_is_positive, v.values())),
               f"an object of finite learning rates > 0 for {names}", where="lr_schedule.lr0")
        _field(ckpt, s, "factor", lambda v: _is_positive(v) and v <= 1, "a number in (0, 1]",
               where="lr_schedule.factor")
        _field(ckpt, s, "start", lambda v: _is_int(v) and 0 <= v <= step,
               f"an integer in [0, step={step}]", where="lr_schedule.start")
        _field(ckpt, s, "steps", lambda v: _is_int(v) and v >= 1, "an integer >= 1",
               where="lr_schedule.steps")
    if meta.get("data_scale") is not None or meta.get("data_shift") is not None:
        _field(ckpt, meta, "data_scale", _is_positive, "a finite number > 0")
        _field(ckpt, meta, "data_shift",
               lambda v: isinstance(v, list) and all(isinstance(x, (int, float))
                                                     and not isinstance(x, bool) for x in v),
               "a list of numbers")


def _check_rng(ckpt, meta):
    """The PCG64 state every trainer saves: {"bit_generator": "PCG64", "state": {"state": s,
    "inc": i}, "has_uint32": 0 or 1, "uinteger": u}, with s, i < 2^128 and u < 2^32."""
    uint = lambda bits: lambda v: _is_int(v) and 0 <= v < 2**bits
    rng = _field(ckpt, meta, "rng", lambda v: isinstance(v, dict), "an object")
    _field(ckpt, rng, "bit_generator", lambda v: v == "PCG64", "'PCG64'",
           where="rng.bit_generator")
    state = _field(ckpt, rng, "state", lambda v: isinstance(v, dict), "an object",
                   where="rng.state")
    for key in ("state", "inc"):
        _field(ckpt, state, key, uint(128), "an integer in [0, 2^128)", where=f"rng.state.{key}")
    _field(ckpt, rng, "has_uint32", lambda v: _is_int(v) and v in (0, 1),
           "0 or 1", where="rng.has_uint32")
    _field(ckpt, rng, "uinteger", uint(32), "an integer in [0, 2^32)", where="rng.uinteger")


def _read_params(ckpt, name, config):
    """The parameter arrays of network `name`, against the shapes its config's sizes imply."""
    where = f"config.nets.{name}"
    if not isinstance(config, dict):
        raise ckpt.fail(f"field {where!r} must be an object, got {config!r:.80}")
    try:
        sizes = check_widths(config.get("sizes"), "sizes")
    except (TypeError, ValueError) as e:
        raise ckpt.fail(f"field '{where}.sizes': {e}") from None
    if len(sizes) < 2:
        raise ckpt.fail(f"field '{where}.sizes' must list at least two widths, got {sizes}")
    dtype = _field(ckpt, config, "dtype", lambda v: v in ("float32", "float64"),
                   "'float32' or 'float64'", where=f"{where}.dtype")
    shapes = [s for a, b in zip(sizes[:-1], sizes[1:]) for s in ((a, b), (b,))]
    return [ckpt.array(f"{name}.param.{i}", shape, dtype) for i, shape in enumerate(shapes)]
