"""The test suite's run on PostgreSQL, in every Python subprocess a test starts.

``tests/postgresql.py`` puts this folder on PYTHONPATH when ``KPKI_TEST_STORE=postgresql``;
Python imports this module at start-up. Once ``pki.store`` is imported (not before: a
subprocess that never opens a store imports nothing more), every store it opens goes to
PostgreSQL like the test's own (:func:`tests.postgresql.redirect`).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any


def _load_helpers() -> ModuleType:
    name = "tests.postgresql"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        "_kpki_tests_postgresql", Path(__file__).parent.parent / "postgresql.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class _AfterStoreImport(importlib.abc.MetaPathFinder):
    """Installs the redirect right after ``pki.store`` is executed."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "pki.store":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_then_install(module: ModuleType) -> None:
            exec_module(module)
            _load_helpers().install_redirect()

        loader.exec_module = exec_then_install  # type: ignore[method-assign]
        return spec


if os.environ.get("PYTEST_KPKI_POSTGRES_STORES") == "1" and os.environ.get(
        "PYTEST_KPKI_POSTGRES"):
    sys.meta_path.insert(0, _AfterStoreImport())
