"""One view update of the lab: a frame of the training, and the JSON snapshot the page reads.

While a page plays, its training thread never computes a view. After a step, when the views
thread is ready for one, the training thread takes a *frame*: the trainer copied into a mirror
trainer (`mirror`: each network's parameters, and what a checkpoint keeps beside them), with
the settings and figures the page shows. The views thread turns the frame into the snapshot
(`render`, every view computed by minigan.lab.views from the mirror) while training goes on,
on the other core. When the page is paused, a click's frame holds the trainer itself: nothing
trains meanwhile.

Deliberately left out: frames for every step (a view shows the newest step there is, and the
page draws at most VIEW_PERIOD's rate of them).
"""
import json
import time
from dataclasses import dataclass, field

import numpy as np

from .. import mmd
from . import views
from .settings import default_backend, spread

N_SHOWN, N_ARROWS, N_HEAT = 500, 64, 64     # points drawn, arrows, samples for the heat map
HEAT_SHARE = 0.15        # of the views thread's time the heat map (the costliest view) may take


def mirror(trainer, into):
    """`into` (a trainer built from the same settings) made to compute what `trainer` computes.

    Each network's parameters are copied in place, then what a checkpoint keeps beside them
    (Trainer._extra_meta: the standardisation, the bandwidths, the MMD-GAN's power-iteration
    vectors, which also refresh its normalised critic) and the step counter. The optimisers'
    moments and the history are not copied: no view reads them. Returns `into`.
    """
    for name, net in trainer.nets.items():
        for mine, theirs in zip(into.nets[name].params, net.params):
            np.copyto(mine, theirs)
    into._load_extra_meta(trainer._extra_meta())
    into.step_count = trainer.step_count
    return into


class Memory:
    """What the views keep from one update to the next, for one trainer on one data set: the
    heat map until it is due again, when each slow view is next due, the MMD^2 curve, the last
    mode figures, the real sample's JSON."""

    def __init__(self):
        self.heat, self.due = None, {"heat": 0.0, "mmd2": 0.0, "modes": 0.0}
        self.mmd_curve, self.figures = [], None
        self.real_json, self.real_of = None, None


@dataclass
class Frame:
    """What one view update shows, taken under the session's lock (see the module docstring)."""
    seq: int              # frames are numbered as taken: an older one is never shown later
    trainer: object       # the mirror (while playing) or the session's trainer (paused)
    core: dict            # the snapshot's plain fields (minigan.lab.session.SNAPSHOT_CORE)
    curves: dict          # {"stride": s, "series": every s-th value of each history list}
    target: object        # the data set's distribution, None for drawn points
    heldout: np.ndarray   # the held-out real sample (or the drawn points)
    mmd_sigmas: object    # the MMD^2 yardstick's bandwidths (None: too few points)
    on: set               # the views the page shows
    heat_resolution: int
    memory: Memory = field(repr=False)

    @property
    def playing(self):
        return self.core["playing"]


class Encoded(str):
    """A view already encoded as JSON text (the heat map between refreshes, the real sample):
    spliced into the snapshot as is rather than encoded again each update."""


def encode(snap):
    """The snapshot dict as JSON bytes, with its Encoded values spliced in; raises ValueError
    on a value JSON cannot carry (NaN, inf)."""
    plain = {k: v for k, v in snap.items() if not isinstance(v, Encoded)}
    text = json.dumps(plain, allow_nan=False)
    spliced = "".join(f", {json.dumps(k)}: {v}" for k, v in snap.items() if isinstance(v, Encoded))
    return (text[:-1] + spliced + "}").encode()


def render(frame, now):
    """The views that are on, from the frame's trainer: {view name: JSON-ready value}."""
    t, on, mem, out = frame.trainer, frame.on, frame.memory, {}
    real = frame.heldout[:N_SHOWN] if frame.target is not None else frame.heldout
    if "samples" in on:       # the same points until the data change: encoded once
        if mem.real_of is not frame.heldout:
            mem.real_json = Encoded(json.dumps(views.rounded(real, 3)))
            mem.real_of = frame.heldout
        out["real"] = mem.real_json
    else:
        out["real"] = []
    if not t._is_calibrated():
        return out            # a trainer that has seen no data yet has nothing to show
    fake = t.sample(N_SHOWN, seed=7)   # the same noise every time: the points move
    if "samples" in on or "arrows" in on:
        out["fake"] = views.rounded(fake, 3)
    if "arrows" in on and len(real) >= 2:
        out["arrows"] = {k: views.rounded(v, 5) for k, v in
                         views.arrows(t, fake[:N_ARROWS], spread(real, 4 * N_ARROWS)).items()}
    if "heat" in on and len(real) >= 2 and (not frame.playing or now >= mem.due["heat"]):
        t0 = time.monotonic()
        mem.heat = Encoded(json.dumps(_heat_map(frame, spread(real, N_HEAT), fake[:N_HEAT]),
                                      allow_nan=False))   # sent as is until refreshed
        mem.due["heat"] = now + (time.monotonic() - t0) / HEAT_SHARE
    if "heat" in on and mem.heat is not None:
        out["heat"] = mem.heat
    if "map" in on:
        out["map"] = views.gen_map(t, frame.target)
    if "curves" in on:
        out["curves"] = {"stride": frame.curves["stride"],
                         "series": {k: views.rounded(v, 5)
                                    for k, v in frame.curves["series"].items()}}
    if "mmd2" in on and frame.mmd_sigmas is not None and (
            not frame.playing or now >= mem.due["mmd2"]):
        mem.due["mmd2"] = now + 1.0
        # the yardstick runs compiled when it can, whatever backend trains
        value = mmd.mmd2(t.sample(1000, seed=11), frame.heldout, frame.mmd_sigmas,
                         backend=default_backend())
        if not mem.mmd_curve or mem.mmd_curve[-1][0] != t.step_count:
            mem.mmd_curve.append([t.step_count, round(value, 6)])
    out["mmd2"] = mem.mmd_curve[-400:]
    if "modes" in on and (not frame.playing or now >= mem.due["modes"]):
        mem.due["modes"] = now + 1.0
        mem.figures = views.modes(t, frame.core["dataset"])
    out["modes"] = mem.figures
    return out


def _heat_map(frame, real, fake):
    x0, x1, y0, y1 = frame.core["box"]
    if frame.core["dim"] == 1:
        pts = np.linspace(x0, x1, 200)[:, None]
        return {"n": 200, "values": views.rounded(views.heat(frame.trainer, pts, real, fake), 5)}
    n = frame.heat_resolution
    values = views.heat_plane(frame.trainer, (x0, x1, y0, y1), n, real, fake)
    return {"n": n, "values": views.rounded(values, 4)}
