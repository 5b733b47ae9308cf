"""Internet-banking sessions, and the simple-authentication-linked signature (Hana's
간편인증 연계 서명): who logged in how, and which signature a transfer may then carry.

**Logins** make a session (:class:`Session`: an id, the :class:`SessionMethod`, an expiry
:attr:`BankSettings.session_seconds` after the login) by one of three methods:

* ``SIMPLE_AUTH``: the customer registered a simple-authentication key, an EC P-256 public
  key bound to a device (:meth:`Sessions.register_key`; the private key stays on the phone,
  unlocked by the app's PIN or biometrics). The bank hands out a login challenge
  (:meth:`Sessions.challenge`, valid :attr:`BankSettings.challenge_seconds`, answered
  once) and the app signs its text with ECDSA-SHA256 (:meth:`Sessions.login_simple_auth`).
* ``CERTIFICATE``: a joint or financial certificate's CMS signature over the same
  challenge text, verified by kpki's :class:`pki.signing.verify.Verifier` with chain,
  revocation and the VID against the customer's RRN (:meth:`Sessions.login_certificate`).
* ``PASSWORD``: ID and password. kpki keeps one secret of a customer, the account's
  4-digit password, so it stands for the login password here: the check is
  :meth:`pki.bank.customers.Customers.check_password`'s, counted and locked as there
  (:meth:`Sessions.login_password`).

**The simple-auth signature.** A transfer may carry an ECDSA signature with the customer's
simple-authentication key instead of a certificate signature only within a live
``SIMPLE_AUTH`` session of that customer and key, from the key's device
(:meth:`Sessions.simple_auth_key_for`): a ``PASSWORD`` or ``CERTIFICATE`` session, another
customer's session or none is ``simple_auth_not_in_session``; an expired or ended one is
``session_expired``. Removing a key ends its sessions.

Each login, key change and logout is one transaction with its audit row; a challenge is
marked used in the transaction that starts the session, so one challenge starts one
session however many answers arrive at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..clock import KST, Clock
from ..entropy import Entropy, SystemEntropy
from ..errors import (
    BankNotFoundError,
    BankRequestError,
    LoginRefusedError,
    SignatureRefusedError,
)
from ..profiles import PolicyClass, policy_class
from ..signing.verify import CannotEvaluateError, CheckName, Outcome, Verifier
from ..store import (
    AuditAction,
    BankCustomer,
    BankSession,
    Institution,
    LoginChallengeRecord,
    SessionMethod,
    SimpleAuthKey,
    Store,
)
from .customers import Customers, check_account_number
from .devices import check_device
from .institutions import settings_of

__all__ = [
    "LoginChallenge",
    "Session",
    "SessionMethod",
    "Sessions",
    "SignedText",
    "check_certificate_signature",
    "verify_simple_auth",
]

Session = BankSession
"""A customer's internet-banking session (:class:`pki.store.BankSession`)."""

_ACCEPTED_POLICIES = frozenset({PolicyClass.GENERAL, PolicyClass.RESTRICTED,
                                PolicyClass.FINANCIAL, PolicyClass.PRIVATE})
"""Joint certificates (general or banking), financial and private certificates."""

_FAILED_CHECK_CODES = {
    CheckName.CONTENT: "signature_invalid", CheckName.SIGNER_CERTIFICATE: "signature_invalid",
    CheckName.SIGNATURE: "signature_invalid", CheckName.TIME_STAMP: "signature_invalid",
    CheckName.CHAIN: "certificate_untrusted", CheckName.VALIDITY: "certificate_expired",
    CheckName.KEY_USAGE: "certificate_not_accepted",
    CheckName.POLICY: "certificate_not_accepted",
    CheckName.REVOCATION: "certificate_revoked", CheckName.VID: "vid_mismatch",
}
"""The refusal code of a signature whose first failed check is this one. A revocation
check fails for a revoked or suspended certificate and for one whose status cannot be
established: a bank refuses all three alike."""


@dataclass(frozen=True)
class LoginChallenge:
    """What the customer signs to log in: :attr:`text`, before :attr:`expires_at`."""

    id: str
    text: bytes
    expires_at: dt.datetime


@dataclass(frozen=True)
class SignedText:
    """A signature that verified, and what it signed."""

    text: bytes
    digest: str
    """Names the signature's (signer, text) pair: what makes a signature usable once.
    Not the signature's bytes, which a signer can re-encode (ECDSA's s and n - s)."""
    kind: str
    """``certificate`` or ``simple-auth``."""
    signer: x509.Certificate | None = None
    """The certificate that signed (``certificate`` signatures)."""


def _challenge_text(institution: Institution, nonce: str) -> bytes:
    return f"kpki login v1\ninstitution: {institution.code or institution.id}\n" \
           f"challenge: {nonce}\n".encode()


def check_certificate_signature(verifier: Verifier, signature: object, r: object, *,
                                rrn: str, at: dt.datetime) -> SignedText:
    """Verify an attached CMS signature by a joint, financial or private certificate of
    the person with resident number ``rrn`` (its VID with ``r``, the 20-byte random number
    the signing app returns with the signature), at ``at``: chain, validity, key usage,
    revocation, the certificate's policy and the VID. Returns the signed text. Raises
    :class:`SignatureRefusedError` with the first failed check's code, or
    :class:`BankRequestError` for a signature or R that is not bytes."""
    if not isinstance(signature, bytes) or not signature:
        raise BankRequestError("a signature is CMS SignedData (DER bytes)", field="signature")
    if not isinstance(r, bytes) or not r:
        raise BankRequestError("R is the random number of the signer's key file (bytes)",
                               field="r")
    try:
        result = verifier.verify(signature, at=at, rrn=rrn, r=r)
    except CannotEvaluateError:
        raise SignatureRefusedError("signature_invalid", "the signature is not an attached "
                                    "CMS signature kpki can read") from None
    failed = next((c for c in result.checks if c.outcome is Outcome.FAILED), None)
    if failed is not None:
        raise SignatureRefusedError(_FAILED_CHECK_CODES.get(failed.name, "signature_invalid"),
                                    f"the signature is refused: {failed.name}: "
                                    f"{failed.detail}")
    signer = result.signer
    assert signer is not None and result.content is not None
    accepted, names = _signer_facts(signer)
    if not accepted:
        raise SignatureRefusedError("certificate_not_accepted", "the signer's certificate "
                                    "is not a joint, financial or private certificate")
    digest = hashlib.sha256(names + result.content).hexdigest()
    return SignedText(result.content, digest, "certificate", signer)


_SIGNERS: dict[int, tuple[x509.Certificate, bool, bytes]] = {}
"""What :func:`_signer_facts` read of each signer, by the certificate object's id (a
verifier gives the same object for the same certificate, so a customer's transfers read
it once; hashing a certificate would cost more than reading it). The entry holds the
object, so no other object takes its id while it is there."""


def _signer_facts(signer: x509.Certificate) -> tuple[bool, bytes]:
    """Whether ``signer`` is of a family a bank accepts, and what names it in a
    signature's digest: its issuer (length first) and serial number."""
    known = _SIGNERS.get(id(signer))
    if known is None or known[0] is not signer:
        if len(_SIGNERS) >= 4096:
            _SIGNERS.clear()
        issuer = signer.issuer.public_bytes()
        known = _SIGNERS[id(signer)] = (
            signer, _of_an_accepted_family(signer),
            b"certificate\0" + len(issuer).to_bytes(4, "big") + issuer
            + signer.serial_number.to_bytes(32, "big", signed=True))
    return known[1], known[2]


def _of_an_accepted_family(signer: object) -> bool:
    assert isinstance(signer, x509.Certificate)
    try:
        policies = signer.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        return False
    return any(policy_class(p.policy_identifier.dotted_string) in _ACCEPTED_POLICIES
               for p in policies)


def verify_simple_auth(key: SimpleAuthKey, text: bytes, signature: object) -> SignedText:
    """Check an ECDSA-SHA256 signature (DER) over ``text`` with the simple-authentication
    ``key``. Raises :class:`SignatureRefusedError` (``signature_invalid``)."""
    public_key = serialization.load_der_public_key(key.public_key)
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    if not isinstance(signature, bytes):
        raise BankRequestError("a simple-authentication signature is ECDSA (DER bytes)",
                               field="signature")
    try:
        public_key.verify(signature, text, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise SignatureRefusedError("signature_invalid", "the simple-authentication "
                                    "signature does not verify with the key") from None
    digest = hashlib.sha256(b"simple-auth\0" + key.id.encode() + b"\0" + text).hexdigest()
    return SignedText(text, digest, "simple-auth")


def _public_key_der(public_key: object) -> bytes:
    if isinstance(public_key, bytes):
        data = public_key
        try:
            public_key = serialization.load_der_public_key(data)
        except ValueError:
            try:
                public_key = serialization.load_pem_public_key(data)
            except ValueError:
                public_key = None
    if not (isinstance(public_key, ec.EllipticCurvePublicKey)
            and isinstance(public_key.curve, ec.SECP256R1)):
        raise BankRequestError("a simple-authentication key is an EC P-256 public key",
                               field="public_key")
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


class Sessions:
    """Logins, sessions and simple-authentication keys of one store (see the module
    doc). ``verifier`` checks certificate logins (none: they are refused as
    ``certificate_untrusted``, nothing being trusted); ``customers`` checks password logins
    (give the bank's own: it holds the account key)."""

    def __init__(self, store: Store, *, clock: Clock, verifier: Verifier | None = None,
                 entropy: Entropy | None = None, customers: Customers | None = None
                 ) -> None:
        self.store = store
        self.clock = clock
        self.verifier = verifier or Verifier(clock=clock)
        self.entropy: Entropy = entropy or SystemEntropy()
        self.customers = customers or Customers(store, clock=clock, entropy=self.entropy)

    # -- simple-authentication keys ----------------------------------------------------------

    def register_key(self, institution: Institution, customer_id: str, *, device: str,
                     public_key: ec.EllipticCurvePublicKey | bytes) -> SimpleAuthKey:
        """Register the customer's simple-authentication key (an EC P-256 public key, as
        an object or DER/PEM bytes) bound to ``device``. One transaction."""
        customer = self.customers.get(institution, customer_id)
        key = SimpleAuthKey(id="sa_" + self.entropy.token_bytes(8).hex(),
                            institution_id=institution.id, customer_id=customer.id,
                            device=check_device(device), public_key=_public_key_der(public_key),
                            registered_at=self.clock.now())
        with self.store.transaction() as tx:
            tx.add_simple_auth_key(key)
            tx.audit(AuditAction.BANK_SIMPLE_AUTH_KEY_REGISTERED, at=key.registered_at,
                     detail={"institution": institution.name, "customer": customer.id,
                             "key": key.id, "device": key.device})
        return key

    def keys(self, institution: Institution, customer_id: str) -> tuple[SimpleAuthKey, ...]:
        customer = self.customers.get(institution, customer_id)
        return tuple(self.store.simple_auth_keys_of(customer.id))

    def remove_key(self, institution: Institution, customer_id: str, key_id: str) -> None:
        """Remove the key; its sessions end with it. One transaction."""
        key = self._key(institution, customer_id, key_id)
        now = self.clock.now()
        with self.store.transaction() as tx:
            if tx.remove_simple_auth_key(key.id, at=now):
                tx.audit(AuditAction.BANK_SIMPLE_AUTH_KEY_REMOVED, at=now,
                         detail={"institution": institution.name,
                                 "customer": key.customer_id, "key": key.id})

    def _key(self, institution: Institution, customer_id: str, key_id: object
             ) -> SimpleAuthKey:
        customer = self.customers.get(institution, customer_id)
        key = self.store.simple_auth_key(key_id) if isinstance(key_id, str) else None
        if key is None or key.customer_id != customer.id:
            raise BankNotFoundError("simple-authentication key")
        return key

    # -- logins --------------------------------------------------------------------------------

    def challenge(self, institution: Institution, customer_id: str) -> LoginChallenge:
        """A login challenge for the customer, to sign with a simple-authentication key
        or a certificate, whose internet banking is active (:class:`NotEnrolledError`,
        :class:`EnrolmentExpiredError` otherwise). One transaction."""
        customer = self.customers.require_enrolled(institution, customer_id)
        now = self.clock.now()
        record = LoginChallengeRecord(
            id="lc_" + self.entropy.token_bytes(12).hex(), institution_id=institution.id,
            customer_id=customer.id, nonce=self.entropy.token_bytes(16).hex(), issued_at=now,
            expires_at=now + settings_of(institution).challenge_lifetime)
        with self.store.transaction() as tx:
            tx.add_login_challenge(record)
            tx.audit(AuditAction.BANK_LOGIN_CHALLENGED, at=now,
                     detail={"institution": institution.name, "customer": customer.id})
        return LoginChallenge(record.id, _challenge_text(institution, record.nonce),
                              record.expires_at)

    def login_simple_auth(self, institution: Institution, challenge_id: str, *, key_id: str,
                          signature: bytes) -> Session:
        """Log in with the simple-authentication key ``key_id``'s ECDSA signature over
        the challenge's text. Raises :class:`BankNotFoundError`,
        :class:`LoginRefusedError` (challenge used or expired, key removed) or
        :class:`SignatureRefusedError`."""
        challenge, customer = self._challenge(institution, challenge_id)
        key = self._key(institution, customer.id, key_id)
        if key.removed_at is not None:
            raise LoginRefusedError("simple_auth_key_removed",
                                    "this simple-authentication key was removed")
        verify_simple_auth(key, _challenge_text(institution, challenge.nonce), signature)
        return self._start(institution, customer, SessionMethod.SIMPLE_AUTH,
                           challenge=challenge, key_id=key.id)

    def login_certificate(self, institution: Institution, challenge_id: str, *,
                          signature: bytes, r: bytes) -> Session:
        """Log in with a joint or financial certificate's attached CMS signature over the
        challenge's text, with the R of its key for the VID check
        (:func:`check_certificate_signature`). Raises as :meth:`login_simple_auth`."""
        challenge, customer = self._challenge(institution, challenge_id)
        signed = check_certificate_signature(self.verifier, signature, r, rrn=customer.rrn,
                                             at=self.clock.now())
        if signed.text != _challenge_text(institution, challenge.nonce):
            raise SignatureRefusedError("signed_text_mismatch",
                                        "the signature is not over this login challenge")
        return self._start(institution, customer, SessionMethod.CERTIFICATE,
                           challenge=challenge)

    def login_password(self, institution: Institution, customer_id: str, *, account: str,
                       password: str) -> Session:
        """Log in with ID and password: the customer's ``account`` and its 4-digit
        password (see the module doc). Raises :class:`LoginRefusedError`
        (``account_not_owned``), :class:`BankRequestError` (``account`` is no account
        number), :class:`NotEnrolledError` / :class:`EnrolmentExpiredError` (internet
        banking not active) and what :meth:`Customers.check_password` raises."""
        customer = self.customers.require_enrolled(institution, customer_id)
        owned = self.store.account(institution.id, check_account_number(account))
        if owned is None or owned.customer_id != customer.id:
            raise LoginRefusedError("account_not_owned", "not an account of this customer")
        self.customers.check_password(institution, owned.number, password)
        return self._start(institution, customer, SessionMethod.PASSWORD)

    def _challenge(self, institution: Institution, challenge_id: object
                   ) -> tuple[LoginChallengeRecord, BankCustomer]:
        challenge = (self.store.login_challenge(challenge_id) if isinstance(challenge_id, str)
                     else None)
        if challenge is None or challenge.institution_id != institution.id:
            raise BankNotFoundError("challenge")
        self._check_challenge(challenge, self.clock.now())
        return challenge, self.customers.get(institution, challenge.customer_id)

    @staticmethod
    def _check_challenge(challenge: LoginChallengeRecord, now: dt.datetime) -> None:
        if challenge.used_at is not None:
            raise LoginRefusedError("login_challenge_used", "this login challenge was "
                                    "answered already: ask for a new one")
        if now > challenge.expires_at:
            raise LoginRefusedError("login_challenge_expired", "this login challenge has "
                                    "expired: ask for a new one")

    def _start(self, institution: Institution, customer: BankCustomer,
               method: SessionMethod, *, challenge: LoginChallengeRecord | None = None,
               key_id: str | None = None) -> Session:
        now = self.clock.now()
        session = BankSession(id="s_" + self.entropy.token_bytes(16).hex(),
                              institution_id=institution.id, customer_id=customer.id,
                              method=method, key_id=key_id, started_at=now,
                              expires_at=now + dt.timedelta(
                                  seconds=settings_of(institution).session_seconds))
        with self.store.transaction() as tx:
            if challenge is not None:
                current = tx.login_challenge(challenge.id)
                assert current is not None
                self._check_challenge(current, now)
                tx.use_login_challenge(challenge.id, at=now)
            if key_id is not None:
                key = tx.simple_auth_key(key_id)
                if key is None or key.removed_at is not None:
                    raise LoginRefusedError("simple_auth_key_removed",
                                            "this simple-authentication key was removed")
            tx.add_bank_session(session)
            tx.audit(AuditAction.BANK_SESSION_STARTED, at=now,
                     detail={"institution": institution.name, "customer": customer.id,
                             "method": method.value, "key": key_id,
                             "expires": session.expires_at.astimezone(KST).isoformat()})
        return session

    # -- sessions ------------------------------------------------------------------------------

    def get(self, institution: Institution, session_id: object) -> Session:
        """The institution's session; :class:`BankNotFoundError` for any other."""
        session = self.store.bank_session(session_id) if isinstance(session_id, str) else None
        if session is None or session.institution_id != institution.id:
            raise BankNotFoundError("session")
        return session

    def live(self, session: Session, at: dt.datetime | None = None) -> bool:
        """Whether the session has not ended nor expired (at ``at``, else now)."""
        now = at or self.clock.now()
        return session.ended_at is None and now <= session.expires_at

    def logout(self, institution: Institution, session_id: str) -> None:
        """End the session (harmless on one that ended). One transaction."""
        session = self.get(institution, session_id)
        now = self.clock.now()
        with self.store.transaction() as tx:
            if tx.end_bank_session(session.id, at=now):
                tx.audit(AuditAction.BANK_SESSION_ENDED, at=now,
                         detail={"institution": institution.name,
                                 "customer": session.customer_id})

    def simple_auth_key_for(self, institution: Institution, customer: BankCustomer,
                            session_id: object, *, device: str | None,
                            at: dt.datetime) -> SimpleAuthKey:
        """The key a simple-auth signature of ``customer`` from ``device`` must be made
        with: that of a live ``SIMPLE_AUTH`` session of the customer. Raises
        :class:`SignatureRefusedError`: ``simple_auth_not_in_session`` (no such session
        of the customer, or one of another method), ``session_expired`` (expired, ended,
        or its key removed), ``simple_auth_wrong_device``."""
        session = self.store.bank_session(session_id) if isinstance(session_id, str) else None
        if (session is None or session.institution_id != institution.id
                or session.customer_id != customer.id
                or session.method is not SessionMethod.SIMPLE_AUTH or session.key_id is None):
            raise SignatureRefusedError(
                "simple_auth_not_in_session", "a simple-authentication signature is taken "
                "only within a session the customer logged in to with simple authentication")
        key = self.store.simple_auth_key(session.key_id)
        if not self.live(session, at) or key is None or key.removed_at is not None:
            raise SignatureRefusedError("session_expired", "the simple-authentication "
                                        "session has ended: log in again")
        if device != key.device:
            raise SignatureRefusedError("simple_auth_wrong_device", "the simple-"
                                        "authentication key is bound to another device")
        return key
