"""Whether a certificate was revoked: the verifier's revocation sources, strictly.

A source answers with a :class:`Status` or raises :class:`RevocationUnavailable` saying
what is missing; the verifier never turns "no answer" into "not revoked". The rules
(RFC 5280 section 6.3, RFC 6960 section 3.2):

* **A full CRL** counts for a certificate when it is signed by the certificate's issuer
  (its name and its key), its scope covers the certificate (an issuingDistributionPoint
  must name the certificate's CRL distribution point, must not be limited to CA or user
  certificates the certificate is not, to some reasons, or be indirect), it carries no
  critical extension kpki does not know, and it is **current**: thisUpdate <= the
  validation time <= nextUpdate.
* **A delta CRL** counts only together with such a full CRL of the same issuer and scope
  whose CRL number is at least the delta's BaseCRLNumber and below the delta's own number,
  and only when it is current itself. Alone it proves nothing: it lists changes.
* **An OCSP response** counts when it is a successful basic response about this very
  certificate (serial number, issuer name hash and issuer key hash), signed by the issuer
  or by a responder certificate the issuer issued for the purpose (id-kp-OCSPSigning and
  id-pkix-ocsp-nocheck, valid at the validation time), and current (thisUpdate <= the
  validation time <= nextUpdate).
* **A home's records** (:class:`RecordsSource`) are the CA's own database: always current.

``allow_stale`` lets data outside its window through, and the status says so
(:attr:`Status.stale`), for demonstrations with old material. Nothing else is relaxed.

Sources that go to the network (:attr:`RevocationSource.fetches`) are asked only about
certificates whose chain already validates (see :mod:`pki.signing.verify`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from asn1crypto import crl as asn1_crl
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from ..clock import KST
from ..errors import FetchError, PKIError, RevocationDataError
from ..parsing import PARSE_WARNINGS, strict_parsing

if TYPE_CHECKING:
    from ..store import Store

__all__ = [
    "PARSE_ERRORS",
    "SIGNATURE_ERRORS",
    "CRLIndex",
    "CRLSource",
    "FetchedCRLSource",
    "OCSPSource",
    "RecordsSource",
    "RevocationSource",
    "RevocationUnavailable",
    "Status",
    "check_ocsp_response",
]

PARSE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError,
    x509.DuplicateExtension, x509.UnsupportedGeneralNameType, x509.InvalidVersion,
    UnsupportedAlgorithm, *PARSE_WARNINGS)
"""What cryptography and asn1crypto raise for malformed input (parsing is often lazy, so
these can surface on any attribute access), and what pyca only warns about, raised inside
:func:`pki.parsing.strict_parsing`. Never let one reach a caller."""
SIGNATURE_ERRORS: tuple[type[BaseException], ...] = (*PARSE_ERRORS, InvalidSignature)
"""What checking a signature over malformed input can raise."""

HttpGet = Callable[[str, bytes | None], bytes]

_KNOWN_CRL_EXTENSIONS = frozenset({
    x509.oid.ExtensionOID.CRL_NUMBER, x509.oid.ExtensionOID.DELTA_CRL_INDICATOR,
    x509.oid.ExtensionOID.ISSUING_DISTRIBUTION_POINT,
    x509.oid.ExtensionOID.AUTHORITY_KEY_IDENTIFIER, x509.oid.ExtensionOID.FRESHEST_CRL,
    x509.oid.ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    x509.oid.ExtensionOID.ISSUER_ALTERNATIVE_NAME})
_KNOWN_ENTRY_EXTENSIONS = frozenset({
    x509.oid.CRLEntryExtensionOID.CRL_REASON, x509.oid.CRLEntryExtensionOID.INVALIDITY_DATE})


class RevocationUnavailable(PKIError):
    """A source has no usable answer about a certificate; the message says what is
    missing (no CRL of that issuer, a stale CRL, a delta without its base, ...)."""


@dataclass(frozen=True)
class Status:
    """What a source knows about one certificate."""

    revoked_at: dt.datetime | None
    """When it was revoked or suspended; None: not revoked."""
    reason: x509.ReasonFlags | None
    """The reason code (``certificate_hold`` for a suspension), None when none was given."""
    invalidity_date: dt.datetime | None
    """Since when the key is known or suspected to be unsafe, when the CA says so."""
    source: str
    """Where this was learnt, for the report ("CRL 5 of yessignCA, with delta CRL 6")."""
    stale: str | None = None
    """Why the data was outside its validity window, when ``allow_stale`` let it through."""


class RevocationSource(Protocol):
    """Something the verifier can ask about a certificate's revocation."""

    @property
    def fetches(self) -> bool:
        """Whether asking goes to the network (then only for validated chains)."""
        ...

    def status(self, cert: x509.Certificate, issuer: x509.Certificate, *, at: dt.datetime,
               allow_stale: bool) -> Status:
        """The status of ``cert`` (issued by ``issuer``) from data current at ``at``;
        raises :class:`RevocationUnavailable`."""
        ...


Now = Callable[[], dt.datetime]
"""The current time, read when a fetched answer is checked. The sources that fetch (OCSP,
CRLs at distribution points) take it when the verifier validates "now": an answer is then
judged at the time it is checked, since a live responder's thisUpdate may be later than the
moment the verification began (openssl, Java and pyHanko compare it with the current time
too). With a time given, ``now`` is None and ``at`` stays the time."""


def _kst(value: dt.datetime) -> str:
    return f"{value.astimezone(KST):%Y-%m-%d %H:%M:%S} KST"


def _name(cert_or_name: x509.Certificate | x509.Name) -> str:
    name = cert_or_name.subject if isinstance(cert_or_name, x509.Certificate) else cert_or_name
    try:
        cn = name.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(cn[0].value) if cn else name.rfc4514_string()
    except PARSE_ERRORS:
        return "(an unreadable name)"


def _window(this_update: dt.datetime, next_update: dt.datetime | None, at: dt.datetime
            ) -> str | None:
    """Why data issued for [this_update, next_update] is not current at ``at``, or None."""
    if at < this_update:
        return (f"its thisUpdate {_kst(this_update)} is after the validation time "
                f"{_kst(at)}")
    if next_update is None:
        return "it has no nextUpdate, so nothing says it is still current"
    if at > next_update:
        return f"it expired at its nextUpdate {_kst(next_update)} (validation time {_kst(at)})"
    return None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


# -- CRLs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    revoked_at: dt.datetime
    reason: x509.ReasonFlags | None
    invalidity_date: dt.datetime | None


class CRLIndex:
    """A CRL loaded once, whatever its length, with look-ups by serial.

    Construction reads the CRL's own fields and extensions (raising
    :class:`RevocationDataError` for a malformed one); pyca checks the shape of every
    entry as it loads the DER. Entries are read when looked up: the first look-up scans
    the entries inside pyca (no Python object per entry), later ones use a table of the
    entries built once. A one-shot ``kpki verify`` asks a CRL about one serial: building
    the table of a 1,000,000-entry CRL would take seconds of its time (issue 18).

    The answer is the same either way: the first entry listing a serial is the one that
    counts (a CRL listing a serial twice is malformed; both ways read the first).
    ``tests/test_crl_lookup.py`` compares them. The signature is checked over the CRL's
    exact to-be-signed bytes (:meth:`signed_by`).
    """

    def __init__(self, crl: x509.CertificateRevocationList, der: bytes | None = None) -> None:
        self.crl = crl
        self._der = der
        """The DER ``crl`` was loaded from, when the caller has it (:meth:`load` of DER;
        a CRL given as PEM is checked by pyca, slower for a long one)."""
        self._signers: dict[x509.Certificate, bool] = {}
        self._entries: dict[int, x509.RevokedCertificate] | None = None
        self._scanned = False
        self._tbs: bytes | None = None
        with strict_parsing():
            try:
                self.issuer: x509.Name = crl.issuer
                self.issuer_der = self.issuer.public_bytes()
                self.this_update: dt.datetime = crl.last_update_utc
                self.next_update: dt.datetime | None = crl.next_update_utc
                extensions = crl.extensions
            except PARSE_ERRORS as exc:
                raise RevocationDataError(f"the CRL is malformed: {exc}") from None
        self.number: int | None = None
        self.delta_base: int | None = None
        """The BaseCRLNumber of a delta CRL; None for a full CRL."""
        self.scope: x509.IssuingDistributionPoint | None = None
        self.unknown_critical: list[str] = []
        for ext in extensions:
            value = ext.value
            if isinstance(value, x509.CRLNumber):
                self.number = value.crl_number
            elif isinstance(value, x509.DeltaCRLIndicator):
                self.delta_base = value.crl_number
            elif isinstance(value, x509.IssuingDistributionPoint):
                self.scope = value
            if ext.critical and ext.oid not in _KNOWN_CRL_EXTENSIONS:
                self.unknown_critical.append(ext.oid.dotted_string)

    @classmethod
    def load(cls, data: bytes) -> CRLIndex:
        """A CRL from DER or PEM bytes; :class:`RevocationDataError` if it is not one."""
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                return cls(x509.load_pem_x509_crl(data))
            return cls(x509.load_der_x509_crl(data), data)
        except PARSE_ERRORS:
            raise RevocationDataError("not a CRL: the DER or PEM does not parse") from None

    def __len__(self) -> int:
        return len(self.crl)

    @property
    def is_delta(self) -> bool:
        return self.delta_base is not None

    @property
    def label(self) -> str:
        kind = "delta CRL" if self.is_delta else "CRL"
        number = f" {self.number}" if self.number is not None else ""
        return f"{kind}{number} of {_name(self.issuer)}"

    def signed_by(self, issuer: x509.Certificate) -> bool:
        """Whether ``issuer`` signed this CRL; checked once per issuer, the CRL may be
        tens of megabytes.

        As pyca's ``is_signature_valid`` decides, without its cost: that encodes the
        to-be-signed part again before checking the signature over it (1.6 s of a
        1,000,000-entry CRL), where the bytes read are at hand. So the signature is
        checked here over the to-be-signed bytes exactly as they were read, with the
        algorithm both copies of it in the CRL name (they must be equal, as pyca requires);
        a key type other than RSA or EC is left to pyca."""
        known = self._signers.get(issuer)
        if known is None:
            try:
                known = self._signature_valid(issuer.public_key())
            except SIGNATURE_ERRORS:
                known = False
            self._signers[issuer] = known
        return known

    def _signed_bytes(self) -> bytes | None:
        """The to-be-signed part of the DER as read, or None without the DER (or when the
        algorithm inside it is not the one outside: pyca's check then says no)."""
        if self._der is None:
            return None
        if self._tbs is None:
            whole = asn1_crl.CertificateList.load(self._der, strict=True)
            tbs = whole["tbs_cert_list"]
            same = tbs["signature"].dump() == whole["signature_algorithm"].dump()
            self._tbs = tbs.dump() if same else b""
        return self._tbs or None

    def _signature_valid(self, key: object) -> bool:
        """Raises what :data:`SIGNATURE_ERRORS` lists for a bad signature or CRL."""
        crl = self.crl
        params = crl.signature_algorithm_parameters
        signed = self._signed_bytes()
        if signed is None:
            return crl.is_signature_valid(key)  # type: ignore[arg-type]
        hash_algorithm = crl.signature_hash_algorithm
        if (isinstance(key, rsa.RSAPublicKey) and hash_algorithm is not None
                and isinstance(params, padding.PKCS1v15 | padding.PSS)):
            key.verify(crl.signature, signed, params, hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(params, ec.ECDSA):
            key.verify(crl.signature, signed, params)
        else:
            return crl.is_signature_valid(key)  # type: ignore[arg-type]
        return True

    def not_current(self, at: dt.datetime) -> str | None:
        """Why this CRL is not current at ``at`` (None when it is)."""
        return _window(self.this_update, self.next_update, at)

    def out_of_scope(self, cert: x509.Certificate) -> str | None:
        """Why this CRL cannot speak for ``cert`` (None when it can)."""
        if self.unknown_critical:
            return (f"it carries a critical extension kpki does not know "
                    f"({', '.join(self.unknown_critical)})")
        scope = self.scope
        if scope is None:
            return None
        if scope.indirect_crl:
            return "it is an indirect CRL, which kpki does not use"
        if scope.only_contains_attribute_certs:
            return "it covers attribute certificates only"
        if scope.only_some_reasons:
            return "it covers only some revocation reasons, so it is not complete"
        is_ca = _is_ca(cert)
        if scope.only_contains_ca_certs and not is_ca:
            return "it covers CA certificates only"
        if scope.only_contains_user_certs and is_ca:
            return "it covers end-entity certificates only"
        if scope.relative_name is not None:
            return "its distribution point is a relative name, which kpki does not match"
        if scope.full_name:
            try:
                points = cert.extensions.get_extension_for_class(
                    x509.CRLDistributionPoints).value
            except x509.ExtensionNotFound:
                return ("a different CRL scope: it names a distribution point and the "
                        "certificate names none")
            names = {n for p in points for n in (p.full_name or [])}
            if not names.intersection(scope.full_name):
                wanted = ", ".join(str(getattr(n, "value", n)) for n in scope.full_name)
                return (f"a different CRL scope: its issuingDistributionPoint ({wanted}) is "
                        "not the certificate's CRL distribution point")
        return None

    def _entry(self, serial: int) -> x509.RevokedCertificate | None:
        """The first entry listing ``serial``: scanned for inside pyca the first time, from
        the table of all entries after."""
        if not self._scanned:
            self._scanned = True
            return self.crl.get_revoked_certificate_by_serial_number(serial)
        if self._entries is None:
            with strict_parsing():
                try:
                    self._entries = _first_entries(self.crl)
                except PARSE_ERRORS as exc:
                    raise RevocationDataError(f"the CRL is malformed: {exc}") from None
        return self._entries.get(serial)

    def lookup(self, serial: int) -> _Entry | None:
        """The entry for ``serial``: None when it is not listed. A ``removeFromCRL`` entry
        (in a delta CRL) comes back with reason ``remove_from_crl``. Raises
        :class:`RevocationDataError` for an entry that cannot be read."""
        entry = self._entry(serial)
        if entry is None:
            return None
        try:
            with strict_parsing():
                reason = None
                invalid = None
                for ext in entry.extensions:
                    if isinstance(ext.value, x509.CRLReason):
                        reason = ext.value.reason
                    elif isinstance(ext.value, x509.InvalidityDate):
                        invalid = ext.value.invalidity_date_utc
                    elif ext.critical and ext.oid not in _KNOWN_ENTRY_EXTENSIONS:
                        raise RevocationDataError(
                            f"the {self.label} lists serial {serial:X} with a critical entry "
                            f"extension kpki does not know ({ext.oid.dotted_string})")
                return _Entry(entry.revocation_date_utc, reason, invalid)
        except PARSE_ERRORS as exc:
            raise RevocationDataError(
                f"the {self.label} has a malformed entry for serial {serial:X}: {exc}"
            ) from None


def _first_entries(crl: x509.CertificateRevocationList) -> dict[int, x509.RevokedCertificate]:
    """Each serial's first entry in ``crl``: every entry read (the table of
    :meth:`CRLIndex.lookup` from its second look-up on)."""
    entries: dict[int, x509.RevokedCertificate] = {}
    for revoked in crl:
        entries.setdefault(revoked.serial_number, revoked)
    return entries


def _status_from(entry: _Entry | None, source: str, stale: str | None) -> Status:
    if entry is None:
        return Status(None, None, None, source, stale)
    return Status(entry.revoked_at, entry.reason, entry.invalidity_date, source, stale)


@dataclass(frozen=True)
class _Candidates:
    """The CRLs that can speak for one certificate, whatever the time: signed by its
    issuer and in scope."""

    fulls: tuple[CRLIndex, ...]
    deltas: tuple[CRLIndex, ...]
    problems: tuple[str, ...]


def _candidates(crls: Iterable[CRLIndex], cert: x509.Certificate, issuer: x509.Certificate
                ) -> _Candidates:
    issuer_name = cert.issuer.public_bytes()
    mine = [c for c in crls if c.issuer_der == issuer_name]
    if not mine:
        raise RevocationUnavailable(f"no CRL of {_name(issuer)} was given")
    problems: list[str] = []
    usable: list[CRLIndex] = []
    for crl in mine:
        if not crl.signed_by(issuer):
            problems.append(f"the {crl.label}: its signature does not verify with "
                            f"{_name(issuer)}'s key")
            continue
        scope = crl.out_of_scope(cert)
        if scope is not None:
            problems.append(f"the {crl.label} cannot speak for this certificate: {scope}")
            continue
        usable.append(crl)
    return _Candidates(tuple(c for c in usable if not c.is_delta),
                       tuple(c for c in usable if c.is_delta), tuple(problems))


def crl_status(crls: Iterable[CRLIndex], cert: x509.Certificate, issuer: x509.Certificate,
               *, at: dt.datetime, allow_stale: bool,
               candidates: _Candidates | None = None) -> Status:
    """The status of ``cert`` from the full and delta CRLs among ``crls``, by the rules in
    the module documentation; raises :class:`RevocationUnavailable` saying what is
    missing. ``candidates`` is what :func:`_candidates` found before, if it was asked."""
    known = candidates if candidates is not None else _candidates(crls, cert, issuer)
    fulls, deltas, problems = known.fulls, known.deltas, known.problems
    if not fulls:
        if deltas and not problems:
            alone = deltas[0]
            raise RevocationUnavailable(
                f"the {alone.label} lists only the changes since full CRL "
                f"{alone.delta_base}: it counts only together with a full CRL of "
                f"{_name(issuer)} numbered {alone.delta_base} or later, and none was given")
        raise RevocationUnavailable("; ".join(problems) or f"no full CRL of {_name(issuer)}")
    current = [c for c in fulls if c.not_current(at) is None]
    stale: str | None = None
    if current:
        full = max(current, key=lambda c: (c.number or -1, c.this_update))
    else:
        full = max(fulls, key=lambda c: (c.this_update, c.number or -1))
        why = full.not_current(at)
        if not allow_stale:
            raise RevocationUnavailable(f"the {full.label} is not current: {why}")
        stale = f"the {full.label}: {why}"
    delta, unused = _delta_for(full, deltas, cert, at, allow_stale)
    source = f"{full.label}" + (f", with delta CRL {delta.number}" if delta else "")
    if unused:
        source += f"; {unused}"
    if delta is not None:
        if stale is None and delta.not_current(at) is not None:
            stale = f"the {delta.label}: {delta.not_current(at)}"
        found = delta.lookup(cert.serial_number)
        if found is not None:
            if found.reason is x509.ReasonFlags.remove_from_crl:
                return Status(None, None, None, source, stale)
            return _status_from(found, source, stale)
    found = full.lookup(cert.serial_number)
    if found is not None and found.reason is x509.ReasonFlags.remove_from_crl:
        found = None  # removeFromCRL belongs on delta CRLs; on a full CRL it means "not here"
    return _status_from(found, source, stale)


def _delta_for(full: CRLIndex, deltas: Sequence[CRLIndex], cert: x509.Certificate,
               at: dt.datetime, allow_stale: bool) -> tuple[CRLIndex | None, str | None]:
    """The newest delta CRL usable with ``full``, and why any others were left out."""
    left_out: list[str] = []
    usable: list[CRLIndex] = []
    for delta in deltas:
        base = delta.delta_base
        assert base is not None
        if full.number is None or delta.number is None:
            left_out.append(f"{delta.label} not used: a delta and its base need CRL numbers")
        elif delta.scope != full.scope:
            left_out.append(f"{delta.label} not used: its scope is not the full CRL's")
        elif not base <= full.number < delta.number:
            left_out.append(f"{delta.label} not used: it is based on CRL {base}, and the full "
                            f"CRL is number {full.number}")
        elif delta.not_current(at) is not None and not allow_stale:
            left_out.append(f"{delta.label} not used: {delta.not_current(at)}")
        else:
            usable.append(delta)
    chosen = max(usable, key=lambda d: d.number or -1) if usable else None
    return chosen, ("; ".join(left_out) or None)


class CRLSource:
    """CRLs given by the caller (full, and delta CRLs with their base)."""

    fetches = False

    def __init__(self, crls: Iterable[CRLIndex]) -> None:
        self.crls = list(crls)
        # Which CRLs can speak for a certificate does not depend on the time: remember it.
        self._candidates: dict[tuple[x509.Certificate, x509.Certificate],
                               _Candidates | RevocationUnavailable] = {}

    def status(self, cert: x509.Certificate, issuer: x509.Certificate, *, at: dt.datetime,
               allow_stale: bool) -> Status:
        key = (cert, issuer)
        found = self._candidates.get(key)
        if found is None:
            try:
                found = _candidates(self.crls, cert, issuer)
            except RevocationUnavailable as exc:
                found = exc
            if len(self._candidates) > 4096:
                self._candidates.clear()
            self._candidates[key] = found
        if isinstance(found, RevocationUnavailable):
            raise RevocationUnavailable(str(found))
        return crl_status(self.crls, cert, issuer, at=at, allow_stale=allow_stale,
                          candidates=found)


def _http_urls(names: Iterable[x509.GeneralName]) -> list[str]:
    return [n.value for n in names if isinstance(n, x509.UniformResourceIdentifier)
            and n.value.lower().startswith(("http://", "https://"))]


class FetchedCRLSource:
    """The full CRL at the certificate's CRL distribution point, fetched once per URL and
    again when the one held is no longer current."""

    fetches = True

    def __init__(self, http: HttpGet) -> None:
        self.http = http
        self._fetched: dict[str, CRLIndex] = {}

    def forget(self) -> None:
        self._fetched.clear()

    def status(self, cert: x509.Certificate, issuer: x509.Certificate, *, at: dt.datetime,
               allow_stale: bool, now: Now | None = None) -> Status:
        """See :data:`Now` for ``now``."""
        try:
            points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        except x509.ExtensionNotFound:
            raise RevocationUnavailable("the certificate names no CRL distribution point"
                                        ) from None
        urls = _http_urls(n for p in points for n in (p.full_name or []))
        if not urls:
            raise RevocationUnavailable("the certificate names no http CRL distribution point")
        url = urls[0]
        held: CRLIndex | None = self._fetched.get(url)
        if held is None or held.not_current(at) is not None:
            try:
                held = CRLIndex.load(self.http(url, None))
            except (FetchError, RevocationDataError) as exc:
                raise RevocationUnavailable(f"the CRL at {url}: {exc}") from None
            if len(self._fetched) > 64:
                self._fetched.clear()
            self._fetched[url] = held
            at = at if now is None else now()
        status = crl_status([held], cert, issuer, at=at, allow_stale=allow_stale)
        return Status(status.revoked_at, status.reason, status.invalidity_date,
                      f"{status.source}, fetched from {url}", status.stale)


# -- OCSP ----------------------------------------------------------------------------------


class OCSPSource:
    """The OCSP responder named in the certificate's authorityInfoAccess."""

    fetches = True

    def __init__(self, http: HttpGet) -> None:
        self.http = http

    def status(self, cert: x509.Certificate, issuer: x509.Certificate, *, at: dt.datetime,
               allow_stale: bool, now: Now | None = None) -> Status:
        """See :data:`Now` for ``now``."""
        try:
            aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        except x509.ExtensionNotFound:
            raise RevocationUnavailable("the certificate names no OCSP responder") from None
        urls = _http_urls(d.access_location for d in aia
                          if d.access_method == AuthorityInformationAccessOID.OCSP)
        if not urls:
            raise RevocationUnavailable("the certificate names no http OCSP responder")
        request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256())
        try:
            answer = self.http(urls[0], request.build().public_bytes(serialization.Encoding.DER))
        except FetchError as exc:
            raise RevocationUnavailable(f"OCSP: {exc}") from None
        return check_ocsp_response(answer, cert, issuer, at=at if now is None else now(),
                                   allow_stale=allow_stale)


_OCSP_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
    "sha512": hashes.SHA512}


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize()


def _key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's value (what OCSP hashes for a key)."""
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.PKCS1)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except SIGNATURE_ERRORS:
        return False


def check_ocsp_response(der: bytes, cert: x509.Certificate, issuer: x509.Certificate, *,
                        at: dt.datetime, allow_stale: bool = False) -> Status:
    """The status of ``cert`` an OCSP response gives, by the rules in the module
    documentation; raises :class:`RevocationUnavailable` for anything else."""
    try:
        return _check_ocsp(der, cert, issuer, at=at, allow_stale=allow_stale)
    except PARSE_ERRORS as exc:
        raise RevocationUnavailable(f"the OCSP response is malformed: {exc}") from None


def _check_ocsp(der: bytes, cert: x509.Certificate, issuer: x509.Certificate, *,
                at: dt.datetime, allow_stale: bool) -> Status:
    with strict_parsing():
        response = ocsp.load_der_ocsp_response(der)
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise RevocationUnavailable(
                f"the OCSP responder answered {response.response_status.name}")
        single = _single_for(response, cert, issuer)
        responder = _responder(response, issuer, at)
        key = responder.public_key()
        hash_algorithm = response.signature_hash_algorithm
        if not isinstance(key, rsa.RSAPublicKey) or hash_algorithm is None:
            raise RevocationUnavailable("the OCSP response is not signed with RSA")
        try:
            key.verify(response.signature, response.tbs_response_bytes, padding.PKCS1v15(),
                       hash_algorithm)
        except InvalidSignature:
            raise RevocationUnavailable("the OCSP response's signature does not verify "
                                        f"with {_name(responder)}'s key") from None
        this_update, next_update = single.this_update_utc, single.next_update_utc
        why = _window(this_update, next_update, at)
        if why is not None and not allow_stale:
            raise RevocationUnavailable(f"the OCSP response is not current: {why}")
        window = (f"thisUpdate {_kst(this_update)}" if next_update is None else
                  f"current until {_kst(next_update)}")
        source = f"OCSP, signed by {_name(responder)}, {window}"
        stale = None if why is None else f"the OCSP response: {why}"
        status = single.certificate_status
        if status is ocsp.OCSPCertStatus.GOOD:
            return Status(None, None, None, source, stale)
        if status is ocsp.OCSPCertStatus.UNKNOWN:
            raise RevocationUnavailable(
                f"the OCSP responder does not know the certificate ({source})")
        revoked_at = single.revocation_time_utc
        if revoked_at is None:
            raise RevocationUnavailable("the OCSP response says revoked without a time")
        invalid = None
        if sum(1 for _ in response.responses) == 1:
            for ext in response.single_extensions:
                if isinstance(ext.value, x509.InvalidityDate):
                    invalid = ext.value.invalidity_date_utc
        return Status(revoked_at, single.revocation_reason, invalid, source, stale)


def _single_for(response: ocsp.OCSPResponse, cert: x509.Certificate,
                issuer: x509.Certificate) -> ocsp.OCSPSingleResponse:
    name_der = issuer.subject.public_bytes()
    key_bits = _key_bits(issuer)
    for single in response.responses:
        if single.serial_number != cert.serial_number:
            continue
        make = _OCSP_HASHES.get(single.hash_algorithm.name)
        if make is None:
            continue
        algorithm = make()
        if (single.issuer_name_hash == _digest(algorithm, name_der)
                and single.issuer_key_hash == _digest(algorithm, key_bits)):
            return single
    raise RevocationUnavailable("the OCSP response is not about this certificate (serial "
                                "number, issuer name and issuer key must all match)")


def _names_responder(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if response.responder_name is not None:
        return response.responder_name == cert.subject
    key_hash = response.responder_key_hash
    return key_hash is not None and key_hash == hashlib.sha1(_key_bits(cert)).digest()


def _responder(response: ocsp.OCSPResponse, issuer: x509.Certificate, at: dt.datetime
               ) -> x509.Certificate:
    """The issuer itself, or a delegated responder the issuer authorised."""
    if _names_responder(response, issuer):
        return issuer
    problems: list[str] = []
    for candidate in response.certificates:
        if not _names_responder(response, candidate):
            continue
        if not _issued_by(candidate, issuer):
            problems.append(f"{_name(candidate)} is not issued by {_name(issuer)}")
            continue
        try:
            usage = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            usage = None
        if usage is None or ExtendedKeyUsageOID.OCSP_SIGNING not in usage:
            problems.append(f"{_name(candidate)} is not for OCSP signing")
            continue
        try:
            candidate.extensions.get_extension_for_class(x509.OCSPNoCheck)
        except x509.ExtensionNotFound:
            problems.append(f"{_name(candidate)} has no ocsp-nocheck, and kpki does not "
                            "check a responder's own revocation")
            continue
        if not candidate.not_valid_before_utc <= at <= candidate.not_valid_after_utc:
            problems.append(f"{_name(candidate)} is not valid at {_kst(at)}")
            continue
        return candidate
    detail = f" ({'; '.join(problems)})" if problems else ""
    raise RevocationUnavailable(
        f"the OCSP response is not signed by {_name(issuer)} or a responder it authorised"
        f"{detail}")


# -- a home's records ----------------------------------------------------------------------


class RecordsSource:
    """A kpki home's own records: the status its CRLs and OCSP responder publish, without
    waiting for the next publication. Answers only for the home's CAs: for the certificates
    they issued, and for the CA certificates the root issued (recorded among the root's
    certificates once revoked or suspended, like the TSA's; a CA certificate with no such
    record was never revoked)."""

    fetches = False

    def __init__(self, store: Store) -> None:
        self.store = store

    def status(self, cert: x509.Certificate, issuer: x509.Certificate, *, at: dt.datetime,
               allow_stale: bool) -> Status:
        from ..store import CertStatus

        issuer_der = issuer.public_bytes(serialization.Encoding.DER)
        cert_der = cert.public_bytes(serialization.Encoding.DER)
        cas = self.store.list_cas()
        label = next((r.label for r in cas if r.der == issuer_der), None)
        if label is None:
            raise RevocationUnavailable(f"{_name(issuer)} is not a CA of this home")
        found = [r for r in self.store.find_certificates(cert.serial_number, ca=label)
                 if r.der == cert_der]
        source = f"the home's records of CA {label}"
        if not found:
            ca = next((r.label for r in cas if r.der == cert_der and r.parent == label), None)
            if ca is not None:
                return Status(None, None, None, f"{source}: its CA {ca}, never revoked")
            raise RevocationUnavailable(
                f"CA {label} has no record of serial {cert.serial_number:X}")
        record = found[0]
        if record.status is CertStatus.VALID:
            return Status(None, None, None, source)
        when = record.revoked_at or record.status_changed_at
        if when is None:
            raise RevocationUnavailable(f"CA {label} records no revocation time for serial "
                                        f"{cert.serial_number:X}")
        if record.status is CertStatus.SUSPENDED:
            return Status(when, x509.ReasonFlags.certificate_hold, None, source)
        return Status(when, record.reason, record.invalidity_date, source)
