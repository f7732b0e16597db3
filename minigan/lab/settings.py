"""What a lab page may set, checked, and the trainer built from it.

The settings are a dict shaped like DEFAULTS; None stands for the trainer's own default. A
change is checked here for what the trainers do not check themselves (known names, views,
speed, batch size, drawn points), then by building the trainer: its constructor refuses a bad
value with the library's own message.

Deliberately left out: settings the trainers have but a learner rarely turns (betas,
estimators, stabilisers, packing); they keep the library's defaults.
"""
import numpy as np

from .. import backend as backends
from .. import data
from .._checks import check_choice, check_positive_int
from ..gan import GAN
from ..gmn import GMN
from ..mmdgan import MMDGAN

DATASETS = {"ring": data.ring, "grid": data.grid,
            "gaussian-1d": lambda: data.gaussian_1d(3.0, 0.5),  # the 1-D demo's target
            "moons": data.moons, "spiral": data.spiral, "draw": None}
BOXES = {"ring": (-1.6, 1.6, -1.6, 1.6), "grid": (-5.5, 5.5, -5.5, 5.5),
         "gaussian-1d": (0.5, 5.5, 0.0, 1.0), "moons": (-1.5, 2.5, -1.75, 2.25),
         "spiral": (-1.4, 1.4, -1.4, 1.4), "draw": (-2.0, 2.0, -2.0, 2.0)}
METHODS = {"gmn": GMN, "gan": GAN, "mmdgan": MMDGAN}
# network size presets: (generator hidden widths, critic hidden widths); None: the default
SIZES = {"small": ((32, 32), (32,)), "default": (None, None), "large": ((128,) * 4, (128, 128))}
VIEWS = ("samples", "heat", "arrows", "map", "curves", "mmd2", "modes")
# the settings the page can send, with their defaults (None: the trainer's own default)
DEFAULTS = {"dataset": "ring", "method": "gmn", "backend": None, "seed": 0, "size": "default",
            "noise": "uniform", "lr": None, "lr_critic": None, "batch": None, "sigmas": None,
            "critic_steps": None, "loss": None, "speed": 0, "views": list(VIEWS),
            "heat_resolution": 64}
METHOD_KNOBS = ("lr", "lr_critic", "batch", "sigmas", "critic_steps", "loss")  # reset with method
LIVE = ("lr", "lr_critic", "batch", "speed", "views", "heat_resolution")  # no rebuild needed
MAX_DRAWN = 3000         # points a page may draw
MAX_BATCH = 4096
MAX_SPEED = 10000        # steps/s the speed setting may ask for (0: as fast as it goes)


def default_backend():
    """"cython" when the compiled core is built, else "numpy"."""
    return "cython" if "cython" in backends.available() else "numpy"


# a knob of the page -> the constructor argument it sets, per method
KNOBS = {"gmn": {"lr": "lr", "sigmas": "sigmas", "loss": "loss"},
         "gan": {"lr": "lr_g", "lr_critic": "lr_d", "critic_steps": "d_steps", "loss": "loss"},
         "mmdgan": {"lr": "lr_g", "lr_critic": "lr_c", "sigmas": "raw_sigmas",
                    "critic_steps": "critic_steps"}}


def trainer_kwargs(p):
    """(trainer class, constructor arguments) for the settings p (a DEFAULTS-shaped dict); a
    knob the method does not have is refused here, every value is checked by the trainer."""
    method = check_choice(p["method"], "method", tuple(METHODS))
    kw = {"seed": p["seed"], "noise": p["noise"], "backend": p["backend"]}
    for knob in ("lr", "lr_critic", "sigmas", "critic_steps", "loss"):
        if p[knob] is not None:
            if knob not in KNOBS[method]:
                raise ValueError(f"{knob}: {METHODS[method].__name__} has no such setting")
            kw[KNOBS[method][knob]] = p[knob]
    hidden, critic_hidden = SIZES[check_choice(p["size"], "size", tuple(SIZES))]
    if hidden is not None:
        kw["hidden"] = hidden
        if method != "gmn":
            kw["d_hidden" if method == "gan" else "critic_hidden"] = critic_hidden
    return METHODS[method], kw


def build_trainer(p, data_dim):
    """A new trainer from the settings p (see trainer_kwargs)."""
    cls, kw = trainer_kwargs(p)
    return cls(data_dim, **kw)


def check_settings(changes, current):
    """The settings after `changes` (a dict from the page), checked for what the trainer does
    not check itself: known names, the views, the speed, the batch size."""
    if not isinstance(changes, dict):
        raise ValueError(f"params must be an object of settings, got {type(changes).__name__}")
    unknown = sorted(set(changes) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown setting {', '.join(map(repr, unknown))}; the settings are "
                         f"{', '.join(DEFAULTS)}")
    new = dict(current)
    if changes.get("method", new["method"]) != new["method"]:
        new.update({k: None for k in METHOD_KNOBS})   # another method: its own defaults
    new.update(changes)
    check_choice(new["dataset"], "dataset", tuple(DATASETS))
    if not isinstance(new["views"], list) or not set(new["views"]) <= set(VIEWS):
        raise ValueError(f"views must be a list of names from {list(VIEWS)}, got {new['views']!r}")
    check_positive_int(new["speed"], "speed", minimum=0, maximum=MAX_SPEED)
    check_positive_int(new["heat_resolution"], "heat_resolution", minimum=64, maximum=128)
    if new["batch"] is not None:
        check_positive_int(new["batch"], "batch", minimum=2, maximum=MAX_BATCH)
    if new["backend"] is not None:
        check_choice(new["backend"], "backend", ("numpy", "cython"))
    return new


def spread(a, k):
    """At most k rows of a, evenly spaced (drawn points come in strokes: not their first k)."""
    return a if len(a) <= k else a[np.linspace(0, len(a) - 1, k).astype(int)]


def check_points(points):
    """Drawn points: a list of [x, y] pairs of finite numbers, at most MAX_DRAWN -> (n, 2)."""
    if not isinstance(points, list) or not all(
            isinstance(q, list) and len(q) == 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in q)
            for q in points):
        raise ValueError("points must be a list of [x, y] pairs of numbers")
    if len(points) > MAX_DRAWN:
        raise ValueError(f"too many points: {len(points)}; at most {MAX_DRAWN} can be drawn")
    a = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if not np.all(np.isfinite(a)) or np.any(np.abs(a) > 100):
        raise ValueError("points must be finite numbers within [-100, 100]")
    return a
