"""Partitioned CRLs: a CA's certificates spread over several CRLs (``crl_shards = N``).

A CA with very many revocations publishes one CRL per shard instead of one CRL listing all
of them, as EJBCA's partitioned CRLs and Let's Encrypt's CRL shards do, so a relying party
fetches a CRL about 1/N the size. The rules:

* **Assignment.** A certificate issued while the CA has N > 1 shards gets shard
  ``serial mod N`` (:func:`shard_of`), recorded with it in the store, and its
  cRLDistributionPoints names that shard's CRL (:func:`shard_url`: beside ``.../<ca>.crl``,
  ``.../<ca>/<k>.crl``, as Let's Encrypt lays its shards out; no CA label contains ``/``,
  so no other CA's CRL can have that URL). With N = 1 nothing changes: no shard, the CA's
  CRL URL, byte for byte as before.
* **Scope.** Shard k's CRL lists only the revoked and suspended certificates of shard k
  and carries a critical issuingDistributionPoint naming exactly the URL in their
  distribution point (RFC 5280 sections 5.2.5 and 6.3.3: a relying party uses a CRL for a
  certificate only when they match), so a shard's CRL never passes for another shard's.
* **Certificates issued before.** A certificate keeps the distribution point it was issued
  with. The CA's unsharded CRL (at its CRL URL) keeps being published and lists the
  certificates that have no shard; so does every shard's CRL while the CA has it.
* **N only grows.** Lowering N would orphan the certificates of the shards that go, so it
  is refused (:func:`check_shard_change`).
* **Numbers.** One CRL number sequence per CA, shared by its unsharded and shard CRLs (and
  delta CRLs): numbers strictly increase across all of a CA's CRLs, whichever process
  publishes them.
* **Delta CRLs** exist only for the unsharded CRL; a shard's CRL is a full CRL and
  announces none (:func:`pki.revocation.crl.issue_crl` refuses a delta for a shard).
* **The root** is never sharded: its CRLs speak for everything it issued and carry no
  issuingDistributionPoint.

The bound on N (:data:`MAX_CRL_SHARDS`): each shard costs a signature, a stored CRL and two
files every time the CA publishes, and a query over the CA's revocations; 256 shards
already bring a CA of ten million revocations down to ~40,000 entries (about 1 MB) per
CRL, and more only multiply the publishing work.
"""

from __future__ import annotations

from ..errors import ProfileError

__all__ = ["MAX_CRL_SHARDS", "check_crl_shards", "check_shard_change", "shard_of", "shard_url"]

MAX_CRL_SHARDS = 256


def check_crl_shards(shards: int, *, label: str = "") -> int:
    """``shards`` if it is a number of CRL shards kpki accepts (1 to
    :data:`MAX_CRL_SHARDS`); :class:`ProfileError` otherwise."""
    if isinstance(shards, bool) or not isinstance(shards, int) or \
            not 1 <= shards <= MAX_CRL_SHARDS:
        where = f"CA {label!r}: " if label else ""
        raise ProfileError(f"{where}crl_shards must be a whole number from 1 to "
                           f"{MAX_CRL_SHARDS} (1: one CRL), not {shards!r}")
    return shards


def check_shard_change(label: str, *, is_root: bool, old: int, new: int) -> int:
    """``new`` if CA ``label`` may go from ``old`` to ``new`` CRL shards: never for the
    root (beyond 1), never fewer than before; :class:`ProfileError` otherwise."""
    check_crl_shards(new, label=label)
    if is_root and new != 1:
        raise ProfileError(f"CA {label!r} is the root: its CRL covers everything it issued "
                           "and is not sharded")
    if new < old:
        raise ProfileError(f"CA {label!r} has {old} CRL shards: the number only grows, since "
                           "certificates name the shards' CRLs in their distribution points")
    return new


def shard_of(serial: int, shards: int) -> int | None:
    """The CRL shard of a certificate with ``serial`` issued while its CA has ``shards``
    shards: ``serial mod shards``; None with one shard (the unsharded CRL)."""
    if shards <= 1:
        return None
    return serial % shards


def shard_url(crl_url: str, shard: int | None) -> str:
    """The URL of CRL ``shard`` of a CA whose CRL is at ``crl_url`` (``.../ca.crl`` gives
    ``.../ca/3.crl``); ``crl_url`` itself for None."""
    if shard is None:
        return crl_url
    if crl_url.endswith(".crl"):
        return f"{crl_url[: -len('.crl')]}/{shard}.crl"
    return f"{crl_url}/{shard}"
