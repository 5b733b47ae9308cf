"""The registration authority's flows assembled over one home: what ``kpki ra``, the
``/ra/v1`` web API and :class:`pki.testing.TestPKI` call.

:class:`RegistrationDesk` holds the bank (:class:`pki.usecases.banking.Banking`: customers,
accounts, media, phone verification, devices) and reaches the home's CAs and cloud when a
flow issues. The rules are the flows' (:mod:`pki.ra.joint`, :mod:`pki.ra.financial`,
:mod:`pki.private`); nothing here decides.
"""

from __future__ import annotations

from ..home import Home
from ..ra.sessions import StepSessions
from ..store import Store
from .banking import Banking

__all__ = ["RegistrationDesk"]


class RegistrationDesk:
    """The issuance flows over one home (see the module doc)."""

    def __init__(self, home: Home, banking: Banking, *, passphrase: bytes | None = None
                 ) -> None:
        self.home = home
        self.banking = banking
        self.passphrase = passphrase
        self.sessions = StepSessions(home.store, clock=home.clock, entropy=home.entropy)

    @classmethod
    def of_home(cls, home: Home, *, create_secret: bool = True,
                passphrase: bytes | None = None) -> RegistrationDesk:
        """The desk of ``home``: its bank (:meth:`Banking.of_home`) and CAs."""
        return cls(home, Banking.of_home(home, create_secret=create_secret),
                   passphrase=passphrase)

    @property
    def store(self) -> Store:
        return self.home.store

    # -- joint certificates (pki.ra.joint) ---------------------------------------------

    # -- financial certificates (pki.ra.financial) -------------------------------------

    # -- private certificates (pki.private) --------------------------------------------
