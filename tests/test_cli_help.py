"""``kpki --help`` lists every command with its line of help without importing the
commands' modules (half a second of CPU before, issue 18); the lines are the commands' own."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from pki.cli import main as cli_main


def test_the_summaries_are_the_commands_own_first_paragraphs() -> None:
    group = cli_main.load_commands()
    assert set(cli_main._SUMMARIES) == set(cli_main._COMMANDS)
    for name, summary in cli_main._SUMMARIES.items():
        for limit in (20, 45, 60, 80, 120, 400):
            assert click.Command(name, help=summary).get_short_help_str(limit) == \
                group.commands[name].get_short_help_str(limit), (name, limit)


@pytest.mark.parametrize("width", [60, 80, 200])
def test_help_lists_the_commands_as_click_would(width: int) -> None:
    group = cli_main.load_commands()
    plain = click.Group("kpki", commands=dict(group.commands), help=group.help,
                        params=group.params)

    def commands_section(of: click.Group) -> str:
        context = click.Context(of, terminal_width=width, max_content_width=width)
        return of.get_help(context).split("Commands:")[1]

    assert commands_section(group) == commands_section(plain)


def test_help_imports_no_command_module() -> None:
    code = ("import sys\nfrom pki.cli.main import main\n"
            "status = main(['--help'])\n"
            "print(status, sorted(m for m in sys.modules if m.startswith('pki.cli.') "
            "and m.rsplit('.', 1)[1] not in {'main', 'context', 'secrets', 'output'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()[-1]
    assert out == "0 []", out
