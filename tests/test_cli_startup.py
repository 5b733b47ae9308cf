"""A one-shot command imports what it uses, not the whole of kpki (issue 18's start-up).

Each test runs the command in a fresh interpreter and lists which of the modules it has
no use for were imported. Timings belong to ``bench/cli.py``; this holds the structure
that makes them possible: ``kpki cert show`` reads the store and prints, ``kpki verify``
from files reads neither a store nor the signing side.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())

UNUSED_BY_ANY_READER = (
    "pki.authority", "pki.publisher", "pki.timestamp", "pki.lifecycle", "pki.delivery",
    "pki.hierarchy", "pki.usecases.issuing", "pki.usecases.batch", "pki.keys.castore",
    "pki.keys.atrest", "pki.keys.npki", "pki.keys.pkcs11", "pki.cloud", "pki.bank",
    "pki.ra", "pki.web", "pki.revocation.ocsp", "pki.revocation.crl", "pki.profiles",
    "pki.cli.issue", "pki.cli.batch", "pki.store.protocols", "pki.store.bankrecords",
    "pki.store.cloudrecords", "pki.store.rarecords", "pki.store.sdkrecords", "starlette",
    "uvicorn",
)
"""Modules neither ``kpki cert show`` nor ``kpki verify`` needs (nor any module under them).
(psycopg is not named: the suite's run on PostgreSQL sends a subprocess's store there.)"""


def _imported(args: list[str], unused: tuple[str, ...]) -> tuple[int, list[str]]:
    """Run ``kpki ARGS`` in a new interpreter: its exit status and which of ``unused`` (or
    modules under them) it imported."""
    code = ("import json, sys\nfrom pki.cli.main import main\n"
            f"status = main({args!r})\n"
            f"unused = {unused!r}\n"
            "hit = sorted(m for m in sys.modules for u in unused "
            "if m == u or m.startswith(u + '.'))\n"
            "print('\\n' + json.dumps([status, hit]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()[-1]
    status, hit = json.loads(out)
    return status, hit


def test_cert_show_imports_only_the_store_and_the_certificate(home, authority) -> None:
    issued = authority.issue_joint(name="홍길동", rrn="9005171234566")
    home.close()
    serial = format(issued.certificate.serial_number, "X")
    status, hit = _imported(["--home", str(home.path), "cert", "show", serial],
                            (*UNUSED_BY_ANY_READER, "pki.signing", "asn1crypto.cms"))
    assert status == 0
    assert hit == []


def test_verify_from_files_reads_no_store_and_no_signing_side(tmp_path: Path) -> None:
    args = ["--home", str(tmp_path / "no-home"), "verify",
            str(FIXTURES / "signatures" / "attached-attrs-contentinfo.p7s"),
            "--trust", str(FIXTURES / "root.pem"),
            "--untrusted", str(FIXTURES / "yessign-ca.pem"),
            "--crl", str(FIXTURES / "crl" / "yessign-full.crl"),
            "--crl", str(FIXTURES / "crl" / "root.crl"), "--at", MANIFEST["now"]]
    status, hit = _imported(args, (
        *UNUSED_BY_ANY_READER, "pki.store", "pki.signing.cms", "pki.signing.envelope",
        "pki.signing.fetch", "pki.usecases.signing", "pki.formats.cmsder", "http.client", "ssl"))
    assert status == 0
    assert hit == []
