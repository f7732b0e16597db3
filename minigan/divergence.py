"""What a trainer does when training blows up: stop, say so, and keep the last good state.

Every trainer's `step` runs inside `guarded_step` (minigan.trainer wraps the `step` of every
Trainer subclass, so GMN, GAN and any later trainer get it without a line of their own):

    1. bad input is the caller's error, not a divergence: a NaN in the real batch is
       reported as such (the trainer's own check of `real` names it);
    2. the state a step may change is copied: every network's parameters, every optimiser's
       moments, step count and learning rate, the step counter, the history and the training
       Generator's state (as the step began: under fit(), just after its batch was drawn);
    3. the step runs (NumPy's overflow/invalid warnings are silenced inside it: the checks
       below look at the results, and report them better than a warning would);
    4. the step is *diverged* when it raised on a NaN/inf (NonFiniteError, e.g. an optimiser
       refusing a non-finite gradient or one whose update would overflow), when a figure it
       returns (a loss) is not finite, when a parameter is not finite, or when the generator
       has *blown up*. (Optimiser moments stay finite: the optimisers refuse the gradients
       that could overflow them, so they are restored but not re-checked.);
    5. then the copy is put back, so the trainer is as it was before the step (sample(),
       save() and another fit() with a smaller learning rate all work), and TrainingDiverged
       names the step, the reason and what to try. Any other error raised inside a step
       (bad input, Ctrl-C) is passed on unchanged, after the same rollback. Only the
       standardisation that a trainer's very first batch fixes (and a GMN's bandwidths) is
       kept: it comes from the data, not from the step.

Blow-up (finite but exploding). A cheap, honest rule that needs no tuning per model: after
the step, the generator maps a fixed probe batch of PROBE_ROWS noise vectors (its own seed, so
training's random numbers are untouched); when one output is more than BLOWUP times the
largest |value| of the real batch (in the networks' space, and never less than BLOWUP), the
generator has left the data's range by three orders of magnitude: that is divergence, not
learning. It costs one forward pass of PROBE_ROWS rows per step (a few percent). It does not
watch a discriminator on its own, nor slow drift or mode collapse (look at the samples).

Deliberately left out: automatic retries with a smaller learning rate (say what to try; let
the user choose), and checks in between the operations of a step (the copy makes them
unnecessary: the whole step is undone).
"""
import functools
import math

import numpy as np

from . import threads
from ._checks import NonFiniteError

PROBE_ROWS = 16
PROBE_SEED = 20150210   # fixed: the probe batch is the same in every run and after load()
BLOWUP = 1e3


class TrainingDiverged(FloatingPointError):
    """Training produced NaN/inf or blew up; the trainer was rolled back to before the step."""


def guarded_step(step):
    """Wrap a trainer's step(real) so that a diverged step is undone and reported, and so
    that it runs under minigan's thread policy (minigan.threads: one BLAS thread, and the
    process's thread counts back when it returns or raises)."""
    @functools.wraps(step)
    def guarded(self, real, *args, **kwargs):
        threads.enter(threads.step_threads())
        try:
            return _guarded(self, real, *args, **kwargs)
        finally:
            threads.leave()

    def _guarded(self, real, *args, **kwargs):
        saved = _snapshot(self)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                figures = step(self, real, *args, **kwargs)
            reason = _diverged(self, figures, real)
        except BaseException as e:
            # a ValueError after the weights already moved comes from the step's own values
            # (e.g. features at 1e99 that no bandwidth fits), not from the caller's input,
            # which every step checks before it changes anything
            moved = isinstance(e, ValueError) and _weights_moved(self, saved)
            _restore(self, saved)     # whatever went wrong, the trainer is as it was before
            if not (moved or _overflowed_in_the_step(e)):
                raise                 # bad input, a nested TrainingDiverged, any other error
            raise TrainingDiverged(_message(self, f"a value computed in the step went out of "
                                                  f"range: {e}")) from e
        if reason is not None:
            _restore(self, saved)
            raise TrainingDiverged(_message(self, reason))
        return figures
    return guarded


def _overflowed_in_the_step(error):
    """True for a NaN/inf that the step computed; False for one in the caller's batch `real`
    (bad input: its own NonFiniteError names it) and for a TrainingDiverged raised by a
    guarded step nested inside this one (already rolled back and reported)."""
    if isinstance(error, TrainingDiverged):
        return False
    if isinstance(error, NonFiniteError):
        return error.argument != "real"
    return isinstance(error, (FloatingPointError, OverflowError))


def _weights_moved(trainer, saved):
    """True when some network's parameters differ from the snapshot."""
    params = [p for net in trainer.nets.values() for p in net.params]
    return any(not np.array_equal(p, old)
               for p, old in zip(params, _pieces(saved["arrays"], _state_arrays(trainer))))


def _state_arrays(trainer):
    """Every array a step changes in place, in one fixed order: each network's parameters,
    then each optimiser's state arrays (Adam's moments)."""
    return ([p for net in trainer.nets.values() for p in net.params]
            + [a for opt in trainer.opts.values() for arrs in opt.state.values() for a in arrs])


def _pieces(flat, arrays):
    """The snapshot `flat` cut back into arrays shaped like `arrays` (views, no copies)."""
    out, start = [], 0
    for a in arrays:
        out.append(flat[start:start + a.size].reshape(a.shape))
        start += a.size
    return out


def _snapshot(trainer):
    """Copies of everything a step changes. The arrays go into one flat copy, made by one
    call (a step's dozens of small arrays would otherwise cost a call and an allocation each)."""
    return {"arrays": np.concatenate(_state_arrays(trainer), axis=None),
            "opts": {k: (opt.t, opt.lr) for k, opt in trainer.opts.items()},
            "step": trainer.step_count,
            "history": {k: len(v) for k, v in trainer.history.items()},
            "rng": trainer.rng.bit_generator.state,
            "extra": trainer._step_state()}   # what else a subclass's step changes


def _restore(trainer, saved):
    """Put a snapshot back in place: the arrays stay the same objects (optimisers share them)."""
    arrays = _state_arrays(trainer)
    for a, old in zip(arrays, _pieces(saved["arrays"], arrays)):
        a[...] = old
    for k, opt in trainer.opts.items():
        opt.t, opt.lr = saved["opts"][k]
    trainer.step_count = saved["step"]
    for k, n in saved["history"].items():
        del trainer.history[k][n:]
    trainer.rng.bit_generator.state = saved["rng"]
    trainer._restore_step_state(saved["extra"])


def _diverged(trainer, figures, real):
    """None when the step is healthy, else a short reason."""
    for k, v in (figures or {}).items():
        if not math.isfinite(v):
            return f"{k} = {v}"
    if not _all_finite([p for net in trainer.nets.values() for p in net.params]):
        bad = next(k for k, net in trainer.nets.items() if not _all_finite(net.params))
        return f"a parameter of {bad} became NaN or inf"
    return _blowup(trainer, real)


def _all_finite(arrays):
    """One sum over all the arrays side by side: NaN or inf anywhere makes it non-finite (so
    does a total beyond 1e308, which is divergence too). Cheaper than an isfinite mask per
    array, or a sum per array (a call each)."""
    return math.isfinite(float(np.concatenate(arrays, axis=None).sum()))


def _blowup(trainer, real):
    """A reason when the generator's outputs on the probe batch left the data's range (None
    for a trainer without a generator network "G")."""
    G = trainer.nets.get("G")
    if G is None:
        return None
    z = getattr(trainer, "_probe_z", None)
    if z is None:   # drawn once per trainer (and again after load), from its own seed
        z = trainer._probe_z = trainer._noise(PROBE_ROWS, np.random.default_rng(PROBE_SEED))
    out = np.abs(G._forward(z)).max()
    real = np.asarray(real)   # checked by step(); 1-D in one dimension is fine here
    limit = BLOWUP * max(1.0, float(np.abs(trainer._to_model(real)).max()))
    if not out <= limit:
        return (f"the generator blew up: |G(z)| reached {out:.3g} where the data stay within "
                f"{limit / BLOWUP:.3g} (more than {BLOWUP:g} times further out)")
    return None


def _message(trainer, reason):
    lrs = ", ".join(f"{k}: {opt.lr:g}" for k, opt in trainer.opts.items())
    # a schedule sets every rate before each step: a rate lowered by hand needs a new one
    how = ("set trainer.opts[name].lr, then fit(..., lr_decay=...) to restart the schedule, "
           "which would otherwise set the old rates again" if trainer.lr_schedule is not None
           else "set trainer.opts[name].lr, or fit(..., lr_decay=...)")
    return (f"{trainer.kind} training diverged at step {trainer.step_count + 1} ({reason}). "
            f"The trainer was rolled back to the end of step {trainer.step_count} (weights, "
            f"optimiser state, history and random state), so sample() and save() still work. "
            f"Try a smaller learning rate (now {lrs}; {how}), or check the scale of the data "
            f"(standardize=True keeps it near 1).")
