"""Banks as institutions: the 3-digit code and the settings of each.

A bank is an institution of the store (:class:`pki.store.Institution`), the same record the
cloud authenticates by API key: :func:`add_bank` records one with its financial institution
code (``081`` Hana; :data:`KNOWN_CODES`) and its :class:`BankSettings`, and returns the API
key. An institution that only calls the cloud has no code and default settings.

Settings are data: :meth:`BankSettings.from_config` reads them from a mapping (as stored,
or as a test writes them), rejecting unknown keys and values out of bounds with
:class:`pki.errors.BankSettingsError` naming the key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..clock import Clock
from ..errors import BankNotFoundError, BankRequestError, BankSettingsError, StoreError
from ..store import AuditAction, Institution, Store
from .limits import LIMIT_TABLES, LimitTable

__all__ = [
    "KNOWN_CODES",
    "BankSettings",
    "add_bank",
    "bank_by_code",
    "change_settings",
    "check_institution_code",
    "settings_of",
]

KNOWN_CODES: Mapping[str, str] = {
    "004": "KB국민은행",
    "011": "NH농협은행",
    "020": "우리은행",
    "071": "우체국",
    "081": "하나은행",
    "088": "신한은행",
}
"""Financial institution codes (금융기관 코드) of the banks the issue names; any other
3-digit code may be used too."""


@dataclass(frozen=True)
class BankSettings:
    """One institution's settings. Numbers marked *setting* in docs/bank.md have no
    primary source; the others follow the bank pages (korean-pki.md section 9)."""

    card_positions: int = 35
    """Codes on a security card: 25-35 (Hana prints 35)."""
    card_attempts: int = 5
    """Wrong card answers in a row that lock the card until a branch resets it (Hana)."""
    challenge_seconds: int = 120
    """How long a security-card challenge may be answered (*setting*)."""
    enrolment_days: int = 3
    """KST days, counting the branch sign-up day, to activate internet banking online."""
    account_password_attempts: int = 5
    """Wrong account passwords in a row that lock the account password (*setting*)."""
    limit_table: str = "hana"
    """The limit table (:data:`pki.bank.limits.LIMIT_TABLES`): ``hana`` or ``kb``."""
    digital_otp: bool = True
    """The institution takes the shared digital OTP (:mod:`pki.bank.otp`)."""
    mobile_otp_activation_days: int = 3
    """KST days, counting the issue day, within which the institution's mobile OTP is
    activated (bank pages: 3); the shared hardware OTP's settings are the OTP centre's."""
    max_devices: int = 5
    """Designated devices per customer (:mod:`pki.bank.devices`; bank pages)."""
    undesignated_step_up_krw: int = 3_000_000
    """From an undesignated device, a KST day's transfers from this total on need the
    extra SMS or ARS step (the 2013-09-26 rule)."""
    step_up_seconds: int = 300
    """How long a confirmed phone verification counts as the extra step (*setting*)."""
    session_seconds: int = 600
    """How long an internet-banking session lasts from its login (:mod:`pki.bank.sessions`;
    *setting*: banks log out after about 10 minutes)."""
    signature_seconds: int = 300
    """How far a transfer's signed time may be from the bank's clock, either way
    (:mod:`pki.bank.transfers`; *setting*)."""
    ra_step_seconds: int = 600
    """How long an issuance flow's step session waits for its next step (:mod:`pki.ra`;
    the issue's default of 10 minutes, a *setting*)."""
    pin_reset: bool = False
    """A forgotten financial-certificate PIN may be reset after the full identity proofing
    of an issuance (:mod:`pki.ra.financial`); off, the certificate is revoked and
    reissued (the Korea Post pages)."""

    _BOUNDS = {"card_positions": (25, 35), "card_attempts": (1, 20),
               "challenge_seconds": (10, 3600), "enrolment_days": (1, 30),
               "account_password_attempts": (1, 20), "mobile_otp_activation_days": (1, 30),
               "max_devices": (1, 20),
               "undesignated_step_up_krw": (1, 10**12), "step_up_seconds": (30, 3600),
               "session_seconds": (60, 86400), "signature_seconds": (10, 3600),
               "ra_step_seconds": (60, 3600)}
    _FLAGS = ("digital_otp", "pin_reset")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BankSettings:
        """Settings from a mapping of field names to values; missing keys keep their
        defaults. Raises :class:`BankSettingsError` (``key``) for an unknown key or a
        value of the wrong type or out of bounds."""
        if not isinstance(config, Mapping):
            raise BankSettingsError("settings are a mapping of names to values", key="")
        known = {f.name for f in dataclasses.fields(cls)}
        for key in config:
            if key not in known:
                raise BankSettingsError(f"unknown bank setting {key!r} (known: "
                                        f"{', '.join(sorted(known))})", key=str(key))
        for key, (low, high) in cls._BOUNDS.items():
            value = config.get(key, low)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise BankSettingsError(f"{key} is a whole number from {low} to {high}",
                                        key=key)
        for flag in cls._FLAGS:
            if not isinstance(config.get(flag, False), bool):
                raise BankSettingsError(f"{flag} is true or false", key=flag)
        table = config.get("limit_table", "hana")
        if table not in LIMIT_TABLES:
            raise BankSettingsError(f"limit_table is one of {', '.join(LIMIT_TABLES)}",
                                    key="limit_table")
        return cls(**config)

    def to_config(self) -> dict[str, Any]:
        """The settings that differ from the defaults, as :meth:`from_config` reads them."""
        default = BankSettings()
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(default, f.name)}

    @property
    def ra_step_lifetime(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.ra_step_seconds)

    @property
    def challenge_lifetime(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.challenge_seconds)

    @property
    def step_up_validity(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.step_up_seconds)

    @property
    def limits(self) -> LimitTable:
        return LIMIT_TABLES[self.limit_table]


_READ: dict[int, tuple[Institution, BankSettings]] = {}
"""The settings :func:`settings_of` read last of each institution record, by the record's
id (a record is frozen, and a transfer asks several times with the same one). The entry
holds the record, so no other object takes its id while it is there."""


def settings_of(institution: Institution) -> BankSettings:
    """The institution's settings (the defaults for one that has none)."""
    known = _READ.get(id(institution))
    if known is not None and known[0] is institution:
        return known[1]
    try:  # the type too: True == 1, and a flag given as 1 is refused, not a cached True
        key = tuple(sorted((name, type(value), value)
                           for name, value in institution.settings.items()))
        hash(key)
    except TypeError:  # unhashable or unsortable: from_config says what is wrong
        return BankSettings.from_config(institution.settings)
    settings = _settings(key)
    if len(_READ) >= 256:
        _READ.clear()
    _READ[id(institution)] = (institution, settings)
    return settings


@functools.lru_cache(maxsize=256)
def _settings(items: tuple[tuple[str, type, Any], ...]) -> BankSettings:
    """Settings read once per distinct mapping (every transfer reads them several times)."""
    return BankSettings.from_config({name: value for name, _, value in items})


def check_institution_code(code: object) -> str:
    """``code`` if it is a 3-digit institution code; :class:`BankRequestError` else."""
    if not (isinstance(code, str) and len(code) == 3 and code.isascii() and code.isdigit()):
        raise BankRequestError("an institution code is 3 digits (081 Hana, 004 KB)",
                               field="code")
    return code


def add_bank(store: Store, code: str, *, at: dt.datetime, name: str | None = None,
             settings: BankSettings | Mapping[str, Any] | None = None
             ) -> tuple[Institution, str]:
    """Record the bank with institution ``code`` (named after :data:`KNOWN_CODES` unless
    ``name`` is given) and its settings; one transaction and one audit row. Returns the
    institution and its API key (shown once). Raises :class:`BankRequestError` for a bad
    code or a code or name taken, :class:`BankSettingsError` for bad settings."""
    from ..cloud.service import add_institution

    code = check_institution_code(code)
    if name is None:
        name = KNOWN_CODES.get(code, f"bank {code}")
    chosen = (settings if isinstance(settings, BankSettings)
              else BankSettings.from_config(settings or {}))
    try:
        api_key = add_institution(store, name, at=at, code=code, settings=chosen.to_config())
    except StoreError as exc:
        raise BankRequestError(str(exc), field="code") from None
    institution = store.institution_by_code(code)
    assert institution is not None
    return institution, api_key


def bank_by_code(store: Store, code: str) -> Institution:
    """The bank with institution ``code``; :class:`BankNotFoundError` if none."""
    found = store.institution_by_code(check_institution_code(code))
    if found is None:
        raise BankNotFoundError("institution")
    return found


def change_settings(store: Store, institution: Institution,
                    settings: BankSettings | Mapping[str, Any], *, clock: Clock
                    ) -> Institution:
    """Replace the institution's settings; one transaction and its audit row. Returns the
    institution as it is then."""
    chosen = (settings if isinstance(settings, BankSettings)
              else BankSettings.from_config(settings))
    at = clock.now()
    with store.transaction() as tx:
        if tx.institution(institution.id) is None:
            raise BankNotFoundError("institution")
        tx.set_institution_settings(institution.id, chosen.to_config())
        tx.audit(AuditAction.BANK_SETTINGS_CHANGED, at=at,
                 detail={"institution": institution.name, "settings": chosen.to_config()})
        changed = tx.institution(institution.id)
    assert changed is not None
    return changed
