"""Every command of the README cheat sheet's CLI column runs, in order, as the README says.

The conventions are the README's own ("Reading the CLI column"): ``[...]`` optional (run
with every optional part and the first choice of ``a|b``), ``...`` continuing a command
above, capitals for values of the reader's (filled in here from what the commands before
made), rows marked *(needs `kpki serve`)* run while the ``kpki serve`` of the cheat sheet's
own row runs (with ``--test-channel`` added, so the confirmation code can be read as a
tester reads it). Secrets come from the environment and from ``ca.pass``. One test per row,
its id the README line and task; a failure names the command, its exit status and output.

A command that cannot work yet for a reason tracked elsewhere is listed in ``KNOWN_GAPS``
with the reason: it must fail, and once it works the test says to remove it from the list.
"""

from __future__ import annotations

import ast
import builtins
import datetime as dt
import json
import os
import queue
import re
import shlex
import socket
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from . import postgresql
from .serve_process import stop_process

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

PASSPHRASE = "cheat-sheet-ca-passphrase"
KEY_PASSWORD = "Test-pass-1234!"
PIN, NEW_PIN = "302817", "593104"
RRN_VALUE = "9005171234566"
PHONE = "010-1234-5678"
SERVE_MARK = "*(needs `kpki serve`)*"
SERVE_PORT = 8880  # the base URL every kpki init writes into its certificates

KNOWN_GAPS: dict[str, str] = {}

PLACEHOLDERS = {"SERIAL", "RRN", "DIR", "BASE", "FILE", "SIG", "USER", "ID", "LABEL", "P",
                "N", "OID", "TIME", "URL", "F", "K", "ROOT.pem", "CA.pem", "GOV.pem", "FULL",
                "DELTA", "ROOT-CRL", "CUSTOMER", "DB", "TOKEN"}


_AFTER = {"F": {"--r-file", "--code-file", "--r-envelope"}, "K": {"--key"},
          "P": {"--profile"}, "N": {"--name"}}
"""The one-letter placeholders are placeholders only as the value of these options."""


# -- reading the table -------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    line: int
    task: str
    cli: str

    @property
    def needs_server(self) -> bool:
        return SERVE_MARK in self.task

    @property
    def spans(self) -> list[str]:
        """The commands of the CLI cell, ``\\|`` unescaped."""
        return [span.replace("\\|", "|") for span in re.findall(r"`([^`]+)`", self.cli)
                if span.startswith(("kpki ", "... "))]

    @property
    def id(self) -> str:
        task = re.sub(r"\s+", " ", self.task.replace(SERVE_MARK, "")).strip()
        return f"README.md:{self.line} {task[:50]}"


def cheat_sheet() -> list[Row]:
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("## Cheat sheet")
    rows = []
    for number, line in enumerate(lines[start:], start + 1):
        if line.startswith("## ") and number > start + 1:
            break
        if not line.startswith("| ") or line.startswith(("| task |", "| --- |")):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) == 3:
            rows.append(Row(number, cells[0], cells[1]))
    return rows


ROWS = cheat_sheet()


def with_options(text: str) -> str:
    """Every ``[...]`` part kept, the first choice of ``a|b`` inside it."""
    while "[" in text:
        inner = re.search(r"\[([^\[\]]*)\]", text)
        if inner is None:
            raise ValueError(f"unbalanced brackets in {text!r}")
        text = text[:inner.start()] + inner.group(1).split("|")[0].strip() + text[inner.end():]
    return text


def required(text: str) -> str:
    """The command without its ``[...]`` parts."""
    while "[" in text:
        text = re.sub(r"\s*\[[^\[\]]*\]", "", text)
    return text


def merge(base: list[str], extra: list[str]) -> list[str]:
    """``base`` with ``extra``'s options added, an option given again taking its new value."""
    out = list(base)
    i = 0
    while i < len(extra):
        token = extra[i]
        takes_value = (token.startswith("--") and i + 1 < len(extra)
                       and not extra[i + 1].startswith("--"))
        if token.startswith("--") and token in out:
            at = out.index(token)
            if takes_value and at + 1 < len(out) and not out[at + 1].startswith("--"):
                out[at + 1] = extra[i + 1]
        else:
            out.append(token)
            if takes_value:
                out.append(extra[i + 1])
        i += 2 if takes_value else 1
    return out


def expand(span: str, history: list[list[str]]) -> list[str]:
    """The argv of one span: ``...`` resolved against the commands before it (a leading
    ``...`` continues the last one; ``kpki x ... --y`` the last one written out in full
    that starts with ``kpki x``)."""
    if span.startswith("... "):
        if not history:
            raise ValueError(f"{span!r} continues nothing")
        return merge(history[-1], shlex.split(with_options(span[4:])))
    if " ... " in span:
        prefix, rest = span.split(" ... ", 1)
        words = shlex.split(prefix)
        base = next((h for h in reversed(history)
                     if h[:len(words)] == words and h not in _CONTINUED), None)
        if base is None:
            raise ValueError(f"{span!r}: no command above starts with {prefix!r}")
        return merge(base, shlex.split(with_options(rest)))
    return shlex.split(with_options(span))


_CONTINUED: list[list[str]] = []
"""Commands of the history that were written with ``...``."""


def base_form(span: str, history: list[list[str]]) -> list[str]:
    """What a later ``...`` continues: the command as run, placeholders unfilled."""
    form = expand(span, history)
    if span.startswith("... ") or " ... " in span:
        _CONTINUED.append(form)
    return form


# -- the session the rows share ------------------------------------------------------------


LONG_RUNNING = {("kpki", "serve"): r"listening on http://",
                ("kpki", "publish"): r"watching"}
"""Commands that run until stopped, and the line each logs once it is up."""


class Served:
    """A command that runs until stopped (``kpki serve``), as a process."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.argv = argv
        self.proc = subprocess.Popen([sys.executable, "-m", "pki.cli", *argv[1:]], cwd=cwd,
                                     env=env, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        ready = LONG_RUNNING[tuple(argv[:2])]  # type: ignore[index]
        while True:
            try:
                line = self.lines.get(timeout=60)
            except queue.Empty:
                line = ""
            self.log.append(line)
            if not line:
                self.stop()
                pytest.fail(f"README.md: `{shlex.join(argv)}` did not start:\n"
                            + "".join(self.log))
            if re.search(ready, line):
                return

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put("")

    def stop(self) -> int:
        return stop_process(self.proc, self.reader)  # joins the reader before closing


@dataclass
class Session:
    workdir: Path
    env: dict[str, str]
    history: list[list[str]] = field(default_factory=list)
    outputs: list[tuple[list[str], str]] = field(default_factory=list)
    served: Served | None = None
    failed: str | None = None
    bases: int = 0
    homes: int = 0
    seen_init: bool = False
    row_values: dict[str, str] = field(default_factory=dict)
    gaps: list[str] = field(default_factory=list)

    def home(self):  # type: ignore[no-untyped-def]
        from pki.home import Home

        return Home.open(self.workdir / ".kpki")


_SESSION: Session | None = None


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory, key_pool):  # type: ignore[no-untyped-def]
    global _SESSION
    workdir = tmp_path_factory.mktemp("cheatsheet")
    (workdir / "ca.pass").write_text(PASSPHRASE + "\n")
    (workdir / "document.txt").write_text("전자민원 신청서: 등본 1통\n", encoding="utf-8")
    (workdir / "people.csv").write_text("name,rrn,birth,sex,policy\n홍길동,9005171234566,,,\n"
                                        "김철수,,1985-03-02,M,banking\n", encoding="utf-8")
    key = key_pool.keys(2048, 1)[0]
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "홍길동")])).sign(key, hashes.SHA256())
    (workdir / "req.pem").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPKI_")}
    if "KPKI_TEST_KEYS" in os.environ:
        env["KPKI_TEST_KEYS"] = os.environ["KPKI_TEST_KEYS"]
    env.update(KPKI_CA_PASSPHRASE=PASSPHRASE, KPKI_KEY_PASSWORD=KEY_PASSWORD,
               KPKI_ACCOUNT_PASSWORD="0420",
               KPKI_NEW_KEY_PASSWORD=KEY_PASSWORD, KPKI_PFX_PASSWORD=KEY_PASSWORD,
               KPKI_PIN=PIN, KPKI_NEW_PIN=NEW_PIN,
               KPKI_CLOUD_URL=f"http://127.0.0.1:{SERVE_PORT}",
               PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [
                   os.environ.get("PYTHONPATH")])]))
    softhsm = workdir / "softhsm"  # TOKEN: SoftHSM2 tokens of the run's own (docs/hsm.md)
    (softhsm / "tokens").mkdir(parents=True)
    (softhsm / "softhsm2.conf").write_text(f"directories.tokendir = {softhsm / 'tokens'}\n"
                                           "objectstore.backend = file\nlog.level = ERROR\n")
    env.update(SOFTHSM2_CONF=str(softhsm / "softhsm2.conf"), KPKI_CA_PIN=PIN)
    _SESSION = Session(workdir, env)
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("KPKI_")]:
            mp.delenv(name)
        yield _SESSION
    if _SESSION.served is not None:
        _SESSION.served.stop()
    _SESSION = None


# -- placeholders ----------------------------------------------------------------------------


def _newest(session: Session, profile: str):  # type: ignore[no-untyped-def]
    from pki.store import CertStatus

    with session.home() as home:
        now = home.clock.now()
        records = [r for r in home.store.list_certificates(profile=profile)
                   if r.ca == "yessign" and r.status is CertStatus.VALID
                   and not r.is_expired(now)]
    if not records:
        pytest.fail(f"no valid {profile} certificate for a placeholder")
    return max(records, key=lambda r: (r.issued_at, r.serial))


def _folder(session: Session) -> Path:
    from pki.keys.npki import folder_for
    from pki.store import CertStatus

    with session.home() as home:
        records = sorted(home.store.list_certificates(profile="joint-general"),
                         key=lambda r: (r.issued_at, r.serial), reverse=True)
        for record in records:
            folder = folder_for(session.workdir / "certs", record.certificate)
            if (record.ca == "yessign" and record.status is CertStatus.VALID
                    and (folder / "signPri.key").is_file()):
                return folder
    pytest.fail("no NPKI folder under certs/ for DIR")


def _pem_file(session: Session, name: str, cert: x509.Certificate) -> str:
    path = session.workdir / name
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def _user(session: Session) -> str:
    for argv, output in reversed(session.outputs):
        if argv[:3] == ["kpki", "cloud", "register"]:
            match = re.search(r"\buser ([\w-]+)", output)
            if match:
                return match.group(1)
            pytest.fail(f"no user id in the output of 'kpki cloud register': {output!r}")
    pytest.fail("USER before any 'kpki cloud register'")


def _customer(session: Session) -> str:
    for argv, output in reversed(session.outputs):
        if argv[:4] == ["kpki", "bank", "customer", "add"]:
            match = re.fullmatch(r"\s*(c_\w+)\s*", output)
            if match:
                return match.group(1)
            pytest.fail(f"no customer id in the output of 'kpki bank customer add': {output!r}")
    pytest.fail("CUSTOMER before any 'kpki bank customer add'")


def _code(session: Session) -> str:
    api_key = (session.workdir / "bank.key").read_text().strip()
    phone = re.sub(r"\D", "", PHONE)
    request = urllib.request.Request(
        f"http://127.0.0.1:{SERVE_PORT}/cloud/v1/test/messages?phone={phone}",
        headers={"X-API-Key": api_key})
    with urllib.request.urlopen(request, timeout=30) as response:
        messages = json.loads(response.read())["messages"]
    codes = [m.group(1) for m in (re.search(r"\b(\d{2})\s*$", message["text"])
                                  for message in messages) if m]
    if not codes:
        pytest.fail(f"no confirmation code in the test channel: {messages}")
    return codes[-1]


def resolve(session: Session, argv: list[str]) -> list[str]:
    """``argv`` with its placeholders filled in."""
    out = []
    cloud = argv[:2] == ["kpki", "cloud"]
    for i, token in enumerate(argv):
        option = argv[i - 1] if i else ""
        if token not in PLACEHOLDERS or option not in _AFTER.get(token, {option}):
            out.append(token)  # --sex F is F
        elif token in ("SERIAL", "DIR", "USER"):  # one certificate, folder, user per row
            key = f"{token} {cloud}"
            if key not in session.row_values:
                session.row_values[key] = _value(session, token, option, cloud)
            out.append(session.row_values[key])
        else:
            out.append(_value(session, token, option, cloud))
    return out


def _value(session: Session, token: str, option: str, cloud: bool) -> str:
    work = session.workdir
    if token == "SERIAL":
        return f"{_newest(session, 'financial-personal' if cloud else 'joint-general').serial:X}"
    if token == "RRN":
        return RRN_VALUE
    if token == "DIR":
        return str(_folder(session))
    if token == "BASE":
        session.bases += 1
        return str(work / f"base-{session.bases}")
    if token == "FILE":
        return str(work / "document.txt")
    if token == "SIG":
        return str(work / "document.txt.p7s")
    if token == "USER":
        return _user(session)
    if token == "ID":
        return "device-1"
    if token == "CUSTOMER":
        return _customer(session)
    if token == "LABEL":
        return "yessign"
    if token == "DB":  # an empty database on the run's throwaway server (tests/postgresql.py)
        return postgresql.databases().url(postgresql.databases().create(empty=True))
    if token == "TOKEN":  # a new SoftHSM2 token
        label = f"cheat-{len(list((work / 'softhsm' / 'tokens').iterdir()))}"
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin",
                        PIN, "--so-pin", "5678"], env=session.env, check=True,
                       capture_output=True)
        return f"pkcs11:token={label}?module-path=/usr/lib/softhsm/libsofthsm2.so"
    if token == "P":
        return "joint-general"
    if token == "N":
        return "홍길동"
    if token == "TIME":
        return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if token == "URL":
        with session.home() as home:
            return home.tsa_url
    if token == "OID":
        from pki.keys import npki

        cert = npki.load(_folder(session), KEY_PASSWORD).certificate
        policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
        return policies[0].policy_identifier.dotted_string
    if token == "F" and option == "--r-file":
        from pki.keys import npki

        r = npki.load(_folder(session), KEY_PASSWORD).r
        assert r is not None
        (work / "r.hex").write_text(r.hex() + "\n")
        return str(work / "r.hex")
    if token == "F" and option == "--code-file":
        (work / "code.txt").write_text(_code(session) + "\n")
        return str(work / "code.txt")
    with session.home() as home:
        if token == "ROOT.pem":
            return _pem_file(session, "root.pem", home.store.get_ca("root").certificate)
        if token == "CA.pem":
            return _pem_file(session, "yessign.pem", home.store.get_ca("yessign").certificate)
        if token == "GOV.pem":
            oldest = min(home.store.list_certificates(profile="joint-general"),
                         key=lambda r: (r.issued_at, r.serial))
            return _pem_file(session, "gov.pem", oldest.certificate)
        if token in ("FULL", "DELTA", "ROOT-CRL"):
            name = {"FULL": "yessign.crl", "DELTA": "yessign-delta.crl",
                    "ROOT-CRL": "root.crl"}[token]
            return str(home.publish_dir / "crl" / name)
    pytest.fail(f"the test has no value for {token} after {option or 'nothing'}")


# -- running -----------------------------------------------------------------------------------


def _port_free() -> bool:
    with socket.socket() as probe:
        # As kpki serve binds: connections of a server stopped a moment ago (TIME_WAIT) do
        # not hold the port, a server listening on it does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", SERVE_PORT))
        except OSError:
            return False
    return True


def _serve(session: Session, argv: list[str]) -> None:
    """Start the cheat sheet's server (for the rows that need one) if it is not running."""
    if session.served is None:
        if not _port_free():
            pytest.skip(f"port {SERVE_PORT} (the base URL of a new home) is in use")
        session.served = Served([*argv, "--test-channel"], session.workdir, session.env)


def _serve_row() -> Row:
    return next(r for r in ROWS if any(s.startswith("kpki serve") for s in r.spans))


def _long_running(session: Session, argv: list[str]) -> None:
    """Start a command that runs until stopped, see it come up, stop it. The cheat sheet's
    first ``kpki serve`` is the server of the rows that need one: it keeps running, and
    makes way (stopped, then started again) for any other ``kpki serve`` of the column."""
    main = session.served
    if main is None and argv[:2] == ["kpki", "serve"]:
        _serve(session, argv)
        return
    if main is not None and argv[:2] == ["kpki", "serve"]:
        main.stop()
        session.served = None
    try:
        status = Served(argv, session.workdir, session.env).stop()
        assert status in (0, -15), f"README.md: `{shlex.join(argv)}` ended with {status}"
    finally:
        if main is not None and session.served is None:
            _serve(session, main.argv[:-1])


def _run(session: Session, argv: list[str]) -> str:
    from pki.cli.main import cli

    if argv[:2] == ["kpki", "init"]:
        if session.seen_init:  # each init after the first in a folder of its own
            session.homes += 1
            argv = [argv[0], "--home", str(session.workdir / f"home-{session.homes}"),
                    *argv[1:]]
        session.seen_init = True
    api_key = session.workdir / "bank.key"
    if argv[:2] == ["kpki", "cloud"] and api_key.is_file():
        session.env["KPKI_API_KEY"] = api_key.read_text().strip()
    result = CliRunner(env=session.env).invoke(cli, argv[1:], catch_exceptions=False)
    output = result.stdout + result.stderr
    gap = next((reason for prefix, reason in KNOWN_GAPS.items()
                if " ".join(argv).startswith(prefix)), None)
    if gap is not None:
        if result.exit_code == 0:
            pytest.fail(f"{' '.join(argv)} works now: remove it from KNOWN_GAPS ({gap})")
        session.gaps.append(f"`{shlex.join(argv)}` cannot run yet: {gap}")
        return output
    if result.exit_code != 0:
        pytest.fail(f"README.md: `{shlex.join(argv)}` exited {result.exit_code}:\n{output}")
    return output


def test_the_placeholders_are_the_ones_the_readme_explains() -> None:
    text = README.read_text(encoding="utf-8")
    explained = text[text.index("Words in capitals are yours"):text.index("Rows marked")]
    named = set(re.findall(r"`([A-Z][A-Z-]*(?:\.pem)?)`", explained))
    assert named == PLACEHOLDERS


def test_the_cli_column_is_read_as_the_readme_says() -> None:
    history = [shlex.split("kpki issue joint --name 홍길동 --rrn RRN --out ./certs")]
    assert expand("... --policy banking --ra NACF", history) == [
        "kpki", "issue", "joint", "--name", "홍길동", "--rrn", "RRN", "--out", "./certs",
        "--policy", "banking", "--ra", "NACF"]
    assert expand("kpki issue joint ... --out BASE [--force]", history) == [
        "kpki", "issue", "joint", "--name", "홍길동", "--rrn", "RRN", "--out", "BASE",
        "--force"]
    assert with_options("kpki a [--x 1|--y] [--c F [--c G]]") == "kpki a --x 1 --c F --c G"
    assert required("kpki a X [--x 1|--y] [--c F [--c G]]") == "kpki a X"


@pytest.mark.parametrize("row", [r for r in ROWS if r.spans], ids=lambda r: r.id)
def test_cheat_sheet_row_runs(row: Row, session: Session,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    if session.failed:
        pytest.skip(f"the row at {session.failed} failed before this one")
    monkeypatch.chdir(session.workdir)
    session.row_values.clear()
    session.gaps.clear()
    try:
        if row.needs_server and session.served is None:
            _serve(session, expand(_serve_row().spans[0], []))
        for span in row.spans:
            argv = resolve(session, expand(span, session.history))
            session.history.append(base_form(span, session.history))
            if tuple(argv[:2]) in LONG_RUNNING and (argv[:2] == ["kpki", "serve"]
                                                    or "--watch" in argv):
                _long_running(session, argv)
                continue
            session.outputs.append((argv, _run(session, argv)))
    except pytest.skip.Exception:
        raise
    except BaseException:
        session.failed = row.id
        raise
    if session.gaps:
        pytest.xfail("; ".join(session.gaps))


# -- the Python column ----------------------------------------------------------------------

# Every name of the column must be imported by the README's "Python names", be one of the
# values it lists as the reader's, or be made in a row above; every module attribute, method
# and keyword the column names must exist (types followed through return annotations), so a
# rename in the library breaks this test instead of the reader's first try.


@dataclass(frozen=True)
class _Instance:
    cls: type


def _python_names() -> tuple[dict[str, object], set[str]]:
    text = README.read_text(encoding="utf-8")
    paragraph = text[text.index("Python names:"):text.index("## More")]
    paragraph = " ".join(paragraph.split())
    namespace: dict[str, object] = {}
    for statement in re.findall(r"`((?:from \S+ )?import [^`]+)`", paragraph):
        exec(statement, namespace)
    namespace.pop("__builtins__", None)
    yours_text = paragraph[paragraph.index("values of yours"):]
    yours = set(re.findall(r"`([a-z_][a-z0-9_]*)`", yours_text))
    return namespace, yours


def _python_spans() -> list[tuple[Row, str]]:
    lines = README.read_text(encoding="utf-8").splitlines()
    out = []
    for row in ROWS:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", lines[row.line - 1].strip())[1:-1]]
        for span in re.findall(r"`([^`]+)`", cells[2]):
            out.append((row, span.replace("\\|", "|")))
    return out


def _hints(obj: object) -> dict[str, object]:
    import typing

    try:
        return typing.get_type_hints(obj)
    except NameError:  # a name the module imports for type checking only (pki.home)
        try:
            return typing.get_type_hints(obj, localns=_type_checking_names(obj))
        except Exception:
            return {}
    except Exception:
        return {}


def _type_checking_names(obj: object) -> dict[str, object]:
    """What the module of ``obj`` imports under ``if TYPE_CHECKING:``, imported here."""
    import inspect
    import sys

    module = sys.modules[getattr(obj, "__module__", "")]
    names: dict[str, object] = {}
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            code = compile(ast.Module(body=node.body, type_ignores=[]), module.__file__ or "",
                           "exec")
            exec(code, {"__name__": module.__name__, "__package__": module.__package__}, names)
    return names


def _as_type(hint: object) -> object:
    import collections.abc
    import typing

    if isinstance(hint, type):
        return _Instance(hint)
    if typing.get_origin(hint) is collections.abc.Callable:
        result = typing.get_args(hint)[-1]
        return ("callable", result)
    return None


def _check_keywords(func: object, call: ast.Call, where: str) -> None:
    import inspect

    try:
        params = inspect.signature(func).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    for keyword in call.keywords:
        if keyword.arg is not None:
            assert keyword.arg in params, f"{where}: {keyword.arg}= is not a parameter of " \
                                          f"{getattr(func, '__qualname__', func)}"


def _attribute(owner: object, name: str, where: str) -> object:
    import inspect
    import types

    if isinstance(owner, types.ModuleType | type):
        if isinstance(owner, types.ModuleType) and not hasattr(owner, name):
            import importlib

            try:
                return importlib.import_module(f"{owner.__name__}.{name}")
            except ImportError:
                pass
        assert hasattr(owner, name), f"{where}: {getattr(owner, '__name__', owner)} has no " \
                                     f"{name}"
        return getattr(owner, name)
    if isinstance(owner, _Instance):
        cls = owner.cls
        if hasattr(cls, name):
            member = inspect.getattr_static(cls, name)
            if isinstance(member, property):
                return _as_type(_hints(member.fget).get("return"))
            if callable(getattr(cls, name)):
                return ("method", getattr(cls, name))
            return None
        hint = _hints(cls).get(name)
        if hint is not None:
            return _as_type(hint)
        sources = []
        for klass in cls.__mro__:
            try:
                sources.append(inspect.getsource(klass))
            except (OSError, TypeError):
                continue
        assert any(re.search(rf"self\.{name}\s*[:=]", s) for s in sources), \
            f"{where}: {cls.__name__} has no attribute {name}"
        return None
    return None


def _infer(node: ast.AST, env: dict[str, object], where: str) -> object:
    if isinstance(node, ast.Name):
        return env.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _infer(node.value, env, where)
        return None if owner is None else _attribute(owner, node.attr, where)
    if isinstance(node, ast.Call):
        func = _infer(node.func, env, where)
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            _infer(arg, env, where)
        if isinstance(func, type):
            _check_keywords(func, node, where)
            return _Instance(func)
        if isinstance(func, tuple) and func[0] == "method":
            _check_keywords(func[1], node, where)
            return _as_type(_hints(func[1]).get("return"))
        if isinstance(func, tuple) and func[0] == "callable":
            return _as_type(func[1])
        if callable(func):
            _check_keywords(func, node, where)
            return _as_type(_hints(func).get("return"))
        return None
    for child in ast.iter_child_nodes(node):
        _infer(child, env, where)
    return None


def test_the_python_column_names_only_what_the_readme_provides() -> None:
    import importlib

    namespace, yours = _python_names()
    env: dict[str, object] = {"pki": importlib.import_module("pki"), **namespace}
    for row, span in _python_spans():
        where = f"README.md:{row.line} `{span}`"
        if span.startswith("."):
            continue  # an attribute of the row's result: `.certificate`
        if re.fullmatch(r"[\w.]+", span) and "." in span:
            try:
                importlib.import_module(span)
                continue  # a module named in passing: `pki.timestamp`
            except ImportError:
                pass
        source = re.sub(r"^\w+=(?!=)", "", span)  # a keyword argument alone: `public_key=key`
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            raise AssertionError(f"{where} is not Python: {exc}") from None
        stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                  and isinstance(n.ctx, ast.Store)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                assert node.id in env or node.id in yours or node.id in stored or hasattr(
                    builtins, node.id), f"{where}: {node.id} is neither imported in " \
                                        "'Python names' nor made above nor one of yours"
        for statement in tree.body:
            if isinstance(statement, ast.Assign):
                value = _infer(statement.value, env, where)
                for target in statement.targets:
                    if isinstance(target, ast.Name):
                        env[target.id] = value
            else:
                _infer(statement, env, where)


@pytest.mark.parametrize(("span", "says"), [
    ("Home.create(path, passphrase=None, bogus=1)", "bogus= is not a parameter"),
    ("home.list_caz()", "Home has no attribute list_caz"),
    ("home.authority(passphrase=p).issue_jiont(name=n)", "has no attribute issue_jiont"),
    ("home.authority(passphrase=p).issue_joint(nmae=n)", "nmae= is not a parameter"),
    ("npki.lod(folder, password)", "has no lod"),
])
def test_the_python_column_check_catches_renames(span, says) -> None:
    from pki import Home
    from pki.keys import npki

    env: dict[str, object] = {"Home": Home, "npki": npki, "home": _Instance(Home)}
    with pytest.raises(AssertionError, match=says):
        _infer(ast.parse(span).body[0], env, span)
