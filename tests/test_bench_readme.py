"""bench/README.md stays true to the scripts: every benchmark is in its table, and every
command it gives names an existing script with options that script's own parser accepts.

The parser is the script's real one: the script runs in a child process up to its
``parse_args`` call, which parses the README's arguments and stops there (no benchmark
runs)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
README = BENCH / "README.md"
COMMAND = re.compile(r"`python bench/([^`\s]+)([^`]*)`")

# Runs SCRIPT ARGS... up to its parse_args, parsing ARGS with its own parser: exit 0 when
# they parse, 2 when the parser refuses them (argparse's own exit), 3 when the script never
# parsed, 4 when an optional dependency the script imports is missing.
_RUNNER = textwrap.dedent("""
    import argparse, runpy, sys
    script, *argv = sys.argv[1:]

    class Parsed(BaseException):
        pass

    original = argparse.ArgumentParser.parse_args

    def parse_only(self, args=None, namespace=None):
        original(self, argv, namespace)
        raise Parsed

    argparse.ArgumentParser.parse_args = parse_only
    sys.argv = [script, *argv]
    sys.path.insert(0, script.rsplit("/", 1)[0])
    try:
        runpy.run_path(script, run_name="__main__")
    except Parsed:
        sys.exit(0)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] not in ("pki", "tests"):
            print(exc.name)
            sys.exit(4)
        raise
    sys.exit(3)
""")


def _scripts() -> list[str]:
    return sorted(p.name for p in BENCH.glob("*.py") if not p.name.startswith("_"))


def _commands() -> list[tuple[str, list[str]]]:
    return [(m.group(1), shlex.split(m.group(2)))
            for m in COMMAND.finditer(README.read_text(encoding="utf-8"))]


def _rows() -> dict[str, str]:
    """The table's rows by the script named in their first column."""
    rows = [line for line in README.read_text(encoding="utf-8").splitlines()
            if line.startswith("| `")]
    return {row.split("`")[1]: row for row in rows}


TO_COME = "(to come)"
"""The command cell of a row for a script another change is still writing."""


def test_every_benchmark_script_has_a_row_in_the_table() -> None:
    missing = [name for name in _scripts() if name not in _rows()]
    assert not missing, f"bench/README.md's table has no row for {missing}"


def test_every_row_is_a_script_or_says_it_is_to_come() -> None:
    strays = [name for name, row in _rows().items()
              if name not in _scripts() and not row.rstrip(" |").endswith(TO_COME)]
    assert not strays, f"bench/README.md has rows for scripts that do not exist: {strays}"


def test_every_row_gives_its_command() -> None:
    bare = [name for name, row in _rows().items()
            if f"`python bench/{name}" not in row and not row.rstrip(" |").endswith(TO_COME)]
    assert not bare, f"bench/README.md's rows without a command: {bare}"


@pytest.mark.parametrize(("script", "args"), _commands(),
                         ids=[" ".join([s, *a]) for s, a in _commands()])
def test_each_command_parses_with_its_scripts_own_options(script: str, args: list[str]
                                                          ) -> None:
    path = BENCH / script
    assert path.is_file(), f"bench/README.md names bench/{script}, which does not exist"
    done = subprocess.run([sys.executable, "-c", _RUNNER, str(path), *args],
                          capture_output=True, text=True, timeout=120, cwd=BENCH.parent)
    # a script parses its options with the test extra alone (CI skips nothing): an optional
    # dependency is imported after parse_args
    assert done.returncode != 4, (
        f"bench/{script} imports {done.stdout.strip()} before it parses its options")
    assert done.returncode != 3, f"bench/{script} never parsed its arguments"
    assert done.returncode == 0, (
        f"bench/{script} refuses {' '.join(args)!r}: {done.stderr.strip()[-500:]}")


def test_a_command_the_parser_refuses_is_caught() -> None:
    """The check above can fail: an option keyfile.py does not have is refused."""
    done = subprocess.run([sys.executable, "-c", _RUNNER, str(BENCH / "keyfile.py"),
                           "--no-such-option"], capture_output=True, text=True, timeout=120,
                          cwd=BENCH.parent)
    assert done.returncode == 2, done.stderr
