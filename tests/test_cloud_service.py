"""Cloud rules that need a frozen clock: code expiry, renewal on use, renew-due."""

import datetime as dt
import re

import pytest

from pki.cloud.vault import KDFParams
from pki.errors import CloudRequestError, CodeExpiredError, NotConfirmedError
from pki.signing.verify import CRLIndex, Verifier

from .cloud_helpers import PIN, RRN, confirmed


@pytest.fixture
def cloud(home, monkeypatch, tmp_path):
    monkeypatch.setenv("KPKI_VAULT_SECRET", "ab" * 32)
    return home.cloud_factory(passphrase=None, kdf=KDFParams(n=2**4, r=8, p=1))()


def _confirmed_user(cloud, phone="01012345678", institution="bank"):
    return confirmed(cloud, phone, institution=institution)


def test_confirmation_code_expires(cloud):
    bank = cloud.authenticate(cloud.add_institution("bank"))
    user = cloud.register_user(bank, name="홍길동", phone="01012345678", birth_date="1990-05-17")
    code = re.search(r"code (\d\d)", cloud.messages(bank, "01012345678")[-1].text).group(1)
    cloud.clock.advance(dt.timedelta(minutes=4))
    with pytest.raises(CodeExpiredError) as info:
        cloud.confirm(bank, user, code)
    assert info.value.code == "code_expired"


def test_issue_needs_a_confirmed_user_and_matching_birth_date(cloud):
    bank = cloud.authenticate(cloud.add_institution("bank"))
    user = cloud.register_user(bank, name="홍길동", phone="01012345678", birth_date="1990-05-17")
    with pytest.raises(NotConfirmedError) as info:
        cloud.issue(bank, user, rrn=RRN, pin=PIN, pin_confirm=PIN)
    assert (info.value.code, info.value.user_id) == ("not_confirmed", user)
    bank, other = _confirmed_user(cloud, "01099998888", institution="bank-2")
    with pytest.raises(CloudRequestError) as info:
        cloud.issue(bank, other, rrn="8001011234560", pin=PIN, pin_confirm=PIN)
    assert info.value.field == "rrn"


def test_renewal_on_use_keeps_the_pin_and_registrations(cloud, home):
    bank, user = _confirmed_user(cloud)
    card, same_person = _confirmed_user(cloud, institution="card")
    issued = cloud.issue(bank, user, rrn=RRN, pin=PIN, pin_confirm=PIN)
    assert cloud.register_certificate(card, issued.serial, pin=PIN, user=same_person) == user
    cloud.clock.set(issued.certificate.not_valid_after_utc - dt.timedelta(days=20))
    assert cloud.renew_due() == [issued.serial]
    result = cloud.sign(card, issued.serial, pin=PIN, content=b"x", purpose="05")
    assert result.renewed_from == issued.serial
    new_serial = result.serial
    assert new_serial != issued.serial
    # The renewed certificate lives in the vault under the same PIN, registered as before.
    again = cloud.sign(card, new_serial, pin=PIN, content=b"y", purpose="05")
    assert again.serial == new_serial and again.renewed_from is None
    root = home.store.get_ca("root").certificate
    crls = [CRLIndex.load(crl.der) for crl, _ in home.publish_crls(passphrase=None)]
    check = Verifier(trust=[root], intermediates=[authority_cert(home)], crls=crls,
                     clock=cloud.clock)
    verdict = check.verify(again.signature)
    assert verdict.ok, verdict.summary()


def authority_cert(home):
    return home.store.get_ca("yessign").certificate


def test_history_keeps_the_last_twenty(cloud):
    bank, user = _confirmed_user(cloud)
    issued = cloud.issue(bank, user, rrn=RRN, pin=PIN, pin_confirm=PIN)
    for _ in range(23):
        cloud.sign(bank, issued.serial, pin=PIN, content=b"x", purpose="01")
    assert len(cloud.history(bank, user)) == 20


def test_kpki_cloud_cli_against_a_service(cloud, home, tmp_path, monkeypatch):
    """The CLI client end to end, through CliRunner, against the ASGI app in-process."""
    from click.testing import CliRunner

    from pki.cli.main import cli
    from pki.web import WebState, create_app, serve_in_thread
    from pki.web.cloud import cloud_routes

    api_key = cloud.add_institution("cli-bank")
    app = create_app(WebState.of_home(home, poll_seconds=3600), extra_routes=cloud_routes(
        home.cloud_factory(passphrase=None, kdf=KDFParams(n=2**4, r=8, p=1)),
        test_channel=True))
    with serve_in_thread(app) as url:
        monkeypatch.setenv("KPKI_CLOUD_URL", url)
        monkeypatch.setenv("KPKI_API_KEY", api_key)
        monkeypatch.setenv("KPKI_PIN", PIN)
        runner = CliRunner()

        def run(*args):
            result = runner.invoke(cli, list(args), catch_exceptions=False)
            assert result.exit_code == 0, result.output
            return result.stdout

        import json

        user = json.loads(run("cloud", "register", "--name", "홍길동", "--phone", "01077776666",
                              "--birth-date", "1990-05-17", "--json"))["user_id"]
        text = json.loads(run("cloud", "messages", "--phone", "01077776666", "--json"))
        code = re.search(r"code (\d\d)", text["messages"][-1]["text"]).group(1)
        argv = runner.invoke(cli, ["cloud", "confirm", user, "--code", code])
        assert argv.exit_code == 2  # a code on the command line would show in ps
        code_file = tmp_path / "code"
        code_file.write_text("00" if code != "00" else "01")
        wrong_code = runner.invoke(cli, ["cloud", "confirm", user, "--code-file",
                                         str(code_file)])
        assert wrong_code.exit_code == 1
        assert "wrong confirmation code: 4 attempts left" in wrong_code.stderr
        assert "--code-file" in wrong_code.stderr
        monkeypatch.setenv("KPKI_CLOUD_CODE", code)
        run("cloud", "confirm", user)
        serial = json.loads(run("cloud", "issue", user, "--rrn", RRN, "--json"))["serial"]
        doc = tmp_path / "doc.txt"
        doc.write_text("이체 확인")
        run("cloud", "sign", serial, str(doc), "--purpose", "02")
        assert (tmp_path / "doc.txt.p7s").stat().st_size > 1000
        assert "signed" in run("cloud", "history", user)
        monkeypatch.setenv("KPKI_PIN", "246801")
        again = runner.invoke(cli, ["cloud", "sign", serial, str(doc), "--purpose", "02"])
        assert again.exit_code == 2 and "--force" in again.stderr  # never overwrites silently
        wrong = runner.invoke(cli, ["cloud", "sign", serial, str(doc), "--purpose", "02",
                                    "--force"])
        assert wrong.exit_code == 1 and "wrong PIN: 4 attempts left" in wrong.stderr


def test_kpki_verify_takes_r_from_a_file_or_the_environment(cloud, home, tmp_path,
                                                            monkeypatch):
    """R is secret: ``kpki verify`` reads it from --r-file or $KPKI_VID_R, not only argv."""
    import json

    from click.testing import CliRunner
    from cryptography.hazmat.primitives import serialization

    from pki.cli.main import cli

    bank, user = _confirmed_user(cloud)
    issued = cloud.issue(bank, user, rrn=RRN, pin=PIN, pin_confirm=PIN)
    signed = cloud.sign(bank, issued.serial, pin=PIN, content=b"x", purpose="02",
                        include_r=True)
    sig = tmp_path / "x.p7s"
    sig.write_bytes(signed.signature)
    pems = {}
    for label in ("root", "yessign"):
        pems[label] = tmp_path / f"{label}.pem"
        pems[label].write_bytes(home.store.get_ca(label).certificate.public_bytes(
            serialization.Encoding.PEM))
    r_file = tmp_path / "r"
    runner = CliRunner()

    def vid(*extra: str) -> str:
        result = runner.invoke(cli, ["verify", str(sig), "--trust", str(pems["root"]),
                                     "--untrusted", str(pems["yessign"]), "--rrn", RRN,
                                     "--json", *extra])
        checks = {c["check"]: c["outcome"] for c in json.loads(result.stdout)["checks"]}
        return checks["vid"]

    r_file.write_text(signed.r.hex() + "\n")
    assert vid("--r-file", str(r_file)) == "passed"
    r_file.write_text("00" * 20)
    assert vid("--r-file", str(r_file)) == "failed"
    monkeypatch.setenv("KPKI_VID_R", signed.r.hex())
    assert vid() == "passed"


def test_the_cloud_domain_knows_nothing_of_http():
    """HTTP lives in the web layer (pki.web.cloud): the cloud's modules import no web
    framework and name no HTTP status."""
    import subprocess
    import sys
    from pathlib import Path

    import pki.cloud

    probe = ("import sys, pki.cloud.service, pki.cloud.pin, pki.cloud.vault, pki.cloud.boot; "
             "print(sorted(m for m in ('starlette', 'msgspec', 'uvicorn') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
    for module in Path(pki.cloud.__file__).parent.glob("*.py"):
        text = module.read_text()
        assert "status_code" not in text and "Response" not in text, module.name
