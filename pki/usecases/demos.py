"""The two demonstrations (``kpki demo``, ``kpki demo egov``), run end to end.

Each makes a throwaway home (CA keys unencrypted), tells its story with the library's own
parts, and returns what happened, step by step, for a face to tell: nothing is printed
here. Both run on a frozen clock started at ``start`` and moved by hand, so "before" and
"after" a revocation stay distinct however fast the machine is.
"""

from __future__ import annotations

import datetime as dt
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from .. import lifecycle
from ..authority import IssuedCertificate
from ..clock import FixedClock
from ..fsutil import atomic_write
from ..home import ROOT_LABEL, CASettings, Home
from ..keys.folder import write_npki_folder
from ..keys.npki import NPKIFiles
from ..rrn import RRN, synthetic_rrn
from ..signing import KeySigner, VerificationResult, seal_r, sign
from ..signing.verify import CRLIndex, Verifier
from ..store import CARecord
from .serving import serve_home_in_thread

__all__ = ["EGOV_PETITION", "EgovStory", "TourStory", "egov_demo", "tour_demo"]


@dataclass(frozen=True)
class TourStory:
    """``kpki demo``: init, issue, sign, verify, revoke, publish the CRL, verify again."""

    home: Path
    cas: tuple[CARecord, ...]
    password_file: Path
    """The key password of the certificates issued (0600)."""
    issued: tuple[tuple[IssuedCertificate, tuple[NPKIFiles, ...]], ...]
    """A joint and a financial certificate, each with the NPKI files written."""
    first: VerificationResult
    """The signature made before the revocation, checked before it."""
    crl_number: int
    """The CRL that lists the revoked certificate."""
    crl_path: Path | None
    after: VerificationResult
    """A signature made after the revocation."""
    before: VerificationResult
    """The signature made before the revocation, checked after it."""


def tour_demo(target: Path, *, start: dt.datetime) -> TourStory:
    """Run the tour in a new home at ``target``."""
    clock = FixedClock(start)
    with Home.create(target, passphrase=None, ca=CASettings(), clock=clock) as home:
        password = "Demo-1!" + secrets.token_urlsafe(9)
        password_file = home.path / "demo-password.txt"
        atomic_write(password_file, password.encode() + b"\n", mode=0o600)
        authority = home.authority()
        npki_base = home.path / "npki"
        joint = authority.issue_joint(name="홍길동", alias="GILDONG.HONG",
                                      rrn=synthetic_rrn(dt.date(1990, 3, 1), serial=12345))
        fin = authority.issue_financial(name="김금융", rrn=synthetic_rrn(
            dt.date(1985, 7, 9), female=True, serial=54321))
        issued = tuple((i, tuple(write_npki_folder(i, npki_base, password=password)))
                       for i in (joint, fin))

        document = "계좌이체 확인서: 100,000원".encode()
        signer = KeySigner.from_npki(issued[0][1][0].folder, password, chain=joint.chain)
        # A time stamp from the home's TSA: without one, the signing time is only the
        # signer's claim, and a key reported stolen would void every earlier signature.
        stamp = home.tsa(passphrase=None).timestamp
        first = sign(document, signer, include_chain=True, clock=clock, timestamper=stamp)
        root = home.store.get_ca(ROOT_LABEL).certificate

        def publish() -> tuple[list[CRLIndex], int, Path | None]:
            published = home.publish_crls(passphrase=None)
            [(crl, path)] = [c for c in published if c[0].info.ca == authority.label]
            [(root_crl, _)] = [c for c in published if c[0].info.ca == ROOT_LABEL]
            return [CRLIndex.load(crl.der), CRLIndex.load(root_crl.der)], crl.info.number, path

        crls, _, _ = publish()
        first_check = Verifier(trust=[root], crls=crls, clock=clock).verify(first.der)

        clock.advance(dt.timedelta(minutes=1))
        lifecycle.revoke(home.store, joint.serial, at=clock.now(),
                         reason=x509.ReasonFlags.key_compromise)
        crls, number, path = publish()
        clock.advance(dt.timedelta(minutes=1))
        second = sign(document, signer, include_chain=True, clock=clock, timestamper=stamp)
        verifier = Verifier(trust=[root], crls=crls, clock=clock)
        return TourStory(home.path, tuple(home.list_cas()), password_file, issued,
                         first_check, number, path, verifier.verify(second.der),
                         verifier.verify(first.der))


EGOV_PETITION = "청원서: 우리 동네 놀이터에 그늘막을 설치해 주십시오. 신청인 홍길동"


@dataclass(frozen=True)
class EgovStory:
    """``kpki demo egov``: a citizen signs a petition; the government checks it."""

    home: Path
    base_url: str
    """Where the home was served (CRLs fetched from there) while the story ran."""
    root: x509.Certificate
    ca: x509.Certificate
    rrn: RRN
    """The citizen's (synthetic) resident number."""
    citizen: IssuedCertificate
    folder: Path
    """The citizen's NPKI folder."""
    password_file: Path
    signed_at: dt.datetime
    checked: tuple[tuple[str, VerificationResult], ...]
    """The petition in UTF-8 and in CP949, checked with the VID (R sealed to the
    government)."""
    revoked_at: dt.datetime
    crl_number: int | None
    """The CRL published at once after the revocation."""
    late_at: dt.datetime
    """When the stolen key signed again."""
    rechecked: tuple[tuple[str, VerificationResult], ...]
    """The signature made before the revocation, one made after it with a time stamp,
    and one made after it claiming the earlier time without one."""


def egov_demo(target: Path, *, start: dt.datetime) -> EgovStory:
    """Run the e-government story in a new home at ``target``, served on a free port of
    127.0.0.1 while it runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", 0))
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        clock = FixedClock(start)
        with Home.create(target, passphrase=None, base_url=base_url, clock=clock) as home, \
                serve_home_in_thread(home, sock=sock) as served:
            return _egov(home, served.republish, clock, base_url)
    finally:
        sock.close()


def _egov(home: Home, republish: Callable[[], object], clock: FixedClock,
          base_url: str) -> EgovStory:
    root = home.store.get_ca(ROOT_LABEL).certificate
    authority = home.authority()
    rrn = synthetic_rrn(dt.date(1990, 3, 1), serial=secrets.randbelow(99999))
    citizen = authority.issue_joint(name="홍길동", rrn=rrn)
    government = authority.issue_joint(name="행정안전부", rrn=synthetic_rrn(dt.date(1970, 1, 1)))
    password = "Egov-demo-" + secrets.token_urlsafe(6) + "1!"
    folder = write_npki_folder(citizen, home.path / "citizen", password=password)[0].folder
    password_file = home.path / "citizen-password.txt"
    atomic_write(password_file, password.encode() + b"\n", mode=0o600)

    assert citizen.private_key is not None  # issued with a key kpki made
    signer = KeySigner(citizen.certificate, citizen.private_key, citizen.chain)
    signed_at = clock.now()
    # The home's TSA stamps each signature: the signer's own signingTime is only a claim.
    stamp = home.tsa(passphrase=None).timestamp
    utf8 = sign(EGOV_PETITION.encode("utf-8"), signer, include_chain=True, clock=clock,
                timestamper=stamp)
    cp949 = sign(EGOV_PETITION.encode("cp949"), signer, include_chain=True, clock=clock,
                 timestamper=stamp)
    envelope = seal_r(citizen.r, government.certificate)

    def government_checks() -> Verifier:
        return Verifier(trust=[root], fetch_crls=True, clock=clock)

    verifier = government_checks()
    checked = tuple((label, verifier.verify(document.der, rrn=rrn, r_envelope=envelope,
                                            recipient_key=government.private_key))
                    for label, document in (("UTF-8 petition", utf8),
                                            ("CP949 petition", cp949)))

    clock.advance(dt.timedelta(minutes=10))
    revoked_at = clock.now()
    lifecycle.revoke(home.store, citizen.serial, at=revoked_at,
                     reason=x509.ReasonFlags.key_compromise)
    republish()
    crl = home.store.last_crl(authority.label)

    clock.advance(dt.timedelta(minutes=10))
    late = sign(EGOV_PETITION.encode("utf-8"), signer, include_chain=True, clock=clock,
                timestamper=stamp)
    backdated = sign(EGOV_PETITION.encode("utf-8"), signer, include_chain=True,
                     signing_time=signed_at)
    verifier = government_checks()
    rechecked = (
        ("signed before revocation", verifier.verify(utf8.der, rrn=rrn, r_envelope=envelope,
                                                     recipient_key=government.private_key)),
        ("signed after revocation", verifier.verify(late.der)),
        ("back-dated after revocation", verifier.verify(backdated.der)),
    )
    return EgovStory(home.path, base_url, root,
                     home.store.get_ca(authority.label).certificate, rrn, citizen, folder,
                     password_file, signed_at, checked, revoked_at,
                     None if crl is None else crl.number, clock.now(), rechecked)
