"""The CLI's conventions (issue 13 item 4), checked over the whole click tree.

The rules are data here: a new command that breaks one fails a test until it keeps the
rule or joins an exemption list with its reason.

- every command that reports takes ``--json``; every list also ``--jsonl``;
- every option has help text; prompts read well ("CA passphrase");
- an option that names an output file writes to standard output with ``-`` and overwrites
  only with ``--force``; one that names a folder refuses ``-``;
- exit status 0 success, 1 failure or refused input read from elsewhere, 2 anything wrong
  on the command line (malformed, or refused by kpki's rules), 130 interrupted; SIGTERM
  stops ``kpki serve`` and ``kpki publish --watch`` cleanly with 0;
- errors are one line in kpki's words, naming the option that fixes them;
- times shown in KST with the offset (``--utc``: UTC), in JSON ISO 8601 in UTC (``Z``);
- a new secret's rules are checked before its confirmation is asked for;
- usage hints name ``kpki``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from pki.cli.main import load_commands
from pki.home import Home
from pki.keys import npki

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Test-pass-1234!"
RRN = "9005171234566"
BAD_RRN = "9005171234567"  # wrong check digit
cli = load_commands()  # every command imported: the walk below reads cli.commands


def _walk(command: click.Command, path: tuple[str, ...] = ("kpki",)
          ) -> Iterator[tuple[str, click.Command]]:
    yield " ".join(path), command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _walk(sub, (*path, name))


COMMANDS = dict(_walk(cli))


def _options(command: click.Command) -> dict[str, click.Option]:
    return {p.opts[0]: p for p in command.params if isinstance(p, click.Option)}


# -- what reports, what lists ----------------------------------------------------------------

NO_REPORT = {
    "kpki": "the group: its subcommands report",
    "kpki bank": "a group without a command of its own",
    "kpki simpleauth": "a group without a command of its own",
    "kpki ra": "a group without a command of its own",
    "kpki ra financial": "a group without a command of its own",
    "kpki ra joint": "a group without a command of its own",
    "kpki ra private": "a group without a command of its own",
    "kpki bank account": "a group without a command of its own",
    "kpki bank app": "a group without a command of its own",
    "kpki bank card": "a group without a command of its own",
    "kpki bank customer": "a group without a command of its own",
    "kpki bank device": "a group without a command of its own",
    "kpki bank transfer": "a group without a command of its own",
    "kpki bank line": "a group without a command of its own",
    "kpki bank otp": "a group without a command of its own",
    "kpki bank phone": "a group without a command of its own",
    "kpki ca": "a group without a command of its own",
    "kpki cert": "a group without a command of its own",
    "kpki cloud": "a group without a command of its own",
    "kpki cloud institution": "a group without a command of its own",
    "kpki cloud pin": "a group without a command of its own",
    "kpki crl": "a group without a command of its own",
    "kpki issue": "a group without a command of its own",
    "kpki key": "a group without a command of its own",
    "kpki npki": "a group without a command of its own",
    "kpki tsa": "a group without a command of its own",
    "kpki serve": "runs until stopped; what it does goes to its log on stderr",
}
"""Commands without ``--json``, each with the reason. (``kpki publish --watch`` is the
one mode of a reporting command that runs until stopped: its rounds go to the log.)"""

LISTS = {"kpki audit", "kpki ca list", "kpki cert list", "kpki cloud history",
         "kpki cloud institution list", "kpki cloud messages", "kpki npki list", "kpki rrn",
         "kpki bank list", "kpki bank customer list", "kpki bank account list",
         "kpki bank otp list", "kpki bank phone messages", "kpki bank app history",
         "kpki bank device list", "kpki bank transfer list"}
"""Commands whose report is a list: they take ``--jsonl`` as well."""


def test_the_tree_is_walked() -> None:
    assert {"kpki issue joint", "kpki cloud sign", "kpki demo egov"} <= set(COMMANDS)


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_that_reports_takes_json(path: str) -> None:
    has_json = "--json" in _options(COMMANDS[path])
    assert has_json != (path in NO_REPORT), (
        f"{path}: add --json, or list it in NO_REPORT with the reason")


def test_every_list_takes_jsonl_and_every_list_command_is_a_list() -> None:
    named_list = {p for p in COMMANDS if p.endswith(" list")}
    assert named_list <= LISTS
    assert [p for p in sorted(LISTS) if "--jsonl" not in _options(COMMANDS[p])] == []


def test_json_and_jsonl_together_are_a_usage_error(tmp_path: Path) -> None:
    result = _run(tmp_path / "none", "rrn", "--birth", "1990-05-17", "--sex", "F", "--json",
                  "--jsonl")
    _assert_one_line(result, 2, "--jsonl")


def test_every_option_has_help() -> None:
    missing = [f"{path} {name}" for path, command in COMMANDS.items()
               for name, option in _options(command).items()
               if not option.hidden and not (option.help or "").strip()]
    assert missing == []


# -- output files and folders ----------------------------------------------------------------

OUTPUT_FILES = {
    ("kpki sign", "--out"), ("kpki key export", "--out"), ("kpki cloud sign", "--out"),
    ("kpki cloud institution add", "--out"), ("kpki issue joint", "--manifest"),
    ("kpki bank add", "--out"),
    ("kpki issue financial", "--manifest"),
}
"""Options naming the one file a command writes: ``-`` is standard output, ``--force``
overwrites."""

OUTPUT_FOLDERS = {
    ("kpki issue joint", "--out"), ("kpki issue financial", "--out"),
    ("kpki cert renew", "--out"), ("kpki cert reissue", "--out"),
    ("kpki cert deliver", "--out"), ("kpki key import", "--out"), ("kpki demo", "--home"),
    ("kpki demo egov", "--home"), ("kpki ra joint issue", "--out"),
}
"""Options naming a folder a command writes into: ``-`` is refused."""


def test_every_output_option_is_a_file_or_a_folder() -> None:
    found = {(path, name) for path, command in COMMANDS.items()
             for name in _options(command) if name in ("--out", "--manifest")}
    found |= {(p, "--home") for p in ("kpki demo", "kpki demo egov")}
    assert found == OUTPUT_FILES | OUTPUT_FOLDERS


@pytest.mark.parametrize(("path", "name"), sorted(OUTPUT_FILES))
def test_an_output_file_takes_dash_and_force(path: str, name: str) -> None:
    options = _options(COMMANDS[path])
    kind = options[name].type
    assert isinstance(kind, click.Path) and kind.allow_dash
    assert "--force" in options


@pytest.mark.parametrize(("path", "name"), sorted(OUTPUT_FOLDERS))
def test_an_output_folder_refuses_dash(path: str, name: str, tmp_path: Path) -> None:
    args = path.split()[1:]
    result = _run(tmp_path / "none", *args, name, "-")
    _assert_one_line(result, 2, name)
    assert "standard output" in result.stderr


# -- a home with a certificate, signed material, bad files -----------------------------------


def _run(home: Path | str, *args: object, env: dict[str, str] | None = None,
         input: str | bytes | None = None) -> Result:
    base = {"KPKI_KEY_PASSWORD": PASSWORD, "KPKI_HOME": "", "KPKI_CA_PASSPHRASE": "",
            "KPKI_NOW": "", "KPKI_API_KEY": "", "KPKI_PIN": "", "KPKI_NEW_PIN": "",
            "KPKI_PFX_PASSWORD": PASSWORD, "KPKI_NEW_KEY_PASSWORD": ""}
    return CliRunner().invoke(cli, ["--home", str(home), *[str(a) for a in args]],
                              env={**base, **(env or {})}, input=input,
                              catch_exceptions=False)


def _assert_one_line(result: Result, status: int, *names: str) -> str:
    assert result.exit_code == status, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kpki: error: "), result.stderr
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


class Material:
    """A home, an issued NPKI folder, signatures and files that are not what they claim."""

    def __init__(self, home: Home, tmp: Path) -> None:
        self.home = home.path
        self.tmp = tmp
        home.close()
        done = _run(self.home, "issue", "joint", "--name", "홍길동", "--rrn", RRN, "--out",
                    tmp / "out", "--json")
        assert done.exit_code == 0, done.output
        info = json.loads(done.stdout)
        self.folder = Path(info["folder"])
        self.serial = info["serial"]
        self.r = info["r"]
        self.document = tmp / "doc.txt"
        self.document.write_text("청원서")
        self.password = tmp / "password"
        self.password.write_text(PASSWORD + "\n")
        self.wrong = tmp / "wrong"
        self.wrong.write_text("Wrong-pass-9999!\n")
        (tmp / "empty").write_text("")
        self.signature = self.sign("--out", tmp / "doc.p7s")
        self.detached = self.sign("--detached", "--out", tmp / "detached.p7s")
        der = self.signature.read_bytes()
        self.truncated = self._file("truncated.p7s", der[: len(der) // 2])
        self.garbage = self._file("garbage.bin", b"this is not DER at all")
        self.certificate = self.folder / npki.CERT_FILE
        self.key_truncated = tmp / "broken"
        self.key_truncated.mkdir()
        self._file("broken/" + npki.CERT_FILE, self.certificate.read_bytes())
        key = (self.folder / npki.KEY_FILE).read_bytes()
        self._file("broken/" + npki.KEY_FILE, key[: len(key) // 2])
        pfx = _run(self.home, "key", "export", self.folder, "--out", tmp / "me.pfx")
        assert pfx.exit_code == 0, pfx.output
        self.pfx = tmp / "me.pfx"
        self.pfx_truncated = self._file("truncated.pfx", self.pfx.read_bytes()[:200])

    def _file(self, name: str, data: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path

    def sign(self, *options: object) -> Path:
        done = _run(self.home, "sign", self.document, "--npki", self.folder, "--json",
                    *options)
        assert done.exit_code == 0, done.output
        return Path(json.loads(done.stdout)["signature"])


@pytest.fixture
def material(home: Home, tmp_path: Path) -> Material:
    return Material(home, tmp_path)


# -- --out - and --force ---------------------------------------------------------------------


def test_sign_out_dash_writes_the_signature_to_stdout(material: Material) -> None:
    done = _run(material.home, "sign", material.document, "--npki", material.folder,
                "--out", "-")
    assert done.exit_code == 0, done.output
    assert done.stdout_bytes[:1] == b"\x30"  # DER: a SEQUENCE
    assert not (material.tmp / "-").exists()
    check = material.tmp / "stdout.p7s"
    check.write_bytes(done.stdout_bytes)
    assert _run(material.home, "verify", check).exit_code == 0


def test_key_export_out_dash_writes_the_pfx_to_stdout(material: Material) -> None:
    done = _run(material.home, "key", "export", material.folder, "--out", "-")
    assert done.exit_code == 0, done.output
    assert done.stdout_bytes[:1] == b"\x30"
    assert not Path("-").exists() and not (material.tmp / "-").exists()


def test_out_dash_and_json_both_on_stdout_are_refused(material: Material) -> None:
    _assert_one_line(_run(material.home, "sign", material.document, "--npki",
                          material.folder, "--out", "-", "--json"), 2, "--json")


@pytest.mark.parametrize("command", ["sign", "key export", "institution add"])
def test_an_existing_output_file_needs_force(material: Material, command: str) -> None:
    target = material.tmp / "existing"
    target.write_bytes(b"keep me")
    args: list[object] = {
        "sign": ["sign", material.document, "--npki", material.folder],
        "key export": ["key", "export", material.folder],
        "institution add": ["cloud", "institution", "add", "bank"],
    }[command]
    refused = _run(material.home, *args, "--out", target)
    _assert_one_line(refused, 2, "--force")
    assert target.read_bytes() == b"keep me"
    done = _run(material.home, *args, "--out", target, "--force")
    assert done.exit_code == 0, done.output
    assert target.read_bytes() != b"keep me"


def test_a_dangling_link_in_the_way_needs_force_too(material: Material) -> None:
    # Path.exists() is False for a link to nothing: it was replaced without --force.
    target = material.tmp / "dangling"
    target.symlink_to(material.tmp / "nowhere")
    args = ["key", "export", material.folder, "--out", target]
    _assert_one_line(_run(material.home, *args), 2, "--force")
    assert target.is_symlink()


def test_key_import_over_a_key_needs_force(material: Material) -> None:
    args = ["key", "import", material.pfx, "--out", material.tmp / "out"]
    _assert_one_line(_run(material.home, *args), 2, "--force")
    assert _run(material.home, *args, "--force").exit_code == 0


# -- exit statuses ---------------------------------------------------------------------------


def test_a_bad_rrn_and_a_bad_r_give_the_same_status(material: Material) -> None:
    """Both are values on the command line: a usage error naming the option (the bad
    --rrn exited 1, the bad --r 2)."""
    bad_rrn = _run(material.home, "verify", material.signature, "--rrn", BAD_RRN, "--r",
                   material.r)
    bad_r = _run(material.home, "verify", material.signature, "--rrn", RRN, "--r", "xyz")
    _assert_one_line(bad_rrn, 2, "--rrn")
    _assert_one_line(bad_r, 2, "--r")


@pytest.mark.parametrize("path", sorted(p for p, c in COMMANDS.items()
                                        if "--rrn" in _options(c)))
def test_every_rrn_option_refuses_a_bad_check_digit_as_a_usage_error(path: str,
                                                                     tmp_path: Path) -> None:
    result = _run(tmp_path / "none", *path.split()[1:], "--rrn", BAD_RRN)
    line = _assert_one_line(result, 2, "--rrn")
    assert "expected" in line  # the right check digit is named


def test_the_rule_is_written_in_kpki_help() -> None:
    text = " ".join(CliRunner().invoke(cli, ["--help"]).stdout.split())
    assert "2 usage error" in text and "130 interrupted" in text
    assert "malformed" in text


def test_usage_hints_name_kpki(tmp_path: Path) -> None:
    result = _run(tmp_path / "none", "cert", "show")
    line = _assert_one_line(result, 2)
    assert "'kpki cert show --help'" in line


def test_commands_print_through_click_only() -> None:
    """Every command prints through click.echo (or the one binary writer of
    ``--out -``), so a closed stdout pipe is quiet for all of them (``main``)."""
    found = []
    for path in sorted((ROOT / "cli").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "print":
                found.append(f"{path.name}:{node.lineno} print()")
            if isinstance(node, ast.Attribute) and node.attr in ("stdout", "stderr") \
                    and isinstance(node.value, ast.Name) and node.value.id == "sys" \
                    and path.name not in ("main.py", "params.py", "serve.py", "publish.py",
                                          "progress.py"):
                found.append(f"{path.name}:{node.lineno} sys.{node.attr}")
    assert found == []


def _long_running(home: Path, *args: str, ready: str) -> subprocess.Popen[str]:
    kpki = str(Path(sys.executable).parent / "kpki")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPKI_")}
    proc = subprocess.Popen([kpki, "--home", str(home), *args], stderr=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stderr is not None
    for line in proc.stderr:
        if ready in line:
            return proc
    proc.kill()
    pytest.fail(f"kpki {' '.join(args)} did not start: {proc.wait()}")


@pytest.mark.parametrize(("args", "ready"), [
    (("serve", "--port", "0", "--poll", "60", "--no-cloud"), "listening on"),
    (("publish", "--watch", "--poll", "60"), "watching"),
])
@pytest.mark.parametrize(("sent", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_long_running_commands_stop_cleanly_on_signals(
        home: Home, args: tuple[str, ...], ready: str, sent: signal.Signals,
        status: int) -> None:
    path = home.path
    home.close()
    proc = _long_running(path, *args, ready=ready)
    proc.send_signal(sent)
    try:
        ended = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stderr is not None
    rest = proc.stderr.read()
    proc.stderr.close()
    assert ended == status, rest
    assert "Traceback" not in rest
    expected = ["kpki: interrupted"] if status == 130 else []
    assert [line for line in rest.splitlines() if line.startswith("kpki:")] == expected


# -- one-line errors in kpki's words ---------------------------------------------------------

LIBRARY_WORDS = re.compile(r"ParseError \{|kind:|\{'|b'|b\"|Traceback|asn1crypto|"
                           r"expected \d+ bytes|\d+ bytes? (?:long|left|remaining|requested)|"
                           r"Insufficient data|"
                           r"unexpected [A-Z]\w+Error|<[a-z_.]+ object")


def _bad_inputs(m: Material) -> list[tuple[str, list[object], str]]:
    """(what, arguments, the option the message names)."""
    return [
        ("wrong password: sign", ["sign", m.document, "--npki", m.folder, "--password-file",
                                  m.wrong, "--out", m.tmp / "x.p7s"], "--password-file"),
        ("wrong password: key export", ["key", "export", m.folder, "--out", m.tmp / "x.pfx",
                                        "--password-file", m.wrong], "--password-file"),
        ("wrong password: key import", ["key", "import", m.pfx, "--out", m.tmp / "i",
                                        "--password-file", m.wrong], "--password-file"),
        ("truncated key file: sign", ["sign", m.document, "--npki", m.key_truncated,
                                      "--out", m.tmp / "x.p7s"], "--npki"),
        ("garbage signature", ["verify", m.garbage], "SIGNATURE"),
        ("truncated signature", ["verify", m.truncated], "SIGNATURE"),
        ("a certificate as signature", ["verify", m.certificate], "SIGNATURE"),
        ("detached without content", ["verify", m.detached], "--content"),
        ("garbage trust", ["verify", m.signature, "--trust", m.garbage], "--trust"),
        ("garbage untrusted", ["verify", m.signature, "--untrusted", m.garbage],
         "--untrusted"),
        ("garbage CRL", ["verify", m.signature, "--crl", m.garbage], "--crl"),
        ("a certificate as CRL", ["verify", m.signature, "--crl", m.certificate], "--crl"),
        ("wrong password: --key", ["verify", m.signature, "--rrn", RRN, "--r-envelope",
                                   m.garbage, "--key", m.folder, "--password-file",
                                   m.wrong], "--password-file"),
        ("garbage --key", ["verify", m.signature, "--rrn", RRN, "--r-envelope", m.garbage,
                           "--key", m.garbage], "--key"),
        ("wrong password: key passwd", ["key", "passwd", m.folder, "--password-file",
                                        m.wrong, "--new-password-file", m.password],
         "--password-file"),
        ("garbage PFX", ["key", "import", m.garbage, "--out", m.tmp / "i"], "PFX"),
        ("truncated PFX", ["key", "import", m.pfx_truncated, "--out", m.tmp / "i"], "PFX"),
        ("garbage CSR", ["issue", "joint", "--name", "홍길동", "--rrn", RRN, "--out",
                         m.tmp / "o", "--csr", m.garbage], "--csr"),
        ("garbage chain", ["sign", m.document, "--npki", m.folder, "--chain", m.garbage,
                           "--out", m.tmp / "x.p7s"], "--chain"),
        ("garbage R recipient", ["sign", m.document, "--npki", m.folder, "--r-for",
                                 m.garbage, "--out", m.tmp / "x.p7s"], "--r-for"),
        ("unknown serial", ["cert", "show", "ABCDEF"], "ABCDEF"),
        ("malformed serial", ["cert", "show", "xyz"], "SERIAL"),
        ("unknown CA", ["ca", "show", "nosuch"], "nosuch"),
        ("unknown CA to publish", ["crl", "publish", "--ca", "nosuch"], "nosuch"),
        ("a time that is none", ["audit", "--since", "yesterday"], "--since"),
        ("an invalidity date in the future", ["cert", "revoke", m.serial,
                                              "--invalidity-date", "2099-01-01"],
         "--invalidity-date"),
        ("a birth date out of range", ["rrn", "--birth", "1700-01-01", "--sex", "F"],
         "--birth"),
        ("a base that is a file", ["npki", "list", "--base", m.document], "--base"),
        ("an issuance file that is no batch", ["issue", "joint", "--from", m.garbage,
                                               "--out", m.tmp / "o"], "garbage.bin"),
        ("a password file that is empty", ["sign", m.document, "--npki", m.folder,
                                           "--password-file", m.tmp / "empty",
                                           "--out", m.tmp / "x.p7s"], "empty"),
    ]


def test_bad_inputs_are_one_line_in_kpki_words_naming_the_option(material: Material) -> None:
    wrong = []
    for what, args, option in _bad_inputs(material):
        result = _run(material.home, *args)
        lines = result.stderr.strip().splitlines()
        line = lines[0] if lines else ""
        problems = []
        if result.exit_code not in (1, 2):
            problems.append(f"status {result.exit_code}")
        if len(lines) != 1 or not line.startswith("kpki: error: "):
            problems.append("not one line")
        if LIBRARY_WORDS.search(result.stderr):
            problems.append("library words")
        if option not in line:
            problems.append(f"does not name {option}")
        if problems:
            wrong.append(f"{what}: {', '.join(problems)}: {result.stderr.strip()!r}")
    assert wrong == [], "\n".join(wrong)


# -- times -----------------------------------------------------------------------------------

_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d)?\S*")


def _json_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)


@pytest.mark.parametrize("args", [
    ["ca", "list", "--json"], ["cert", "list", "--json"], ["tsa", "init", "--json"],
    ["audit", "--json"], ["ca", "show", "yessign", "--json"], ["npki", "list", "--json"],
])
def test_json_times_are_iso_8601_in_utc(material: Material, args: list[str]) -> None:
    if args[0] == "npki":
        args = [*args, "--base", str(material.tmp / "out")]
    done = _run(material.home, *args)
    assert done.exit_code == 0, done.output
    times = [t for s in _json_strings(json.loads(done.stdout)) for t in _TIME.findall(s)
             if s.startswith(t)]
    assert times
    assert [t for t in times if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t)] == []


def test_text_times_are_kst_with_the_offset_or_utc(material: Material) -> None:
    kst = _run(material.home, "cert", "list").stdout
    utc = _run(material.home, "--utc", "cert", "list").stdout
    assert "+09:00" in kst and "+00:00" not in kst
    assert "+00:00" in utc and "+09:00" not in utc


def test_invalidity_date_is_kst_unless_it_has_an_offset(material: Material) -> None:
    done = _run(material.home, "cert", "revoke", material.serial, "--reason", "keyCompromise",
                "--invalidity-date", "2026-03-01T09:00", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["invalidity_date"] == "2026-03-01T00:00:00Z"


# -- secrets ---------------------------------------------------------------------------------


class Prompts:
    """click.prompt at a terminal, answering from a list and recording each question."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []
        monkeypatch.setattr("pki.cli.secrets._at_terminal", lambda: True)
        monkeypatch.setattr("pki.cli.secrets.click.prompt", self)

    def __call__(self, text: str, **_: object) -> str:
        self.asked.append(text)
        return self.answers.pop(0)


def test_the_ca_passphrase_prompt_reads_well(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    prompts = Prompts(monkeypatch, "a passphrase", "a passphrase")
    done = _run(tmp_path / "h", "init", env={"KPKI_CA_PASSPHRASE": ""})
    assert done.exit_code == 0, done.output
    assert prompts.asked == ["CA passphrase", "Repeat for confirmation"]


def test_a_key_password_breaking_a_rule_is_refused_before_the_confirmation(
        monkeypatch: pytest.MonkeyPatch, material: Material) -> None:
    prompts = Prompts(monkeypatch, "short", "short")
    result = _run(material.home, "issue", "joint", "--name", "김철수", "--rrn", RRN, "--out",
                  material.tmp / "o2", env={"KPKI_KEY_PASSWORD": ""})
    _assert_one_line(result, 1, "--password-file")
    assert prompts.asked == ["Key password"]


def test_a_new_key_password_breaking_a_rule_is_refused_before_the_confirmation(
        monkeypatch: pytest.MonkeyPatch, material: Material) -> None:
    prompts = Prompts(monkeypatch, "nodigits-here!", "nodigits-here!")
    result = _run(material.home, "key", "passwd", material.folder, "--password-file",
                  material.password, env={"KPKI_NEW_KEY_PASSWORD": ""})
    _assert_one_line(result, 1, "--new-password-file")
    assert prompts.asked == ["New key password"]


def test_a_pin_breaking_a_rule_is_refused_before_the_confirmation(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    prompts = Prompts(monkeypatch, "111111", "111111")
    result = _run(tmp_path / "none", "cloud", "issue", "user-1", "--rrn", RRN,
                  env={"KPKI_API_KEY": "key"})
    _assert_one_line(result, 1, "--pin-file")
    assert prompts.asked == ["PIN"]
    prompts = Prompts(monkeypatch, "123456", "123456")
    result = _run(tmp_path / "none", "cloud", "pin", "change", "0A", "--pin-file",
                  _file(tmp_path / "pin", "135790\n"), env={"KPKI_API_KEY": "key"})
    _assert_one_line(result, 1, "--new-pin-file")
    assert prompts.asked == ["New PIN"]


def _file(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- reports ---------------------------------------------------------------------------------


def test_demo_egov_reports_in_json(tmp_path: Path) -> None:
    done = _run(tmp_path / "none", "demo", "egov", "--home", tmp_path / "egov", "--json")
    assert done.exit_code == 0, done.output
    story = json.loads(done.stdout)
    assert [v["ok"] for v in story["verified"]] == [True, True]
    assert [v["ok"] for v in story["verified_after_revocation"]] == [True, False, False]
    assert story["signed_at"].endswith("Z")


@pytest.mark.parametrize("point", ["serve.publishing", "serve.listening"])
@pytest.mark.parametrize(("sent", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_serve_stops_cleanly_on_a_signal_at_each_step_of_its_start(
        home: Home, point: str, sent: signal.Signals, status: int) -> None:
    """The signal arrives at a chosen step (``KPKI_FAULT=<point>:<SIGNAL>``), not at a
    random time: before the first publishing round, and between 'listening on' and the
    moment uvicorn takes the signals over (where a SIGTERM used to raise inside its
    start-up)."""
    path = home.path
    home.close()
    kpki = str(Path(sys.executable).parent / "kpki")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPKI_")}
    env["KPKI_FAULT"] = f"{point}:{sent.name}"
    done = subprocess.run([kpki, "--home", str(path), "serve", "--port", "0", "--poll", "60",
                           "--no-cloud"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    expected = ["kpki: interrupted"] if status == 130 else []
    assert [line for line in done.stderr.splitlines() if line.startswith("kpki:")] == expected
