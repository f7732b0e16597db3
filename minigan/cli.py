"""The `minigan` command (also `python -m minigan`).

    minigan demo gaussian-1d [options]     run a demo (options: minigan demo NAME --help)
    minigan demo --list                    list the demos
"""
import argparse
import importlib
import sys

DEMOS = {"gaussian-1d": "minigan.demos.gaussian_1d"}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="minigan", description="Generative networks from scratch.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a demo", add_help=False)
    demo.add_argument("name", nargs="?", help=f"one of: {', '.join(DEMOS)}")
    demo.add_argument("--list", action="store_true", help="list the demos")
    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        if args.list or args.name is None:
            print("demos: " + ", ".join(DEMOS))
            return 0
        if args.name not in DEMOS:
            parser.error(f"unknown demo {args.name!r}; choose from {', '.join(DEMOS)}")
        importlib.import_module(DEMOS[args.name]).main(rest)
    return 0
