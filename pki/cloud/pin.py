"""PINs of the financial-certificate cloud: the rules a new PIN follows, and the gate every
PIN check goes through (korean-pki.md sections 1 and 9).

**Rules.** Exactly six digits, entered twice when set; not all the same digit, not an
ascending or descending run, not the holder's birth date (YYMMDD). A million values is all
a PIN has, so these rules only remove the guesses tried first; the protection is the
vault's design.

**The gate.** Only a verified wrong PIN is charged, and never more than five wrong PINs in
a row are tried, however many arrive at once:

1. *reserve*: one transaction notes the check in flight, granted while the failures so far
   plus the checks in flight stay under :data:`MAX_ATTEMPTS` (else :class:`PinBusyError`,
   nothing charged; a locked key is :class:`PinLockedError`);
2. the KDF runs and the vault opens the key (or does not), outside any transaction;
3. one transaction ends the reservation and charges a verified wrong PIN (the fifth in a
   row locks the key for good: revoke and reissue), or clears the failures after a right
   one, with its audit row. A PIN found wrong against a seal that a PIN change or reset
   replaced meanwhile is not charged (:class:`PinChangedError`): it was not checked
   against the PIN in force.

A crash between 1 and 3 leaves only the reservation, which names the process (its
:class:`pki.cloud.boot.Boot`); a later start, or the next busy refusal, forgets the
reservations of processes that are gone. It is never charged. A key sealed under another
vault secret is :class:`SealedUnderOtherSecretError`, never a wrong PIN.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable

from ..clock import Clock
from ..errors import (
    CloudNotFoundError,
    CloudRequestError,
    PinBusyError,
    PinChangedError,
    PinLockedError,
    PinPolicyError,
    SealedUnderOtherSecretError,
    VaultError,
    WrongPasswordError,
    WrongPinError,
)
from ..faults import fault_point
from ..store import AuditAction, Store, VaultRecord
from .boot import Boot

__all__ = ["MAX_ATTEMPTS", "PinGate", "PinPolicyError", "check_pin", "check_pin_format",
           "sweep_pin_checks"]

MAX_ATTEMPTS = 5


def check_pin_format(pin: object) -> str:
    """``pin`` if it is six ASCII digits; :class:`CloudRequestError` otherwise (a PIN to
    check, not a new one: no rule beyond the format)."""
    if not isinstance(pin, str) or len(pin) != 6 or not pin.isascii() or not pin.isdigit():
        raise CloudRequestError("a PIN is 6 digits", field="pin")
    return pin


def check_pin(pin: str, *, confirm: str | None = None, birth_date: dt.date | None = None
              ) -> str:
    """Return ``pin`` if it may be set; :class:`PinPolicyError` otherwise (``rule``:
    ``format``, ``mismatch``, ``repeated``, ``sequence``, ``birth-date``)."""
    if not isinstance(pin, str) or len(pin) != 6 or not pin.isascii() or not pin.isdigit():
        raise PinPolicyError("a PIN is exactly 6 digits", rule="format")
    if confirm is not None and confirm != pin:
        raise PinPolicyError("the two PINs differ", rule="mismatch")
    if len(set(pin)) == 1:
        raise PinPolicyError("a PIN may not repeat one digit", rule="repeated")
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    if steps in ({1}, {-1}):
        raise PinPolicyError("a PIN may not be an ascending or descending run",
                             rule="sequence")
    if birth_date is not None and pin == birth_date.strftime("%y%m%d"):
        raise PinPolicyError("a PIN may not be the holder's birth date", rule="birth-date")
    return pin


class PinGate:
    """The gate of the module doc, over one store; ``boot`` names this process in the
    reservations it makes."""

    def __init__(self, store: Store, clock: Clock, boot: Boot, *,
                 limit: int = MAX_ATTEMPTS) -> None:
        self.store = store
        self.clock = clock
        self.boot = boot
        self.limit = limit

    def open(self, record: VaultRecord, check: Callable[[], bytes]) -> bytes:
        """Run ``check`` (which opens the sealed key with the PIN: the plaintext, or
        :class:`WrongPasswordError` for a wrong PIN, :class:`VaultError` for another
        vault secret) behind the gate; returns the plaintext. Raises
        :class:`WrongPinError` (charged), :class:`PinLockedError`, :class:`PinBusyError`,
        :class:`SealedUnderOtherSecretError` or :class:`CloudNotFoundError`."""
        ca, serial = record.ca, record.serial
        reservation = self._reserve(ca, serial)
        fault_point("cloud.pin.reserved")
        verified = charged = False
        try:
            try:
                plaintext = check()
            except WrongPasswordError:
                charge = self._charge(reservation, record)
                charged = True
                if charge is None:
                    raise PinChangedError(serial=serial) from None
                failures, locked = charge
                if locked:
                    raise PinLockedError("wrong PIN; the certificate is now locked: revoke "
                                         "and reissue it", serial=serial) from None
                raise WrongPinError(serial=serial,
                                    attempts_left=self.limit - failures) from None
            except VaultError:
                raise SealedUnderOtherSecretError(serial=serial) from None
            verified = True
            fault_point("cloud.pin.verified")
        finally:
            if not charged:
                self._release(reservation, ca, serial, verified=verified)
        return plaintext

    def _reserve(self, ca: str, serial: int) -> int:
        for first in (True, False):
            with self.store.transaction() as tx:
                current = tx.vault_record(ca, serial)
                if current is None:
                    raise CloudNotFoundError()
                if current.locked:
                    raise PinLockedError("the certificate is locked after 5 wrong PINs: "
                                         "revoke and reissue it", serial=serial)
                if current.failures + tx.pin_checks_in_flight(ca, serial) < self.limit:
                    return tx.reserve_pin_check(ca, serial, boot=self.boot.id,
                                                at=self.clock.now())
            if not (first and self.sweep(ca=ca, serial=serial)):
                break
        raise PinBusyError(serial=serial)

    def _charge(self, reservation: int, record: VaultRecord) -> tuple[int, bool] | None:
        """A verified wrong PIN: end its reservation and count it, locking at the limit;
        one transaction. Returns (failures, locked); None, counting nothing, when the key
        was sealed again (under a new PIN) after ``record`` was read."""
        at = self.clock.now()
        ca, serial = record.ca, record.serial
        with self.store.transaction() as tx:
            tx.end_pin_check(reservation)
            current = tx.vault_record(ca, serial)
            if current is None or current.locked:
                return self.limit, True
            if current.sealed != record.sealed:
                return None
            failures = current.failures + 1
            locked_at = at if failures >= self.limit else None
            tx.set_pin_failures(ca, serial, failures, locked_at=locked_at)
            tx.audit(AuditAction.CLOUD_PIN_LOCKED if locked_at
                     else AuditAction.CLOUD_PIN_FAILED, at=at, ca=ca,
                     serial=serial, detail={"failures": failures})
            return failures, locked_at is not None

    def _release(self, reservation: int, ca: str, serial: int, *, verified: bool) -> None:
        """End a check that was not a verified wrong PIN; a verified right one also clears
        the failures. One transaction."""
        at = self.clock.now()
        with self.store.transaction() as tx:
            tx.end_pin_check(reservation)
            if not verified:
                return
            current = tx.vault_record(ca, serial)
            if current is not None and current.failures and not current.locked:
                tx.set_pin_failures(ca, serial, 0, locked_at=None)
                tx.audit(AuditAction.CLOUD_PIN_RESET, at=at, ca=ca, serial=serial)

    def sweep(self, *, ca: str | None = None, serial: int | None = None) -> int:
        """:func:`sweep_pin_checks` from this process."""
        return sweep_pin_checks(self.store, self.boot, ca=ca, serial=serial)


def sweep_pin_checks(store: Store, boot: Boot, *, ca: str | None = None,
                     serial: int | None = None) -> int:
    """Forget the PIN checks in flight of processes that are gone, as ``boot`` sees them
    (of one key, or of all); returns how many. They were never charged."""
    dead = [other for other in store.pin_check_boots(ca=ca, serial=serial)
            if not boot.alive(other)]
    if not dead:
        return 0
    with store.transaction() as tx:
        return sum(tx.forget_pin_checks(other) for other in dead)
