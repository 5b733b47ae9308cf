"""Bulk issuance records its batch in a few statements, whatever its size, and keeps every
rule of one-by-one issuance: serials unique per CA (drawn again when the CA has used one,
never twice in a batch), all or nothing, an audit row per certificate, the CN sequence.

On a database server a round trip per certificate costs more than the rest of the store's
work (issue 16's figure: ``issue_many`` >= 0.7 of raw building and signing on PostgreSQL),
so ``issue_many`` signs every certificate, then records them all with one
``put_certificates``, and signs again only those whose serial the store refused.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from pki.authority import CertificateAuthority, IssueRequest, IssueStep
from pki.entropy import SeededEntropy
from pki.errors import StoreError
from pki.home import Home
from pki.profiles import PROFILES
from pki.rrn import synthetic_rrn

RRN = synthetic_rrn(dt.date(1990, 5, 17), serial=12345)
JOINT = PROFILES["joint-general"]


class ScriptedEntropy:
    """Plays back given byte strings, then a seeded stream (or ``stuck`` for ever)."""

    def __init__(self, *chunks: bytes, stuck: bytes | None = None) -> None:
        self.chunks = list(chunks)
        self.stuck = stuck
        self.rest = SeededEntropy("scripted-batch")

    def token_bytes(self, n: int) -> bytes:
        if self.chunks:
            chunk = self.chunks.pop(0)
            assert len(chunk) == n
            return chunk
        if self.stuck is not None and n == len(self.stuck):
            return self.stuck
        return self.rest.token_bytes(n)


R = b"\x01" * 20  # issuance draws each request's R (20 bytes) first, then serials (8 bytes)


def serial_bytes(serial: int) -> bytes:
    """The 8 bytes a 63-bit serial is drawn from."""
    return (serial << 1).to_bytes(8, "big")


def requests(count: int, **options: Any) -> list[IssueRequest]:
    return [IssueRequest(JOINT, name="홍길동", rrn=RRN, **options) for _ in range(count)]


def issued_audit(home: Home) -> list[int | None]:
    return [e.serial for e in home.store.audit_log() if e.action == "certificate.issued"]


@pytest.fixture
def calls(authority: CertificateAuthority, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[Counter[str]]:
    """How often each write of the store's transaction was called."""
    counted: Counter[str] = Counter()
    with authority.store.transaction() as tx:
        kind = type(tx)
    for name in ("put_certificate", "put_certificates", "reserve_cn_sequence"):
        original = getattr(kind, name)

        def counting(self: Any, *args: Any, _name: str = name, _original: Any = original,
                     **kwargs: Any) -> Any:
            counted[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(kind, name, counting)
    yield counted


def test_a_batch_is_recorded_by_one_put_certificates_whatever_its_size(
        authority: CertificateAuthority, home: Home, calls: Counter[str]) -> None:
    issued = authority.issue_many(requests(30) + requests(2, with_km=True))
    assert calls == {"put_certificates": 1, "reserve_cn_sequence": 1}
    stored = {r.serial: r for r in home.store.list_certificates()}
    assert len(stored) == 34
    for one in issued:
        for cert in (one.certificate, *([one.key_management.certificate]
                                        if one.key_management else [])):
            assert stored[cert.serial_number].der == cert.public_bytes(
                serialization.Encoding.DER)
    km = [one.key_management for one in issued if one.key_management]
    assert [k.certificate.subject for k in km] == [i.certificate.subject for i in issued[30:]]
    # an audit row per certificate, in order, each KM twin after its signing certificate
    order = []
    for one in issued:
        order.append(one.serial)
        if one.key_management:
            order.append(one.key_management.serial)
    assert issued_audit(home) == order


def test_one_shot_issuance_still_records_one_certificate_at_a_time(
        authority: CertificateAuthority, calls: Counter[str]) -> None:
    authority.issue_joint(name="홍길동", rrn=RRN)
    assert calls["put_certificate"] == 1 and calls["put_certificates"] == 0


def test_a_batch_draws_again_only_the_serials_the_ca_has_used(
        authority: CertificateAuthority, home: Home, calls: Counter[str]) -> None:
    used = 0x1234
    authority.entropy = ScriptedEntropy(R, serial_bytes(used))
    assert authority.issue_joint(name="홍길동", rrn=RRN).serial == used
    authority.entropy = ScriptedEntropy(R, R, R, serial_bytes(7), serial_bytes(used),
                                        serial_bytes(9))
    issued = authority.issue_many(requests(3))
    serials = [one.serial for one in issued]
    assert serials[0] == 7 and serials[2] == 9
    assert serials[1] not in (used, 7, 9)
    assert calls["put_certificates"] == 2  # the batch, then the one signed again
    assert issued[1].certificate.serial_number == serials[1]
    assert home.store.find_certificates(serials[1])[0].der == issued[1].certificate.public_bytes(
        serialization.Encoding.DER)
    assert sorted(issued_audit(home)) == sorted([used, *serials])
    assert home.store.count_certificates() == 4


def test_a_batch_never_gives_one_serial_twice(
        authority: CertificateAuthority, home: Home) -> None:
    authority.entropy = ScriptedEntropy(R, R, R, serial_bytes(7), serial_bytes(7),
                                        serial_bytes(7), serial_bytes(8))
    serials = [one.serial for one in authority.issue_many(requests(3))]
    assert serials[:2] == [7, 8] and serials[2] not in (7, 8)
    assert sorted(r.serial for r in home.store.list_certificates()) == sorted(serials)


def test_a_stuck_entropy_source_fails_the_whole_batch_and_records_nothing(
        authority: CertificateAuthority, home: Home) -> None:
    authority.entropy = ScriptedEntropy(stuck=serial_bytes(5))
    with pytest.raises(StoreError, match="no unused serial"):
        authority.issue_many(requests(2))  # the second can never differ from the first
    assert home.store.list_certificates() == []
    assert authority.issue_many(requests(1))[0].serial == 5
    with pytest.raises(StoreError, match="no unused serial"):
        authority.issue_many(requests(1))  # the store has 5: every draw is refused
    assert [r.serial for r in home.store.list_certificates()] == [5]
    assert issued_audit(home) == [5]


def test_the_cn_sequence_goes_on_across_batches_and_one_shot_issuance(
        authority: CertificateAuthority) -> None:
    digits = authority.style.cn_sequence_digits

    def seq(one: Any) -> int:
        return int(one.certificate.subject.rfc4514_string().split(",")[0][-digits:])

    first = authority.issue_joint(name="홍길동", rrn=RRN)
    batch = authority.issue_many(requests(5))
    after = authority.issue_joint(name="홍길동", rrn=RRN)
    numbers = [seq(first), *map(seq, batch), seq(after)]
    assert len(set(numbers)) == 7 and numbers == sorted(numbers)


def test_progress_counts_every_certificate_signed_then_delivered(
        authority: CertificateAuthority) -> None:
    steps: list[tuple[IssueStep, int, int]] = []
    authority.issue_many(requests(3), progress=lambda *step: steps.append(step))
    assert [s for s in steps if s[0] is IssueStep.ISSUE] == [
        (IssueStep.ISSUE, n, 3) for n in (1, 2, 3)]
    called: list[int] = []
    steps.clear()
    authority.issue_many(requests(2), deliver=[None, lambda one: called.append(one.serial)],
                         progress=lambda *step: steps.append(step))
    assert len(called) == 1
    assert [s for s in steps if s[0] is IssueStep.ISSUE] == [
        (IssueStep.ISSUE, n, 2) for n in (1, 2)]
