"""kpki: the Korean certificate ecosystem for test environments.

The library never prints, prompts or exits; the ``kpki`` CLI (package ``cli``) does that.
"""

from .authority import CertificateAuthority, IssuedCertificate
from .clock import FixedClock, SystemClock
from .entropy import SeededEntropy, SystemEntropy
from .errors import PKIError
from .home import CASettings, Home, RootSettings
from .profiles import PROFILES, FinancialKind, JointPolicy, KeyType, RegistrationAuthority
from .rrn import RRN, synthetic_rrn

__all__ = [
    "PROFILES",
    "RRN",
    "CASettings",
    "CertificateAuthority",
    "FinancialKind",
    "FixedClock",
    "Home",
    "IssuedCertificate",
    "JointPolicy",
    "KeyType",
    "PKIError",
    "RegistrationAuthority",
    "RootSettings",
    "SeededEntropy",
    "SystemClock",
    "SystemEntropy",
    "synthetic_rrn",
]

__version__ = "0.1.0"
