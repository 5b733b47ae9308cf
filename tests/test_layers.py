"""The layers of kpki hold (README.md, "How kpki is built").

Faces (the CLI, the web app, the pytest plugin, TestPKI) call the use cases (pki.usecases);
the use cases call the domain; the domain calls the store, the CA key store and the formats.
These tests read every module's imports (statically, with :mod:`ast`) and check the rules
that keep it so, and that every module the README's picture names exists.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FACES = ("pki.cli", "pki.web", "pki.testing", "pki.pytest_plugin", "pki.portal", "pki.agent")
USE_CASES = ("pki.usecases",)
LOWEST = ("pki.store", "pki.keys", "pki.formats")
"""The store, the CA key store and the key formats, and the encoders: below the domain."""
DOMAIN = ("pki.authority", "pki.lifecycle", "pki.revocation", "pki.signing", "pki.cloud",
          "pki.timestamp", "pki.publisher", "pki.delivery", "pki.registration",
          "pki.hierarchy", "pki.home")


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "cli":  # installed as pki.cli
        parts = ["pki", "cli", *parts[1:]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_block(node: ast.AST) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING")


def _imports(path: Path, *, runtime_only: bool = False) -> set[str]:
    """Every module (and ``module.name``) ``path`` imports; relative imports resolved."""
    name = _module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if _type_checking_block(node):
                skipped.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


MODULES = {_module_name(p): p for p in sorted([*ROOT.glob("pki/**/*.py"),
                                               *ROOT.glob("cli/**/*.py")])}
LIBRARY = {n: p for n, p in MODULES.items() if not _under(n, ("pki.cli",))}


def _violations(modules: dict[str, Path], forbidden: tuple[str, ...], *,
                runtime_only: bool = False) -> dict[str, list[str]]:
    found = {}
    for name, path in modules.items():
        bad = sorted(i for i in _imports(path, runtime_only=runtime_only)
                     if _under(i, forbidden))
        if bad:
            found[name] = bad
    return found


def test_the_modules_are_found() -> None:
    # The rules below would pass vacuously on an empty list.
    assert {"pki.authority", "pki.usecases.issuing", "pki.cli.issue", "pki.web.app"} \
        <= set(MODULES)


def test_the_library_never_imports_click() -> None:
    assert _violations(LIBRARY, ("click",)) == {}


def test_only_faces_import_the_use_cases() -> None:
    below = {n: p for n, p in MODULES.items() if not _under(n, FACES + USE_CASES)}
    assert _violations(below, USE_CASES) == {}


def test_the_domain_and_below_import_no_face() -> None:
    below = {n: p for n, p in MODULES.items() if not _under(n, FACES + USE_CASES)}
    assert _violations(below, FACES) == {}


def test_the_use_cases_import_no_face_but_the_web_app_they_serve() -> None:
    """Serving in a thread runs the web apps (kpki's, and the portal's and the agent's that
    ``kpki demo web`` serves): those faces, and no other, are theirs to use."""
    cases = {n: p for n, p in MODULES.items() if _under(n, USE_CASES)}
    assert cases
    assert _violations(cases, tuple(f for f in FACES
                                    if f not in ("pki.web", "pki.portal", "pki.agent"))) == {}


def test_store_keys_and_formats_do_not_depend_on_the_domain() -> None:
    """At run time: an annotation naming a domain type (``if TYPE_CHECKING``) is allowed."""
    lowest = {n: p for n, p in MODULES.items() if _under(n, LOWEST)}
    assert _violations(lowest, DOMAIN + USE_CASES + FACES, runtime_only=True) == {}


def test_the_cli_does_not_reach_into_the_sqlite_backend() -> None:
    cli = {n: p for n, p in MODULES.items() if _under(n, ("pki.cli",))}
    assert _violations(cli, ("pki.store.sqlite", "sqlite3")) == {}


@pytest.mark.parametrize("assembled", [
    "pki.delivery.NPKIDelivery",  # issue into a folder: pki.usecases.issuing
    "pki.delivery.recover_deliveries",
    "pki.web.serve_in_thread",  # serve in a thread: pki.usecases.serving
    "pki.web.thread.serve_in_thread",
    "pki.vid.decode_identify_data",  # read a certificate's VID: pki.vid.identify_data_of
])
def test_faces_call_the_use_case_instead_of_assembling_it(assembled: str) -> None:
    faces = {n: p for n, p in MODULES.items() if _under(n, FACES) and n != "pki.web"
             and not n.startswith("pki.web.thread")}
    assert [n for n, p in faces.items() if assembled in _imports(p)] == []


# -- the picture in the README ------------------------------------------------------------

def _picture() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## How kpki is built", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


def test_every_module_the_readme_picture_names_exists() -> None:
    named = set(re.findall(r"\b(?:pki|cli)(?:/[a-z_0-9]+)*", _picture()))
    assert len(named) >= 15
    missing = []
    for name in sorted(named):
        relative = Path(name)
        if not ((ROOT / relative).with_suffix(".py").is_file()
                or (ROOT / relative / "__init__.py").is_file()):
            missing.append(name)
    assert missing == []


def test_the_readme_picture_names_every_use_case_module() -> None:
    picture = _picture()
    cases = sorted(p.stem for p in (ROOT / "pki" / "usecases").glob("*.py")
                   if p.stem != "__init__")
    assert [c for c in cases if f"usecases/{c}" not in picture
            and f"usecases.{c}" not in picture] == []


def test_importing_the_package_imports_no_module_of_it_until_a_name_is_used() -> None:
    """``import pki.clock`` (every ``kpki`` command's first import) costs the clock alone;
    the package's names (``pki.Home``, ``pki.CertificateAuthority``...) still resolve."""
    import subprocess
    import sys

    code = ("import sys, pki.clock; before = sorted(m for m in sys.modules "
            "if m.startswith('pki.') and m != 'pki.clock'); import pki; "
            "names = [getattr(pki, n) for n in pki.__all__]; "
            "print(before, 'pki.authority' in sys.modules, len(names))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["[]", "True", str(len(__import__("pki").__all__))]
