"""Designated devices' part of the SQLite store (migration 13): the bank's customers'
designated devices, their choices (designated-only, the extra-step service), and the phone
verifications used as an extra step.

:class:`DeviceWritesSQL` is mixed into the store's transaction, :class:`DeviceReadsSQL`
into the store. The rules are :mod:`pki.devices`' and :mod:`pki.bank.devices`'. The cloud's
users keep their devices where they always were (``cloud_devices``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .common import SQLiteConnection, opt_ts, ts

if TYPE_CHECKING:
    from ..bankrecords import DesignatedDevices

__all__ = ["DEVICE_COLUMNS", "DEVICE_JOINS", "DEVICE_ORDER", "DeviceReadsSQL", "DeviceWritesSQL",
           "designated_devices"]


DEVICE_COLUMNS = "o.designated_only, o.step_up, d.device_id"
DEVICE_JOINS = ("FROM bank_customers c LEFT JOIN bank_device_options o ON o.customer_id = c.id "
                "LEFT JOIN bank_devices d ON d.customer_id = c.id")
"""A customer's devices and options in one statement (``WHERE c.id = ?``, then
:data:`DEVICE_ORDER`): the options repeated on each device's row, one row of NULL devices
when there is none; :func:`designated_devices` reads the rows."""
DEVICE_ORDER = "ORDER BY d.added_at, d.rowid"


def designated_devices(rows: Sequence[Sequence[Any]]) -> DesignatedDevices:
    """The devices and options of rows whose last three columns are
    :data:`DEVICE_COLUMNS`."""
    from ..bankrecords import DesignatedDevices

    if not rows:
        return DesignatedDevices()
    devices = tuple(r[-1] for r in rows if r[-1] is not None)
    if rows[0][-3] is None:
        return DesignatedDevices(devices)
    return DesignatedDevices(devices, bool(rows[0][-3]), rows[0][-2])


class _DeviceLookupsSQL(SQLiteConnection):
    """Reads that a transaction makes under its lock and the store makes outside."""

    def bank_devices(self, customer_id: str) -> DesignatedDevices:
        return designated_devices(self._query(
            f"SELECT {DEVICE_COLUMNS} {DEVICE_JOINS} WHERE c.id = ? {DEVICE_ORDER}",
            (customer_id,)))

    def step_up_used_at(self, verification_id: str) -> dt.datetime | None:
        rows = self._query("SELECT at FROM bank_step_ups WHERE verification_id = ?",
                           (verification_id,))
        return opt_ts(rows[0][0]) if rows else None


class DeviceWritesSQL(_DeviceLookupsSQL):
    """Device writes, inside the store's transaction."""

    def add_bank_device(self, customer_id: str, device: str, *, at: dt.datetime) -> bool:
        return self._conn.execute(
            "INSERT INTO bank_devices (customer_id, device_id, added_at) "
            "VALUES (?, ?, ?) ON CONFLICT DO NOTHING", (customer_id, device, ts(at))).rowcount == 1

    def remove_bank_device(self, customer_id: str, device: str) -> bool:
        return self._conn.execute("DELETE FROM bank_devices WHERE customer_id = ? AND "
                                  "device_id = ?", (customer_id, device)).rowcount == 1

    def set_bank_device_options(self, customer_id: str, *, designated_only: bool,
                                step_up: str | None) -> None:
        self._conn.execute(
            "INSERT INTO bank_device_options (customer_id, designated_only, step_up) "
            "VALUES (?, ?, ?) ON CONFLICT (customer_id) DO UPDATE SET "
            "designated_only = excluded.designated_only, step_up = excluded.step_up",
            (customer_id, int(designated_only), step_up))

    def use_step_up(self, verification_id: str, *, customer_id: str, institution_id: int,
                    operation: str, at: dt.datetime) -> bool:
        return self._conn.execute(
            "INSERT INTO bank_step_ups (verification_id, customer_id, institution_id, "
            "operation, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (verification_id, customer_id, institution_id, operation, ts(at))).rowcount == 1


class DeviceReadsSQL(_DeviceLookupsSQL):
    """Device reads of the store."""
