"""One open page of the lab: its settings, its trainer, the threads that train it and show it.

A LabSession owns one trainer (minigan.GMN, GAN or MMDGAN, built from the library's defaults
and the page's settings) and two background threads. While playing, the training thread calls
the trainer's own fit(..., steps=k) in short bursts, and after a step hands a frame (a copy of
the trainer, minigan.lab.snapshot) to the views thread whenever that one is ready for it; the
views thread turns frames into JSON snapshots of the views (minigan.lab.views). Neither waits
for the other, and the page reads the last snapshot and never waits for training. A click
(paused, or a change while playing) makes its snapshot at once, from the trainer itself.
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
                       check_settings, default_backend, trainer_kwargs)
from .snapshot import Frame, Memory, encode, mirror, render

SNAPSHOT_CORE = ("version", "session", "step", "playing", "dataset", "method", "kind", "dim",
                 "box", "backend", "params", "half_steps", "error", "steps_per_second",
                 "views_per_second", "n_drawn", "max_drawn", "sources", "batch")
VIEW_PERIOD = 1 / 16     # s between view updates while playing (the page's aim is 15 a second)
BURST = 0.1              # s a burst of steps holds the trainer (and a click waits), at most


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
        self._wake = threading.Event()           # play pressed: the threads start at once
        self._views_wake = threading.Event()
        self.last_seen = time.monotonic()
        self.version = 0
        self.published = threading.Condition()   # notified when a new snapshot is out
        self._view_lock = threading.Lock()       # one snapshot made at a time
        self._frames = threading.Condition()     # the views thread waiting for a frame
        self._want_frame, self._frame = False, None
        self._seq = self._shown = 0              # frames taken; the newest one shown
        self._mirror, self._mirror_of = None, None   # the views thread's copy of a trainer
        self._rebuild(self.params)
        self._publish()
        self.thread = threading.Thread(target=self._run, name=f"minigan-lab-{sid}", daemon=True)
        self.views_thread = threading.Thread(target=self._run_views,
                                             name=f"minigan-lab-views-{sid}", daemon=True)
        self.thread.start()
        self.views_thread.start()

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
        self.memory = Memory()                                  # the views' own, per trainer
        self._times = deque(maxlen=64)                          # (time, step) while playing
        self._view_times = deque(maxlen=64)                     # (time, version)
        self._reference()

    def _reference(self):
        """The held-out real sample (drawn points for "draw") and the MMD^2 yardstick's bandwidths."""
        if self.target is not None:
            self.heldout = self.target.sample(1000, seed=20_000)
        else:
            self.heldout = self.drawn
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
                self._views_wake.set()
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
        self._views_wake.set()
        with self._frames:
            self._frames.notify_all()
        with self.published:
            self.published.notify_all()

    # ------------------------------------------------------------ training
    def _train(self, k, half=None, callback=None):
        """k steps of the trainer's own fit (or one half step); errors pause and are shown.
        callback(trainer) runs after every step of the fit (fit's own callback)."""
        try:
            if half is None:
                self.trainer.fit(self._source(), steps=k, batch_size=self._batch(),
                                 progress=False, callback=callback)
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
        """The training thread: bursts of steps until closed or idle. A burst lasts about
        BURST (or holds the asked speed), so a click waits at most that long for the trainer;
        a trainer's pace is learned from its own steps: a new one (another method, backend or
        size) starts with a burst of one step. After any step the views thread may take a
        frame (_offer_frame); a burst that ends in an error shows it at once."""
        timed, step_time = None, None   # the trainer step_time belongs to
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
                k = (max(1, round(speed * VIEW_PERIOD)) if speed
                     else 1 if step_time is None else max(1, int(BURST / step_time)))
                before = self.trainer.step_count
                self._train(k, callback=self._offer_frame)
                done = self.trainer.step_count - before
                t1 = time.monotonic()
                if done:
                    last = (t1 - t0) / done
                    step_time = last if step_time is None else 0.7 * step_time + 0.3 * last
                self._times.append((t1, self.trainer.step_count))
                if not self.playing:      # stopped by an error: show it now
                    self._publish()
            if speed:   # hold the asked pace: k steps per k / speed seconds
                self.closed.wait(max(0.0, t0 + k / speed - time.monotonic()))

    def _offer_frame(self, trainer):
        """fit's callback in the training thread (the session's lock held): when the views
        thread is waiting, the trainer is copied into its mirror and handed over as a frame.
        Otherwise it costs one flag's look."""
        if not self._want_frame:
            return
        with self._frames:
            if not self._want_frame or self.closed.is_set():
                return
            if self._mirror_of is not trainer:    # a mirror of the same build as the trainer
                self._mirror, self._mirror_of = build_trainer(self.params, self.dim), trainer
            self._frame = self._take_frame(mirror(trainer, self._mirror))
            self._want_frame = False
            self._frames.notify_all()

    # ------------------------------------------------------------ views
    def _run_views(self):
        """The views thread: while playing, one frame from the training thread (taken after its
        next step) made into a snapshot every VIEW_PERIOD, or as fast as they come when the
        steps or the views are slower; the training thread never waits for it."""
        due = time.monotonic()                  # when the next view is due
        while not self.closed.is_set():
            if not self.playing:
                self._views_wake.wait(0.25)
                self._views_wake.clear()
                due = time.monotonic()
                continue
            self.closed.wait(max(0.0, due - time.monotonic()))
            # on a fixed beat; a view later than one period is not made up for
            due = max(due + VIEW_PERIOD, time.monotonic() - VIEW_PERIOD)
            with self._frames:
                self._want_frame = True
                self._frames.wait_for(lambda: self._frame is not None or not self.playing
                                      or self.closed.is_set(), 0.5)
                frame, self._frame, self._want_frame = self._frame, None, False
            if frame is not None:
                self._show(frame)

    def _rate(self, times, playing):
        """Events per second over the recent (time, count) pairs."""
        recent = [(t, c) for t, c in times if t > time.monotonic() - 3.0] or list(times)
        recent = recent if len(recent) >= 2 else list(times)[-2:]   # slow cycles: the last two
        if len(recent) < 2 or recent[-1][0] == recent[0][0] or not playing:
            return 0.0
        return (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])

    def _take_frame(self, trainer):
        """A frame of `trainer` (the session's trainer or its mirror) with the settings and
        figures beside it; the session's lock is held."""
        t, p = self.trainer, self.params
        self._seq += 1
        stride = max(1, t.step_count // 400)
        core = {"session": self.id, "step": t.step_count, "playing": self.playing,
                "dataset": p["dataset"], "method": p["method"], "kind": t.kind,
                "dim": self.dim, "box": BOXES[p["dataset"]],
                "backend": backends.resolve(t.backend, module="dense"), "params": p,
                "half_steps": dict(self.half_steps), "error": self.error,
                "steps_per_second": round(self._rate(self._times, self.playing), 1),
                "n_drawn": len(self.drawn), "max_drawn": MAX_DRAWN,
                "sources": views.sources(t), "batch": self._batch()}
        return Frame(seq=self._seq, trainer=trainer, core=core,
                     curves={"stride": stride,
                             "series": {k: v[::stride] for k, v in t.history.items()}},
                     target=self.target, heldout=self.heldout, mmd_sigmas=self.mmd_sigmas,
                     on=set(p["views"]), heat_resolution=p["heat_resolution"],
                     memory=self.memory)

    def _publish(self):
        """A snapshot of the trainer itself, now (the caller holds the session's lock)."""
        self._show(self._take_frame(self.trainer))

    def _show(self, frame):
        """Compute the frame's views and store them as the snapshot the page reads; a frame
        older than one already shown is dropped."""
        with self._view_lock:
            if frame.seq < self._shown:
                return
            self._shown, now = frame.seq, time.monotonic()
            self.version += 1
            self._view_times.append((now, self.version))
            snap = {"version": self.version, **frame.core,
                    "views_per_second": round(self._rate(self._view_times, frame.playing), 1)}
            try:
                # the views' products are as small as a step's: one BLAS thread (minigan.threads)
                with threads.limit(threads.step_threads()):
                    snap.update(render(frame, now))
            except (ValueError, RuntimeError, FloatingPointError, MemoryError) as e:
                snap["view_error"] = str(e)
            try:
                encoded = encode(snap)
            except ValueError as e:   # a number JSON cannot carry: say so rather than go silent
                snap = {k: v for k, v in snap.items() if k in SNAPSHOT_CORE}
                snap["view_error"] = f"a view held a value JSON cannot carry ({e})"
                encoded = json.dumps(snap).encode()
            with self.published:
                self.snapshot, self.snapshot_version = encoded, self.version
                self.published.notify_all()
