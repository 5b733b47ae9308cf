"""Publish what relying parties fetch, once (``kpki publish``, ``kpki crl publish``).

The work is the publisher's (:class:`pki.publisher.Publisher`: CRL numbers, lapses, delta
bookkeeping, OCSP signers, the TSA); these functions give it the home's keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..home import Home
from ..publisher import Round
from ..revocation.crl import IssuedCRL

__all__ = ["publish_crls", "publish_round"]


def publish_round(home: Home, *, passphrase: bytes | None) -> Round:
    """One publisher round: what is due (every CA's CRLs in a first round), OCSP signers
    and the TSA renewed when due."""
    home.use_passphrase(passphrase)
    return home.publisher().round()


def publish_crls(home: Home, *, passphrase: bytes | None, delta: bool = False,
                 labels: Sequence[str] = ()) -> list[tuple[IssuedCRL, Path | None]]:
    """The next CRL (or delta CRL) of each CA of ``labels`` (every CA when empty), with the
    file it was written to (``None``: a newer one was in place). Raises
    :class:`pki.errors.NotFoundError` for an unknown label before publishing anything."""
    for label in labels:
        home.store.get_ca(label)
    return home.publish_crls(passphrase=passphrase, delta=delta, labels=list(labels) or None)
