"""Publish what relying parties fetch, once (``kpki publish``, ``kpki crl publish``).

The work is the publisher's (:class:`pki.publisher.Publisher`: CRL numbers, lapses, delta
bookkeeping, OCSP signers, the TSA); these functions give it the home's keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..home import Home
from ..progress import ProgressCallback
from ..publisher import Round
from ..revocation.crl import IssuedCRL

__all__ = ["publish_crls", "publish_round"]


def publish_round(home: Home, *, passphrase: bytes | None,
                  progress: ProgressCallback | None = None) -> Round:
    """One publisher round that publishes every CA's CRLs, OCSP signers and the TSA
    renewed when due; ``progress`` is told how far each CRL has got."""
    home.use_passphrase(passphrase)
    with home.publisher().reporting(progress) as publisher:
        return publisher.round(force=True)


def publish_crls(home: Home, *, passphrase: bytes | None, delta: bool = False,
                 labels: Sequence[str] = (), progress: ProgressCallback | None = None
                 ) -> list[tuple[IssuedCRL, Path | None]]:
    """The next CRL (or delta CRL) of each CA of ``labels`` (every CA when empty), with the
    file it was written to (``None``: a newer one was in place); ``progress`` is told how
    far each CRL has got. Raises :class:`pki.errors.NotFoundError` for an unknown label
    before publishing anything."""
    for label in labels:
        home.store.get_ca(label)
    with home.publisher(passphrase=passphrase).reporting(progress) as publisher:
        done = publisher.publish(delta=delta, labels=list(labels) or None)
    return [(p.crl, p.path) for p in done]
