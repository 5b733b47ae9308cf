"""Reading outside input with pyca/cryptography: what pyca only warns about is malformed.

pyca parses lazily, and for some input RFC 5280 forbids it gives a warning instead of an
error, when the field is first read:

* a serial number that is not positive (``CryptographyDeprecationWarning``);
* a name attribute of a length it does not expect: a country name that is not two letters,
  a common name that is empty or over 64 bytes of UTF-8 (``UserWarning: Attribute's length
  must be ...``).

A warning is not a verdict. Left alone it is printed once on the user's terminal, or a
caller's warnings filter (``python -W error``, pytest's ``filterwarnings = error``) turns it
into an exception nobody expects, from whatever line first read the field. kpki reads such
input as what it is, malformed: inside :func:`strict_parsing` those warnings are raised as
errors (:data:`PARSE_WARNINGS`), and :func:`load_certificate` reads every field that can
warn before it returns, so a certificate it returns never warns later.

One of them is not evidence and is silenced instead: a common name's length. X.509 bounds
a common name at 64 *characters* (ub-common-name) and pyca counts UTF-8 bytes, so a legal
Korean name of 22 syllables (66 bytes) would be refused (an empty one is odd, not
dangerous). kpki's own name rules (:mod:`pki.names`) and its folder checks judge names
where it matters.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

__all__ = ["PARSE_WARNINGS", "load_certificate", "strict_parsing"]

PARSE_WARNINGS: tuple[type[Exception], ...] = (CryptographyDeprecationWarning, UserWarning)
"""What :func:`strict_parsing` raises for input pyca only warns about (the first is a
subclass of the second; both are named for the reader)."""
_UNREADABLE: tuple[type[Exception], ...] = (x509.InvalidVersion, *PARSE_WARNINGS)


@contextlib.contextmanager
def strict_parsing() -> Iterator[None]:
    """Raise, as errors, the warnings pyca gives for malformed input read inside."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CryptographyDeprecationWarning)
        warnings.filterwarnings("error", message="Attribute's length", category=UserWarning)
        # Added last, so matched first: bytes counted where X.509 counts characters.
        warnings.filterwarnings("ignore", message="Attribute's length must be >= 1 and <= 64",
                                category=UserWarning)
        yield


def load_certificate(data: bytes) -> x509.Certificate:
    """A DER or PEM certificate, with the fields pyca reads lazily and may warn about (the
    serial number, the subject and issuer names, names inside extensions) read once here.
    Raises ``ValueError`` for malformed input, that included.

    Extensions that cannot be read at all (a duplicated one, say) are left for the caller
    to find when it reads them: a verifier reports them as a failed check."""
    with strict_parsing():
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                cert = x509.load_pem_x509_certificate(data)
            else:
                cert = x509.load_der_x509_certificate(data)
            cert.serial_number  # noqa: B018
            cert.subject  # noqa: B018
            cert.issuer  # noqa: B018
        except _UNREADABLE as exc:
            raise ValueError(f"malformed: {exc}") from None
        try:
            cert.extensions  # noqa: B018
        except PARSE_WARNINGS as exc:
            raise ValueError(f"malformed: {exc}") from None
        except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
            pass
    return cert
