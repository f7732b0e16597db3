"""`minigan exercise`: write the maths yourself, then check it against minigan (minigan.exercises).

    minigan exercise list
    minigan exercise start NAME [--dir D] [--force]   write D/NAME.py (D: ./minigan_exercises)
    minigan exercise check NAME [--dir D]             "pass" (exit 0), or what is wrong (exit 1)
"""
import argparse
import sys
from pathlib import Path

from . import exercises


def _parser():
    parser = argparse.ArgumentParser(
        prog="minigan exercise",
        description="Exercises: write a backward pass, an estimator or an update yourself, "
                    "then check it against minigan's own code.")
    sub = parser.add_subparsers(dest="action", required=True, metavar="{list,start,check}")
    sub.add_parser("list", help="the exercises and the guide section each one needs")
    for action, help_ in (("start", "write the skeleton D/NAME.py to fill in"),
                          ("check", "check your D/NAME.py: pass, or the failing case and a hint")):
        p = sub.add_parser(action, help=help_)
        p.add_argument("name", metavar="NAME", help=f"one of: {', '.join(exercises.EXERCISES)}")
        p.add_argument("--dir", default=exercises.DEFAULT_DIR, metavar="D",
                       help=f"the folder of your exercise files (default: ./{exercises.DEFAULT_DIR})")
        if action == "start":
            p.add_argument("--force", action="store_true",
                           help="overwrite an existing D/NAME.py with a fresh skeleton")
    return parser


def _list():
    width = max(map(len, exercises.EXERCISES))
    print("exercises (minigan exercise start NAME, then minigan exercise check NAME):")
    for e in exercises.EXERCISES.values():
        print(f"  {e.name:{width}}  {e.summary}")
        print(f"  {'':{width}}  read: {exercises.reading(e)}")
    return 0


def _command(action, name, directory):
    """The command line that runs `action` on exercise `name` in `directory`."""
    where = "" if directory == exercises.DEFAULT_DIR else f" --dir {directory}"
    return f"minigan exercise {action} {name}{where}"


def _start(name, directory, force):
    path = Path(directory) / f"{name}.py"
    if path.exists() and not force:
        print(f"minigan exercise start: {path} exists (your work, perhaps); check it with "
              f"`{_command('check', name, directory)}`, or pass --force to replace it with a "
              f"fresh skeleton", file=sys.stderr)
        return 1
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(exercises.skeleton(name), encoding="utf-8")
    except OSError as e:
        print(f"minigan exercise start: cannot write {path}: {e}", file=sys.stderr)
        return 1
    print(f"wrote {path}: write the lines marked TODO, then run\n"
          f"    {_command('check', name, directory)}")
    return 0


def _check(name, directory):
    result = exercises.check(name, Path(directory) / f"{name}.py")
    print("\n".join(result.lines))
    return 0 if result.passed else 1


def main(argv=None):
    args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.action == "list":
        return _list()
    if args.name not in exercises.EXERCISES:
        _parser().error(f"unknown exercise {args.name!r}; choose from "
                        f"{', '.join(exercises.EXERCISES)}")
    if args.action == "start":
        return _start(args.name, args.dir, args.force)
    return _check(args.name, args.dir)
