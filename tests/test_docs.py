"""The docs run as written: every ```python block of README.md and docs/*.md.

Each page's blocks run in order in one namespace, in a temporary directory of their own,
with no kpki home or secrets from the environment. A test's id is the page and the line of
its block (``docs/testing.md:8``), and a traceback points at the Markdown line that failed.

Conventions a page can use (they are HTML comments, so readers do not see them):

* a ```python block inside ``<!-- docs-test: setup ... -->`` is a hidden setup block: it
  runs in the page's namespace like the others (to make a home, a signature, a file the
  visible blocks then use), and is part of the test of the next visible block;
* ``<!-- docs-test: pytest -->`` on the line before a block marks a test module: it is
  written to a file and run by pytest in a subprocess (kpki's plugin is active), and the
  test passes when pytest does.

If a block fails, the later blocks of its page are skipped, naming it. Running one block
alone (``-k 'testing.md:8'``) runs the blocks before it first.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<info>[^`\s]*)")
_SETUP = "<!-- docs-test: setup"
_PYTEST = "<!-- docs-test: pytest -->"


@dataclass(frozen=True)
class Block:
    page: str
    """The page's path relative to the repository (``docs/testing.md``)."""
    line: int
    """The line of the block's first line of code (1-based)."""
    code: str
    setup: bool = False
    pytest_module: bool = False

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}" + (" (setup)" if self.setup else "")


def extract_blocks(path: Path, *, name: str | None = None) -> list[Block]:
    """The ```python blocks of a Markdown page, hidden setup blocks included."""
    page = name or path.relative_to(ROOT).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    in_setup = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith(_SETUP):
            in_setup = True
        elif in_setup and line.strip() == "-->":
            in_setup = False
        match = _FENCE.match(line)
        if not match:
            i += 1
            continue
        indent, fence, info = match["indent"], match["fence"], match["info"]
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if info == "python":
            body = [text[len(indent):] if text.startswith(indent) else text.lstrip()
                    for text in lines[i + 1:end]]
            marked = i > 0 and lines[i - 1].strip() == _PYTEST
            blocks.append(Block(page, i + 2, "\n".join(body) + "\n", setup=in_setup,
                                pytest_module=marked))
        i = end + 1
    return blocks


BLOCKS = [block for page in PAGES for block in extract_blocks(page)]


@dataclass
class _PageRun:
    workdir: Path
    namespace: dict[str, Any] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)
    failed: str | None = None


_RUNS: dict[str, _PageRun] = {}


@pytest.fixture
def docs_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No kpki home, secret or service address from the developer's environment."""
    for name in list(os.environ):
        if name.startswith("KPKI_") and name not in ("KPKI_TEST_KEYS",):
            monkeypatch.delenv(name)


def _run_python(block: Block, run: _PageRun) -> None:
    # Leading newlines make the line numbers of a traceback those of the Markdown page.
    code = compile("\n" * (block.line - 1) + block.code, str(ROOT / block.page), "exec")
    exec(code, run.namespace)


def _run_pytest_module(block: Block, run: _PageRun) -> None:
    name = re.sub(r"\W", "_", f"test_{block.page}_{block.line}")
    module = run.workdir / f"{name}.py"
    module.write_text(block.code, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
         "--rootdir", str(run.workdir), str(module)],
        cwd=run.workdir, env=env, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise AssertionError(f"pytest failed on the block at {block.page}:{block.line}:\n"
                             f"{result.stdout[-4000:]}{result.stderr[-2000:]}")


def _run(block: Block, run: _PageRun) -> None:
    if block.pytest_module:
        _run_pytest_module(block, run)
    else:
        _run_python(block, run)


@pytest.mark.usefixtures("docs_env")
@pytest.mark.parametrize("block", [b for b in BLOCKS if not b.setup],
                         ids=lambda b: b.id)
def test_python_block_runs(block: Block, tmp_path_factory: pytest.TempPathFactory,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    run = _RUNS.get(block.page)
    if run is None:
        workdir = tmp_path_factory.mktemp(re.sub(r"\W", "_", block.page))
        run = _RUNS[block.page] = _PageRun(workdir)
    if run.failed:
        pytest.skip(f"the block at {run.failed} failed before this one")
    monkeypatch.chdir(run.workdir)
    # Everything before this block on its page (hidden setup included) runs first.
    for earlier in [b for b in BLOCKS if b.page == block.page and b.line <= block.line]:
        if earlier.line in run.done:
            continue
        run.done.add(earlier.line)
        try:
            _run(earlier, run)
        except BaseException as exc:
            run.failed = earlier.id
            exc.add_note(f"in the ```python block at {earlier.id}")
            raise


def test_the_collector_finds_blocks_in_lists_and_setup_comments(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    text = textwrap.dedent("""\
        # t
        <!-- docs-test: setup
        ```python
        x = 1
        ```
        -->
        - item:

          ```python
          y = x + 1
          ```
        ```sh
        kpki --help
        ```
        <!-- docs-test: pytest -->
        ```python
        def test_ok(): pass
        ```
        """)
    page.write_text(text, encoding="utf-8")
    blocks = extract_blocks(page, name="page.md")
    assert [(b.line, b.code, b.setup, b.pytest_module) for b in blocks] == [
        (4, "x = 1\n", True, False),
        (10, "y = x + 1\n", False, False),
        (17, "def test_ok(): pass\n", False, True),
    ]


def test_every_page_with_python_shows_it_in_python_blocks() -> None:
    """Python shown as an indented block would escape the collector: none is left."""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"(?m)^(?: {4}|\t)(?:from \w+(?:\.\w+)* import |import \w)",
                                 text):
            line = text.count("\n", 0, match.start()) + 1
            fenced = _inside_fence(text, match.start())
            assert fenced, f"{page.relative_to(ROOT)}:{line}: Python outside a ```python block"


def _inside_fence(text: str, offset: int) -> bool:
    before = text[:offset].splitlines()
    fences = [line for line in before if _FENCE.match(line)]
    return len(fences) % 2 == 1


def test_blocks_defining_tests_are_run_by_pytest() -> None:
    """A block of test functions run as a script would only define them: it must carry
    the pytest marker so that its tests actually run."""
    for block in BLOCKS:
        if re.search(r"(?m)^def test_", block.code):
            assert block.pytest_module, f"{block.id} defines tests: mark it {_PYTEST}"


# -- shell completion (README "Shell completion") -----------------------------------------


def _completion_lines() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Shell completion"):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(r"_KPKI_COMPLETE=(\w+)_source kpki", section)


def test_completion_is_documented_for_bash_zsh_and_fish() -> None:
    assert set(_completion_lines()) >= {"bash", "zsh", "fish"}


@pytest.mark.parametrize(("shell", "marker"), [
    ("bash", "complete -o nosort -F _kpki_completion kpki"),
    ("zsh", "#compdef kpki"),
    ("fish", "complete --no-files --command kpki"),
])
def test_the_documented_completion_script_is_produced(shell: str, marker: str) -> None:
    from click.testing import CliRunner

    from pki.cli.main import cli

    assert shell in _completion_lines()
    result = CliRunner().invoke(cli, [], prog_name="kpki",
                                env={"_KPKI_COMPLETE": f"{shell}_source"})
    assert result.exit_code == 0, result.output
    assert marker in result.stdout


@pytest.mark.parametrize(("words", "cword", "offered"), [
    ("kpki ce", "1", "cert"), ("kpki rr", "1", "rrn"), ("kpki cert re", "2", "revoke"),
    ("kpki audit --si", "2", "--since")])
def test_completion_offers_commands_and_options(words: str, cword: str, offered: str) -> None:
    from click.testing import CliRunner

    from pki.cli.main import cli

    result = CliRunner().invoke(cli, [], prog_name="kpki", env={
        "_KPKI_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": cword})
    assert result.exit_code == 0, result.output
    assert f"plain,{offered}" in result.stdout.splitlines()


def test_completion_script_from_the_installed_program() -> None:
    env = {**os.environ, "_KPKI_COMPLETE": "bash_source", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "pki.cli"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "_kpki_completion" in result.stdout
