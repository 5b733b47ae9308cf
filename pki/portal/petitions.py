"""The portal's petitions: received, time-stamped, kept, and judged check by check.

A citizen's petition arrives with a CMS SignedData made in the browser: by a joint
certificate through the local agent, by a financial certificate through the SDK (both
over the petition's bytes, in the encoding the citizen chose: UTF-8 or EUC-KR), or by
simple authentication, where the person's app signs an *approval* of the portal's request
(:class:`pki.simpleauth.Approval`) whose nonce is the digest of the petition's bytes
(:func:`petition_nonce`), so the approval binds the petition.

**On receipt** (:meth:`Petitions.receive`) the portal validates what came (the text, the
encoding, the RRN, that the signature is CMS SignedData at all), has kpki's TSA stamp the
signature when it carries no time stamp yet (an unsigned attribute, RFC 3161: the
signature itself is unchanged) and keeps the petition as one file (0600, written whole,
then linked into place) in a folder of its own (0700). The RRN and R are kept with the
petition: the VID is checked again at every look, as the verdict is.

**One signature, one filing.** A petition's id is an HMAC of its signature value under a
key kept in the folder (0600): 128 bits that no one without the key can derive (the id
is all it takes to read a petition), and the same for the same signature, so the file's
name is the claim. The same signature posted twenty times at once (a double click, a
retry, a replay) files one petition: each post is answered with it when it sent the same
petition, and a post of that signature under another text, encoding, RRN or R is
:class:`PetitionFiledError` (without the id: it is not that sender's petition).

**Judging** (:meth:`Petitions.assess`) runs the verifier afresh each time (revocation
data is fetched from kpki serve at the CRL distribution points): the signature over
the petition's bytes, the chain to the root, validity, revocation, the VID against the
RRN entered with R (agent, SDK) and the time stamp. What the portal adds is listed apart
(:class:`PortalCheck`) and can only make the verdict worse: the verdict is never kinder
than the verifier's.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import enum
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import cms, core

from ..clock import Clock, SystemClock
from ..errors import (
    InvalidRRNError,
    OperatorLoginError,
    OutputError,
    PetitionFiledError,
    PetitionNotFoundError,
    PKIError,
    PortalRequestError,
    TimestampError,
)
from ..rrn import RRN
from ..signing.status import PARSE_ERRORS
from ..signing.verify import (
    CannotEvaluateError,
    Outcome,
    VerificationResult,
    Verifier,
)
from ..simpleauth.content import read_approval

__all__ = ["MAX_TEXT", "Assessment", "OperatorLoginError", "Petition", "PetitionFiledError",
           "PetitionNotFoundError", "Petitions", "PortalCheck", "PortalRequestError",
           "SignMethod", "SimpleAuthEvidence", "TextEncoding", "Verdict", "petition_bytes",
           "petition_nonce", "with_time_stamp"]

MAX_TEXT = 2000
"""The longest petition the portal takes, in characters."""
MAX_SIGNATURE = 256 * 1024
"""The largest signature the portal takes, in bytes (a CMS with its chain is a few KB)."""


class SignMethod(enum.StrEnum):
    """How the citizen signed."""

    AGENT = "agent"
    """A joint certificate (공동인증서) on the PC, through the local signing agent."""
    SDK = "sdk"
    """A financial certificate (금융인증서) in the cloud, through the SDK."""
    SIMPLEAUTH = "simpleauth"
    """Simple authentication (간편인증): a private certificate on the phone."""


class TextEncoding(enum.StrEnum):
    """The bytes a petition's text is signed as."""

    UTF8 = "UTF-8"
    EUC_KR = "EUC-KR"

    def bytes_of(self, text: str) -> bytes:
        """``text`` in this encoding; :class:`PortalRequestError` when it cannot be.
        EUC-KR is written as browsers and Korean software write it: the WHATWG Encoding
        Standard maps the label ``euc-kr`` to windows-949 (CP949, EUC-KR's superset that
        has every Hangul syllable), so ``똠`` is two bytes, not KS X 1001's 8-byte
        make-up sequence."""
        try:
            return text.encode("utf-8" if self is TextEncoding.UTF8 else "cp949")
        except UnicodeEncodeError as exc:
            raise PortalRequestError(
                f"the text cannot be written in {self.value} (character "
                f"{text[exc.start]!r}): choose UTF-8", field="encoding") from None

    @classmethod
    def named(cls, name: str) -> TextEncoding:
        try:
            return cls(name.upper())
        except ValueError:
            raise PortalRequestError(f"unknown encoding {name[:20]!r}: UTF-8 or EUC-KR",
                                     field="encoding") from None


def petition_nonce(content: bytes) -> str:
    """The simple-authentication nonce that binds a petition: base64url of SHA-256 over
    its bytes (no padding)."""
    return base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()


@dataclass(frozen=True)
class SimpleAuthEvidence:
    """What the provider handed the portal for a simple authentication."""

    request_id: str
    provider: int
    ci: str
    """The person's CI, as the provider gave it with the result."""


@dataclass(frozen=True)
class Petition:
    """One petition as received (the signature with the portal's time stamp added)."""

    id: str
    text: str
    encoding: TextEncoding
    method: SignMethod
    rrn: RRN = field(repr=False)
    cms: bytes = field(repr=False)
    received_at: dt.datetime
    r: bytes | None = field(repr=False, default=None)
    simpleauth: SimpleAuthEvidence | None = None

    @property
    def content(self) -> bytes:
        """The petition's bytes, as signed."""
        return self.encoding.bytes_of(self.text)

    def to_file(self) -> bytes:
        data = {"format": _FORMAT, "id": self.id, "text": self.text,
                "encoding": self.encoding.value, "method": self.method.value,
                "rrn": self.rrn.digits, "cms": base64.b64encode(self.cms).decode(),
                "received_at": self.received_at.astimezone(dt.UTC).isoformat(),
                "r": None if self.r is None else self.r.hex(),
                "simpleauth": None if self.simpleauth is None else {
                    "request_id": self.simpleauth.request_id,
                    "provider": self.simpleauth.provider, "ci": self.simpleauth.ci}}
        return json.dumps(data, ensure_ascii=False, indent=1).encode() + b"\n"

    @classmethod
    def from_file(cls, raw: bytes) -> Petition:
        """A petition file read back; ``ValueError`` when it is not one."""
        try:
            data = json.loads(raw)
            if data.get("format") != _FORMAT:
                raise ValueError("not a petition file")
            evidence = data["simpleauth"]
            return cls(
                id=str(data["id"]), text=str(data["text"]),
                encoding=TextEncoding(data["encoding"]), method=SignMethod(data["method"]),
                rrn=RRN.parse(data["rrn"]), cms=base64.b64decode(data["cms"]),
                received_at=dt.datetime.fromisoformat(data["received_at"]),
                r=None if data["r"] is None else bytes.fromhex(data["r"]),
                simpleauth=None if evidence is None else SimpleAuthEvidence(
                    str(evidence["request_id"]), int(evidence["provider"]),
                    str(evidence["ci"])))
        except (KeyError, TypeError, AttributeError, PKIError) as exc:
            raise ValueError(f"not a petition file: {exc}") from None


_FORMAT = "kpki-portal-petition-v1"


class Verdict(enum.Enum):
    """The headline of a petition's result page."""

    VALID = "valid"
    VALID_BEFORE_REVOCATION = "valid-before-revocation"
    """Valid: signed (by a trusted time stamp, or a reason that cannot mean misuse) before
    the certificate was revoked."""
    INVALID = "invalid"


@dataclass(frozen=True)
class PortalCheck:
    """A check the portal makes besides the verifier's (simple authentication's binding
    of the approval to the petition, and the provider's word on the person)."""

    name: str
    outcome: Outcome
    detail: str


@dataclass(frozen=True)
class Assessment:
    """A petition judged now: the verifier's result as it is, and the portal's checks."""

    petition: Petition
    result: VerificationResult | None
    """None when the signature could not be evaluated at all (see ``unreadable``)."""
    portal_checks: tuple[PortalCheck, ...]
    signer_revoked: bool
    """The signer's certificate is revoked in the CA's records (the operator's view)."""
    unreadable: str | None = None

    @property
    def verdict(self) -> Verdict:
        """INVALID when the verifier (or a check of the portal's) failed; else VALID, or
        VALID_BEFORE_REVOCATION when the verifier's valid verdict rests on the signature
        predating a revocation (its :attr:`VerificationResult.signed_before_revocation`:
        the revocation data it read lists a certificate of the path, revoked after the
        trusted, or harmlessly asserted, signing time). A revocation not yet published
        stays VALID, as the verifier sees it. The verifier's ``notes`` are for people:
        no verdict reads them."""
        if (self.result is None or not self.result.ok
                or any(c.outcome is Outcome.FAILED for c in self.portal_checks)):
            return Verdict.INVALID
        if self.result.signed_before_revocation is not None:
            return Verdict.VALID_BEFORE_REVOCATION
        return Verdict.VALID

    @property
    def signer_serial(self) -> int | None:
        signer = None if self.result is None else self.result.signer
        return None if signer is None else signer.serial_number


def _load_signed(der: bytes) -> tuple[cms.ContentInfo | None, cms.SignedData]:
    """The ContentInfo (None for a bare SignedData) and its SignedData, read strictly."""
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise PortalRequestError("the signature is not CMS SignedData",
                                     field="signature")
        return info, info["content"]
    except PortalRequestError:
        raise
    except PARSE_ERRORS:
        pass
    try:
        signed = cms.SignedData.load(der, strict=True)
        signed["version"].native  # noqa: B018 - parses the start of the structure
        return None, signed
    except PARSE_ERRORS:
        raise PortalRequestError("the signature is not CMS SignedData (the DER does not "
                                 "parse)", field="signature") from None


def _present(value: core.Sequence, names: tuple[str, ...]) -> dict[str, object]:
    """The fields of ``value`` named in ``names`` that are there (not absent optionals)."""
    return {name: value[name] for name in names if not isinstance(value[name], core.Void)}


def with_time_stamp(der: bytes, timestamper: Callable[[bytes], bytes]) -> bytes:
    """``der`` (CMS SignedData, in a ContentInfo or bare) with a signature time-stamp
    token from ``timestamper`` over its first signer's signature value, added as an
    unsigned attribute; unchanged when that signer carries one already. The signed parts
    are copied as they came (the signature stays valid). Raises
    :class:`PortalRequestError` for what is not SignedData with a signer, and what the
    timestamper raises (:class:`pki.errors.TimestampError`)."""
    outer, signed = _load_signed(der)
    infos, value = _first_signer(signed)
    first = infos[0]
    try:
        unsigned = first["unsigned_attrs"]
        present = [] if unsigned.native is None else list(unsigned)
        if any(a["type"].native == "signature_time_stamp_token" for a in present):
            return der
    except PARSE_ERRORS:
        raise PortalRequestError("the signature is damaged: a part of the SignedData does "
                                 "not parse", field="signature") from None
    token = _token(timestamper(value))
    try:
        stamped = cms.SignerInfo({
            **_present(first, ("version", "sid", "digest_algorithm", "signed_attrs",
                               "signature_algorithm", "signature")),
            "unsigned_attrs": cms.CMSAttributes([
                *present, {"type": "signature_time_stamp_token", "values": [token]}])})
        rebuilt = cms.SignedData({
            **_present(signed, ("version", "digest_algorithms", "encap_content_info",
                                "certificates", "crls")),
            "signer_infos": cms.SignerInfos([stamped, *list(infos)[1:]])})
        if outer is None:
            return bytes(rebuilt.dump())
        return bytes(cms.ContentInfo({"content_type": "signed_data",
                                      "content": rebuilt}).dump())
    except PARSE_ERRORS:
        raise PortalRequestError("the signature is damaged: a part of the SignedData does "
                                 "not parse", field="signature") from None


def _first_signer(signed: cms.SignedData) -> tuple[cms.SignerInfos, bytes]:
    """The SignerInfos and the first signer's signature value; :class:`PortalRequestError`
    when there is no signer or it does not parse."""
    try:
        infos = signed["signer_infos"]
        if not len(infos):
            raise PortalRequestError("the signature has no signer", field="signature")
        return infos, bytes(infos[0]["signature"].native)
    except PARSE_ERRORS:
        raise PortalRequestError("the signature is damaged: a part of the SignedData does "
                                 "not parse", field="signature") from None


def signature_value(der: bytes) -> bytes:
    """The first signer's signature value in ``der`` (CMS SignedData, in a ContentInfo or
    bare): what a time stamp covers, and what a petition is filed under."""
    return _first_signer(_load_signed(der)[1])[1]


def _token(der: bytes) -> cms.ContentInfo:
    """The TSA's token, read; a token that does not parse is the TSA's fault, not the
    citizen's: :class:`pki.errors.TimestampError`."""
    try:
        token = cms.ContentInfo.load(der, strict=True)
        token["content_type"].native  # noqa: B018 - parses the start of the structure
        return token
    except PARSE_ERRORS:
        raise TimestampError("the TSA's answer is not a time-stamp token") from None


class PetitionBox:
    """The petitions kept in ``folder`` (0700), one file each (0600), named by
    :meth:`id_of` their signature value; ``entropy`` makes the key of those names."""

    KEY = "petition-ids.key"

    def __init__(self, folder: Path, *,
                 entropy: Callable[[int], bytes] = secrets.token_bytes) -> None:
        self.folder = Path(folder)
        self.entropy = entropy

    def id_of(self, value: bytes, *, create: bool = True) -> str | None:
        """The id of the petition signed with ``value``: HMAC-SHA256 under the folder's
        key, 128 bits in hex. The key is made on first use (``create``; else None when
        there is none yet: no petition has been kept)."""
        path = self.folder / self.KEY
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            if not create:
                return None
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_new(path, self.entropy(32))  # the first writer's key, whoever that is
            key = path.read_bytes()
        return hmac.new(key, value, hashlib.sha256).hexdigest()[:32]

    def add(self, petition: Petition) -> Petition:
        """Keep ``petition`` unless one of its id is kept already; the one kept."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if _write_new(self.folder / f"{petition.id}.json", petition.to_file()):
            return petition
        return self.get(petition.id)

    def find(self, petition_id: str) -> Petition | None:
        try:
            return self.get(petition_id)
        except PetitionNotFoundError:
            return None

    def get(self, petition_id: str) -> Petition:
        if not (0 < len(petition_id) <= 64 and petition_id.isalnum()):
            raise PetitionNotFoundError(petition_id[:64])
        try:
            return Petition.from_file((self.folder / f"{petition_id}.json").read_bytes())
        except (OSError, ValueError):
            raise PetitionNotFoundError(petition_id) from None

    def all(self) -> list[Petition]:
        """Every readable petition, the newest first."""
        found = []
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else ():
            try:
                found.append(Petition.from_file(path.read_bytes()))
            except (OSError, ValueError):
                continue
        return sorted(found, key=lambda p: p.received_at, reverse=True)


def _write_new(path: Path, data: bytes) -> bool:
    """Write ``data`` at ``path`` (0600) unless ``path`` exists; whether it was written.
    Written whole in a temporary file first, then linked to ``path`` (a link never
    replaces a file), so a reader sees the whole file or none."""
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"cannot write in {path.parent}: {exc.strerror}",
                          path=str(path.parent)) from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}", path=str(path)) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


class Petitions:
    """Receiving and judging petitions (see the module doc).

    ``timestamper`` stamps a signature value (an HTTP client of kpki serve's TSA, say);
    ``verifier`` makes a fresh :class:`Verifier` for each look (trusting the root,
    fetching revocation data); ``revoked`` says whether a certificate (by serial and
    issuer name, DER) is revoked in the CA's records."""

    def __init__(self, box: PetitionBox, *, timestamper: Callable[[bytes], bytes],
                 verifier: Callable[[], Verifier],
                 revoked: Callable[[int, bytes], bool] = lambda serial, issuer: False,
                 clock: Clock | None = None) -> None:
        self.box = box
        self.timestamper = timestamper
        self.verifier = verifier
        self.revoked = revoked
        self.clock: Clock = clock or SystemClock()

    def receive(self, *, text: str, encoding: str, rrn: str, method: str, signature: bytes,
                r: bytes | None = None,
                simpleauth: SimpleAuthEvidence | None = None) -> Petition:
        """Check what came, stamp the signature, keep the petition; raises
        :class:`PortalRequestError` naming the field to fix. A signature filed already
        (see the module doc) is that petition when the rest is the same too, else
        :class:`PetitionFiledError`."""
        chosen, _ = petition_bytes(text, encoding)
        holder = parse_rrn(rrn)
        try:
            how = SignMethod(method)
        except ValueError:
            raise PortalRequestError("the method is agent, sdk or simpleauth",
                                     field="method") from None
        if not signature:
            raise PortalRequestError("the signature is missing", field="signature")
        if len(signature) > MAX_SIGNATURE:
            raise PortalRequestError(f"the signature is larger than {MAX_SIGNATURE} bytes",
                                     field="signature")
        if (how is SignMethod.SIMPLEAUTH) != (simpleauth is not None):
            raise PortalRequestError("simple authentication's petitions come with the "
                                     "provider's result", field="method")
        value = signature_value(signature)
        known = self.box.id_of(value, create=False)
        filed = None if known is None else self.box.find(known)
        if filed is None:
            stamped = with_time_stamp(signature, self.timestamper)
            sent = Petition(str(self.box.id_of(value)), text, chosen, how, holder, stamped,
                            self.clock.now(), r, simpleauth)
            filed = self.box.add(sent)
            if filed is sent:
                return sent
        if ((filed.text, filed.encoding, filed.rrn, filed.method, filed.r, filed.simpleauth)
                != (text, chosen, holder, how, r, simpleauth)):
            raise PetitionFiledError
        return filed

    def assess(self, petition: Petition, *, verifier: Verifier | None = None) -> Assessment:
        """The petition judged now (see the module doc); ``verifier``: one to reuse (by
        default a fresh one)."""
        verifier = verifier or self.verifier()
        try:
            if petition.method is SignMethod.SIMPLEAUTH:
                result = verifier.verify(petition.cms)
            else:
                result = verifier.verify(petition.cms, content=petition.content,
                                         rrn=petition.rrn, r=petition.r)
        except CannotEvaluateError as exc:
            return Assessment(petition, None, (), False, unreadable=str(exc))
        checks = (self._simpleauth_checks(petition, result)
                  if petition.method is SignMethod.SIMPLEAUTH else ())
        signer = result.signer
        revoked = signer is not None and self.revoked(signer.serial_number,
                                                      signer.issuer.public_bytes())
        return Assessment(petition, result, checks, revoked)

    @staticmethod
    def _simpleauth_checks(petition: Petition, result: VerificationResult
                           ) -> tuple[PortalCheck, ...]:
        evidence = petition.simpleauth
        assert evidence is not None
        approval = None if result.content is None else read_approval(result.content)
        if approval is None:
            return (PortalCheck("approval", Outcome.FAILED,
                                "the signed content is not a simple-authentication approval"),)
        wanted = petition_nonce(petition.content)
        if approval.decision != "approve":
            binding = PortalCheck("approval", Outcome.FAILED,
                                  f"the person answered {approval.decision!r}, not approve")
        elif approval.request != evidence.request_id or approval.nonce != wanted:
            binding = PortalCheck("approval", Outcome.FAILED,
                                  "the approval is not for this petition (its request or "
                                  "nonce differs)")
        else:
            binding = PortalCheck("approval", Outcome.PASSED,
                                  f"the person approved request {evidence.request_id}, whose "
                                  f"nonce is SHA-256 of the petition's {petition.encoding} "
                                  "bytes")
        if approval.ci != evidence.ci:
            person = PortalCheck("identity", Outcome.FAILED,
                                 "the approval's CI is not the one the provider answered")
        else:
            person = PortalCheck("identity", Outcome.PASSED,
                                 f"provider {evidence.provider} matched the request (name, "
                                 "phone and the RRN entered) to the person whose app "
                                 "approved (the same CI); simple authentication gives the "
                                 "portal no R, so the verifier makes no VID check")
        return (binding, person)


def petition_bytes(text: str, encoding: str) -> tuple[TextEncoding, bytes]:
    """The encoding named and the petition's bytes in it, as the portal files them;
    :class:`PortalRequestError` for an empty or too long text, or an encoding it cannot
    be written in (what simple authentication checks before the person is asked)."""
    if not text.strip():
        raise PortalRequestError("the petition is empty", field="text")
    if len(text) > MAX_TEXT:
        raise PortalRequestError(f"the petition is longer than {MAX_TEXT} characters",
                                 field="text")
    chosen = TextEncoding.named(encoding)
    return chosen, chosen.bytes_of(text)


def parse_rrn(text: str) -> RRN:
    """The RRN entered; :class:`PortalRequestError` naming the rule it breaks (never
    echoing a digit)."""
    try:
        return RRN.parse(text)
    except InvalidRRNError as exc:
        raise PortalRequestError(f"not a resident registration number ({exc.rule})",
                                 field="rrn") from None
