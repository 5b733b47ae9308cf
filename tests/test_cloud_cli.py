"""``kpki cloud``: the client commands against the cloud served in this process, and the
conventions they keep (a default URL, help on every option, one-line errors in kpki's
words naming the option that fixes them, one phone, one reason vocabulary)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pki.cli.main import load_commands
from pki.errors import InvalidRegistrationError
from pki.registration import normalize_phone
from pki.store import RevocationReason

from .cloud_helpers import PIN, RRN, serve_cloud

cli = load_commands()  # every command imported: the tests walk cli.commands

def _command(*path: str) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        found = command.commands.get(name)
        assert found is not None, path
        command = found
    return command


def _walk(command: click.Command, path: tuple[str, ...]):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _walk(sub, (*path, name))


def _option(command: click.Command, name: str) -> click.Option:
    (found,) = [p for p in command.params if isinstance(p, click.Option) and name in p.opts]
    return found


# -- the click tree -------------------------------------------------------------------------


def test_every_cloud_option_has_help():
    missing = [f"kpki {' '.join(path)} {'/'.join(param.opts)}"
               for path, command in _walk(_command("cloud"), ("cloud",))
               for param in command.params
               if isinstance(param, click.Option) and not (param.help or "").strip()]
    assert missing == []


def test_cloud_url_defaults_to_the_url_kpki_serve_listens_on():
    serve = _command("serve")
    host = _option(serve, "--host").default
    port = _option(serve, "--port").default
    clients = [(path, command) for path, command in _walk(_command("cloud"), ("cloud",))
               if any("--url" in p.opts for p in command.params)]
    assert len(clients) >= 10
    for path, command in clients:
        url = _option(command, "--url")
        assert url.default == f"http://{host}:{port}", path
        assert url.envvar == "KPKI_CLOUD_URL", path


def test_cloud_revoke_and_cert_revoke_share_one_reason_vocabulary():
    cloud_reason = _option(_command("cloud", "revoke"), "--reason")
    cert_reason = _option(_command("cert", "revoke"), "--reason")
    assert isinstance(cloud_reason.type, click.Choice)
    assert isinstance(cert_reason.type, click.Choice)
    names = [reason.value for reason in RevocationReason]
    assert list(cloud_reason.type.choices) == list(cert_reason.type.choices) == names
    assert cloud_reason.help == cert_reason.help
    assert "certificateHold" not in names and "removeFromCRL" not in names


# -- phones ---------------------------------------------------------------------------------


@pytest.mark.parametrize("written", ["010-1234-5678", "01012345678", "+82 10 1234 5678",
                                     "+82-10-1234-5678", "+82 010 1234 5678",
                                     "010 1234 5678", "010.1234.5678"])
def test_one_phone_however_it_is_written(written):
    assert normalize_phone(written) == "01012345678"


@pytest.mark.parametrize("bad", ["", "12345", "010-1234-567a", "+1 555 123 4567",
                                 "1012345678", "０１０１２３４５６７８", "010--1234-5678x",
                                 None, 1012345678])
def test_a_phone_that_is_not_one_is_refused_naming_the_field(bad):
    with pytest.raises(InvalidRegistrationError) as info:
        normalize_phone(bad)
    assert info.value.field == "phone"


def test_the_cloud_finds_messages_however_the_phone_is_written(home, monkeypatch):
    from pki.cloud.vault import KDFParams

    monkeypatch.setenv("KPKI_VAULT_SECRET", "ab" * 32)
    cloud = home.cloud_factory(passphrase=None, kdf=KDFParams(n=2**4, r=8, p=1))()
    bank = cloud.authenticate(cloud.add_institution("bank"))
    cloud.register_user(bank, name="홍길동", phone="+82 10 1234 5678", birth_date="1990-05-17")
    for written in ("010-1234-5678", "01012345678", "+82 10 1234 5678"):
        assert len(cloud.messages(bank, written)) == 1


# -- against a served cloud -----------------------------------------------------------------


class Served:
    def __init__(self, home_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.home = home_path
        self.monkeypatch = monkeypatch
        self.runner = CliRunner()

    def invoke(self, *args: str, key: str | None = None):
        env = {"KPKI_API_KEY": key} if key else {}
        return self.runner.invoke(cli, ["--home", str(self.home), *args], env=env,
                                  catch_exceptions=False)

    def run(self, *args: str, key: str | None = None) -> str:
        result = self.invoke(*args, key=key)
        assert result.exit_code == 0, result.output
        return result.stdout

    def fails(self, *args: str, key: str | None = None, status: int = 1) -> str:
        result = self.invoke(*args, key=key)
        assert result.exit_code == status, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("kpki: error: "), result.stderr
        assert "{" not in lines[0] and "Traceback" not in lines[0], lines[0]
        return lines[0]

    def institution(self, name: str) -> str:
        return json.loads(self.run("cloud", "institution", "add", name, "--json"))["api_key"]

    def user(self, key: str, phone: str = "010-7777-6666") -> str:
        user = json.loads(self.run("cloud", "register", "--name", "홍길동", "--phone", phone,
                                   "--birth-date", "1990-05-17", "--json", key=key))["user_id"]
        messages = json.loads(self.run("cloud", "messages", "--phone", phone, "--json",
                                       key=key))["messages"]
        code = re.search(r"code (\d\d)", messages[-1]["text"]).group(1)
        self.monkeypatch.setenv("KPKI_CLOUD_CODE", code)
        self.run("cloud", "confirm", user, key=key)
        return user


@pytest.fixture
def served(home, monkeypatch):
    monkeypatch.setenv("KPKI_VAULT_SECRET", "ab" * 32)
    monkeypatch.setenv("KPKI_PIN", PIN)
    monkeypatch.delenv("KPKI_API_KEY", raising=False)
    helper = Served(home.path, monkeypatch)
    bank = helper.institution("bank")
    with serve_cloud(home.path) as url:
        monkeypatch.setenv("KPKI_CLOUD_URL", url)
        helper.bank = bank  # type: ignore[attr-defined]
        yield helper


def test_institution_add_and_list(served, tmp_path):
    key_file = tmp_path / "card.key"
    added = json.loads(served.run("cloud", "institution", "add", "card", "--out",
                                  str(key_file), "--json"))
    assert added == {"institution": "card", "api_key_file": str(key_file)}
    assert key_file.read_text().startswith("kpki_")
    assert "kpki_" not in served.run("cloud", "institution", "add", "card-2", "--out",
                                     str(tmp_path / "c2.key"))
    listed = json.loads(served.run("cloud", "institution", "list", "--json"))
    assert [i["name"] for i in listed["institutions"]] == ["bank", "card", "card-2"]
    text = served.run("cloud", "institution", "list")
    assert all(name in text for name in ("bank", "card", "card-2"))
    lines = served.run("cloud", "institution", "list", "--jsonl").splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["bank", "card", "card-2"]


def test_messages_finds_a_phone_however_it_is_written(served):
    key = served.bank
    served.run("cloud", "register", "--name", "홍길동", "--phone", "+82 10 1234 5678",
               "--birth-date", "1990-05-17", key=key)
    for written in ("010-1234-5678", "01012345678", "+82 10 1234 5678"):
        found = json.loads(served.run("cloud", "messages", "--phone", written, "--json",
                                      key=key))["messages"]
        assert len(found) == 1 and "confirmation code" in found[0]["text"]


def test_a_bad_phone_names_the_option(served):
    message = served.fails("cloud", "register", "--name", "홍길동", "--phone", "12-34",
                           "--birth-date", "1990-05-17", key=served.bank, status=2)
    assert "--phone" in message


def test_include_r_shows_r_in_text_mode_too(served, tmp_path):
    user = served.user(served.bank)
    serial = json.loads(served.run("cloud", "issue", user, "--rrn", RRN, "--json",
                                   key=served.bank))["serial"]
    doc = tmp_path / "doc.txt"
    doc.write_text("이체 확인")
    as_json = json.loads(served.run("cloud", "sign", serial, str(doc), "--purpose", "02",
                                    "--include-r", "--json", "--out", str(tmp_path / "a.p7s"),
                                    key=served.bank))
    assert re.fullmatch(r"[0-9a-f]{40}", as_json["r"])
    text = served.run("cloud", "sign", serial, str(doc), "--purpose", "02", "--include-r",
                      "--out", str(tmp_path / "b.p7s"), key=served.bank)
    assert f"R: {as_json['r']}" in text
    plain = served.run("cloud", "sign", serial, str(doc), "--purpose", "02",
                       "--out", str(tmp_path / "c.p7s"), key=served.bank)
    assert as_json["r"] not in plain


def test_register_cert_at_another_institution(served, tmp_path):
    user = served.user(served.bank)
    serial = json.loads(served.run("cloud", "issue", user, "--rrn", RRN, "--json",
                                   key=served.bank))["serial"]
    card = served.institution("card")
    doc = tmp_path / "doc.txt"
    doc.write_text("결제")
    before = served.fails("cloud", "sign", serial, str(doc), "--purpose", "05", key=card)
    assert "SERIAL" in before
    same_person = served.user(card)
    registered = json.loads(served.run("cloud", "register-cert", serial, "--user",
                                       same_person, "--json", key=card))
    assert registered == {"registered": True, "user_id": user}
    assert "registered" in served.run("cloud", "register-cert", serial, "--user",
                                      same_person, key=card)
    served.run("cloud", "sign", serial, str(doc), "--purpose", "05", key=card)
    served.monkeypatch.setenv("KPKI_PIN", "246801")
    wrong = served.fails("cloud", "register-cert", serial, "--user", same_person, key=card)
    assert "wrong PIN: 4 attempts left" in wrong and "--pin-file" in wrong


def test_revoke_takes_the_reasons_of_cert_revoke(served):
    user = served.user(served.bank)
    serial = json.loads(served.run("cloud", "issue", user, "--rrn", RRN, "--json",
                                   key=served.bank))["serial"]
    hold = served.fails("cloud", "revoke", serial, "--reason", "certificateHold",
                        key=served.bank, status=2)
    assert "--reason" in hold
    assert "revoked" in served.run("cloud", "revoke", serial, "--reason", "keyCompromise",
                                   key=served.bank)
    with served_home(served) as home:
        (record,) = home.store.find_certificates(int(serial, 16))
    assert record.reason is not None and record.reason.value == "keyCompromise"
    again = served.fails("cloud", "revoke", serial, key=served.bank)
    assert "revoked" in again


def served_home(served):
    from pki.home import Home

    return Home.open(served.home)


def test_errors_are_one_line_in_kpki_words_naming_the_option(served, tmp_path):
    user = served.user(served.bank)
    serial = json.loads(served.run("cloud", "issue", user, "--rrn", RRN, "--json",
                                   key=served.bank))["serial"]
    doc = tmp_path / "doc.txt"
    doc.write_text("x")
    served.monkeypatch.setenv("KPKI_PIN", "246801")
    wrong = served.fails("cloud", "sign", serial, str(doc), "--purpose", "02", key=served.bank)
    assert "wrong PIN: 4 attempts left" in wrong and "--pin-file" in wrong
    assert "attempts_left" not in wrong
    assert "--api-key-file" in served.fails("cloud", "history", user, key="kpki_nonsense")
    assert "USER" in served.fails("cloud", "history", "u_0000", key=served.bank)
    assert "--purpose" in served.fails("cloud", "sign", serial, str(doc), "--purpose", "77",
                                       key=served.bank, status=2)
    bad_rrn = served.fails("cloud", "issue", user, "--rrn", "9005171234567", key=served.bank,
                           status=2)
    assert "--rrn" in bad_rrn
    unreachable = served.fails("cloud", "history", user, "--url", "http://127.0.0.1:9",
                               key=served.bank)
    assert "--url" in unreachable and "$KPKI_CLOUD_URL" in unreachable
    served.monkeypatch.setenv("KPKI_PIN", "111111")
    served.monkeypatch.setenv("KPKI_NEW_PIN", "111111")
    policy = served.fails("cloud", "pin", "change", serial, key=served.bank)
    assert "--new-pin-file" in policy


def test_cloud_sign_out_dash_is_stdout_and_a_file_is_overwritten_only_with_force(
        served, tmp_path):
    """Issue 13 item 4: ``--out -`` writes the signature to stdout; an existing file is a
    usage error naming --force (nothing is sent to the cloud before that)."""
    user = served.user(served.bank)
    serial = json.loads(served.run("cloud", "issue", user, "--rrn", RRN, "--json",
                                   key=served.bank))["serial"]
    doc = tmp_path / "doc.txt"
    doc.write_text("x")
    result = served.invoke("cloud", "sign", serial, str(doc), "--purpose", "02", "--out", "-",
                           key=served.bank)
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes[:1] == b"\x30" and not (tmp_path / "-").exists()
    target = tmp_path / "doc.txt.p7s"
    target.write_bytes(b"keep")
    refused = served.fails("cloud", "sign", serial, str(doc), "--purpose", "02",
                           key=served.bank, status=2)
    assert "--force" in refused and target.read_bytes() == b"keep"
    served.run("cloud", "sign", serial, str(doc), "--purpose", "02", "--force",
               key=served.bank)
    assert target.read_bytes()[:1] == b"\x30"
