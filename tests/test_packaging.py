"""kpki claims one top-level import name: ``pki``; the CLI is installed as ``pki.cli``."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "pki").rglob("__init__.py")
    }
    assert set(config["packages"]) == folders | {"pki.cli"}
    assert config["package-dir"] == {"pki.cli": "cli"}


def test_console_script_points_into_pki() -> None:
    (script,) = [e for e in metadata.entry_points(group="console_scripts") if e.name == "kpki"]
    assert script.value == "pki.cli.main:main"


def test_installed_kpki_has_no_top_level_cli_module(tmp_path: Path) -> None:
    # Outside the repository only what the distribution installed can be imported.
    probe = (
        "import importlib.util as u; "
        "print(u.find_spec('cli') is None, u.find_spec('pki.cli.main') is not None)"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert done.stdout.split() == ["True", "True"], done.stderr


def test_python_dash_m_pki_cli_runs(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pki.cli", "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Usage: kpki" in done.stdout
