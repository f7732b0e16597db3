"""Exercises a learner does: write the key lines of a backward pass, an estimator or an update
yourself, then let the checker compare them with minigan's own code.

    minigan exercise list                 the exercises, with the guide section each one needs
    minigan exercise start NAME [--dir D] write D/NAME.py, a skeleton with `# TODO` lines
    minigan exercise check NAME [--dir D] run your file: "pass", or the failing case and a hint

Each skeleton (minigan/exercises/skeletons/NAME.py) has the signature, a docstring with the
shapes and the formula, the scaffolding around the maths, and `# TODO` lines where the maths
goes; it raises NotImplementedError until they are written. The checker draws random shapes
(float64, and float32 where the library takes it), compares with a finite-difference gradient
(minigan.gradcheck) where a gradient is asked for and with the library's own code always, and
reports the first failing case with its relative error, a hint where the mistake is a known one,
and the section of docs/guide.md to read.

Deliberately left out: grading, hidden tests, and the full solutions (they are the library's own
functions, named in each skeleton's docstring: read them after you pass).
"""
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np

from . import backprop, kernels, training
from .runner import Failure, Learner, load

DEFAULT_DIR = "minigan_exercises"
SEED = 2024  # the cases are the same on every run, so a fix can be seen to work


@dataclass(frozen=True)
class Exercise:
    """One exercise: the functions the learner writes, the guide section, and its check."""
    name: str
    summary: str
    functions: tuple            # names the learner's file must define, in the order checked
    section: str                # "3.3 The affine backward, in index form" (docs/guide.md)
    cases: Callable             # rng -> list of case dicts, each with a "label"
    check: Callable             # (Learner, case) -> None, or raises Failure


EXERCISES = {e.name: e for e in (
    Exercise("affine_backward", "the affine layer's backward: dx, dW, db of x @ W + b",
             ("affine_backward",), "3.3 The affine backward, in index form",
             backprop.affine_cases, backprop.check_affine),
    Exercise("relu_backward", "ReLU's backward: dx from dout",
             ("relu_backward",), "3.3 The affine backward, in index form",
             backprop.relu_cases, backprop.check_relu),
    Exercise("bce_with_logits", "binary cross-entropy on logits: softplus, the loss, its gradient",
             ("softplus", "bce_with_logits"), "3.4 Binary cross-entropy on logits, via softplus",
             backprop.bce_cases, backprop.check_bce),
    Exercise("mmd_grad_x", "the MMD^2 estimators and their gradient with respect to X",
             ("kernel_and_weights", "mmd2_and_grad_x"), "3.2 The MMD gradient, step by step",
             kernels.mmd_cases, kernels.check_grad_x),
    Exercise("mmd_grad_both", "the MMD^2 gradient through both samples: dY",
             ("mmd2_and_grad_both",), "3.8 The MMD gradient through both samples",
             kernels.mmd_cases, kernels.check_grad_both),
    Exercise("adam", "Adam's update with bias correction",
             ("adam_update",), "3.6 Adam's bias correction",
             training.adam_cases, training.check_adam),
    Exercise("spectral_backward", "spectral normalisation's backward: dW from dW_sn",
             ("spectral_normalize_backward",), "3.9 Spectral normalisation",
             training.spectral_cases, training.check_spectral),
    Exercise("witness", "the Gaussian kernel and the MMD witness function h(t)",
             ("gaussian_kernel", "witness"), "3.10 The MMD-GAN: two players, two gradients",
             kernels.witness_cases, kernels.check_witness),
)}


def get(name):
    """The Exercise called `name`, or a ValueError listing the names."""
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; choose from {', '.join(EXERCISES)}")
    return EXERCISES[name]


def skeleton(name):
    """The text of the skeleton file of exercise `name`."""
    get(name)
    return resources.files(__package__).joinpath("skeletons", f"{name}.py").read_text("utf-8")


def reading(exercise):
    """'docs/guide.md, section 3.3 (The affine backward, in index form)'."""
    number, title = exercise.section.split(" ", 1)
    return f"docs/guide.md, section {number} ({title})"


@dataclass
class Result:
    """What check() found: passed, the lines to print (one per case, then the verdict)."""
    passed: bool
    lines: list


def check(name, path):
    """Run exercise `name` on the learner's file `path`: never raises for a wrong answer."""
    exercise = get(name)
    path = Path(path)
    lines = [f"checking {path} ({exercise.summary})"]
    cases = exercise.cases(np.random.default_rng(SEED))
    try:
        learner = Learner(load(path), path, exercise.functions)
    except Failure as failure:
        return Result(False, lines + _failed(exercise, failure))
    for i, case in enumerate(cases, start=1):
        label = f"case {i} of {len(cases)}: {case['label']}"
        try:
            exercise.check(learner, case)
        except Failure as failure:
            return Result(False, lines + _failed(exercise, failure, label))
        lines.append(f"  ok    {label}")
    names = list(EXERCISES)
    following = names[names.index(name) + 1:]
    after = [f"next: minigan exercise start {following[0]}"] if following else []
    return Result(True, lines + [f"pass: {name} ({len(cases)} cases)"] + after)


def _failed(exercise, failure, label=None):
    out = [f"  FAIL  {label}"] if label else []
    out.append(f"fail: {failure.message}")
    if failure.hint:
        out.append(f"hint: {failure.hint}")
    out.append(f"read: {reading(exercise)}")
    return out
