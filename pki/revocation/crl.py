"""Full and delta CRLs (RFC 5280), numbered, recorded and published.

A full CRL lists every revoked or suspended (certificateHold) certificate of a CA that has
not expired, with reason codes and invalidity dates; it carries the CA's key identifier and
a CRL number. A licensed CA's CRLs carry an issuingDistributionPoint equal to its
certificates' CRL distribution point; the root's carry none, since they speak for every
certificate the root issued, the root's own included, and the root certificate names no
distribution point (``openssl verify -crl_check_all`` refuses a scoped CRL for it as "different
CRL scope"). A delta CRL lists what changed since the last full CRL (its base): new
revocations and suspensions, and resumed certificates as ``removeFromCRL``. CRL numbers are
shared by full and delta CRLs and strictly increase.

A CA with CRL shards (:mod:`pki.revocation.shards`) has a full CRL per shard besides its
unsharded one (``shard``): it lists the shard's certificates only, its
issuingDistributionPoint names the shard's URL, it takes its number from the CA's one
sequence, and it has no delta CRLs.

A full CRL announces the delta CRL (freshestCRL) only when asked (``announce_delta``): strict
clients that fetch revocation data themselves but no delta CRLs (pyhanko-certvalidator,
Java's PKIX) fail every check whose full CRL announces a delta they cannot get.

Building happens outside any write transaction (a million-entry CRL takes seconds): the
number is reserved first, the CRL recorded after. A number whose CRL failed is skipped.

Publishing (:func:`write_crl`) happens under an exclusive lock on the publish folder
(``.lock``), so publishers in several processes take turns, and follows three rules:

* never older: a CRL is written only if its number is above the one in the file already
  published at its URL (a publisher that reserved its number first may finish last);
* DER and PEM together: both are written under temporary names, a journal
  (``.publishing``) names the pair, then both are renamed and the journal removed. A crash
  between the two renames leaves the journal behind, and the next publisher, first thing
  under the lock, writes the PEM again from the DER;
* no leftovers: temporary files (``.*.tmp``) are removed by the next publisher under the
  lock, where no other publisher can be writing one.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509

from ..errors import OutputError, PKIError
from ..faults import fault_point
from ..formats.crlder import encode_crl, encode_entry, read_crl_number
from ..fsutil import atomic_write, ensure_writable_dir
from ..keys.castore import CAKey
from ..lifecycle import lapse_suspensions
from ..progress import ProgressCallback, counted
from ..store import AuditAction, CARecord, CertStatus, CRLEntry, CRLInfo, Store
from .shards import shard_url

__all__ = [
    "DELTA_VALIDITY",
    "FULL_VALIDITY",
    "IssuedCRL",
    "delta_url",
    "issue_crl",
    "publish_path",
    "write_crl",
]

FULL_VALIDITY = dt.timedelta(days=1)
DELTA_VALIDITY = dt.timedelta(hours=1)
_LOCK_NAME = ".lock"
_JOURNAL_NAME = ".publishing"


@dataclass(frozen=True)
class IssuedCRL:
    info: CRLInfo
    der: bytes

    @property
    def pem(self) -> bytes:
        return _pem(self.der)


def _pem(der: bytes) -> bytes:
    return b"".join(_pem_chunks(der))


_PEM_CHUNK = 48 * 1024
"""DER bytes a chunk of PEM is made of: 1,024 lines of 64 characters."""


def _pem_chunks(der: bytes) -> Iterator[bytes]:
    """The PEM of ``der`` in pieces of about 64 KiB: a full CRL can be tens of megabytes,
    written out without its PEM ever whole in memory."""
    yield b"-----BEGIN X509 CRL-----\n"
    with memoryview(der) as view:
        for offset in range(0, len(der), _PEM_CHUNK):
            body = base64.b64encode(view[offset:offset + _PEM_CHUNK])
            yield b"\n".join([body[i:i + 64] for i in range(0, len(body), 64)]) + b"\n"
    yield b"-----END X509 CRL-----\n"


def delta_url(crl_url: str) -> str:
    """Where the delta CRL of a CA whose full CRL is at ``crl_url`` is published."""
    if crl_url.endswith(".crl"):
        return crl_url[: -len(".crl")] + "-delta.crl"
    return crl_url + "-delta"


def _removals(changes: Iterator[tuple[CertStatus, CRLEntry]]) -> Iterator[CRLEntry]:
    for status, entry in changes:
        if status is CertStatus.VALID:  # resumed since the base
            yield CRLEntry(entry.serial, entry.revoked_at, x509.ReasonFlags.remove_from_crl, None)
        else:
            yield entry


def issue_crl(ca: CARecord, key: CAKey, store: Store, *, at: dt.datetime,
              delta: bool = False, validity: dt.timedelta | None = None,
              announce_delta: bool = False, shard: int | None = None,
              progress: ProgressCallback | None = None) -> IssuedCRL:
    """Build, sign and record the next CRL of ``ca``: its unsharded CRL, or the CRL of
    ``shard`` (:mod:`pki.revocation.shards`).

    A full CRL first turns suspensions older than six months into revocations; with
    ``announce_delta`` it points at the delta CRL (freshestCRL), a shard's never. A delta
    CRL needs a full CRL to be based on, and is refused for a shard (:class:`PKIError`
    both). ``progress`` is told how many entries are written (:mod:`pki.progress`).
    """
    cert = ca.certificate
    if cert.public_key() != key.public_key():
        raise PKIError(f"the key does not belong to CA {ca.label!r}")
    if shard is not None:
        if ca.is_root or not 0 <= shard < ca.crl_shards:
            raise PKIError(f"CA {ca.label!r} has no CRL shard {shard}")
        if delta:
            raise PKIError(f"CA {ca.label!r}: a CRL shard has no delta CRLs; its full CRL "
                           "is published instead")
        announce_delta = False
    at = at.replace(microsecond=0)
    base = None
    if delta:
        base = store.last_crl(ca.label)
        if base is None:
            raise PKIError(f"CA {ca.label!r} has no full CRL yet for a delta CRL to refer to")
    else:
        lapse_suspensions(store, ca.label, at=at)
    change_seq = store.change_seq(ca.label)  # read before the entries: see module doc
    with store.transaction() as tx:
        number, at = tx.reserve_crl(ca.label, at)
    fault_point("crl.reserved")
    next_update = at + (validity or (DELTA_VALIDITY if delta else FULL_VALIDITY))

    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    extensions = [
        x509.Extension(x509.oid.ExtensionOID.AUTHORITY_KEY_IDENTIFIER, False,
                       x509.AuthorityKeyIdentifier(ski.digest, None, None)),
        x509.Extension(x509.oid.ExtensionOID.CRL_NUMBER, False, x509.CRLNumber(number)),
    ]
    if base is not None:
        extensions.append(x509.Extension(x509.oid.ExtensionOID.DELTA_CRL_INDICATOR, True,
                                         x509.DeltaCRLIndicator(base.number)))
        entries: Iterator[bytes] = map(encode_entry, _removals(
            store.changed_since(ca.label, base.change_seq, at=at)))
    else:
        entries = store.crl_entries_der(ca.label, at=at, shard=shard)
    if not ca.is_root:
        extensions.append(x509.Extension(
            x509.oid.ExtensionOID.ISSUING_DISTRIBUTION_POINT, True, x509.IssuingDistributionPoint(
                full_name=[x509.UniformResourceIdentifier(shard_url(ca.crl_url, shard))],
                relative_name=None,
                only_contains_user_certs=False, only_contains_ca_certs=False,
                only_some_reasons=None, indirect_crl=False,
                only_contains_attribute_certs=False)))
    if base is None and announce_delta:
        extensions.append(x509.Extension(
            x509.oid.ExtensionOID.FRESHEST_CRL, False, x509.FreshestCRL([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(delta_url(ca.crl_url))], None, None, None)])))

    task = f"{'delta ' if base is not None else ''}CRL of {ca.label}" + (
        "" if shard is None else f" shard {shard}")
    der, count = encode_crl(issuer=cert.subject, this_update=at, next_update=next_update,
                            encoded_entries=counted(entries, progress, task),
                            extensions=extensions, key=key)
    info = CRLInfo(ca=ca.label, number=number, delta_base=None if base is None else base.number,
                   this_update=at, next_update=next_update, change_seq=change_seq,
                   entries=count, sha256=hashlib.sha256(der).hexdigest(), shard=shard)
    detail: dict[str, object] = {"number": number, "delta_base": info.delta_base,
                                 "entries": count}
    if shard is not None:
        detail["shard"] = shard
    with store.transaction() as tx:
        tx.record_crl(info)
        tx.audit(AuditAction.CRL_ISSUED, at=at, ca=ca.label, detail=detail)
    fault_point("crl.recorded")
    return IssuedCRL(info, der)


def publish_path(folder: Path, url: str) -> Path:
    """Where in the publish folder the file served at ``url`` lives (its URL path)."""
    path = urlsplit(url).path.lstrip("/")
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise PKIError(f"cannot publish to the URL {url!r}")
    return folder.joinpath(*parts)


def write_crl(crl: IssuedCRL, folder: Path, url: str) -> tuple[Path, Path] | None:
    """Publish the CRL as DER (at the URL's path) and PEM (``.pem`` beside it).

    Returns both paths, or None if the file there holds this CRL or a newer one already
    (see the module doc for the rules). Raises :class:`OutputError` if the folder cannot be
    written.
    """
    der_path = publish_path(folder, url)
    pem_path = der_path.with_name(der_path.name + ".pem")
    ensure_writable_dir(der_path.parent)
    with _publish_lock(folder):
        recover_publish_folder(folder)
        fault_point("crl.locked")
        published = _published_number(der_path)
        if published is not None and published >= crl.info.number:
            return None
        temps: list[Path] = []
        try:
            temps.append(_write_temp(der_path, (crl.der,)))
            temps.append(_write_temp(pem_path, _pem_chunks(crl.der)))
            fault_point("crl.written")
            atomic_write(folder / _JOURNAL_NAME,
                         der_path.relative_to(folder).as_posix().encode() + b"\n")
            fault_point("crl.journaled")
            os.replace(temps[0], der_path)
            fault_point("crl.der-renamed")
            os.replace(temps[1], pem_path)
            fault_point("crl.pem-renamed")
            _fsync_dir(der_path.parent)
            os.unlink(folder / _JOURNAL_NAME)
        except OSError as exc:
            for temp in temps:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
            raise OutputError(f"cannot publish {der_path}: {exc.strerror}",
                              path=str(der_path)) from None
    return der_path, pem_path


def recover_publish_folder(folder: Path) -> None:
    """Finish what a crashed publisher left: the PEM of a half-renamed pair is written
    again from its DER, temporary files are removed. Call it holding the folder's lock."""
    journal = folder / _JOURNAL_NAME
    try:
        named = journal.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        named = ""
    except (OSError, UnicodeDecodeError):
        named = ""
    try:
        if named:
            der_path = folder / named
            if folder.resolve() in der_path.resolve().parents and der_path.is_file():
                atomic_write(der_path.with_name(der_path.name + ".pem"),
                             _pem(der_path.read_bytes()))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(journal)
        for leftover in folder.rglob(".*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    except OSError as exc:
        raise OutputError(f"cannot tidy {folder}: {exc.strerror}", path=str(folder)) from None


@contextlib.contextmanager
def _publish_lock(folder: Path) -> Iterator[None]:
    try:
        fd = os.open(folder / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(f"cannot lock {folder}: {exc.strerror}", path=str(folder)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if the process dies
        yield
    finally:
        os.close(fd)


def _published_number(path: Path) -> int | None:
    """The CRL number in the file at ``path``; None if there is none or it is unreadable.
    Read from the CRL's head and extensions only (:func:`pki.formats.crlder.read_crl_number`):
    a published CRL can be tens of megabytes."""
    try:
        with path.open("rb") as fh:
            return read_crl_number(fh)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror}", path=str(path)) from None


def _write_temp(path: Path, chunks: Iterable[bytes]) -> Path:
    """``chunks`` in a new file beside ``path`` (a name :func:`recover_publish_folder`
    knows), flushed to disk."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return Path(name)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
