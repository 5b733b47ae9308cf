"""The registration authority's flows assembled over one home: what ``kpki ra``, the
``/ra/v1`` web API and :class:`pki.testing.TestPKI` call.

:class:`RegistrationDesk` holds the bank (:class:`pki.usecases.banking.Banking`: customers,
accounts, media, phone verification, devices) and reaches the home's CAs and cloud when a
flow issues. The rules are the flows' (:mod:`pki.ra.joint`, :mod:`pki.ra.financial`,
:mod:`pki.private`); nothing here decides.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from ..cloud.vault import KDFParams
from ..home import Home
from ..ra.sessions import StepSessions
from ..store import Institution, Store
from .banking import Banking

if TYPE_CHECKING:
    from ..authority import CertificateAuthority
    from ..cloud.service import Cloud
    from ..ra.financial import FinancialFlows
    from ..ra.joint import JointIssuance
    from ..ra.private import PrivateIssuance

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

    joint_ca: str | None = None
    """The CA that issues the joint certificates (None: the home's first licensed CA)."""

    @functools.cached_property
    def joint(self) -> JointIssuance:
        """The joint-certificate flows (:class:`pki.ra.joint.JointIssuance`) over this
        desk's bank and the home's CA (its key opened at the first issuance, then kept)."""
        from ..ra.joint import JointIssuance
        from ..signing.verify import Verifier

        label = self.joint_ca or self.home.default_ca_label()
        home, banking = self.home, self.banking
        return JointIssuance(
            home.store, clock=home.clock, customers=banking.customers, cards=banking.cards,
            otp=banking.otp, sessions=self.sessions, ca=label, entropy=home.entropy,
            authority=functools.cache(lambda: home.authority(label,
                                                             passphrase=self.passphrase)),
            verifier=functools.cache(lambda: Verifier.for_home(home)))

    def joint_folder(self, session_id: str) -> Path:
        """Where a served flow delivers its NPKI folder: ``<home>/ra/joint/<session>/``,
        the base the holder's ``NPKI/...`` tree goes under. Made (0700, each missing
        folder) by the delivery when the certificate is issued, not before: a refused
        step leaves no folder."""
        return self.home.path / "ra" / "joint" / session_id

    # -- financial certificates (pki.ra.financial) -------------------------------------

    cloud_kdf: KDFParams | None = None
    """The vault's KDF cost for the cloud the financial flows issue into (None: the
    vault's own; tests make it cheap)."""

    cloud: Cloud | None = None
    """The cloud the financial flows issue into (None: the home's, made by
    :meth:`Home.cloud_factory`; an in-memory home, as :class:`pki.testing.TestPKI`'s, gives
    its own)."""

    @functools.cached_property
    def financial(self) -> FinancialFlows:
        """The financial-certificate flows (:class:`pki.ra.financial.FinancialFlows`) over
        this desk's bank and :attr:`cloud`, or the home's cloud (:meth:`Home.cloud_factory`,
        made when first asked for: :class:`pki.errors.VaultError` for a missing or another
        vault secret, :class:`pki.errors.ProfileError` for a home without a financial
        CA)."""
        from ..ra.financial import FinancialFlows

        cloud = self.cloud or self.home.cloud_factory(passphrase=self.passphrase,
                                                      kdf=self.cloud_kdf)()
        return FinancialFlows(self.sessions, customers=self.banking.customers,
                              cards=self.banking.cards, otp=self.banking.otp, cloud=cloud)

    def financial_renewal_notices(self, institution: Institution | None = None
                                  ) -> list[int]:
        """Send the renewal notices due now (:meth:`pki.cloud.service.Cloud.renew_due`:
        from a month before expiry, once per certificate, to the holder's phone); what a
        scheduler calls (``institution``: of the certificates registered there only).
        Returns the serials due."""
        return self.financial.cloud.renew_due(institution=institution)

    # -- private certificates (pki.private) --------------------------------------------

    private_ca: str | None = None
    """The CA that issues the private certificates (None: the home's first
    private-style CA, :func:`pki.private.private_ca_label`)."""

    @functools.cached_property
    def private(self) -> PrivateIssuance:
        """The private-certificate flows (:class:`pki.ra.private.PrivateIssuance`) over
        this desk's bank and the home's private-style CA (its key opened at the first
        issuance; :class:`pki.errors.ProfileError` then if the home has none: add one with
        ``kpki ca add LABEL --style kbprivate``)."""
        from ..errors import ProfileError
        from ..private import private_ca_label
        from ..ra.private import PrivateIssuance
        from ..signing.verify import Verifier

        home = self.home

        def authority() -> CertificateAuthority:
            label = self.private_ca or private_ca_label(home.store.list_cas())
            if label is None:
                raise ProfileError("this home has no CA of the kbprivate style to issue "
                                   "private certificates", profile="private-personal")
            return home.authority(label, passphrase=self.passphrase)

        return PrivateIssuance(home.store, clock=home.clock,
                               customers=self.banking.customers, sessions=self.sessions,
                               authority=functools.cache(authority),
                               verifier=functools.cache(lambda: Verifier.for_home(home)))
