"""The `minigan` command (also `python -m minigan`).

    minigan demo NAME [options]     run a demo (minigan demo --list; minigan demo NAME --help)
    minigan modes [options]         the mode-collapse protocol over seeds (minigan.protocol)
    minigan bench [options]         the compiled core against NumPy (minigan.bench)

Each command lives in its own module with a `main(argv)`; this file only dispatches.
"""
import argparse
import importlib
import sys

# demo name -> (module with main(argv), arguments put in front of the user's)
DEMOS = {
    "gaussian-1d": ("minigan.demos.gaussian_1d", []),
    "ring": ("minigan.demos.mixtures", ["--dataset", "ring"]),
    "grid": ("minigan.demos.mixtures", ["--dataset", "grid"]),
    "digits": ("minigan.demos.digits", []),
    "mmdgan-witness": ("minigan.demos.mmdgan_witness", []),
    "two-sample-power": ("minigan.demos.two_sample_power", []),
}

# command -> (module with main(argv), one-line help)
COMMANDS = {
    "demo": ("minigan.cli", "run a demo: minigan demo NAME [options]; minigan demo --list"),
    "mmd-test": ("minigan.mmd_test_cli", "two-sample test on two files: minigan mmd-test A B"),
    "bench": ("minigan.bench", "time the compiled core against NumPy: minigan bench [--quick]"),
    "modes": ("minigan.protocol", "mode-collapse protocol (ring-8, grid-25) over seeds, as a table"),
    "exercise": ("minigan.exercise_cli", "write the maths yourself, then check it: minigan exercise list"),
    "lab": ("minigan.lab", "watch GMN, GAN and MMD-GAN learn in the browser: minigan lab"),
}


def demo_main(argv):
    """minigan demo NAME [demo options]."""
    parser = argparse.ArgumentParser(prog="minigan demo", add_help=False)
    parser.add_argument("name", nargs="?", help=f"one of: {', '.join(DEMOS)}")
    parser.add_argument("--list", action="store_true", help="list the demos")
    args, rest = parser.parse_known_args(argv)
    if args.list or args.name is None:
        print("demos: " + ", ".join(DEMOS))
        return 0
    if args.name not in DEMOS:
        parser.error(f"unknown demo {args.name!r}; choose from {', '.join(DEMOS)}")
    module, preset = DEMOS[args.name]
    try:
        importlib.import_module(module).main(preset + rest)
    except ImportError as e:  # an optional dependency (the demos extra) is missing
        print(f"minigan demo {args.name}: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [f"  {name:10} {help_}" for name, (_, help_) in COMMANDS.items()]
        print("usage: minigan COMMAND [options]\n\ncommands:\n" + "\n".join(lines))
        if argv and argv[0] not in ("-h", "--help"):
            print(f"minigan: error: unknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0
    command, rest = argv[0], argv[1:]
    if command == "demo":
        return demo_main(rest)
    return importlib.import_module(COMMANDS[command][0]).main(rest) or 0
