"""The `minigan` command's help, exit codes, --version and a closed output pipe."""
import os
import subprocess
import sys

import pytest

import minigan
from minigan import cli


def run_minigan(*args, **kwargs):
    """`python -m minigan ARGS` in a subprocess (the installed entry point's code path)."""
    return subprocess.run([sys.executable, "-m", "minigan", *args], text=True, **kwargs)


def test_bare_minigan_prints_the_help_and_exits_2():
    done = run_minigan(capture_output=True)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "usage: minigan COMMAND" in done.stderr and "error: name a command" in done.stderr
    for command in cli.COMMANDS:
        assert command in done.stderr


def test_help_lists_every_command_and_exits_0(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--version" in out
    for command, (_, help_) in cli.COMMANDS.items():
        assert f"{command:10} {help_}" in out


def test_unknown_command_is_a_usage_error(capsys):
    assert cli.main(["no-such-command"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'no-such-command'" in err and "usage: minigan" in err


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"minigan {minigan.__version__}\n"
    done = run_minigan("--version", capture_output=True, check=True)
    assert done.stdout.strip() == f"minigan {minigan.__version__}"


def test_demo_help_says_what_each_demo_does_and_how_long_it_takes(capsys):
    for flag in ("--help", "-h", "--list"):
        assert cli.main(["demo", flag]) == 0
        out = capsys.readouterr().out
        for name, (_, _, what, how_long) in cli.DEMOS.items():
            assert name in out and what in out and how_long in out
    assert "--quick about 1 min" in cli.DEMOS["two-sample-power"][3]


def test_bare_demo_and_unknown_demo_are_usage_errors(capsys):
    assert cli.main(["demo"]) == 2
    assert "error: name a demo" in capsys.readouterr().err
    assert cli.main(["demo", "no-such-demo"]) == 2
    err = capsys.readouterr().err
    assert "unknown demo 'no-such-demo'" in err and "two-sample-power" in err


@pytest.mark.parametrize("name", list(cli.DEMOS))
def test_every_demo_has_help_under_its_command_name(name, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["demo", name, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: minigan demo {name}")
    assert "{'" not in out and "':" not in out  # no Python dict printed raw


def test_demo_option_errors_exit_2_before_any_work(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["demo", "digits", "--steps", "0"])
    assert stop.value.code == 2
    assert "--steps: must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("args, status", [
    (["--help"], 1), (["demo", "--help"], 1), (["--version"], 1),
    (["demo", "ring", "--help"], 0),  # argparse's own help drops what it cannot write
])
def test_closed_output_pipe_ends_quietly(args, status):
    """`minigan --help | head`: the reader has gone before minigan writes; no traceback, and
    exit status 1 (Python's for a broken pipe) where minigan itself writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has closed its end before minigan writes a byte
    try:
        done = run_minigan(*args, stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr
    assert done.returncode == status
