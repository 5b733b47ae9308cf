"""``kpki ra private`` (issue 15 items 3 and 5): a whole private-certificate flow command by
command through CliRunner, the key made and sealed in the device folder, the PIN and the
account password from files, the environment or a prompt only, refusals as one line with
their stable code, renewal after a year of use, and one real process."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from pki.cli.main import cli
from pki.clock import KST, FixedClock
from pki.hierarchy import CASettings
from pki.home import Home
from pki.keys.devicekeystore import DeviceKeystore
from pki.store import CertStatus
from pki.usecases.banking import Banking

from . import postgresql
from .ra_helpers import verified_at

T0 = "2026-03-16T10:00"  # KST
RRN = "900517-1234566"
PHONE = "01012345678"
PIN = "390417"
_ENV = ("KPKI_HOME", "KPKI_BANK", "KPKI_VAULT_SECRET", "KPKI_ACCOUNT_PASSWORD",
        "KPKI_SIMPLE_PIN", "KPKI_CA_PASSPHRASE")


def _clock(at: str = T0) -> FixedClock:
    return FixedClock(dt.datetime.fromisoformat(at).replace(tzinfo=KST).astimezone(dt.UTC))


class PrivateCli:
    def __init__(self, home: Path, customer: str, account: str) -> None:
        self.home, self.customer, self.account = home, customer, account

    def run(self, *args: object, env: dict[str, str] | None = None, at: str = T0,
            input: str | None = None) -> Result:
        return CliRunner().invoke(
            cli, ["--home", str(self.home), "--at", at, "ra", "private",
                  *[str(a) for a in args]],
            env={**{k: "" for k in _ENV}, "KPKI_BANK": "004", **(env or {})},
            input=input, catch_exceptions=False)

    def ok(self, *args: object, **kw: Any) -> Result:
        done = self.run(*args, **kw)
        assert done.exit_code == 0, done.output
        return done

    def verified(self) -> str:
        """A phone verification of the customer, confirmed (the bank's side, in-process)."""
        return verified_at(self.home, "004", clock=_clock())

    def to_enrol(self, device: str = "phone-1") -> str:
        session = self.ok("start", "--device", device).stdout.strip()
        self.ok("account", "--session", session, "--account", self.account,
                env={"KPKI_ACCOUNT_PASSWORD": "0420"})
        self.ok("phone", "--session", session, "--verification", self.verified())
        return session


@pytest.fixture
def private(tmp_path, key_pool) -> PrivateCli:
    path = tmp_path / "home"
    Home.create(path, passphrase=None, key_generator=key_pool,
                clock=FixedClock(_clock().now() - dt.timedelta(days=30))).close()
    with Home.open(path, clock=_clock(), key_generator=key_pool) as home:
        home.add_ca(CASettings(label="kbprivate", style="kbprivate"), passphrase=None)
        banking = Banking.of_home(home)
        bank, _ = banking.add_bank("004", settings={"limit_table": "kb"})
        customers = banking.customers
        customer = customers.add(bank, name="홍길동", rrn=RRN, phone=PHONE, carrier="SKT")
        customers.sign_up(bank, customer.id)
        customers.activate(bank, customer.id)
        account = customers.open_account(bank, customer.id, password="0420")
        banking.lines.add(PHONE, name="홍길동", rrn=RRN, carrier="SKT")
    return PrivateCli(path, customer.id, account.number)


def _status(private: PrivateCli, serial: str) -> CertStatus:
    with Home.open(private.home, clock=_clock()) as home:
        return home.store.find_certificates(int(serial, 16), ca="kbprivate")[0].status


def test_a_whole_flow_command_by_command_seals_the_certificate_on_the_device(private,
                                                                            tmp_path):
    session = private.to_enrol()
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    done = json.loads(private.ok("enrol", "--session", session, "--device-folder",
                                 tmp_path / "phone", "--pin-file", pin_file,
                                 "--json").stdout)
    assert (done["profile"], done["ca"], done["replaced"]) == ("private-personal",
                                                                "kbprivate", None)
    unlocked = DeviceKeystore(tmp_path / "phone").unlock(PIN)
    assert format(unlocked.certificate.serial_number, "X") == done["serial"]
    assert DeviceKeystore(tmp_path / "phone").status().device == "phone-1"
    assert (tmp_path / "phone").stat().st_mode & 0o777 == 0o700
    assert PIN not in (tmp_path / "phone" / "private-keystore.json").read_text()
    shown = json.loads(private.ok("show", "--session", session, "--json").stdout)
    assert shown["state"] == "finished"
    assert [s["step"] for s in shown["history"]] == ["account", "phone", "issue"]
    text = private.ok("show", "--session", session).stdout
    assert text.startswith(f"{session} finished")

    # a second phone: reissued there, the first revoked as superseded
    again = private.to_enrol("phone-2")
    moved = json.loads(private.ok("enrol", "--session", again, "--device-folder",
                                  tmp_path / "phone-2", "--json",
                                  env={"KPKI_SIMPLE_PIN": PIN}).stdout)
    assert moved["replaced"] == done["serial"] and moved["not_after"] == done["not_after"]
    assert _status(private, done["serial"]) is CertStatus.REVOKED
    assert _status(private, moved["serial"]) is CertStatus.VALID


def test_the_pin_at_a_prompt_is_asked_twice_and_its_rules_come_first(private, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setattr("pki.cli.secrets._at_terminal", lambda: True)
    session = private.to_enrol()
    weak = private.run("enrol", "--session", session, "--device-folder", tmp_path / "p",
                       input="123456\n")
    assert weak.exit_code == 1 and "Repeat" not in weak.output, weak.output
    differ = private.run("enrol", "--session", session, "--device-folder", tmp_path / "p",
                         input=f"{PIN}\n390418\n")
    assert differ.exit_code == 2 and "differ" in differ.output
    assert not (tmp_path / "p").exists()
    done = private.run("enrol", "--session", session, "--device-folder", tmp_path / "p",
                       input=f"{PIN}\n{PIN}\n")
    assert done.exit_code == 0, done.output
    assert DeviceKeystore(tmp_path / "p").unlock(PIN).certificate


def test_without_a_terminal_a_missing_secret_names_its_option(private, tmp_path):
    session = private.ok("start", "--device", "phone-1").stdout.strip()
    done = private.run("account", "--session", session, "--account", private.account)
    assert done.exit_code == 2 and "--password-file" in done.output
    done = private.run("enrol", "--session", session, "--device-folder", tmp_path / "p")
    assert done.exit_code == 2 and "--pin-file" in done.output


def test_a_refusal_is_one_line_with_its_code(private, tmp_path):
    session = private.ok("start", "--device", "phone-1").stdout.strip()
    done = private.run("phone", "--session", session, "--verification", "pv_x")
    assert done.exit_code == 1 and "[step_out_of_order]" in done.output
    done = private.run("account", "--session", session, "--account", private.account,
                       env={"KPKI_ACCOUNT_PASSWORD": "9999"})
    assert done.exit_code == 1 and "[wrong_account_password]" in done.output
    assert len(done.output.strip().splitlines()) == 1
    private.ok("account", "--session", session, "--account", private.account,
               env={"KPKI_ACCOUNT_PASSWORD": "0420"})
    done = private.run("phone", "--session", session, "--verification", "pv_nothing")
    assert done.exit_code == 1 and "[phone_not_found]" in done.output
    done = private.run("show", "--session", "ra_nope")
    assert done.exit_code == 1 and "check --session" in done.output
    done = private.run("start", "--device", "bad device\n")
    assert done.exit_code == 2 and "--device" in done.output
    shown = private.ok("show", "--session", session).stdout
    assert "refused [phone_not_found]" in shown


def test_renewal_after_a_year_of_use_replaces_the_certificate_in_the_folder(private,
                                                                           tmp_path):
    session = private.to_enrol()
    env = {"KPKI_SIMPLE_PIN": PIN}
    folder = tmp_path / "phone"
    done = json.loads(private.ok("enrol", "--session", session, "--device-folder", folder,
                                 "--json", env=env).stdout)
    assert "r" not in done  # R stays sealed on the device; renew reads it there
    renew = ("renew", "--customer", private.customer, "--device-folder", folder, "--json")
    early = private.run(*renew, env=env, at="2026-09-16T10:00")
    assert early.exit_code == 1 and "[renewal_window]" in early.output
    renewed = json.loads(private.ok(*renew, env=env, at="2027-03-17T10:00").stdout)
    assert renewed["replaced"] == done["serial"] and renewed["session"] is None
    unlocked = DeviceKeystore(folder).unlock(PIN)
    assert format(unlocked.certificate.serial_number, "X") == renewed["serial"]
    assert renewed["not_after"] > done["not_after"]


def test_no_secret_option_takes_its_value_on_the_command_line(private):
    for command in ("account", "enrol", "renew"):
        help_text = private.ok(command, "--help").stdout
        assert "--password " not in help_text and "--pin " not in help_text
        assert "--r " not in help_text  # R with the certificate tests RRN guesses


def test_renew_takes_no_r_on_argv(private, tmp_path):
    done = private.run("renew", "--customer", private.customer, "--device-folder",
                       tmp_path / "none", "--r", "00" * 20, env={"KPKI_SIMPLE_PIN": PIN})
    assert done.exit_code == 2 and "No such option" in done.output


def test_the_real_program_runs_a_step(private):
    kpki = str(Path(sys.executable).parent / "kpki")
    done = subprocess.run([kpki, "--home", str(private.home), "--at", T0, "ra", "private",
                           "start", "--bank", "004", "--device", "phone-1", "--json"],
                          capture_output=True, text=True,
                          env=postgresql.minimal_environment(PATH="/usr/bin:/bin"), timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["next_step"] == "account"


# -- crash safety: the key and R are sealed on the device before the CSR leaves it ----------

def _kpki_killed_at(private: PrivateCli, fault: str, *args: object, at: str = T0) -> None:
    """Run the real program with ``KPKI_FAULT=fault`` (:mod:`pki.faults`); it must die
    there."""
    kpki = str(Path(sys.executable).parent / "kpki")
    done = subprocess.run([kpki, "--home", str(private.home), "--at", at, "ra", "private",
                           *[str(a) for a in args]], capture_output=True, text=True,
                          env=postgresql.minimal_environment(
                              PATH="/usr/bin:/bin", KPKI_BANK="004", KPKI_SIMPLE_PIN=PIN,
                              KPKI_FAULT=fault), timeout=120)
    assert done.returncode == -9, (done.returncode, done.stderr)


def _issued(private: PrivateCli) -> list[tuple[int, CertStatus]]:
    with Home.open(private.home, clock=_clock()) as home:
        return [(r.serial, r.status) for r in home.store.list_certificates()
                if r.ca == "kbprivate"]


def _registered(private: PrivateCli) -> int | None:
    with Home.open(private.home, clock=_clock()) as home:
        found = home.store.private_medium(private.customer)
        return None if found is None else found.serial


def _assert_the_device_holds_the_live_certificate(private: PrivateCli, folder: Path) -> None:
    from pki.vid import identify_data_of, vid_matches

    unlocked = DeviceKeystore(folder).unlock(PIN)
    assert unlocked.certificate.serial_number == _registered(private)
    assert unlocked.certificate.public_key() == unlocked.private_key.public_key()
    data = identify_data_of(unlocked.certificate)
    assert data is not None and vid_matches(data, RRN, unlocked.r)  # R kept with the key
    assert DeviceKeystore(folder).pending() is None


@pytest.mark.parametrize(("fault", "issued"), [
    ("device.keystore.pending", False),   # sealed on the device, the CSR not sent
    ("ra.private.received", False),       # the CSR at the RA, not committed
    ("ra.private.committed", True),       # issued and registered, the answer lost
    ("private.device.finish", True),      # the answer on the device, not attached yet
])
def test_an_enrolment_killed_anywhere_resumes_with_the_key_sealed_before_the_csr_left(
        private, tmp_path, fault, issued):
    session = private.to_enrol()
    folder = tmp_path / "phone"
    _kpki_killed_at(private, fault, "enrol", "--session", session, "--device-folder", folder)
    pending = DeviceKeystore(folder).pending()
    assert pending is not None and pending.request == session
    after_crash = _issued(private)
    assert len(after_crash) == (1 if issued else 0)
    if issued:  # a live certificate whose key is on the device, pending
        assert after_crash[0][1] is CertStatus.VALID
        assert _registered(private) == after_crash[0][0]

    done = json.loads(private.ok("enrol", "--session", session, "--device-folder", folder,
                                 "--json", env={"KPKI_SIMPLE_PIN": PIN}).stdout)
    assert done["resumed"] is issued
    assert len(_issued(private)) == 1  # no second certificate, no new key
    assert format(_issued(private)[0][0], "X") == done["serial"]
    _assert_the_device_holds_the_live_certificate(private, folder)


@pytest.mark.parametrize("fault", ["ra.private.received", "ra.private.committed",
                                   "private.device.finish"])
def test_a_renewal_killed_anywhere_resumes_with_the_renewed_key(private, tmp_path, fault):
    session = private.to_enrol()
    folder = tmp_path / "phone"
    env = {"KPKI_SIMPLE_PIN": PIN}
    first = json.loads(private.ok("enrol", "--session", session, "--device-folder", folder,
                                  "--json", env=env).stdout)
    later = "2027-03-17T10:00"
    _kpki_killed_at(private, fault, "renew", "--customer", private.customer,
                    "--device-folder", folder, at=later)
    renewed = json.loads(private.ok("renew", "--customer", private.customer,
                                    "--device-folder", folder, "--json", env=env,
                                    at=later).stdout)
    statuses = dict(_issued(private))
    assert len(statuses) == 2  # one renewal, whichever run sent it
    assert statuses[int(first["serial"], 16)] is CertStatus.REVOKED
    assert statuses[int(renewed["serial"], 16)] is CertStatus.VALID
    _assert_the_device_holds_the_live_certificate(private, folder)
