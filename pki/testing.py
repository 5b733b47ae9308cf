"""kpki for test suites: Korean certificates on demand, in memory, fast.

``TestPKI().joint()`` is the trustme of Korean PKI: a KISA-style root and a yessign-style
CA in memory (no home, no files), joint, financial and private certificates with their keys,
R and RRN, revoked / suspended / expired / not-yet-valid ones, CRLs, OCSP and signatures, and a
running ``kpki serve`` when a test needs HTTP. :meth:`TestPKI.bank` adds the bank around
the certificates (:class:`TestBank`: customers, security cards, OTP tokens on the PKI's
clock).

**For tests only.** RSA keys come from :class:`TestKeyPool`, a fixed set generated once
per machine and cached *unencrypted* on disk (``~/.cache/kpki/test-keys`` or
``$KPKI_TEST_KEYS``), because RSA generation would dominate a test suite. Real issuance
never uses it. With a ``seed``, serials, R values and times are reproducible: two runs
with one seed (on one machine's key pool) give identical bytes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import lifecycle
from .authority import CertificateAuthority, IssuedCertificate
from .clock import KST, Clock, FixedClock, SystemClock, add_years
from .entropy import SeededEntropy, SystemEntropy
from .errors import PKIError
from .fsutil import PRIVATE_DIR_MODE, atomic_write, make_dirs
from .home import DEFAULT_BASE_URL, Home
from .keys import pkcs12
from .keys.folder import write_npki_folder
from .profiles import FinancialKind, JointPolicy
from .revocation.crl import issue_crl
from .rrn import RRN, synthetic_rrn
from .signing import KeySigner, sign
from .signing.verify import CRLIndex, Verifier
from .timestamp import TimeStampAuthority, TokenVerification, verify_timestamp_token

if TYPE_CHECKING:
    from .bank.cards import Challenge, PrintedCard
    from .bank.transfers import TransferResult
    from .cloud.service import Cloud
    from .keys.devicekeystore import DeviceKeystore
    from .ra.financial import FinancialFlows, FinancialIssued, ForeignRegistration, PinReset
    from .ra.joint import JointIssuance, JointIssued
    from .ra.private import PrivateIssuance, PrivateIssued
    from .simpleauth import DeviceApp, SimpleAuth, SimpleAuthResult, StatusView
    from .store import Account, BankCustomer, Institution, RaSessionRecord
    from .usecases.banking import Banking
    from .usecases.ra import RegistrationDesk
    from .usecases.serving import ServedHome

__all__ = ["DEFAULT_PASSWORD", "DEFAULT_TIME", "FINANCIAL_PIN", "TestBank", "TestCertificate",
           "TestCustomer", "TestFinancialSession", "TestJointSession", "TestKeyPool",
           "TestOtpToken", "TestPKI", "TestPrivateDevice", "TestPrivateSession",
           "TestSecurityCard", "TestSimpleAuthApp", "confirmed_phone_verification"]

ACCOUNT_PASSWORD = "0420"
"""The 4-digit password of a :class:`TestCustomer`'s account."""
DEVICE = "test-phone"
"""The device a :class:`TestCustomer` designated (and banks from, unless told)."""
SIMPLE_PIN = "390417"
"""The 6-digit PIN of a :class:`TestSimpleAuthApp`'s device and of a
:class:`TestPrivateDevice`."""

FINANCIAL_PIN = "802417"
"""The 6-digit cloud PIN of a financial certificate a :class:`TestBank` issues."""

DEFAULT_PASSWORD = "Test-pw-1234!"
DEFAULT_TIME = dt.datetime(2026, 3, 16, 1, 0, tzinfo=dt.UTC)
"""The clock of a seeded :class:`TestPKI` when none is given (10:00 KST, 16 March 2026)."""
POOL_SIZE = 32


class TestKeyPool:
    """RSA-2048 keys generated once per machine, cached unencrypted on disk. Tests only.

    Keys are handed out in turn; the same pool gives the same keys in the same order.
    """

    __test__ = False
    _loaded: dict[Path, dict[int, rsa.RSAPrivateKey]] = {}

    def __init__(self, directory: Path | None = None, *, size: int = POOL_SIZE) -> None:
        default = Path(os.environ.get("KPKI_TEST_KEYS",
                                      Path.home() / ".cache" / "kpki" / "test-keys"))
        self.directory = Path(directory or default)
        self.size = size
        self._next = 0
        self._keys = self._loaded.setdefault(self.directory, {})

    def key(self, index: int) -> rsa.RSAPrivateKey:
        index %= self.size
        key = self._keys.get(index)
        if key is None:
            path = self.directory / f"rsa2048-{index:03d}.pem"
            try:
                loaded = serialization.load_pem_private_key(path.read_bytes(), None)
                key = loaded if isinstance(loaded, rsa.RSAPrivateKey) else None
            except (OSError, ValueError, TypeError):
                key = None
            if key is None:
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                try:
                    make_dirs(self.directory, mode=PRIVATE_DIR_MODE)
                    atomic_write(path, key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()),
                                 mode=0o600)
                except (OSError, PKIError):
                    pass  # an unwritable cache: the key lives for this process only
            self._keys[index] = key
        return key

    def warm(self) -> None:
        """Load (or make, once per machine) every key of the pool."""
        for index in range(self.size):
            self.key(index)

    def generate(self, bits: int) -> rsa.RSAPrivateKey:
        """The :class:`pki.keys.KeyGenerator` protocol: the next key of the pool."""
        if bits != 2048:
            return rsa.generate_private_key(public_exponent=65537, key_size=bits)
        key = self.key(self._next)
        self._next += 1
        return key


@dataclass(frozen=True)
class TestCertificate:
    """A certificate from :class:`TestPKI` with everything a test needs about it."""

    __test__ = False
    issued: IssuedCertificate = field(repr=False)
    rrn: RRN
    password: str = field(repr=False, default=DEFAULT_PASSWORD)

    @property
    def cert(self) -> x509.Certificate:
        return self.issued.certificate

    @property
    def key(self) -> rsa.RSAPrivateKey:
        assert self.issued.private_key is not None
        return self.issued.private_key

    @property
    def r(self) -> bytes:
        return self.issued.r

    @property
    def serial(self) -> int:
        return self.issued.serial

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        return self.issued.chain

    @property
    def km(self) -> TestCertificate | None:
        km = self.issued.key_management
        return None if km is None else TestCertificate(km, self.rrn, self.password)

    @property
    def signer(self) -> KeySigner:
        return KeySigner(self.cert, self.key, self.chain)

    def npki_dir(self, base: Path) -> Path:
        """Write a real NPKI folder (signCert.der + signPri.key with R) under ``base``;
        returns the folder."""
        return write_npki_folder(self.issued, Path(base), password=self.password)[0].folder

    def pfx(self, path: Path, *, legacy: bool = False) -> Path:
        """Write a PKCS #12 file (R kept as a key attribute) under :attr:`password`."""
        return pkcs12.dump(Path(path), self.cert, self.key, self.password, r=self.r,
                           legacy=legacy)

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class TestCustomer:
    """A customer of a :class:`TestBank`: enrolled in internet banking, with one account
    (password :data:`ACCOUNT_PASSWORD`) and one designated device (:data:`DEVICE`)."""

    __test__ = False
    bank: TestBank = field(repr=False)
    record: BankCustomer
    account: Account = field(repr=False)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def rrn(self) -> RRN:
        return RRN(self.record.rrn)

    @property
    def password(self) -> str:
        return ACCOUNT_PASSWORD

    @property
    def device(self) -> str:
        return DEVICE

    def security_card(self, *, seed: str | None = None) -> TestSecurityCard:
        """Issue a security card to this customer (a new one retires the old)."""
        banking, bank = self.bank.banking, self.bank.institution
        printed = banking.cards.issue(bank, self.id, seed=seed)
        return TestSecurityCard(self, printed)

    def otp_token(self, *, kind: str = "hardware", device: str = DEVICE) -> TestOtpToken:
        """Issue an OTP token to this customer: ``hardware`` (active at once), ``mobile``
        (activated here, on ``device``) or ``digital`` (on ``device``)."""
        otp, clock = self.bank.banking.otp, self.bank.pki.clock
        if kind == "hardware":
            issued = otp.issue_hardware(self.record)
        elif kind == "mobile":
            issued = otp.issue_mobile(self.record, device=device)
            otp.activate(self.record, issued.serial, issued.code(clock.now()), device=device)
        elif kind == "digital":
            issued = otp.issue_digital(self.record, device=device)
        else:
            raise ValueError(f"an OTP kind is hardware, mobile or digital, not {kind!r}")
        return TestOtpToken(self, issued.serial, None if kind == "hardware" else device)

    def certificate(self) -> TestCertificate:
        """A new joint certificate of this customer (their name and RRN), to sign with."""
        return self.bank.pki.joint(self.record.name, rrn=self.rrn)

    def verify_phone(self, *, method: str = "sms") -> str:
        """A confirmed phone verification of this customer by their bank
        (:func:`confirmed_phone_verification`); its id."""
        return confirmed_phone_verification(self.bank.banking, self.bank.institution,
                                            self.record, method=method)

    def transfer(self, to_account: str, amount: int, *,
                 medium: TestSecurityCard | TestOtpToken | TestPrivateDevice,
                 certificate: TestCertificate | None = None, device: str = DEVICE,
                 step_up: str | None = None) -> TransferResult:
        """Authorise a transfer from this customer's account, from ``device`` (the
        designated one unless told): the order signed with ``certificate`` (a new joint
        certificate of the customer when None), ``medium`` answered right (a new card
        challenge, or the OTP token's code now). With a :class:`TestPrivateDevice` as the
        medium, the device's private certificate signs the order and is the answer
        (:class:`pki.bank.transfers.PrivateCertificateAnswer`). Returns the
        bank's recorded outcome (:class:`pki.bank.transfers.TransferResult`)."""
        from .bank.transfers import (
            CardAnswer,
            CertificateSignature,
            MediumAnswer,
            OtpAnswer,
            PrivateCertificateAnswer,
            TransferOrder,
        )

        bank, pki = self.bank, self.bank.pki
        order = TransferOrder(bank.code, self.account.number, to_account, amount,
                              pki.clock.now())
        answer: MediumAnswer
        if isinstance(medium, TestPrivateDevice):
            signature = CertificateSignature(medium.sign(order.text()), medium.r)
            answer = PrivateCertificateAnswer()
        else:
            signer = certificate or self.certificate()
            signature = CertificateSignature(pki.sign(signer, order.text()), signer.r)
            if isinstance(medium, TestSecurityCard):
                challenge = medium.challenge()
                answer = CardAnswer(challenge.id, medium.answer(challenge))
            else:
                answer = OtpAnswer(medium.serial, medium.now())
        return bank.banking.transfers.authorise(
            bank.institution, self.id, from_account=self.account.number,
            to_account=to_account, amount=amount, signature=signature,
            medium_response=answer, device=device, step_up=step_up)


def confirmed_phone_verification(banking: Banking, institution: Institution,
                                 customer: BankCustomer, *, method: str = "sms") -> str:
    """A phone verification of ``customer`` by ``institution`` (the customer's line added
    on the carriers' side first if it is not there), confirmed with the code the phone
    received (or keyed in on the ARS call); returns its id. What a flow's ``phone`` step
    takes."""
    from .errors import BankNotFoundError

    try:
        banking.lines.line(customer.phone)
    except BankNotFoundError:  # the carrier's side: the customer's line
        banking.lines.add(customer.phone, name=customer.name, rrn=customer.rrn,
                          carrier=customer.carrier, mvno=customer.mvno)
    sent = banking.phone.request(institution, name=customer.name, phone=customer.phone,
                                 rrn7=customer.rrn[:7], carrier=customer.carrier,
                                 mvno=customer.mvno is not None, method=method)
    if sent.display_code is not None:
        banking.phone.press(institution, sent.id, sent.display_code)
    else:
        text = banking.phone.messages(institution, customer.phone)[-1].text
        code = next(word for word in text.replace(":", " ").split()
                    if word.isdigit() and len(word) == banking.phone.policy.code_digits)
        banking.phone.confirm(institution, sent.id, code)
    return sent.id


@dataclass(frozen=True)
class TestSecurityCard:
    """A security card in the customer's drawer: its serial and codes, and the answers."""

    __test__ = False
    customer: TestCustomer = field(repr=False)
    printed: PrintedCard

    @property
    def serial(self) -> str:
        return self.printed.serial

    @property
    def codes(self) -> tuple[str, ...]:
        return self.printed.codes

    def challenge(self) -> Challenge:
        """A new challenge to this card from its bank."""
        bank = self.customer.bank
        return bank.banking.cards.challenge(bank.institution, self.customer.id)

    def answer(self, challenge: Challenge) -> str:
        """The right answer to ``challenge``: the first two digits of its first position's
        code and the last two of the second's."""
        return self.printed.answer(challenge.first, challenge.second)


@dataclass(frozen=True)
class TestOtpToken:
    """An OTP token in the customer's hand: :meth:`now` is the code it shows now on the
    PKI's clock (frozen by ``kpki_time``, so the bank sees the same step)."""

    __test__ = False
    customer: TestCustomer = field(repr=False)
    serial: str
    device: str | None = None

    def at(self, when: dt.datetime) -> str:
        """The code the token shows at ``when``."""
        bank = self.customer.bank
        return bank.banking.otp_code(bank.institution, self.customer.id, self.serial, at=when)

    def now(self) -> str:
        return self.at(self.customer.bank.pki.clock.now())

    def verify(self, code: str | None = None) -> None:
        """Have the bank verify ``code`` (the current one when None); raises the bank's
        refusal (:class:`pki.errors.OtpReplayError` for a code used already ...)."""
        bank = self.customer.bank
        bank.banking.otp.verify(self.customer.record, self.serial,
                                self.now() if code is None else code, device=self.device)


class TestBank:
    """A bank (an institution with its 3-digit code) in a :class:`TestPKI`'s store, on its
    clock: :meth:`customer` makes customers ready to transfer from."""

    __test__ = False

    def __init__(self, pki: TestPKI, institution: Institution, api_key: str) -> None:
        self.pki = pki
        self._desk: RegistrationDesk | None = None
        self.institution = institution
        self.api_key = api_key
        """The bank's API key (``X-API-Key`` of ``/bank/v1``)."""

    @property
    def banking(self) -> Banking:
        return self.pki.banking

    @property
    def code(self) -> str:
        assert self.institution.code is not None
        return self.institution.code

    def customer(self, name: str = "홍길동", *, rrn: RRN | str | None = None,
                 phone: str | None = None, carrier: str = "SKT", balance: int = 50_000_000
                 ) -> TestCustomer:
        """A new customer (a new synthetic RRN unless given), signed up and activated
        for internet banking, with one account holding ``balance`` KRW and :data:`DEVICE`
        designated."""
        customers, bank = self.banking.customers, self.institution
        holder = self.pki._holder(rrn)
        number = phone or f"010{50_000_000 + self.pki._rrns:08d}"
        record = customers.add(bank, name=name, rrn=holder, phone=number, carrier=carrier)
        customers.sign_up(bank, record.id)
        customers.activate(bank, record.id)
        account = customers.open_account(bank, record.id, password=ACCOUNT_PASSWORD,
                                         balance=balance)
        self.banking.devices.designate(bank, record.id, DEVICE)
        return TestCustomer(self, customers.get(bank, record.id), account)

    # -- joint certificates as the bank issues them (pki.ra.joint) --------------------------

    @property
    def desk(self) -> RegistrationDesk:
        """The registration authority over this bank's services and the PKI's CA."""
        if self._desk is None:
            from .usecases.ra import RegistrationDesk

            self._desk = RegistrationDesk(self.pki.home, self.banking)
            self._desk.cloud = self.pki.cloud  # the in-memory home has no vault secret file
        return self._desk

    def joint_session(self, customer: TestCustomer, operation: str = "issue", *,
                      device: str = DEVICE, serial: int | None = None) -> TestJointSession:
        """Start a joint-certificate session (``issue``, ``reissue`` or ``renew``: a
        reissue or renewal names the certificate's ``serial``) for ``customer`` from
        ``device``, to take its steps one by one (:class:`TestJointSession`)."""
        record = self.desk.joint.start(self.institution, operation, device=device,
                                       serial=serial)
        return TestJointSession(self, customer, record.id)

    def issue_joint_flow(self, customer: TestCustomer, *, out: Path,
                         policy: str = "general", operation: str = "issue",
                         serial: int | None = None,
                         medium: TestSecurityCard | TestOtpToken | None = None,
                         password: str = DEFAULT_PASSWORD, device: str = DEVICE
                         ) -> JointIssued:
        """A whole joint-certificate flow in one call: terms, identification, an SMS
        verification, the account, ``medium`` answered right (a new security card when
        None), and the certificate issued (reissued: ``operation="reissue"`` with the old
        ``serial``) into an NPKI folder under ``out`` under ``password``. Returns the
        issuance (:class:`pki.ra.joint.JointIssued`: the certificate, its folder, the
        fee). A refusal raises the flow's typed error."""
        session = self.joint_session(customer, operation, device=device, serial=serial)
        session.terms(certificate=policy if operation == "issue" else None)
        session.identify()
        session.phone()
        session.account()
        session.medium(medium or customer.security_card())
        return session.issue(out=out, password=password)

    # -- private certificates as the bank issues them (pki.ra.private) ----------------------

    def private_session(self, customer: TestCustomer, *, device: str = DEVICE
                        ) -> TestPrivateSession:
        """Start a private-certificate session for ``customer`` from ``device``, to take
        its steps one by one (:class:`TestPrivateSession`). The PKI's private CA
        (:attr:`TestPKI.private_authority`) is made first if it is not there."""
        self.pki.private_authority  # noqa: B018 - the CA the flow issues from
        record = self.desk.private.start(self.institution, device=device)
        return TestPrivateSession(self, customer, record.id, device)

    def issue_private_flow(self, customer: TestCustomer, *, folder: Path,
                           pin: str = SIMPLE_PIN, device: str = DEVICE) -> TestPrivateDevice:
        """A whole private-certificate flow in one call: the account and its password, an
        SMS verification, and the key made on the device in ``folder``, its CSR issued and
        the certificate sealed there under ``pin`` (with a cheap KDF: tests only). The
        certificate is registered as the customer's medium at this bank; a live one before
        it is revoked (one device per person). A refusal raises the flow's typed error."""
        session = self.private_session(customer, device=device)
        session.account()
        session.phone()
        return session.issue(folder=folder, pin=pin)


    # -- financial certificates as the bank issues them (pki.ra.financial) ------------------

    def financial_session(self, customer: TestCustomer, flow: str = "issue", *,
                          device: str = DEVICE) -> TestFinancialSession:
        """Start a financial-certificate session (``issue``, ``reissue``, ``register`` or
        ``pin-reset``: the bank's ``pin_reset`` setting must be on) for ``customer`` from
        ``device``, to take its steps one by one (:class:`TestFinancialSession`), into
        :attr:`TestPKI.cloud`."""
        record = self.desk.financial.start(self.institution, f"financial-{flow}",
                                           device=device)
        return TestFinancialSession(self, customer, record.id)

    def issue_financial_flow(self, customer: TestCustomer, *, pin: str = FINANCIAL_PIN,
                             medium: TestSecurityCard | TestOtpToken | None = None,
                             replaces: int | None = None, designate: str | None = None,
                             device: str = DEVICE) -> FinancialIssued:
        """A whole financial-certificate flow in one call: the account and its password,
        an SMS verification, ``medium`` answered right (a new security card when None),
        the cloud connection confirmed with the code sent to the phone, and the
        certificate issued into :attr:`TestPKI.cloud` under ``pin`` (a reissue when it
        ``replaces`` a serial). A refusal raises the flow's typed error."""
        session = self.financial_session(customer, "reissue" if replaces else "issue",
                                         device=device)
        session.prove(medium)
        return session.issue(pin=pin, replaces=replaces, designate=designate)

    def reset_financial_pin(self, customer: TestCustomer, serial: int, *, pin: str,
                            medium: TestSecurityCard | TestOtpToken | None = None,
                            device: str = DEVICE) -> PinReset:
        """A whole PIN reset in one call (the bank's ``pin_reset`` setting on): the five
        identity steps as :meth:`issue_financial_flow`, then the certificate ``serial``
        under the new ``pin``."""
        session = self.financial_session(customer, "pin-reset", device=device)
        session.prove(medium)
        return session.reset_pin(serial, pin=pin)


class _TestBankSession:
    """What each step-by-step session of a :class:`TestBank` holds: the bank, the
    customer and the session's id."""

    __test__ = False

    def __init__(self, bank: TestBank, customer: TestCustomer, session_id: str) -> None:
        self.bank = bank
        self.customer = customer
        self.id = session_id


class TestFinancialSession(_TestBankSession):
    """A financial-certificate session of a :class:`TestBank`, step by step: each method
    takes one step with the right answers unless told otherwise, and returns the session
    as it now is (the flow's typed refusal is raised as is)."""

    __test__ = False

    @property
    def flows(self) -> FinancialFlows:
        return self.bank.desk.financial

    @property
    def record(self) -> RaSessionRecord:
        return self.flows.session(self.bank.institution, self.id)

    def account(self, *, number: str | None = None, password: str | None = None
                ) -> RaSessionRecord:
        return self.flows.account(self.bank.institution, self.id,
                                  account=number or self.customer.account.number,
                                  password=password or self.customer.password)

    def phone(self, verification_id: str | None = None) -> RaSessionRecord:
        return self.flows.phone(self.bank.institution, self.id,
                                verification=verification_id or self.customer.verify_phone())

    def medium(self, medium: TestSecurityCard | TestOtpToken, *, response: str | None = None
               ) -> RaSessionRecord:
        """Answer ``medium``: a card's challenge from this session (right unless
        ``response`` is given), or the OTP token's code now."""
        bank = self.bank.institution
        if isinstance(medium, TestSecurityCard):
            challenge = self.flows.card_challenge(bank, self.id)
            return self.flows.medium(bank, self.id, card_challenge=challenge.id,
                                     response=response or medium.answer(challenge))
        return self.flows.medium(bank, self.id, otp_serial=medium.serial,
                                 response=response or medium.now())

    def cloud(self, *, name: str | None = None, phone: str | None = None,
              birth_date: dt.date | None = None) -> RaSessionRecord:
        """The cloud connection with the customer's name, phone and birth date unless
        told otherwise; the cloud sends its 2-digit code (:meth:`cloud_code`)."""
        record = self.customer.record
        return self.flows.connect_cloud(self.bank.institution, self.id,
                                        name=name or record.name, phone=phone or record.phone,
                                        birth_date=birth_date or self.customer.rrn.birth_date)

    def cloud_code(self) -> str:
        """The last 2-digit code the cloud sent to the customer's phone."""
        text = self.flows.cloud.messages(self.bank.institution,
                                         self.customer.record.phone)[-1].text
        return next(word for word in text.replace(":", " ").split()
                    if word.isdigit() and len(word) == 2)

    def confirm(self, code: str | None = None) -> RaSessionRecord:
        return self.flows.confirm(self.bank.institution, self.id,
                                  code=code or self.cloud_code())

    def prove(self, medium: TestSecurityCard | TestOtpToken | None = None
              ) -> RaSessionRecord:
        """The five identity steps, each right (``medium`` a new security card when
        None)."""
        self.account()
        self.phone()
        self.medium(medium or self.customer.security_card())
        self.cloud()
        return self.confirm()

    def issue(self, *, pin: str = FINANCIAL_PIN, replaces: int | None = None,
              designate: str | None = None) -> FinancialIssued:
        return self.flows.issue(self.bank.institution, self.id, pin=pin, pin_confirm=pin,
                                replaces=replaces, designate=designate)

    def reset_pin(self, serial: int, *, pin: str) -> PinReset:
        return self.flows.reset_pin(self.bank.institution, self.id, serial=serial, pin=pin,
                                    pin_confirm=pin)

    def register(self, serial: int, *, pin: str = FINANCIAL_PIN) -> ForeignRegistration:
        return self.flows.register(self.bank.institution, self.id, serial=serial, pin=pin)


class TestJointSession(_TestBankSession):
    """A joint-certificate session of a :class:`TestBank`, step by step: each method takes
    one step with the right answers unless told otherwise, and returns the session as it
    now is (the flow's typed refusal is raised as is)."""

    __test__ = False

    @property
    def flows(self) -> JointIssuance:
        return self.bank.desk.joint

    @property
    def record(self) -> RaSessionRecord:
        return self.flows.get(self.bank.institution, self.id)

    def terms(self, agreed: Sequence[str] | None = None, *,
              certificate: str | None = "general") -> RaSessionRecord:
        from .ra.joint import REQUIRED_TERMS

        return self.flows.terms(self.bank.institution, self.id,
                                agreed=REQUIRED_TERMS if agreed is None else agreed,
                                certificate=certificate)

    def identify(self, *, rrn: str | None = None, customer_id: str | None = None
                 ) -> RaSessionRecord:
        return self.flows.identify(self.bank.institution, self.id,
                                   rrn=rrn or self.customer.record.rrn,
                                   customer_id=customer_id or self.customer.id)

    def verify_phone(self, *, method: str = "sms") -> str:
        """A confirmed phone verification of the customer by this bank
        (:func:`confirmed_phone_verification`); its id."""
        return confirmed_phone_verification(self.bank.banking, self.bank.institution,
                                            self.customer.record, method=method)

    def phone(self, verification_id: str | None = None) -> RaSessionRecord:
        return self.flows.phone(self.bank.institution, self.id,
                                verification_id=verification_id or self.verify_phone())

    def account(self, *, number: str | None = None, password: str | None = None
                ) -> RaSessionRecord:
        return self.flows.account(self.bank.institution, self.id,
                                  number=number or self.customer.account.number,
                                  password=password or self.customer.password)

    def medium(self, medium: TestSecurityCard | TestOtpToken, *, response: str | None = None
               ) -> RaSessionRecord:
        """Answer ``medium``: a card's challenge from this session (right unless
        ``response`` is given), or the OTP token's code now."""
        from .bank.transfers import CardAnswer, OtpAnswer

        answer: CardAnswer | OtpAnswer
        if isinstance(medium, TestSecurityCard):
            challenge = self.flows.card_challenge(self.bank.institution, self.id)
            answer = CardAnswer(challenge.id, response or medium.answer(challenge))
        else:
            answer = OtpAnswer(medium.serial, response or medium.now())
        return self.flows.medium(self.bank.institution, self.id, answer=answer)

    def sign(self, issued: IssuedCertificate, *, account: str | None = None,
             text: bytes | None = None) -> RaSessionRecord:
        """A renewal's signature step: the session's text signed with ``issued``'s key."""
        assert issued.private_key is not None
        content = text if text is not None else str(self.record.data["challenge"]).encode()
        signer = KeySigner(issued.certificate, issued.private_key, issued.chain)
        signature = sign(content, signer, clock=self.bank.pki.clock).der
        return self.flows.sign(self.bank.institution, self.id, customer_id=self.customer.id,
                               signature=signature, r=issued.r,
                               account=account or self.customer.account.number)

    def issue(self, *, out: Path, password: str = DEFAULT_PASSWORD) -> JointIssued:
        return self.flows.issue(self.bank.institution, self.id, password=password, out=out)


class TestPrivateSession(_TestBankSession):
    """A private-certificate session of a :class:`TestBank`, step by step: each method
    takes one step with the right answers unless told otherwise (the flow's typed refusal
    is raised as is)."""

    __test__ = False

    def __init__(self, bank: TestBank, customer: TestCustomer, session_id: str,
                 device: str) -> None:
        super().__init__(bank, customer, session_id)
        self.device = device

    @property
    def flows(self) -> PrivateIssuance:
        return self.bank.desk.private

    @property
    def record(self) -> RaSessionRecord:
        return self.flows.get(self.bank.institution, self.id)

    def account(self, *, number: str | None = None, password: str | None = None
                ) -> RaSessionRecord:
        return self.flows.account(self.bank.institution, self.id,
                                  number=number or self.customer.account.number,
                                  password=password or self.customer.password)

    def phone(self, verification_id: str | None = None) -> RaSessionRecord:
        return self.flows.phone(self.bank.institution, self.id,
                                verification_id=verification_id
                                or self.customer.verify_phone())

    def issue(self, *, folder: Path, pin: str = SIMPLE_PIN) -> TestPrivateDevice:
        """The device's side and the last step: the PIN entered twice on the device, the
        key (from the PKI's key pool) and R made there and sealed into ``folder`` before
        the CSR and R are sent, the certificate attached when it comes back."""
        from .keys.devicekeystore import DeviceKeystore, KeystoreSettings, ScryptParams
        from .private import DeviceEnrolment

        keystore = DeviceKeystore(folder, settings=KeystoreSettings(
            kdf=ScryptParams(n=2**10, r=8, p=1)))
        side = DeviceEnrolment.begin(keystore, device=self.device, pin=pin, pin_again=pin,
                                     request=self.id, key_generator=self.bank.pki.keys,
                                     entropy=self.bank.pki.authority.entropy)
        done = self.flows.issue(self.bank.institution, self.id, csr=side.csr(), r=side.r)
        side.finish(done.certificate)
        return TestPrivateDevice(self.customer, done, keystore, pin)


@dataclass(frozen=True)
class TestPrivateDevice:
    """A customer's phone holding the private certificate a :class:`TestBank` issued onto
    it (:meth:`TestBank.issue_private_flow`): the keystore, the PIN and R (the device keeps
    R; the store never does). At its bank it is a transfer's medium
    (:meth:`TestCustomer.transfer`)."""

    __test__ = False
    customer: TestCustomer = field(repr=False)
    issued: PrivateIssued
    keystore: DeviceKeystore = field(repr=False)
    pin: str = field(repr=False)

    @property
    def certificate(self) -> x509.Certificate:
        return self.issued.certificate

    @property
    def serial(self) -> int:
        return self.issued.serial

    @property
    def r(self) -> bytes:
        return self.issued.issued.r

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        return self.issued.issued.chain

    def sign(self, data: bytes) -> bytes:
        """CMS SignedData over ``data`` (chain included), the key unlocked with the PIN on
        the device."""
        unlocked = self.keystore.unlock(self.pin)
        if not isinstance(unlocked.private_key, rsa.RSAPrivateKey):  # pragma: no cover
            raise TypeError("the device holds no RSA key")
        signer = KeySigner(unlocked.certificate, unlocked.private_key, self.chain)
        return sign(data, signer, clock=self.customer.bank.pki.clock,
                    include_chain=True).der


@dataclass(frozen=True)
class Served:
    """A running ``kpki serve`` of a :class:`TestPKI`."""

    url: str
    pki: TestPKI

    def at(self, url: str) -> str:
        """A URL from a certificate (CRL DP, OCSP), moved to this server."""
        parts = urlsplit(url)
        return self.url + parts.path + (f"?{parts.query}" if parts.query else "")

    @property
    def crl_url(self) -> str:
        return self.at(self.pki.authority.record.crl_url)

    @property
    def ocsp_url(self) -> str:
        assert self.pki.authority.record.ocsp_url is not None
        return self.at(self.pki.authority.record.ocsp_url)

    @property
    def tsa_url(self) -> str:
        return self.at(self.pki.home.tsa_url)

    def http(self, url: str, body: bytes | None) -> bytes:
        from .signing.fetch import fetch

        return fetch(self.at(url), body)




class TestSimpleAuthApp:
    """A person's simple-authentication app on a phone (:meth:`TestPKI.simple_auth_app`),
    step by step: a relying party's request, the pending list, the approval with the PIN
    (signed on the device), a decline."""

    __test__ = False

    def __init__(self, pki: TestPKI, device: DeviceApp, *, name: str, rrn: RRN, phone: str,
                 provider: int, pin: str) -> None:
        self.pki = pki
        self.device = device
        self.name = name
        self.rrn = rrn
        self.phone = phone
        self.provider = provider
        self.pin = pin

    @property
    def token(self) -> str:
        """The app's device token (what it proves itself with)."""
        return self.device.token(self.provider)

    def request(self, *, rp: str = "정부24", nonce: str | None = None,
                text: str | None = None) -> StatusView:
        """Relying party ``rp`` asks for this person (name, phone, RRN)."""
        return self.pki.simple_auth.request(self.pki.relying_party(rp), self.provider,
                                            name=self.name, phone=self.phone, rrn=self.rrn,
                                            nonce=nonce, text=text)

    def approve(self, request_id: str, *, pin: str | None = None) -> StatusView:
        """The person approves ``request_id`` in the app with ``pin`` (the app's own by
        default): the device signs, the provider verifies."""
        service = self.pki.simple_auth
        shown = next(r for r in service.pending(self.token) if r.id == request_id)
        signature = self.device.approval(shown, pin=pin or self.pin)
        return service.approve(self.token, request_id, signature)

    def decline(self, request_id: str) -> StatusView:
        return self.pki.simple_auth.decline(self.token, request_id)


class TestPKI:
    """A root and a licensed CA in memory, issuing Korean test certificates on demand."""

    __test__ = False

    def __init__(self, seed: int | str | None = None, clock: Clock | None = None, *,
                 keys: TestKeyPool | None = None, base_url: str = DEFAULT_BASE_URL) -> None:
        self.seed = seed
        self.clock: Clock = clock or (FixedClock(DEFAULT_TIME) if seed is not None
                                      else SystemClock())
        self.keys = keys or TestKeyPool()
        entropy = SeededEntropy(seed) if seed is not None else SystemEntropy()
        # The hierarchy is five years old, so that expired certificates can be issued.
        now = self.clock.now()
        founded = FixedClock(dt.datetime.combine(add_years(now.astimezone(KST).date(), -5),
                                                 dt.time(9), KST))
        # Tests move this clock back and forth (kpki_time): no time order to keep.
        self.home = Home.in_memory(base_url=base_url, clock=founded, entropy=entropy,
                                   key_generator=self.keys, time_travel=True)
        self.home.clock = self.clock
        self._founded = founded
        self.authority = self.home.authority()
        self.authority.clock = self.clock
        self._private_authority: CertificateAuthority | None = None
        self._rrns = 0
        self._served: Served | None = None
        self._running: ServedHome | None = None
        self._banking: Banking | None = None
        self._banks: dict[str, TestBank] = {}
        self._simple_auth: SimpleAuth | None = None
        self._cloud: Cloud | None = None

    @property
    def root(self) -> x509.Certificate:
        return self.home.store.get_ca("root").certificate

    @property
    def ca(self) -> x509.Certificate:
        return self.authority.certificate

    def rrn(self, birth: dt.date = dt.date(1990, 5, 17), *, female: bool = False) -> RRN:
        """A synthetic resident number: a real date, a valid check digit, a new serial."""
        self._rrns += 1
        return synthetic_rrn(birth, female=female, serial=self._rrns % 100000)

    # -- certificates -------------------------------------------------------------------

    def joint(self, name: str = "홍길동", *, rrn: RRN | str | None = None,
              policy: JointPolicy = JointPolicy.GENERAL, password: str = DEFAULT_PASSWORD,
              with_km: bool = False, ra: str = "INITECH") -> TestCertificate:
        holder = self._holder(rrn)
        issued = self.authority.issue_joint(name=name, rrn=holder, policy=policy, ra=ra,
                                            with_km=with_km)
        return TestCertificate(issued, holder, password)

    def financial(self, name: str = "김금융", *, rrn: RRN | str | None = None,
                  kind: FinancialKind = FinancialKind.PERSONAL,
                  password: str = DEFAULT_PASSWORD) -> TestCertificate:
        holder = self._holder(rrn)
        issued = self.authority.issue_financial(name=name, rrn=holder, kind=kind)
        return TestCertificate(issued, holder, password)

    def private(self, name: str = "김사설", *, rrn: RRN | str | None = None,
                password: str = DEFAULT_PASSWORD, ra: str = "KB") -> TestCertificate:
        """A private certificate (사설인증서, KB-style mobile), from
        :attr:`private_authority`."""
        holder = self._holder(rrn)
        issued = self.private_authority.issue_private(name=name, rrn=holder, ra=ra)
        return TestCertificate(issued, holder, password)

    @property
    def private_authority(self) -> CertificateAuthority:
        """The bank's own CA of private certificates (style
        :data:`pki.profiles.PRIVATE_STYLE`, label ``kbprivate``), under the same root and
        as old as it, made when first asked for: licensed CAs do not issue private
        certificates."""
        if self._private_authority is None:
            from .hierarchy import CASettings
            from .profiles import PRIVATE_STYLE

            label = "kbprivate"
            if not any(r.label == label for r in self.home.store.list_cas()):
                self.home.clock = self._founded
                try:
                    self.home.add_ca(CASettings(label=label, style=PRIVATE_STYLE),
                                     passphrase=None)
                finally:
                    self.home.clock = self.clock
            self._private_authority = self.home.authority(label)
            self._private_authority.clock = self.clock
        return self._private_authority

    def _holder(self, rrn: RRN | str | None) -> RRN:
        if rrn is None:
            return self.rrn()
        return rrn if isinstance(rrn, RRN) else RRN.parse(rrn)

    def _at(self, when: dt.datetime, make: Callable[[], TestCertificate]) -> TestCertificate:
        saved = self.authority.clock
        self.authority.clock = FixedClock(when)
        try:
            return make()
        finally:
            self.authority.clock = saved

    def expired(self, name: str = "홍길동", **options: Any) -> TestCertificate:
        """A joint certificate that expired a year ago (issued two years ago)."""
        when = self.clock.now() - dt.timedelta(days=2 * 366)
        return self._at(when, lambda: self.joint(name, **options))

    def not_yet_valid(self, name: str = "홍길동", **options: Any) -> TestCertificate:
        """A joint certificate whose validity starts in two days."""
        when = self.clock.now() + dt.timedelta(days=2)
        return self._at(when, lambda: self.joint(name, **options))

    def revoke(self, cert: TestCertificate, *,
               reason: x509.ReasonFlags = x509.ReasonFlags.key_compromise,
               invalidity_date: dt.datetime | None = None) -> TestCertificate:
        lifecycle.revoke(self.home.store, cert.serial, at=self.clock.now(),
                         ca=cert.issued.ca, reason=reason,
                         invalidity_date=invalidity_date)
        self._republish()
        return cert

    def suspend(self, cert: TestCertificate) -> TestCertificate:
        lifecycle.suspend(self.home.store, cert.serial, at=self.clock.now(),
                          ca=cert.issued.ca)
        self._republish()
        return cert

    def resume(self, cert: TestCertificate) -> TestCertificate:
        lifecycle.resume(self.home.store, cert.serial, at=self.clock.now(),
                         ca=cert.issued.ca)
        self._republish()
        return cert

    def revoked(self, name: str = "홍길동", **options: Any) -> TestCertificate:
        return self.revoke(self.joint(name, **options))

    def suspended(self, name: str = "홍길동", **options: Any) -> TestCertificate:
        return self.suspend(self.joint(name, **options))

    # -- revocation ----------------------------------------------------------------------

    def crl(self) -> x509.CertificateRevocationList:
        """A new full CRL of the licensed CA."""
        key = self.home.load_ca_key(self.authority.label, None)
        return x509.load_der_x509_crl(issue_crl(self.authority.record, key, self.home.store,
                                                at=self.clock.now()).der)

    def root_crl(self) -> x509.CertificateRevocationList:
        """A new full CRL of the root (it covers the licensed CA and the TSA)."""
        root = self.home.store.get_ca("root")
        key = self.home.load_ca_key(root.label, None)
        return x509.load_der_x509_crl(issue_crl(root, key, self.home.store,
                                                at=self.clock.now()).der)

    def delta_crl(self) -> x509.CertificateRevocationList:
        """A delta CRL on the last full one (a full one is made first if there is none)."""
        if self.home.store.last_crl(self.authority.label) is None:
            self.crl()
        key = self.home.load_ca_key(self.authority.label, None)
        return x509.load_der_x509_crl(issue_crl(self.authority.record, key, self.home.store,
                                                at=self.clock.now(), delta=True).der)

    def ocsp_response(self, cert: TestCertificate, *, nonce: bytes | None = None) -> bytes:
        """The DER OCSP response the CA's responder gives about ``cert``."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509 import ocsp

        builder = ocsp.OCSPRequestBuilder().add_certificate(cert.cert, self.ca, hashes.SHA256())
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        request = builder.build().public_bytes(serialization.Encoding.DER)
        return self.home.ocsp_responder(self.authority.label, passphrase=None).respond(request)

    # -- signatures ----------------------------------------------------------------------

    def sign(self, cert: TestCertificate, data: bytes, *, timestamp: bool = False,
             **options: Any) -> bytes:
        """CMS SignedData over ``data`` (options as :func:`pki.signing.sign`); with
        ``timestamp``, a signature time stamp from :attr:`tsa`, in process."""
        options.setdefault("include_chain", True)
        if timestamp:
            options["timestamper"] = self.tsa.timestamp
        return sign(data, cert.signer, clock=self.clock, **options).der

    # -- time stamps ---------------------------------------------------------------------

    @property
    def tsa(self) -> TimeStampAuthority:
        """The time-stamping authority under the root (made when first asked for)."""
        return self.home.tsa(passphrase=None)

    def timestamp(self, data: bytes, *, nonce: int | None = None) -> bytes:
        """A DER time-stamp token over SHA-256(``data``), made in process."""
        return self.tsa.timestamp(data, nonce=nonce)

    def verify_timestamp(self, token: bytes, data: bytes, **options: Any
                         ) -> TokenVerification:
        """:func:`pki.timestamp.verify_timestamp_token` of a token over ``data``, trusting
        this PKI's root and checking the TSA against a fresh root CRL (``options``
        override)."""
        options.setdefault("trust", [self.root])
        options.setdefault("crls", [self.root_crl()])
        options.setdefault("clock", self.clock)
        return verify_timestamp_token(token, signature_value=data, **options)

    def verifier(self, *, crl: bool = False, online: bool = False, **options: Any) -> Verifier:
        """A verifier trusting this PKI's root; ``crl`` checks revocation against fresh
        CRLs (the licensed CA's, and the root's for the CA certificate), ``online`` asks the
        running :meth:`serve` over OCSP, and by default the records of this PKI answer (as
        :meth:`Verifier.for_home`, which also answer for the CA certificate where the
        other sources do not)."""
        if crl:
            key = self.home.load_ca_key(self.authority.label, None)
            options["crls"] = [CRLIndex.load(issue_crl(
                self.authority.record, key, self.home.store, at=self.clock.now()).der),
                CRLIndex.load(self.root_crl().public_bytes(serialization.Encoding.DER))]
        if online:
            if self._served is None:
                raise RuntimeError("online verification needs a running serve()")
            options.update(use_ocsp=True, http=self._served.http)
        options.setdefault("clock", self.clock)
        return Verifier.for_home(self.home, **options)

    # -- the bank ---------------------------------------------------------------------------

    @property
    def banking(self) -> Banking:
        """The bank's services over this PKI's store and clock (made when first asked
        for; the service secret follows the seed)."""
        if self._banking is None:
            from .usecases.banking import Banking

            if self.seed is not None:
                secret = hashlib.sha256(f"kpki-testpki-bank|{self.seed}".encode()).digest()
            else:
                secret = os.urandom(32)
            self._banking = Banking(self.home.store, clock=self.clock, secret=secret,
                                    entropy=self.home.entropy, verifier=self.verifier)
        return self._banking

    def bank(self, code: str = "081", **settings: Any) -> TestBank:
        """The bank with institution ``code`` (081 Hana by default), added with
        ``settings`` (:class:`pki.bank.institutions.BankSettings` keys) the first time."""
        found = self._banks.get(code)
        if found is None:
            institution, api_key = self.banking.add_bank(code, settings=settings)
            found = self._banks[code] = TestBank(self, institution, api_key)
        elif settings:
            raise ValueError(f"the bank {code} exists already: its settings are set")
        return found

    # -- the service -----------------------------------------------------------------------

    @contextlib.contextmanager
    def serve(self) -> Iterator[Served]:
        """Run the web app (CRLs, OCSP, time stamps) for this PKI on an ephemeral port, with
        its publisher: each revocation, suspension or resumption publishes again at once."""
        from .usecases.serving import serve_home_in_thread

        with serve_home_in_thread(self.home, force=True) as running:
            self._served, self._running = Served(running.url, self), running
            try:
                yield self._served
            finally:
                self._served = self._running = None

    def _republish(self) -> None:
        if self._running is not None:
            self._running.republish()

    # -- the financial-certificate cloud (pki.cloud) -----------------------------------------

    @property
    def cloud(self) -> Cloud:
        """The cloud keystore over this PKI's store and licensed CA (made when first asked
        for: the vault secret follows the seed, and its KDF is cheap: tests only); where a
        :class:`TestBank`'s financial flows issue."""
        if self._cloud is None:
            from .cloud.service import Cloud
            from .cloud.vault import KDFParams, Vault
            from .registration import Registrar

            if self.seed is not None:
                secret = hashlib.sha256(f"kpki-testpki-vault|{self.seed}".encode()).digest()
            else:
                secret = os.urandom(32)
            store = self.home.store
            self._cloud = Cloud(self.authority, Vault(secret, kdf=KDFParams(n=2**4, r=8, p=1)),
                                registrar=Registrar(store, clock=self.clock,
                                                    entropy=self.home.entropy))
        return self._cloud

    # -- simple authentication (pki.simpleauth) ------------------------------------------

    @property
    def simple_auth(self) -> SimpleAuth:
        """Every provider's simple authentication over this PKI's store and clock (made
        when first asked for): the CI is :attr:`banking`'s phone verification's."""
        if self._simple_auth is None:
            from .simpleauth import SimpleAuth

            secret = hashlib.sha256(f"kpki-testpki-simpleauth|{self.seed}".encode()).digest()
            self._simple_auth = SimpleAuth(
                self.home.store, clock=self.clock, ci=self.banking.phone.ci,
                secret=secret if self.seed is not None else os.urandom(32),
                verifier=self.verifier, entropy=self.home.entropy)
        return self._simple_auth

    def relying_party(self, name: str = "정부24") -> Institution:
        """The institution ``name`` (added the first time), as a relying party."""
        from .usecases.simpleauth import institution_named

        if not any(i.name == name for i in self.home.store.institutions()):
            from .cloud.service import add_institution

            add_institution(self.home.store, name, at=self.clock.now())
        return institution_named(self.home.store, name)

    def simple_auth_app(self, name: str = "김간편", *, folder: Path, provider: int = 1,
                        rrn: RRN | str | None = None, phone: str = "01012345678",
                        pin: str = SIMPLE_PIN) -> TestSimpleAuthApp:
        """A person's phone in ``folder``: a private certificate from
        :attr:`private_authority` sealed under ``pin`` (with a cheap KDF: tests only),
        registered at ``provider``."""
        from .keys.devicekeystore import DeviceKeystore, KeystoreSettings, ScryptParams
        from .simpleauth import DeviceApp
        from .usecases.simpleauth import register_app

        holder = self._holder(rrn)
        keystore = DeviceKeystore(folder, settings=KeystoreSettings(
            kdf=ScryptParams(n=2**10, r=8, p=1)))
        register_app(self.simple_auth, keystore, provider, name=name, rrn=holder,
                     phone=phone, pin=pin, authority=self.private_authority)
        app = DeviceApp(folder, keystore=keystore, clock=self.clock)
        return TestSimpleAuthApp(self, app, name=name, rrn=holder, phone=phone,
                                 provider=provider, pin=pin)

    def simple_authenticate(self, app: TestSimpleAuthApp, *, rp: str = "정부24",
                            nonce: str | None = None) -> SimpleAuthResult:
        """A whole simple authentication in one call: ``rp`` asks for ``app``'s person,
        the person approves on the phone with the PIN, ``rp`` collects the result."""
        asked = app.request(rp=rp, nonce=nonce)
        app.approve(asked.id)
        return self.simple_auth.result(self.relying_party(rp), asked.id)

    def close(self) -> None:
        self.home.close()
