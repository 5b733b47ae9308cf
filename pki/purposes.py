"""The purpose codes the KFTC financial-certificate SDK labels each signature with.

korean-pki.md section 8: 01 login, 02 transfer, 03 product join or cancel, 04 e-contract,
05 payment, 06 issuing official documents (증명서발급; not certificate issuance), 07 asset
linking (open banking, MyData), 08 managing authentication means (인증수단관리: revoking
certificates and security media, changing PINs, registering a certificate elsewhere),
99 other. The codes are data: adding one is adding a member.
"""

from __future__ import annotations

import enum

__all__ = ["Purpose"]


class Purpose(enum.Enum):
    """A purpose code; the value is the SDK's two-digit code."""

    LOGIN = "01"
    TRANSFER = "02"
    PRODUCT = "03"
    CONTRACT = "04"
    PAYMENT = "05"
    DOCUMENTS = "06"
    ASSET_LINKING = "07"
    AUTH_MANAGEMENT = "08"
    OTHER = "99"

    @property
    def code(self) -> str:
        return self.value

    @property
    def label(self) -> str:
        """What the code means, in English (the Korean term in brackets where the SDK's
        documentation uses one)."""
        return _LABELS[self]

    @classmethod
    def parse(cls, code: object) -> Purpose:
        """The purpose of ``code`` (``"02"``); :class:`ValueError` for anything else."""
        for purpose in cls:
            if purpose.value == code:
                return purpose
        raise ValueError(f"purpose is one of {', '.join(p.value for p in cls)}")


_LABELS = {
    Purpose.LOGIN: "login",
    Purpose.TRANSFER: "transfer",
    Purpose.PRODUCT: "product join or cancel",
    Purpose.CONTRACT: "e-contract",
    Purpose.PAYMENT: "payment",
    Purpose.DOCUMENTS: "issuing official documents (증명서발급)",
    Purpose.ASSET_LINKING: "asset linking",
    Purpose.AUTH_MANAGEMENT: "managing authentication means (인증수단관리)",
    Purpose.OTHER: "other",
}
