"""The `minigan` command (also `python -m minigan`).

    minigan demo NAME [options]     run a demo (minigan demo --help lists them)
    minigan modes [options]         the mode-collapse protocol over seeds (minigan.protocol)
    minigan bench [options]         the compiled core against NumPy (minigan.bench)
    minigan --version

Each command lives in its own module with a `main(argv)`; this file only dispatches. Exit
status: 0 done, 1 failed (a missing optional dependency, a closed output pipe), 2 a usage error
(no command, an unknown one, a bad option), as argparse does.
"""
import importlib
import os
import sys

from . import __version__

# demo name -> (module with main(argv, **preset), preset, what it does,
#               how long its default run takes on a 2-core laptop)
DEMOS = {
    "gaussian-1d": ("minigan.demos.gaussian_1d", {},
                    "uniform noise to a 1-D Gaussian: GMN and GAN, G(z) against the inverse CDF",
                    "about 15 s"),
    "ring": ("minigan.demos.mixtures", {"dataset": "ring"},
             "8 Gaussians on a circle: GMN, GAN and MMD-GAN, scored for mode collapse",
             "about 2 min (--steps N for less)"),
    "grid": ("minigan.demos.mixtures", {"dataset": "grid"},
             "25 Gaussians on a grid: GMN, GAN and MMD-GAN, scored for mode collapse",
             "about 6 min (--steps N for less)"),
    "digits": ("minigan.demos.digits", {},
               "8x8 digit images from 16-D noise: GMN, GAN and MMD-GAN (needs minigan[demos])",
               "about 7 min (--steps N for less)"),
    "mmdgan-witness": ("minigan.demos.mmdgan_witness", {},
                       "what an MMD-GAN's critic learns: the witness function over the plane",
                       "about 1 min (--steps N for less)"),
    "two-sample-power": ("minigan.demos.two_sample_power", {},
                         "type-I error and power of the MMD two-sample test, measured",
                         "over an hour; --quick about 1 min"),
}

# command -> (module with main(argv), one-line help)
COMMANDS = {
    "demo": ("minigan.cli", "run a demo: minigan demo NAME [options]; minigan demo --help"),
    "mmd-test": ("minigan.mmd_test_cli", "two-sample test on two files: minigan mmd-test A B"),
    "bench": ("minigan.bench", "time the compiled core against NumPy: minigan bench [--quick]"),
    "modes": ("minigan.protocol", "mode-collapse protocol (ring-8, grid-25) over seeds, as a table"),
    "exercise": ("minigan.exercise_cli", "write the maths yourself, then check it: minigan exercise list"),
    "lab": ("minigan.lab", "watch GMN, GAN and MMD-GAN learn in the browser: minigan lab"),
}


def usage():
    """The help of the bare `minigan` command."""
    lines = [f"  {name:10} {help_}" for name, (_, help_) in COMMANDS.items()]
    return ("usage: minigan COMMAND [options]\n       minigan --version\n\ncommands:\n"
            + "\n".join(lines) + "\n\nminigan COMMAND --help says more about each.")


def demo_usage():
    """The help of `minigan demo`: every demo, what it does and how long it takes."""
    lines = [f"  {name:17} {what}\n  {'':17} {how_long}"
             for name, (_, _, what, how_long) in DEMOS.items()]
    return ("usage: minigan demo NAME [options]      (minigan demo NAME --help: its options)\n\n"
            "demos (times of a default run on 2 cores; they write into ./minigan_out):\n"
            + "\n".join(lines))


def demo_main(argv):
    """minigan demo NAME [demo options]; the demo's own parser reads the options."""
    if not argv or argv[0] in ("-h", "--help", "--list"):
        print(demo_usage(), file=sys.stdout if argv else sys.stderr)
        if not argv:
            print("minigan demo: error: name a demo", file=sys.stderr)
            return 2
        return 0
    name, rest = argv[0], argv[1:]
    if name not in DEMOS:
        print(demo_usage(), file=sys.stderr)
        print(f"minigan demo: error: unknown demo {name!r}; choose from {', '.join(DEMOS)}",
              file=sys.stderr)
        return 2
    module, preset, _, _ = DEMOS[name]
    try:
        importlib.import_module(module).main(rest, **preset)
    except ImportError as e:  # an optional dependency (the demos extra) is missing
        print(f"minigan demo {name}: {e}", file=sys.stderr)
        return 1
    return 0


def dispatch(argv):
    """Run the command named by argv[0]; return its exit status."""
    if not argv:
        print(usage(), file=sys.stderr)
        print("minigan: error: name a command", file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        print(f"minigan {__version__}")
        return 0
    if argv[0] not in COMMANDS:
        print(usage(), file=sys.stderr)
        print(f"minigan: error: unknown command {argv[0]!r}", file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "demo":
        return demo_main(rest)
    return importlib.import_module(COMMANDS[command][0]).main(rest) or 0


def main(argv=None):
    """The console entry point: dispatch, and end quietly when the reader of stdout has gone
    (`minigan --help | head`), as the Python docs recommend for SIGPIPE."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        try:
            return dispatch(argv)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, inside the try, not at exit
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at devnull so that flush cannot fail
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
