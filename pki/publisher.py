"""The publisher: the one writer of what relying parties fetch.

Serving only reads (:mod:`pki.web`); everything a server answers from is made here and kept
in the store, so several read-only servers can share one store and answer alike:

* **CRLs.** The next full or delta CRL of a CA (:func:`pki.revocation.crl.issue_crl`: a
  CRL number reserved in the store, suspensions older than six months lapsed into
  revocations first, the CRL recorded with its ``crl.issued`` audit row), then its bytes
  kept as the CA's published CRL (:meth:`pki.store.StoreTransaction.put_published_crl`,
  which never goes back to a lower number), then written under ``<home>/publish/`` as DER
  and PEM (:func:`pki.revocation.crl.write_crl`: under the folder's lock, never over a
  newer one, DER and PEM together).
* **OCSP signers.** A CA's delegated signer is made, and made anew before it ends
  (:func:`pki.revocation.ocsp.ensure_signer`).
* **The time-stamping authority.** Made, and renewed when due or revoked
  (:func:`pki.timestamp.management.ensure_tsa`).

:meth:`Publisher.publish` is the one-shot form (``kpki crl publish``); :meth:`Publisher.round`
is one round of the long-running form (``kpki serve``, ``kpki publish --watch``): a CA's full
and delta CRLs are published again when its change counter moved since its last full CRL,
when half of that CRL's validity has passed by the injected clock, when the announcement of
delta CRLs was turned on or off, when its bytes were never kept, and in the first round after
this process took the publishing over from another (:meth:`Publisher.leads`); a delta CRL
alone when the last one is older than the last full CRL (another publisher made a full CRL
only). A process that starts publishing does not rebuild CRLs that are still current: on a
home of a million revocations a full CRL takes seconds, and ``kpki serve`` answers with the
stored bytes at once (``round(force=True)`` publishes everything, as ``kpki publish`` does).

A CA with CRL shards (:mod:`pki.revocation.shards`) publishes each shard's full CRL with its
unsharded one, at each shard's URL; a shard's CRL is also due when it has none yet, its
own is older than half its validity (the CA's shards grew, or a publisher stopped midway),
or its bytes were never kept (a publisher stopped between recording it and keeping it: the
shard's CRL served would otherwise stay the one before, missing the latest revocations).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .clock import Clock
from .entropy import Entropy
from .errors import PKIError
from .fsutil import atomic_write
from .keys.castore import CAKey, CAKeyStore, KeyLabel
from .leadership import Lease
from .progress import Progress
from .revocation.crl import IssuedCRL, delta_url, issue_crl, write_crl
from .revocation.shards import shard_url
from .store import CARecord, CRLInfo, OCSPSignerRecord, Store

if TYPE_CHECKING:
    from .timestamp.authority import TimeStampAuthority

# OCSP signers and the TSA (pki.revocation.ocsp, pki.timestamp) are imported where they are
# made: `kpki crl publish` publishes CRLs only, and its start-up is a user's wait (issue 18).

__all__ = ["DELTA_CRLS_META", "Publication", "Publisher", "Round"]

log = logging.getLogger("kpki.publish")

DELTA_CRLS_META = "delta_crls"
"""The store setting that says whether full CRLs announce the delta CRLs ("1")."""


@dataclass(frozen=True)
class Publication:
    """A CRL the publisher issued, with the DER file it wrote."""

    crl: IssuedCRL
    path: Path | None
    """The DER file (its PEM twin beside it, ``.pem`` added); None when no file was written:
    no publish folder (a memory home), or another publisher put a newer CRL there."""


@dataclass(frozen=True)
class Round:
    """What one round of the publisher did."""

    crls: tuple[Publication, ...] = ()
    signers: tuple[str, ...] = ()
    """CAs whose OCSP signer was made anew."""
    tsa: int | None = None
    """The serial of a new TSA certificate, if one was made."""

    @property
    def labels(self) -> list[str]:
        """The CAs whose CRLs were published, in order, each once."""
        return list(dict.fromkeys(p.crl.info.ca for p in self.crls))

    @property
    def changed(self) -> bool:
        return bool(self.crls or self.signers or self.tsa is not None)


def _announced_meta(label: str) -> str:
    """The store setting kept with CA ``label``'s published full CRL: its number and
    whether it announces the delta CRLs ("7 1") or not ("7 0")."""
    return f"{DELTA_CRLS_META}.{label}"


@dataclass
class Publisher:
    """Publishes the CRLs, OCSP signers and TSA of the CAs in ``store``, signing with the keys
    of ``keys``; see the module doc."""

    store: Store
    keys: CAKeyStore
    clock: Clock
    entropy: Entropy
    publish_dir: Path | None = None
    """Where CRL files go (``<home>/publish``); None: the store only."""
    tsa_certificate_file: Path | None = None
    """Where a new TSA certificate is written as PEM, for users (``kpki tsa show``)."""
    _ca_keys: dict[str, CAKey] = field(default_factory=dict, init=False, repr=False)
    _announced_by: dict[str, bool] = field(default_factory=dict, init=False, repr=False)
    """Whether each CA's current full CRL announces the delta CRLs, as last seen."""
    _kept_shards: dict[tuple[str, int], int] = field(default_factory=dict, init=False,
                                                     repr=False)
    """The number of each shard's CRL whose bytes the store keeps, as last seen."""
    _signers: dict[str, tuple[OCSPSignerRecord, CAKey]] = field(
        default_factory=dict, init=False, repr=False)
    _tsa: TimeStampAuthority | None = field(default=None, init=False, repr=False)
    _force_next: bool = field(default=False, init=False, repr=False)
    progress: Callable[[Progress], object] | None = field(default=None, repr=False)
    """Told how far a CRL being built has got (:mod:`pki.progress`); None: nobody asks."""
    _leading: bool | None = field(default=None, init=False, repr=False)
    """Whether this publisher held the lease at its last :meth:`leads` (None: not asked yet)."""

    # -- settings -------------------------------------------------------------------------

    @property
    def announce_deltas(self) -> bool:
        """Whether full CRLs announce the delta CRLs (``kpki crl deltas``)."""
        return self.store.get_meta(DELTA_CRLS_META) == "1"

    def ca_key(self, label: str) -> CAKey:
        """CA ``label``'s key, loaded from the key store once per publisher."""
        key = self._ca_keys.get(label)
        if key is None:
            self.store.get_ca(label)  # UnknownCAError before a key store error
            key = self._ca_keys[label] = self.keys.load(KeyLabel.of_ca(label))
        return key

    @contextlib.contextmanager
    def reporting(self, progress: Callable[[Progress], object] | None) -> Iterator[Publisher]:
        """``with publisher.reporting(progress):`` the CRLs built in the block tell
        ``progress`` how far they have got; nobody is told after it."""
        self.progress = progress
        try:
            yield self
        finally:
            self.progress = None

    # -- CRLs -------------------------------------------------------------------------------

    def publish(self, *, delta: bool = False, labels: Sequence[str] | None = None
                ) -> list[Publication]:
        """Issue and publish the next CRL of each CA (``labels`` only, when given), the root's
        included, and of each of its CRL shards. With ``delta``, CAs without a full CRL yet
        are skipped, and shards, which have no delta CRLs."""
        done = []
        for record in self.store.list_cas():
            if labels is not None and record.label not in labels:
                continue
            if delta and self.store.last_crl(record.label) is None:
                continue
            done.append(self.publish_ca(record, delta=delta))
            if not delta:
                done.extend(self.publish_shards(record))
        return done

    def publish_shards(self, record: CARecord) -> list[Publication]:
        """Issue and publish the next full CRL of each of ``record``'s CRL shards (none for a
        CA with one CRL)."""
        if record.crl_shards == 1:
            return []
        return [self.publish_shard(record, shard) for shard in range(record.crl_shards)]

    def publish_shard(self, record: CARecord, shard: int) -> Publication:
        """Issue the next full CRL of ``record``'s CRL ``shard``, keep its bytes in the store
        and write its files at the shard's URL."""
        crl = issue_crl(record, self.ca_key(record.label), self.store, at=self.clock.now(),
                        shard=shard, progress=self.progress)
        with self.store.transaction() as tx:
            tx.put_published_crl(record.label, crl.info.number, False, crl.der, shard=shard)
        self._kept_shards[record.label, shard] = crl.info.number
        if self.publish_dir is None:
            return Publication(crl, None)
        paths = write_crl(crl, self.publish_dir, shard_url(record.crl_url, shard))
        return Publication(crl, None if paths is None else paths[0])

    def publish_ca(self, record: CARecord, *, delta: bool = False) -> Publication:
        """Issue the next full (or delta) CRL of ``record``, keep its bytes in the store as the
        published one and write its files."""
        announce = self.announce_deltas
        crl = issue_crl(record, self.ca_key(record.label), self.store, at=self.clock.now(),
                        delta=delta, announce_delta=announce, progress=self.progress)
        with self.store.transaction() as tx:
            if tx.put_published_crl(record.label, crl.info.number, delta, crl.der) and not delta:
                tx.set_meta(_announced_meta(record.label),
                            f"{crl.info.number} {'1' if announce else '0'}")
        if not delta:
            self._announced_by[record.label] = announce
        if self.publish_dir is None:
            return Publication(crl, None)
        url = delta_url(record.crl_url) if delta else record.crl_url
        paths = write_crl(crl, self.publish_dir, url)
        return Publication(crl, None if paths is None else paths[0])

    def _crls_due(self, record: CARecord, change_seq: int, *, announce: bool, force: bool
                  ) -> tuple[bool, bool]:
        """Whether CA ``record`` (at ``change_seq``) needs a full CRL (and a delta with it),
        or a delta alone; ``announce``: whether full CRLs are to announce the delta CRLs."""
        label = record.label
        full = self.store.last_crl(label)
        if (force or full is None or change_seq != full.change_seq
                or self._half_passed(full) or self._announced(label, full) != announce):
            return True, True
        last_delta = self.store.last_crl(label, delta=True)
        return False, last_delta is None or last_delta.number < full.number

    def _shards_due(self, record: CARecord, change_seq: int, *, full: bool) -> bool:
        """Whether CA ``record``'s (at ``change_seq``) shard CRLs are to be published: with
        its unsharded full CRL, or when one has none yet or is stale (see the module doc)."""
        if record.crl_shards == 1:
            return False
        if full:
            return True
        for shard in range(record.crl_shards):
            last = self.store.last_crl(record.label, shard=shard)
            if last is None or last.change_seq != change_seq or self._half_passed(last) \
                    or not self._shard_kept(record.label, shard, last.number):
                return True
        return False

    def _shard_kept(self, label: str, shard: int, number: int) -> bool:
        """Whether the store keeps the bytes of CRL ``number`` of ``label``'s ``shard``
        (read from the store only when this publisher has not seen them kept)."""
        if self._kept_shards.get((label, shard)) == number:
            return True
        kept = self.store.published_crl(label, shard=shard)
        if kept is None:
            return False
        self._kept_shards[label, shard] = kept.number
        return kept.number == number

    def _announced(self, label: str, full: CRLInfo) -> bool | None:
        """Whether CA ``label``'s current full CRL announces the delta CRLs: as this
        publisher made it, else as the store says (kept with the CRL's bytes; read from
        the bytes themselves for a CRL published by an older kpki); None when its bytes
        were never kept (a publisher stopped between recording the CRL and keeping it)."""
        seen = self._announced_by.get(label)
        if seen is not None:
            return seen
        kept = (self.store.get_meta(_announced_meta(label)) or "").split()
        if kept and kept[0] == str(full.number):  # the bytes of this CRL are kept
            announced = kept[1] == "1"
        else:
            published = self.store.published_crl(label)
            if published is None or published.number != full.number:
                return None
            extensions = x509.load_der_x509_crl(published.der).extensions
            announced = any(isinstance(e.value, x509.FreshestCRL) for e in extensions)
        self._announced_by[label] = announced
        return announced

    def _half_passed(self, info: CRLInfo) -> bool:
        return self.clock.now() - info.this_update > (info.next_update - info.this_update) / 2

    # -- OCSP signers and the TSA -------------------------------------------------------------

    def ensure_ocsp_signer(self, label: str) -> tuple[OCSPSignerRecord, CAKey]:
        """CA ``label``'s OCSP signer and its key, made anew when due
        (:func:`pki.revocation.ocsp.ensure_signer`)."""
        return self._ocsp_signer(label, self.store.ocsp_signer(label))

    def _ocsp_signer(self, label: str, current: OCSPSignerRecord | None
                     ) -> tuple[OCSPSignerRecord, CAKey]:
        """:meth:`ensure_ocsp_signer`, ``current`` being the store's signer of ``label``."""
        from .revocation.ocsp import ensure_signer, signer_is_current

        held = self._signers.get(label)
        if (held is not None and current is not None and current.serial == held[0].serial
                and signer_is_current(current.certificate, at=self.clock.now())):
            return held
        signer = ensure_signer(self.store, self.keys, self.store.get_ca(label),
                               at=self.clock.now(), entropy=self.entropy,
                               ca_key=self._ca_keys.get(label))
        self._signers[label] = signer
        return signer

    def ensure_tsa(self) -> TimeStampAuthority:
        """The home's TSA, made or renewed when due
        (:func:`pki.timestamp.management.ensure_tsa`)."""
        from .timestamp.management import tsa_certificate

        return self._ensure_tsa(tsa_certificate(self.store))

    def _ensure_tsa(self, latest: x509.Certificate | None) -> TimeStampAuthority:
        """:meth:`ensure_tsa`, ``latest`` being the store's latest TSA certificate."""
        from .timestamp.management import TSA_ISSUER, ensure_tsa, tsa_usable

        held = self._tsa
        if held is not None and latest == held.certificate and \
                tsa_usable(self.store, held.certificate, self.clock.now()):
            return held
        tsa = ensure_tsa(self.store, self.keys, clock=self.clock, entropy=self.entropy,
                         issuer_key=self._ca_keys.get(TSA_ISSUER))
        self._tsa = tsa
        if self.tsa_certificate_file is not None:
            pem = tsa.certificate.public_bytes(serialization.Encoding.PEM)
            try:
                current = self.tsa_certificate_file.read_bytes()
            except OSError:
                current = b""
            if current != pem:
                atomic_write(self.tsa_certificate_file, pem)
        return tsa

    # -- the long-running form ----------------------------------------------------------------

    def round(self, *, force: bool = False) -> Round:
        """Publish whatever is due (see the module doc); ``force``: every CA's CRLs."""
        force, self._force_next = force or self._force_next, False
        crls: list[Publication] = []
        signers: list[str] = []
        announce = self.announce_deltas
        for record in self.store.list_cas():
            change_seq = self.store.change_seq(record.label)
            full, delta = self._crls_due(record, change_seq, announce=announce, force=force)
            if full:
                crls.append(self.publish_ca(record))
            if delta:
                crls.append(self.publish_ca(record, delta=True))
            if full:
                log.info("published CRL %d of %s (%d entries) and delta %d",
                         crls[-2].crl.info.number, record.label, crls[-2].crl.info.entries,
                         crls[-1].crl.info.number)
            elif delta:
                log.info("published delta CRL %d of %s", crls[-1].crl.info.number,
                         record.label)
            if self._shards_due(record, change_seq, full=full):
                shards = self.publish_shards(record)
                crls.extend(shards)
                log.info("published CRLs %d to %d of %s's %d shards",
                         shards[0].crl.info.number, shards[-1].crl.info.number, record.label,
                         len(shards))
            if record.ocsp_url:
                before = self.store.ocsp_signer(record.label)
                signer, _ = self._ocsp_signer(record.label, before)
                if before is None or before.serial != signer.serial:
                    signers.append(record.label)
                    log.info("new OCSP signer %X of %s", signer.serial, record.label)
        from .timestamp.management import tsa_certificate

        before_tsa = tsa_certificate(self.store)
        tsa = self._ensure_tsa(before_tsa)
        return Round(crls=tuple(crls), signers=tuple(signers),
                     tsa=None if tsa.certificate == before_tsa
                     else tsa.certificate.serial_number)

    def leads(self, lease: Lease) -> bool:
        """Whether this publisher may publish now: ``lease.hold()``, with a log line when
        that changes; a publisher that has just taken the lease over starts with a full
        round (its CRLs may be older than its predecessor's)."""
        held = lease.hold()
        if held is not self._leading:
            log.info("publishing: %s", "this process publishes now" if held
                     else "another process publishes")
            self._force_next = held and self._leading is False  # taken over, not started
            self._leading = held
        return held

    def watch(self, stop: threading.Event, *, poll_seconds: float,
              on_round: Callable[[Round], object] | None = None,
              lease: Lease | None = None) -> None:
        """Run rounds until ``stop`` is set: one at once, then one every ``poll_seconds``.
        A round that fails is logged in one line and the next one tries again; ``on_round``
        is called after each round that succeeded. With ``lease`` (:mod:`pki.leadership`),
        a round runs only while this process holds it (:meth:`leads`): the others ask again
        every ``poll_seconds``; the lease is given up when ``stop`` is set."""
        try:
            while not stop.is_set():
                if lease is None or self.leads(lease):
                    self._watched_round(on_round)
                stop.wait(poll_seconds)
        finally:
            if lease is not None:
                lease.release()
                self._leading = False

    def _watched_round(self, on_round: Callable[[Round], object] | None) -> None:
        try:
            done = self.round()
        except PKIError as exc:  # a clock gone back, a full disk: one line, no trace
            log.error("publishing failed: %s", exc)
        except Exception:  # keep serving the last CRLs; say why once per failure
            log.exception("publishing failed")
        else:
            if on_round is not None:
                on_round(done)
