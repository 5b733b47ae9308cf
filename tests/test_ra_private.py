"""Private certificates issued at the bank (issue 15 item 3): account and password, a phone
verification used once, the key made on the device and sealed there under the simple PIN
entered twice, the certificate issued with the medium registered and the session finished
in one transaction; one device per person; the certificate as the KB-like table's medium;
renewal after a year of use (:mod:`pki.ra.private`, :mod:`pki.bank.private_media`)."""

import datetime as dt
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from pki import oids
from pki.bank.transfers import (
    CertificateSignature,
    OtpAnswer,
    PrivateCertificateAnswer,
    TransferOrder,
)
from pki.clock import FixedClock
from pki.errors import (
    AccountLockedError,
    BankRequestError,
    FlowRefusedError,
    PinPolicyError,
    StepRefusedError,
    WrongAccountPasswordError,
)
from pki.hierarchy import CASettings
from pki.home import Home
from pki.keys.devicekeystore import DeviceKeystore, KeystoreSettings, ScryptParams
from pki.private import DeviceEnrolment
from pki.profiles import PRIVATE_PROFILE
from pki.signing import KeySigner, sign
from pki.store import CertStatus, RaSessionState
from pki.testing import TestPKI, confirmed_phone_verification
from pki.usecases.ra import RegistrationDesk
from tests.bank_helpers import T0
from tests.parallel import in_parallel

PIN = "390417"
FAST = KeystoreSettings(kdf=ScryptParams(n=2**10, r=8, p=1))
MILLION = 1_000_000


@pytest.fixture
def pki():
    test_pki = TestPKI(seed="ra-private", clock=FixedClock(T0))
    yield test_pki
    test_pki.close()


@pytest.fixture
def kb(pki):
    pki.private_authority  # the bank's own CA  # noqa: B018
    return pki.bank("004", limit_table="kb")


@pytest.fixture
def desk(pki, kb):
    return RegistrationDesk(pki.home, pki.banking)


def verify_phone(bank, customer, *, method="sms") -> str:
    """A confirmed phone verification of ``customer`` by ``bank``; its id."""
    return customer.verify_phone(method=method)


def enrol(desk, pki, bank, customer, folder, *, device="phone-1", pin=PIN):
    """The whole flow; returns (issued, keystore)."""
    flows, inst = desk.private, bank.institution
    session = flows.start(inst, device=device)
    flows.account(inst, session.id, number=customer.account.number,
                  password=customer.password)
    flows.phone(inst, session.id, verification_id=verify_phone(bank, customer))
    keystore = DeviceKeystore(folder, settings=FAST)
    device_side = DeviceEnrolment.begin(keystore, device=device, pin=pin, pin_again=pin,
                                        request=session.id, key_generator=pki.keys)
    issued = flows.issue(inst, session.id, csr=device_side.csr(), r=device_side.r)
    device_side.finish(issued.certificate)
    return issued, keystore


def _status(pki, issued):
    return pki.home.store.find_certificates(issued.serial, ca=issued.issued.ca)[0]


# -- the flow -------------------------------------------------------------------------------


def test_the_whole_flow_issues_onto_the_device_and_registers_the_medium(desk, pki, kb,
                                                                        tmp_path):
    customer = kb.customer("김사설")
    issued, keystore = enrol(desk, pki, kb, customer, tmp_path / "phone")
    assert issued.session.state is RaSessionState.FINISHED
    assert issued.session.steps_done == ("account", "phone", "issue")
    assert issued.issued.profile is PRIVATE_PROFILE
    assert issued.issued.private_key is None  # the key was made on the device
    assert issued.replaced is None
    unlocked = keystore.unlock(PIN)
    assert unlocked.certificate == issued.certificate
    registered = pki.home.store.private_medium(customer.id)
    assert (registered.ca, registered.serial, registered.device) == (
        "kbprivate", issued.serial, "phone-1")
    units = issued.certificate.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert [u.value for u in units] == ["personalP", "KB"]


def test_the_issued_certificate_passes_kpkis_verifier_and_openssl(desk, pki, kb, tmp_path):
    customer = kb.customer("김사설")
    issued, keystore = enrol(desk, pki, kb, customer, tmp_path / "phone")
    unlocked = keystore.unlock(PIN)
    signer = KeySigner(unlocked.certificate, unlocked.private_key, issued.issued.chain)
    signature = sign(b"hello", signer, clock=pki.clock, include_chain=True).der
    assert pki.verifier().verify(signature).ok
    ca, root = issued.issued.chain
    for name, c in (("root", root), ("ca", ca), ("leaf", issued.certificate)):
        (tmp_path / f"{name}.pem").write_bytes(c.public_bytes(Encoding.PEM))
    (tmp_path / "sig.der").write_bytes(signature)
    at = str(int(T0.timestamp()))
    verified = subprocess.run(
        ["openssl", "verify", "-attime", at, "-CAfile", tmp_path / "root.pem", "-untrusted",
         tmp_path / "ca.pem", "-policy_check", "-explicit_policy", "-policy",
         oids.PRIVATE_PERSONAL.dotted_string, tmp_path / "leaf.pem"],
        capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    cms = subprocess.run(
        ["openssl", "cms", "-verify", "-inform", "DER", "-in", tmp_path / "sig.der",
         "-CAfile", tmp_path / "root.pem", "-attime", at, "-purpose", "any"],
        capture_output=True)
    assert cms.returncode == 0, cms.stderr
    assert cms.stdout == b"hello"


def test_steps_out_of_order_repeated_or_late_are_refused(desk, pki, kb):
    customer = kb.customer()
    flows, inst = desk.private, kb.institution
    session = flows.start(inst, device="phone-1")
    with pytest.raises(StepRefusedError) as early:
        flows.phone(inst, session.id, verification_id="x")
    assert (early.value.code, early.value.expected) == ("step_out_of_order", "account")
    flows.account(inst, session.id, number=customer.account.number, password="0420")
    with pytest.raises(StepRefusedError) as again:
        flows.account(inst, session.id, number=customer.account.number, password="0420")
    assert again.value.code == "step_repeated"
    pki.clock.set(T0 + dt.timedelta(minutes=11))
    with pytest.raises(StepRefusedError) as late:
        flows.phone(inst, session.id, verification_id=verify_phone(kb, customer))
    assert late.value.code == "session_expired"
    reasons = [s.reason for s in flows.history(inst, session.id)]
    assert reasons == ["step_out_of_order", None, "step_repeated", "session_expired"]


def test_a_wrong_account_password_is_counted_and_the_lock_ends_the_session(desk, kb):
    customer = kb.customer()
    flows, inst = desk.private, kb.institution
    session = flows.start(inst, device="phone-1")
    for left in (4, 3, 2, 1):
        with pytest.raises(WrongAccountPasswordError) as wrong:
            flows.account(inst, session.id, number=customer.account.number, password="1111")
        assert wrong.value.attempts_left == left
    with pytest.raises(AccountLockedError):
        flows.account(inst, session.id, number=customer.account.number, password="1111")
    assert flows.get(inst, session.id).state is RaSessionState.FAILED
    with pytest.raises(StepRefusedError) as ended:
        flows.account(inst, session.id, number=customer.account.number, password="0420")
    assert ended.value.code == "session_failed"


def test_a_phone_verification_counts_once_and_only_for_its_person(desk, kb):
    hong, kim = kb.customer("홍길동"), kb.customer("김철수")
    flows, inst = desk.private, kb.institution

    def at_phone(customer):
        session = flows.start(inst, device="phone-1")
        flows.account(inst, session.id, number=customer.account.number, password="0420")
        return session.id

    with pytest.raises(FlowRefusedError) as other:
        flows.phone(inst, at_phone(hong), verification_id=verify_phone(kb, kim))
    assert other.value.code == "phone_other_person"
    with pytest.raises(FlowRefusedError) as unknown:
        flows.phone(inst, at_phone(hong), verification_id="pv_nothing")
    assert unknown.value.code == "phone_not_found"
    used = verify_phone(kb, hong, method="ars")
    flows.phone(inst, at_phone(hong), verification_id=used)
    with pytest.raises(FlowRefusedError) as twice:
        flows.phone(inst, at_phone(hong), verification_id=used)
    assert twice.value.code == "phone_used"


def test_the_pin_is_checked_on_the_device_before_any_key_or_request(pki, tmp_path):
    keystore = DeviceKeystore(tmp_path / "phone", settings=FAST)
    with pytest.raises(PinPolicyError) as mismatch:
        DeviceEnrolment.begin(keystore, device="p", pin=PIN, pin_again="390418",
                              request="s", key_generator=pki.keys)
    assert mismatch.value.rule == "mismatch"
    with pytest.raises(PinPolicyError) as weak:
        DeviceEnrolment.begin(keystore, device="p", pin="123456", pin_again="123456",
                              request="s", key_generator=pki.keys)
    assert weak.value.rule == "sequence"
    assert not (tmp_path / "phone").exists()


def test_a_bad_csr_is_refused_and_issues_nothing(desk, pki, kb):
    customer = kb.customer()
    flows, inst = desk.private, kb.institution
    session = flows.start(inst, device="phone-1")
    flows.account(inst, session.id, number=customer.account.number, password="0420")
    flows.phone(inst, session.id, verification_id=verify_phone(kb, customer))
    before = len(pki.home.store.list_certificates())
    with pytest.raises(BankRequestError) as bad:
        flows.issue(inst, session.id, csr=b"not a csr", r=bytes(20))
    assert bad.value.field == "csr"
    assert len(pki.home.store.list_certificates()) == before
    assert pki.home.store.private_medium(customer.id) is None
    assert flows.get(inst, session.id).state is RaSessionState.OPEN


# -- one device per person ------------------------------------------------------------------


def test_a_new_device_reissues_with_the_old_notafter_and_revokes_the_old(desk, pki, kb,
                                                                          tmp_path):
    customer = kb.customer()
    first, first_phone = enrol(desk, pki, kb, customer, tmp_path / "p1", device="phone-1")
    pki.clock.set(T0 + dt.timedelta(days=40))
    second, _ = enrol(desk, pki, kb, customer, tmp_path / "p2", device="phone-2")
    assert second.replaced == first.serial
    assert second.certificate.not_valid_after_utc == first.certificate.not_valid_after_utc
    old = _status(pki, first)
    assert (old.status, old.reason) == (CertStatus.REVOKED, x509.ReasonFlags.superseded)
    assert _status(pki, second).status is CertStatus.VALID
    registered = pki.home.store.private_medium(customer.id)
    assert (registered.serial, registered.device) == (second.serial, "phone-2")
    assert first_phone.unlock(PIN).certificate == first.certificate  # opens, but revoked


def test_ten_parallel_enrolments_of_one_person_leave_exactly_one_live_certificate(
        make_home, key_pool, clock, tmp_path):
    """Ten sessions of one customer, each at its last step, issue at once, each through its
    own open home (its own store connection), as ten RA workers would."""
    home = make_home()
    home.add_ca(CASettings(label="kbprivate", style="kbprivate"), passphrase=None)
    desk = RegistrationDesk.of_home(home)
    banking = desk.banking
    bank, _ = banking.add_bank("004", settings={"limit_table": "kb"})
    record = banking.customers.add(bank, name="김사설", rrn="900517-1234566",
                                   phone="010-1234-5678", carrier="SKT")
    banking.customers.sign_up(bank, record.id)
    banking.customers.activate(bank, record.id)
    account = banking.customers.open_account(bank, record.id, password="0420")
    ready = []
    for i in range(10):
        session = desk.private.start(bank, device=f"phone-{i}")
        desk.private.account(bank, session.id, number=account.number, password="0420")
        desk.private.phone(bank, session.id,
                           verification_id=confirmed_phone_verification(banking, bank,
                                                                        record))
        side = DeviceEnrolment.begin(DeviceKeystore(tmp_path / f"p{i}", settings=FAST),
                                     device=f"phone-{i}", pin=PIN, pin_again=PIN,
                                     request=session.id, key_generator=key_pool)
        ready.append((session.id, side.csr(), side.r))
    desks = [RegistrationDesk.of_home(Home.open(home.path, clock=clock,
                                                key_generator=key_pool))
             for _ in range(10)]
    try:
        results = in_parallel(10, lambda i: desks[i].private.issue(
            bank, ready[i][0], csr=ready[i][1], r=ready[i][2]))
    finally:
        for opened in desks:
            opened.home.close()
    assert all(not isinstance(r, Exception) for r in results), results
    statuses = {r.serial: home.store.find_certificates(r.serial, ca="kbprivate")[0].status
                for r in results}
    live = [serial for serial, status in statuses.items() if status is CertStatus.VALID]
    assert len(live) == 1
    assert home.store.private_medium(record.id).serial == live[0]
    replaced = sorted(r.replaced for r in results if r.replaced is not None)
    assert replaced == sorted(serial for serial in statuses if serial != live[0])


# -- the medium at its bank -----------------------------------------------------------------


def _transfer(pki, bank, customer, signer_cert, signer_key, chain, r, *, medium=None,
              amount=20 * MILLION):
    payee = bank.customer("이영희")
    order = TransferOrder(bank.code, customer.account.number, payee.account.number, amount,
                          pki.clock.now())
    signature = sign(order.text(), KeySigner(signer_cert, signer_key, chain),
                     clock=pki.clock, include_chain=True).der
    return bank.banking.transfers.authorise(
        bank.institution, customer.id, from_account=customer.account.number,
        to_account=payee.account.number, amount=amount,
        signature=CertificateSignature(signature, r),
        medium_response=medium or PrivateCertificateAnswer(), device=customer.device)


def _r_of(pki, issued):
    """R is in the IssuedCertificate (the store never keeps it): the device app holds it."""
    return issued.issued.r


def test_the_registered_certificate_is_a_grade_1_medium_under_the_kb_table(desk, pki, kb,
                                                                           tmp_path):
    customer = kb.customer(balance=200 * MILLION)
    issued, keystore = enrol(desk, pki, kb, customer, tmp_path / "phone")
    key = keystore.unlock(PIN)
    result = _transfer(pki, kb, customer, key.certificate, key.private_key,
                       issued.issued.chain, _r_of(pki, issued), amount=60 * MILLION)
    assert (result.accepted, result.code) == (True, None), result
    assert result.medium.value == "private-certificate"
    assert result.left_today == 440 * MILLION  # grade 1: 100M a transfer, 500M a day


def test_the_medium_is_refused_when_not_the_registered_certificate(desk, pki, kb, tmp_path):
    customer = kb.customer()
    joint = pki.joint(customer.record.name, rrn=customer.rrn)
    unregistered = _transfer(pki, kb, customer, joint.cert, joint.key, joint.chain, joint.r)
    assert unregistered.code == "private_certificate_not_registered"
    issued, keystore = enrol(desk, pki, kb, customer, tmp_path / "phone")
    by_joint = _transfer(pki, kb, customer, joint.cert, joint.key, joint.chain, joint.r)
    assert by_joint.code == "private_certificate_mismatch"
    # another private certificate of the same person, not registered at this bank
    stray = pki.private(customer.record.name, rrn=customer.rrn)
    by_stray = _transfer(pki, kb, customer, stray.cert, stray.key, stray.chain, stray.r)
    assert by_stray.code == "private_certificate_mismatch"
    # a replaced one: revoked as superseded, refused by the signature check
    old_key = keystore.unlock(PIN)
    enrol(desk, pki, kb, customer, tmp_path / "phone-2", device="phone-2")
    replaced = _transfer(pki, kb, customer, old_key.certificate, old_key.private_key,
                         issued.issued.chain, _r_of(pki, issued))
    assert replaced.code == "certificate_revoked"


def test_another_banks_private_certificate_is_not_this_banks_medium(desk, pki, kb, tmp_path):
    woori = pki.bank("020", limit_table="kb")
    at_kb = kb.customer("홍길동")
    at_woori = woori.customer("홍길동", rrn=at_kb.rrn)
    issued, keystore = enrol(desk, pki, kb, at_kb, tmp_path / "phone")
    key = keystore.unlock(PIN)
    result = _transfer(pki, woori, at_woori, key.certificate, key.private_key,
                       issued.issued.chain, _r_of(pki, issued))
    assert result.code == "private_certificate_not_registered"


def test_under_the_hana_table_a_private_certificate_is_no_medium(desk, pki, tmp_path):
    pki.private_authority  # noqa: B018
    hana = pki.bank("081")
    customer = hana.customer()
    issued, keystore = enrol(desk, pki, hana, customer, tmp_path / "phone")
    key = keystore.unlock(PIN)
    result = _transfer(pki, hana, customer, key.certificate, key.private_key,
                       issued.issued.chain, _r_of(pki, issued))
    assert result.code == "no_medium"


def test_an_otp_answer_still_works_beside_it(desk, pki, kb, tmp_path):
    customer = kb.customer()
    token = customer.otp_token()
    issued, keystore = enrol(desk, pki, kb, customer, tmp_path / "phone")
    key = keystore.unlock(PIN)
    result = _transfer(pki, kb, customer, key.certificate, key.private_key,
                       issued.issued.chain, _r_of(pki, issued),
                       medium=OtpAnswer(token.serial, token.now()))
    assert result.accepted, result


# -- renewal after a year of use ------------------------------------------------------------


def _renewal(pki, keystore, issued, side):
    key = keystore.unlock(PIN)
    signer = KeySigner(key.certificate, key.private_key, issued.issued.chain)
    return sign(side.csr(), signer, clock=pki.clock, include_chain=True).der


def test_renewal_opens_after_a_year_of_use_and_moves_the_registration(desk, pki, kb,
                                                                      tmp_path):
    customer = kb.customer()
    issued, keystore = enrol(desk, pki, kb, customer, tmp_path / "phone")
    side = DeviceEnrolment.begin(DeviceKeystore(tmp_path / "renewed", settings=FAST),
                                 device="phone-1", pin=PIN, pin_again=PIN,
                                 request="renewal", key_generator=pki.keys)
    opens = dt.datetime(2027, 3, 15, 15, 0, tzinfo=dt.UTC)  # a year after 16 March KST
    pki.clock.set(opens - dt.timedelta(seconds=1))
    with pytest.raises(FlowRefusedError) as early:
        desk.private.renew(kb.institution, customer.id,
                           signature=_renewal(pki, keystore, issued, side), r=issued.issued.r,
                           new_r=side.r)
    assert early.value.code == "renewal_window"
    pki.clock.set(opens)
    renewed = desk.private.renew(kb.institution, customer.id,
                                 signature=_renewal(pki, keystore, issued, side),
                                 r=keystore.unlock(PIN).r, new_r=side.r)
    assert renewed.replaced == issued.serial
    assert renewed.certificate.not_valid_after_utc == dt.datetime(
        2030, 3, 16, 14, 59, 59, tzinfo=dt.UTC)
    assert pki.home.store.private_medium(customer.id).serial == renewed.serial
    side.finish(renewed.certificate)


def test_renewal_needs_the_registered_certificates_signature(desk, pki, kb, tmp_path):
    customer = kb.customer()
    enrol(desk, pki, kb, customer, tmp_path / "phone")
    stray = pki.private(customer.record.name, rrn=customer.rrn)
    pki.clock.set(T0 + dt.timedelta(days=400))
    signature = pki.sign(stray, b"whatever")
    with pytest.raises(FlowRefusedError) as refused:
        desk.private.renew(kb.institution, customer.id, signature=signature, r=stray.r,
                           new_r=bytes(20))
    assert refused.value.code == "signer_not_certificate"


# -- TestPKI: the whole flow in one call, or step by step -----------------------------------


def test_testpki_runs_the_private_flow_in_one_call_and_step_by_step(tmp_path):
    pki = TestPKI(seed="private flow helpers", clock=FixedClock(T0))
    try:
        kb = pki.bank("004", limit_table="kb")
        hong = kb.customer("홍길동", balance=200 * MILLION)
        phone = kb.issue_private_flow(hong, folder=tmp_path / "phone")
        assert phone.issued.session.state is RaSessionState.FINISHED
        assert phone.keystore.unlock(phone.pin).certificate == phone.certificate
        assert pki.home.store.private_medium(hong.id).serial == phone.serial
        payee = kb.customer("이영희")
        paid = hong.transfer(payee.account.number, 60 * MILLION, medium=phone)
        assert (paid.accepted, paid.medium.value) == (True, "private-certificate"), paid

        session = kb.private_session(hong, device="phone-2")
        with pytest.raises(WrongAccountPasswordError):
            session.account(password="1111")
        session.account()
        session.phone()
        second = session.issue(folder=tmp_path / "phone-2")
        assert second.issued.replaced == phone.serial
        refused = hong.transfer(payee.account.number, 1_000, medium=phone)
        assert refused.code == "certificate_revoked"
        assert [(s.step, s.reason) for s in kb.desk.private.history(
            kb.institution, session.id)] == [
            ("account", "wrong_account_password"), ("account", None), ("phone", None),
            ("issue", None)]
    finally:
        pki.close()
