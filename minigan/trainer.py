"""What the GMN, GAN and MMDGAN trainers share: noise, data batches, the fit loop, checkpoints.

A trainer owns its networks (`nets`, name -> MLP), one optimiser per network
(`opts`), a numpy Generator `rng` that drives every random draw of training
(noise and data batches), a step counter and a `history` of per-step figures.
Subclasses implement `step(real)` and say how to rebuild themselves from a config.

Standardisation (standardize=True, the default): the networks work on
    x_model = (x - shift) / scale
with shift the per-feature mean and scale one global spread (the root mean of the
per-feature variances, so the geometry of the data, and of the MMD, is unchanged),
both fixed from the first real data seen. sample() and transform() map back. Without
it a net whose ReLU kinks start at 0 must first drag its biases to where the data
lives (a discriminator on N(3, 0.5^2) barely learns in thousands of steps).

Learning-rate decay: fit(..., lr_decay=f) sets a schedule on the trainer, lr0 * f^(k / (K - 1))
at the k-th of its K steps; it is saved with the trainer, and a later fit without lr_decay
continues it (then stays at the final rate).

Resuming is exact: a checkpoint carries the weights, the optimiser moments, the
step count, the history, the learning-rate schedule and the Generator's state, so
save -> load -> fit gives the numbers an uninterrupted run would have given.

Divergence: every subclass's step() is wrapped by minigan.divergence.guarded_step (see
Trainer.__init_subclass__), so a step that produces NaN/inf or blows the generator up is
undone and reported as TrainingDiverged, whether it was called by fit() or directly.

Threads: fit() and every step() run BLAS on one thread (minigan.threads: the products of a
step are too small for more; the callback runs under the same limit), and leave the
process's thread counts as they found them.

Deliberately left out: other schedules, early stopping, multiprocessing.
"""
import numpy as np
from tqdm.auto import tqdm

from . import threads
from ._checks import (MAX_WIDTH, as_float_array, check_bool, check_callable, check_choice,
                      check_float_dtype, check_number_in, check_positive_int, check_seed)
from .checkpoint import load_trainer_checkpoint, save_checkpoint
from .divergence import guarded_step
from .mlp import MLP

NOISES = ("uniform", "gaussian")


def sample_noise(n, dim, kind="uniform", seed=None, dtype=np.float64):
    """Noise z: (n, dim), uniform on [-1, 1]^dim (default) or standard Gaussian.

    Uniform noise is enough for any 1-D target: if u = (z + 1) / 2 ~ U(0, 1) then F^-1(u) has
    CDF F, since P(F^-1(u) <= x) = P(u <= F(x)) = F(x) (the inverse-CDF transform).
    """
    n, dim = check_positive_int(n, "n"), check_positive_int(dim, "dim")
    check_choice(kind, "noise", NOISES)
    dtype = check_float_dtype(dtype)
    return _draw_noise(np.random.default_rng(check_seed(seed)), n, dim, kind, dtype)


def _draw_noise(rng, n, dim, kind, dtype):
    """sample_noise's draw, without its argument checks: for a trainer, whose settings were
    checked once when it was made (a training step draws noise two or three times)."""
    if kind == "uniform":
        z = rng.uniform(-1.0, 1.0, size=(n, dim))
    else:
        z = rng.standard_normal((n, dim))
    return z.astype(dtype, copy=False)


class Trainer:
    """Base class of GMN, GAN and MMDGAN (not used on its own)."""

    kind = None           # the checkpoint's "kind"
    history_keys = ()     # names of the per-step figures in `history`
    default_batch_size = 128   # fit's batch_size when the caller does not say

    def __init_subclass__(cls, **kwargs):
        """Every subclass's step() is guarded: a diverged step is undone and reported
        (minigan.divergence), whatever the subclass does inside it."""
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = guarded_step(cls.__dict__["step"])

    def _step_state(self):
        """Copies of what a step changes besides the networks, optimisers, counters, history
        and random state (which minigan.divergence saves itself); None here. A subclass that
        keeps more (e.g. MMDGAN's power-iteration vectors) returns it, for a rollback."""
        return None

    def _restore_step_state(self, state):
        """Put back what _step_state() returned."""

    def __init__(self, data_dim, noise_dim, noise, seed, dtype, standardize, backend):
        self.data_dim = check_positive_int(data_dim, "data_dim", maximum=MAX_WIDTH)
        self.noise_dim = (self.data_dim if noise_dim is None
                          else check_positive_int(noise_dim, "noise_dim", maximum=MAX_WIDTH))
        self.noise = check_choice(noise, "noise", NOISES)
        self.dtype = check_float_dtype(dtype)
        # one seed -> independent streams for the generator's and discriminator's initial
        # weights and for training (noise and batches); always PCG64, whose state a
        # checkpoint stores as JSON, whatever bit generator a Generator seed uses
        seed = check_seed(seed)
        seq = (seed.bit_generator.seed_seq if isinstance(seed, np.random.Generator)
               else seed if isinstance(seed, np.random.SeedSequence)
               else np.random.SeedSequence(seed))
        g_seq, d_seq, train_seq = seq.spawn(3)
        self._init_rngs = [np.random.Generator(np.random.PCG64(g_seq)),
                           np.random.Generator(np.random.PCG64(d_seq))]
        self.rng = np.random.Generator(np.random.PCG64(train_seq))
        self.lr_schedule = None  # set by fit(lr_decay=...): {"lr0", "factor", "start", "steps"}
        self.step_count = 0
        self.history = {k: [] for k in self.history_keys}
        self.nets, self.opts = {}, {}
        self.standardize = check_bool(standardize, "standardize")
        self.backend = backend  # as asked: None, "auto", "numpy" or "cython" (see minigan.backend)
        self.data_shift, self.data_scale = None, None  # fixed by _calibrate

    # ----------------------------------------------------------- networks
    def _network(self, given, sizes, activation, output_activation, init_rng, name):
        """The MLP passed in (checked against the expected in/out widths) or a new one."""
        if given is None:
            return MLP(sizes, activation, output_activation, seed=init_rng, dtype=self.dtype,
                       backend=self.backend)
        if not isinstance(given, MLP):
            raise TypeError(f"{name} must be a minigan.MLP, got {type(given).__name__}")
        if given.sizes[0] != sizes[0] or given.sizes[-1] != sizes[-1]:
            raise ValueError(f"{name} must map {sizes[0]} -> {sizes[-1]} features, "
                             f"got {given.sizes[0]} -> {given.sizes[-1]}")
        if given.dtype != self.dtype:
            raise TypeError(f"{name} has dtype {given.dtype}, the trainer uses {self.dtype}")
        if not all(np.all(np.isfinite(p)) for p in given.params):
            raise ValueError(f"{name} has NaN or inf weights")
        return given

    @property
    def generator(self):
        return self.nets["G"]

    # -------------------------------------------------------------- noise
    def _noise(self, n, rng=None):
        """z: (n, noise_dim) from the training Generator (or from rng)."""
        return _draw_noise(self.rng if rng is None else rng, n, self.noise_dim, self.noise,
                           self.dtype)

    def sample(self, n, seed=None):
        """n generated samples, (n, data_dim). Uses its own Generator (seed), not training's."""
        n = check_positive_int(n, "n")
        out = self._to_data(self.generator._forward(self._noise(n, np.random.default_rng(check_seed(seed)))))
        return _finite_output(out, "sample()", "the generator's outputs")

    def transform(self, z):
        """G(z) for given noise z: (n, noise_dim) -> (n, data_dim)."""
        z = as_float_array(z, "z", ndim=2, dtype=self.dtype)
        if z.shape[1] != self.noise_dim:
            raise ValueError(f"z must have {self.noise_dim} columns, got shape {z.shape}")
        self.generator.check_range(z, "z")
        return _finite_output(self._to_data(self.generator._forward(z)), "z", "G(z)")

    # ------------------------------------------------------- standardisation
    def _is_calibrated(self):
        return self.data_shift is not None

    def _calibrate(self, real):
        """Fix, from the first real data seen, what training then keeps constant."""
        if self.data_shift is None:
            shift, scale = np.zeros(self.data_dim), 1.0
            if self.standardize:
                shift, scale = _mean_and_spread(real)
            self.data_shift, self.data_scale = shift.astype(self.dtype), scale

    def _to_model(self, x):
        """Data space -> the networks' standardised space (identity before calibration)."""
        if self.data_shift is None:
            return x
        return (x - self.data_shift) / self.dtype.type(self.data_scale)

    def _to_data(self, y):
        """The networks' space -> data space (identity before calibration)."""
        if self.data_shift is None:
            return y
        return y * self.dtype.type(self.data_scale) + self.data_shift

    # ------------------------------------------------------------ training
    def _check_real(self, real, min_rows=1, name="real"):
        """real: (n, data_dim) data-space rows, checked; errors name the argument `name`."""
        real = as_float_array(real, name, dtype=self.dtype, min_rows=min_rows)
        if self.data_dim == 1 and real.ndim == 1:
            real = real[:, None]  # documented: a flat array is a column of 1-D samples
        if real.ndim != 2 or real.shape[1] != self.data_dim:
            raise ValueError(f"{name} must have {self.data_dim} columns, got shape {real.shape}")
        return real

    def _model_batch(self, real, min_rows=1):
        """A checked real batch in the networks' space (calibrating on the first one)."""
        real = self._check_real(real, min_rows)
        if not self._is_calibrated():
            self._calibrate(real)
        return self._to_model(real)

    def _data_source(self, X):
        """A function k -> (k, data_dim) batch, from an array (rows drawn with replacement)
        or from a distribution with a `sample(n, seed)` method (e.g. minigan.data's)."""
        if hasattr(X, "sample") and not isinstance(X, np.ndarray):
            return lambda k: X.sample(k, seed=self.rng)
        X = self._check_real(X)
        return lambda k: X[self.rng.integers(0, len(X), size=k)]

    def _rows_per_step(self, batch_size):
        return batch_size

    def _prepare(self, draw):
        """Before the first fit: calibrate on 1000 real samples."""
        if not self._is_calibrated():
            self._calibrate(self._check_real(draw(1000)))

    def _record(self, **figures):
        self.step_count += 1
        for k, v in figures.items():
            self.history[k].append(float(v))
        return figures

    def fit(self, X, steps=1000, batch_size=None, progress=True, callback=None, lr_decay=None):
        """Train for `steps` steps on batches drawn from X.

        X: (N, data_dim) array of real samples, or a distribution with `sample(n, seed)`
        batch_size: samples per batch (None: the trainer's default_batch_size)
        callback: called as callback(trainer) after every step
        lr_decay: None, or a factor f in (0, 1]: every learning rate then decays geometrically
                  from its current value lr0 to f * lr0 over these steps (and stays there)
        Returns self; per-step figures accumulate in `history`.
        """
        steps = check_positive_int(steps, "steps")
        batch_size = self.default_batch_size if batch_size is None else batch_size
        batch_size = check_positive_int(batch_size, "batch_size", minimum=2)
        progress = check_bool(progress, "progress")
        check_callable(callback, "callback")
        if lr_decay is not None:
            lr_decay = check_number_in(lr_decay, "lr_decay", 0, 1)
        draw = self._data_source(X)
        self._prepare(draw)
        if lr_decay is not None:
            self.lr_schedule = {"lr0": {name: opt.lr for name, opt in self.opts.items()},
                                "factor": float(lr_decay), "start": self.step_count, "steps": steps}
        bar = tqdm(range(steps), desc=self.kind, disable=not progress, leave=False)
        with threads.limit(threads.step_threads()):  # once for all steps (minigan.threads)
            for _ in bar:
                self._apply_lr_schedule()
                figures = self.step(draw(self._rows_per_step(batch_size)))
                if progress and self.step_count % 50 == 0:
                    bar.set_postfix({k: f"{v:.4f}" for k, v in figures.items()}, refresh=False)
                if callback is not None:
                    callback(self)
        return self

    def _apply_lr_schedule(self):
        """Set every learning rate for the coming step from the schedule, if there is one."""
        s = self.lr_schedule
        if s is None:
            return
        k = min(self.step_count - s["start"], s["steps"] - 1)  # stays at the end once done
        for name, opt in self.opts.items():
            opt.lr = s["lr0"][name] * s["factor"] ** (k / max(s["steps"] - 1, 1))

    # --------------------------------------------------------- checkpoints
    def config(self):
        """JSON-ready constructor arguments (networks described by their MLP configs)."""
        return {**self._config, "nets": {name: net.config() for name, net in self.nets.items()}}

    def _extra_meta(self):
        shift = None if self.data_shift is None else self.data_shift.tolist()
        return {"data_shift": shift, "data_scale": self.data_scale}

    def _load_extra_meta(self, meta):
        shift = meta["data_shift"]
        self.data_shift = None if shift is None else np.asarray(shift, dtype=self.dtype)
        self.data_scale = meta["data_scale"]

    def save(self, path):
        """Write a resumable checkpoint (.npz + JSON metadata, atomic). Returns the path."""
        arrays, opt_meta = {}, {}
        for name, net in self.nets.items():
            arrays.update({f"{name}.param.{i}": p for i, p in enumerate(net.params)})
            opt_arrays, opt_meta[name] = self.opts[name].state_dict()
            arrays.update({f"{name}.opt.{k}": a for k, a in opt_arrays.items()})
        arrays.update({f"history.{k}": np.asarray(v, dtype=np.float64) for k, v in self.history.items()})
        meta = {"kind": self.kind, "config": self.config(), "step": self.step_count,
                "lr_schedule": self.lr_schedule,
                "rng": self.rng.bit_generator.state, "optimizers": opt_meta, **self._extra_meta()}
        return save_checkpoint(path, arrays, meta)

    @classmethod
    def load(cls, path, backend=None):
        """Rebuild a trainer from save(path), ready to sample or to continue training.

        backend: how to run it here (the checkpoint does not depend on the backend).
        """
        return load_trainer_checkpoint(cls, path, backend)


def _mean_and_spread(real):
    """Per-feature mean (d,) and one global spread (the root mean of the per-feature
    variances), computed on real / max|real| so that squares of large data cannot overflow."""
    big = float(np.abs(real).max()) or 1.0
    u = real.astype(np.float64) / big
    shift = u.mean(axis=0) * big
    scale = float(np.sqrt(u.var(axis=0).mean())) * big or 1.0
    tiny = float(np.finfo(real.dtype).tiny)
    if scale < tiny / np.finfo(real.dtype).eps:
        raise ValueError(f"real: the data's spread {scale:.3g} is too small to standardise in "
                         f"{real.dtype} (1 / spread overflows or loses its digits); rescale the "
                         f"data or use dtype=np.float64")
    return shift, scale


def _finite_output(out, name, what):
    """`out` when finite, else a ValueError naming the input that overflowed the network."""
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{what} overflowed to NaN or inf for this {name}: the values are far "
                         f"outside the range the networks were trained on")
    return out
