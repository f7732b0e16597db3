"""One open page of the lab: its settings, its trainer, the thread that trains it, its views.

A LabSession owns one trainer (minigan.GMN, GAN or MMDGAN, built from the library's defaults
and the page's settings), and one background thread that, while playing, calls the trainer's
own fit(..., steps=k) in short bursts and after each burst publishes a snapshot of the views
(minigan.lab.views) as JSON. The page reads the last snapshot and never waits for training.
Every change goes through the public constructors: a setting is checked by building a trainer
with it (minigan.lab.settings), so a bad value is refused with the library's own message and
nothing changes.

A TrainingDiverged in the thread pauses the session and is shown on the page; the trainer
has already been rolled back to its last good step by minigan.divergence.

Deliberately left out: running several trainers per page, saving settings between runs.
"""
import json
import os
import tempfile
import threading
import time
from collections import deque

import numpy as np

from .. import backend as backends
from .. import mmd, threads
from .._checks import check_choice
from ..divergence import TrainingDiverged, guarded_step
from ..gan import GAN
from ..mmdgan import MMDGAN
from . import views
from .settings import (BOXES, DATASETS, DEFAULTS, LIVE, MAX_DRAWN, build_trainer, check_points,
                       check_settings, default_backend, spread, trainer_kwargs)

SNAPSHOT_CORE = ("version", "session", "step", "playing", "dataset", "method", "kind", "dim",
                 "box", "backend", "params", "half_steps", "error", "steps_per_second",
                 "views_per_second", "n_drawn", "max_drawn", "sources", "batch")
VIEW_PERIOD = 1 / 15     # s between view updates while playing (training gets the rest)
N_SHOWN, N_ARROWS, N_HEAT = 500, 64, 64     # points drawn, arrows, samples for the heat map
MIN_TRAIN_SHARE = 0.6    # of the thread's time while playing, however slow the views are
HEAT_SHARE = 0.15        # of the thread's time the heat map (the costliest view) may take
MAX_BURST = 0.4          # s: the longest a burst of steps holds the trainer (a click waits)


# ------------------------------------------------- half steps (GAN Lab's step levels)
# One critic update or one generator update alone, through the trainers' own pieces, guarded
# like a full step (a divergence is undone); the step counter does not move.
def _gan_critic(t, real):
    packs = t._packed(t._model_batch(real, min_rows=2), "real")
    fake = t.generator._forward(t._noise(t.pack * len(packs)))     # X = G(z), G frozen
    d_loss, _, _ = t._discriminator_loss(packs, fake)
    t.opts["D"].step(t.discriminator.grads)
    return {"d_loss": d_loss}


def _gan_generator(t, real):
    t._model_batch(real, min_rows=2)                               # calibrates a new trainer
    g_loss = t._generator_loss(t._noise(len(real)))
    t.opts["G"].step(t.generator.grads)
    return {"g_loss": g_loss}


def _mmdgan_critic(t, real):
    Y = t._model_batch(real, min_rows=2)
    t._refresh(update_u=True)                                      # one power iteration
    value = t._critic_gradients(t.generator._forward(t._noise(len(Y))), Y)
    t._critic_update()
    t._refresh(update_u=False)                                     # f after its update
    return {"critic_mmd2": value}


def _mmdgan_generator(t, real):
    Y = t._model_batch(real, min_rows=2)
    t._refresh(update_u=False)
    loss = t._generator_gradients(t._noise(len(Y)), Y)
    t.opts["G"].step(t.generator.grads)
    return {"generator_mmd2": loss}


HALF_STEPS = {("critic", GAN): guarded_step(_gan_critic),
              ("generator", GAN): guarded_step(_gan_generator),
              ("critic", MMDGAN): guarded_step(_mmdgan_critic),
              ("generator", MMDGAN): guarded_step(_mmdgan_generator)}
ACTIONS = ("play", "pause", "step", "reset", "critic", "generator")


class Encoded(str):
    """A view already encoded as JSON text (the heat map between refreshes, the real sample):
    spliced into the snapshot as is rather than encoded again each update."""


def _encode(snap):
    """The snapshot dict as JSON bytes, with its Encoded values spliced in; raises ValueError
    on a value JSON cannot carry (NaN, inf)."""
    plain = {k: v for k, v in snap.items() if not isinstance(v, Encoded)}
    text = json.dumps(plain, allow_nan=False)
    spliced = "".join(f", {json.dumps(k)}: {v}" for k, v in snap.items() if isinstance(v, Encoded))
    return (text[:-1] + spliced + "}").encode()


class LabSession:
    """The state of one open page (see the module docstring). All methods are thread-safe."""

    def __init__(self, sid, idle_seconds=60.0):
        self.id = sid
        self.idle_seconds = idle_seconds
        self.lock = threading.RLock()
        self.params = dict(DEFAULTS, backend=default_backend())
        self.drawn = np.zeros((0, 2))
        self.playing = False
        self.closed = threading.Event()
        self._wake = threading.Event()
        self.last_seen = time.monotonic()
        self.version = 0
        self.published = threading.Condition()   # notified when a new snapshot is out
        self._rebuild(self.params)
        self._publish()
        self.thread = threading.Thread(target=self._run, name=f"minigan-lab-{sid}", daemon=True)
        self.thread.start()

    # ------------------------------------------------------------ building
    def _rebuild(self, params, trainer=None):
        """Swap in a trainer for `params` (built here unless given) and reset what depends on it."""
        target = DATASETS[params["dataset"]]
        self.target = target() if target is not None else None
        self.dim = self.target.dim if self.target is not None else 2
        self.trainer = trainer or build_trainer(params, self.dim)
        self.params = params
        self.error = None
        self.half_steps = {"critic": 0, "generator": 0}
        self.mmd_curve, self.figures = [], None
        self._times = deque(maxlen=64)                          # (time, step) while playing
        self._view_times = deque(maxlen=64)
        self._due = {"heat": 0.0, "mmd2": 0.0, "modes": 0.0}    # when a slow view is next due
        self._heat = None
        self._reference()

    def _reference(self):
        """The held-out real sample (drawn points for "draw") and the MMD^2 yardstick's bandwidths."""
        if self.target is not None:
            self.heldout = self.target.sample(1000, seed=20_000)
        else:
            self.heldout = self.drawn
        self._real_json = None
        self.mmd_sigmas = (mmd.data_scales(self.heldout) if len(self.heldout) >= 2 else None)

    def _source(self):
        if self.target is not None:
            return self.target
        if len(self.drawn) < 10:
            raise ValueError(f"draw at least 10 points first (click or drag on the plane); "
                             f"there are {len(self.drawn)}")
        return self.drawn

    def _batch(self):
        return self.params["batch"] or self.trainer.default_batch_size

    # ------------------------------------------------------------ requests
    def touch(self):
        self.last_seen = time.monotonic()

    def set_params(self, changes):
        """Apply settings from the page; raises ValueError/TypeError (nothing changed)."""
        with self.lock:
            new = check_settings(changes, self.params)
            dim = DATASETS[new["dataset"]]().dim if DATASETS[new["dataset"]] else 2
            trainer = build_trainer(new, dim)        # the library checks every value
            if any(new[k] != self.params[k] for k in DEFAULTS if k not in LIVE):
                self.playing = False
                self._rebuild(new, trainer)
            else:
                for name, opt in self.trainer.opts.items():   # a new learning rate, live
                    opt.lr = trainer.opts[name].lr
                self.params = new
            self._publish()

    def draw(self, points, mode):
        """Add drawn points (mode "add") or replace them ("replace"); refused beyond MAX_DRAWN."""
        check_choice(mode, "mode", ("add", "replace"))
        with self.lock:
            a = check_points(points)
            total = len(a) + (len(self.drawn) if mode == "add" else 0)
            if total > MAX_DRAWN:
                raise ValueError(f"too many points: {total}; at most {MAX_DRAWN} can be drawn")
            self.drawn = np.concatenate([self.drawn, a]) if mode == "add" else a
            self._real_json = None
            if self.params["dataset"] == "draw":
                if mode == "replace":     # new data: a new trainer, calibrated on it
                    self.playing = False
                    self._rebuild(self.params)
                self._reference()
            self._publish()

    def control(self, action):
        """play, pause, one step, reset, or one critic / generator update alone."""
        check_choice(action, "action", ACTIONS)
        with self.lock:
            if action == "play":
                self._source()                        # refuses an empty drawing now
                self.playing, self.error = True, None
                self._wake.set()
            elif action == "pause":
                self.playing = False
            elif action == "reset":
                self.playing = False
                self._rebuild(self.params)
            else:
                self.playing = False
                self._train(1, half=None if action == "step" else action)
            self._publish()

    def export_python(self):
        """Python that rebuilds this configuration and trains it as far as the page has (the
        same numbers, when the page only played and stepped: its bursts of fit draw what one
        fit draws; live changes of a rate and half steps are not replayed)."""
        with self.lock:
            p, t = self.params, self.trainer
            args = "".join(f", {k}={v!r}" for k, v in trainer_kwargs(p)[1].items())
            lines = ["import numpy as np", "import minigan", "from minigan import data", ""]
            if self.target is not None:
                make = {"gaussian-1d": "data.gaussian_1d(3.0, 0.5)"}.get(
                    p["dataset"], f"data.{p['dataset']}()")
                lines.append(f"X = {make}")
            else:
                lines.append(f"X = np.array({self.drawn.tolist()})")     # the drawn points
            lines += [f"trainer = minigan.{type(t).__name__}({self.dim}{args})",
                      f"trainer.fit(X, steps={max(t.step_count, 1)}, batch_size={self._batch()})",
                      "samples = trainer.sample(1000)",
                      "print(trainer.step_count, {k: v[-1] for k, v in trainer.history.items()})",
                      ""]
            return "\n".join(lines)

    def export_checkpoint(self):
        """The trainer's own checkpoint (Trainer.save), as bytes."""
        with self.lock, tempfile.TemporaryDirectory() as tmp:
            path = self.trainer.save(os.path.join(tmp, "minigan-lab.npz"))
            with open(path, "rb") as f:
                return f.read()

    def newer_snapshot(self, version, timeout):
        """The snapshot, once one newer than `version` is out (or after `timeout` s, or when
        the session closes): the page asks for each new view as it comes, without polling."""
        with self.published:
            self.published.wait_for(lambda: self.snapshot_version > version
                                    or self.closed.is_set(), timeout)
            return self.snapshot

    def close(self):
        self.closed.set()
        self._wake.set()
        with self.published:
            self.published.notify_all()

    # ------------------------------------------------------------ training
    def _train(self, k, half=None):
        """k steps of the trainer's own fit (or one half step); errors pause and are shown."""
        try:
            if half is None:
                self.trainer.fit(self._source(), steps=k, batch_size=self._batch(),
                                 progress=False)
            else:
                fn = HALF_STEPS.get((half, type(self.trainer)))
                if fn is None:
                    raise ValueError(f"a {type(self.trainer).__name__} has no {half} step; "
                                     f"only the GAN and the MMD-GAN have two players")
                source = self._source()
                rng = self.trainer.rng
                real = (source.sample(self._batch(), seed=rng) if self.target is not None
                        else source[rng.integers(0, len(source), size=self._batch())])
                fn(self.trainer, real)
                self.half_steps[half] += 1
        except TrainingDiverged as e:
            self.playing = False
            self.error = {"kind": "diverged", "message": str(e)}
        except (ValueError, TypeError, RuntimeError, MemoryError, FloatingPointError) as e:
            self.playing = False
            self.error = {"kind": "error", "message": str(e)}

    def _run(self):
        """The training thread: bursts of steps, a view after each, until closed or idle.
        A burst fills what is left of VIEW_PERIOD after the recent views' time, so the page
        gets VIEW_PERIOD's rate of updates and training the rest of the thread; when the views
        are slow it lasts at least MIN_TRAIN_SHARE / (1 - MIN_TRAIN_SHARE) times as long as
        they took, so they never starve training. The heat map, the costliest view, is
        refreshed only as often as its own share (HEAT_SHARE) allows. A trainer's pace is
        learned from its own steps: a new one (another method, backend or size) starts with a
        burst of one step, so a burst never outlasts MAX_BURST by more than a step."""
        timed, step_time, view_time = None, None, 0.0   # the trainer step_time belongs to
        while not self.closed.is_set():
            if time.monotonic() - self.last_seen > self.idle_seconds:
                self.close()
                break
            if not self.playing:
                self._wake.wait(0.25)
                self._wake.clear()
                continue
            t0 = time.monotonic()
            with self.lock:
                if not self.playing:
                    continue
                if self.trainer is not timed:     # a new trainer: its pace is unknown
                    timed, step_time = self.trainer, None
                speed = self.params["speed"]
                budget = min(MAX_BURST, max(VIEW_PERIOD - view_time,
                                            MIN_TRAIN_SHARE / (1 - MIN_TRAIN_SHARE) * view_time))
                k = (max(1, round(speed * VIEW_PERIOD)) if speed
                     else 1 if step_time is None else max(1, int(budget / step_time)))
                before = self.trainer.step_count
                self._train(k)
                done = self.trainer.step_count - before
                t1 = time.monotonic()
                if done:
                    last = (t1 - t0) / done
                    step_time = last if step_time is None else 0.7 * step_time + 0.3 * last
                self._times.append((t1, self.trainer.step_count))
                self._publish()
                view_time = 0.7 * view_time + 0.3 * (time.monotonic() - t1)
            if speed:   # hold the asked pace: k steps per k / speed seconds
                self.closed.wait(max(0.0, t0 + k / speed - time.monotonic()))

    # ------------------------------------------------------------ views
    def _rate(self, times):
        """Events per second over the recent (time, count) pairs."""
        recent = [(t, c) for t, c in times if t > time.monotonic() - 3.0] or list(times)
        recent = recent if len(recent) >= 2 else list(times)[-2:]   # slow cycles: the last two
        if len(recent) < 2 or recent[-1][0] == recent[0][0] or not self.playing:
            return 0.0
        return (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])

    def _publish(self):
        """Compute the views that are on and store them as the snapshot the page reads."""
        t, p, now = self.trainer, self.params, time.monotonic()
        on = set(p["views"])
        self._heat_time = 0.0
        self.version += 1
        self._view_times.append((now, self.version))
        snap = {"version": self.version, "session": self.id, "step": t.step_count,
                "playing": self.playing, "dataset": p["dataset"], "method": p["method"],
                "kind": t.kind, "dim": self.dim, "box": BOXES[p["dataset"]],
                "backend": backends.resolve(t.backend, module="dense"),
                "params": p, "half_steps": self.half_steps, "error": self.error,
                "steps_per_second": round(self._rate(self._times), 1),
                "views_per_second": round(self._rate(self._view_times), 1),
                "n_drawn": len(self.drawn), "max_drawn": MAX_DRAWN,
                "sources": views.sources(t), "batch": self._batch()}
        try:
            # the views' products are as small as a step's: one BLAS thread (minigan.threads)
            with threads.limit(threads.step_threads()):
                snap.update(self._views(on, now))
        except (ValueError, RuntimeError, FloatingPointError, MemoryError) as e:
            snap["view_error"] = str(e)
        try:
            encoded = _encode(snap)
        except ValueError as e:   # a number JSON cannot carry: say so rather than go silent
            snap = {k: v for k, v in snap.items() if k in SNAPSHOT_CORE}
            snap["view_error"] = f"a view held a value JSON cannot carry ({e})"
            encoded = json.dumps(snap).encode()
        with self.published:
            self.snapshot, self.snapshot_version = encoded, self.version
            self.published.notify_all()

    def _views(self, on, now):
        t, out = self.trainer, {}
        real = self.heldout[:N_SHOWN] if self.target is not None else self.drawn
        if "samples" in on:       # the same points until the data change: encoded once
            self._real_json = self._real_json or Encoded(json.dumps(views.rounded(real, 3)))
        out["real"] = self._real_json if "samples" in on else []
        if not t._is_calibrated():
            return out            # a trainer that has seen no data yet has nothing to show
        fake = t.sample(N_SHOWN, seed=7)   # the same noise every time: the points move
        if "samples" in on or "arrows" in on:
            out["fake"] = views.rounded(fake, 3)
        if "arrows" in on and len(real) >= 2:
            out["arrows"] = {k: views.rounded(v, 5) for k, v in
                             views.arrows(t, fake[:N_ARROWS], spread(real, 4 * N_ARROWS)).items()}
        if "heat" in on and len(real) >= 2 and (not self.playing or now >= self._due["heat"]):
            t0 = time.monotonic()
            self._heat = Encoded(json.dumps(self._heat_map(spread(real, N_HEAT), fake[:N_HEAT]),
                                            allow_nan=False))   # sent as is until refreshed
            self._heat_time = time.monotonic() - t0
            self._due["heat"] = now + self._heat_time / HEAT_SHARE
        if "heat" in on and self._heat is not None:
            out["heat"] = self._heat
        if "map" in on:
            out["map"] = views.gen_map(t, self.target)
        if "curves" in on:
            stride = max(1, t.step_count // 400)
            out["curves"] = {"stride": stride,
                             "series": {k: views.rounded(v[::stride], 5)
                                        for k, v in t.history.items()}}
        if "mmd2" in on and self.mmd_sigmas is not None and (
                not self.playing or now >= self._due["mmd2"]):
            self._due["mmd2"] = now + 1.0
            # the yardstick runs compiled when it can, whatever backend trains
            value = mmd.mmd2(t.sample(1000, seed=11), self.heldout, self.mmd_sigmas,
                             backend=default_backend())
            if not self.mmd_curve or self.mmd_curve[-1][0] != t.step_count:
                self.mmd_curve.append([t.step_count, round(value, 6)])
        out["mmd2"] = self.mmd_curve[-400:]
        if "modes" in on and (not self.playing or now >= self._due["modes"]):
            self._due["modes"] = now + 1.0
            self.figures = views.modes(t, self.params["dataset"])
        out["modes"] = self.figures
        return out

    def _heat_map(self, real, fake):
        x0, x1, y0, y1 = BOXES[self.params["dataset"]]
        if self.dim == 1:
            pts = np.linspace(x0, x1, 200)[:, None]
            return {"n": 200, "values": views.rounded(views.heat(self.trainer, pts, real, fake), 5)}
        n = self.params["heat_resolution"]
        values = views.heat_plane(self.trainer, (x0, x1, y0, y1), n, real, fake)
        return {"n": n, "values": views.rounded(values, 4)}
