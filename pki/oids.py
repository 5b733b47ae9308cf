"""Every object identifier kpki uses, as named constants.

Korean OIDs come from ``shared/docs/korean-pki.md``; standard ones are re-exported from
pyca/cryptography where it names them.
"""

from __future__ import annotations

from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier, PublicKeyAlgorithmOID

__all__ = [
    "AES256_CBC",
    "ANY_POLICY",
    "CROSSCERT_CORPORATE",
    "CROSSCERT_PERSONAL",
    "ENCRYPTED_VID",
    "FINANCIAL_BUSINESS_1Y",
    "FINANCIAL_BUSINESS_2Y",
    "FINANCIAL_BUSINESS_3Y",
    "FINANCIAL_PERSONAL",
    "HMAC_SHA1",
    "IDENTIFY_DATA",
    "KICA_CORPORATE",
    "KICA_PERSONAL",
    "OCSP_RESPONDER_POLICY",
    "PBES2",
    "PBKDF2",
    "PRIVATE_PERSONAL",
    "QT_CPS",
    "QT_UNOTICE",
    "RANDOM_NUM",
    "RSA_ENCRYPTION",
    "SEED_CBC",
    "SEED_CBC_WITH_SHA1",
    "SHA1",
    "SHA256",
    "SIGNATURE_TIME_STAMP_TOKEN",
    "SIGNING_CERTIFICATE_V2",
    "SIGNKOREA_CORPORATE",
    "SIGNKOREA_PERSONAL",
    "TIME_STAMPING",
    "TRADESIGN_CORPORATE",
    "TRADESIGN_PERSONAL",
    "TSA_POLICY",
    "TST_INFO",
    "VID",
    "YESSIGN_BANKING",
    "YESSIGN_CORPORATE",
    "YESSIGN_GENERAL",
    "YESSIGN_SERVER",
]

# Identity (VID), korean-pki.md section 5.
IDENTIFY_DATA = ObjectIdentifier("1.2.410.200004.10.1.1")
VID = ObjectIdentifier("1.2.410.200004.10.1.1.1")
ENCRYPTED_VID = ObjectIdentifier("1.2.410.200004.10.1.1.2")
RANDOM_NUM = ObjectIdentifier("1.2.410.200004.10.1.1.3")

# SEED, korean-pki.md section 4.
SEED_CBC = ObjectIdentifier("1.2.410.200004.1.4")
SEED_CBC_WITH_SHA1 = ObjectIdentifier("1.2.410.200004.1.15")

# Certificate policies, korean-pki.md section 1.
YESSIGN_GENERAL = ObjectIdentifier("1.2.410.200005.1.1.1")
YESSIGN_SERVER = ObjectIdentifier("1.2.410.200005.1.1.3")
YESSIGN_BANKING = ObjectIdentifier("1.2.410.200005.1.1.4")
YESSIGN_CORPORATE = ObjectIdentifier("1.2.410.200005.1.1.5")
FINANCIAL_PERSONAL = ObjectIdentifier("1.2.410.200005.1.1.1.10")
FINANCIAL_BUSINESS_1Y = ObjectIdentifier("1.2.410.200005.1.1.8.11")
FINANCIAL_BUSINESS_2Y = ObjectIdentifier("1.2.410.200005.1.1.8.12")
FINANCIAL_BUSINESS_3Y = ObjectIdentifier("1.2.410.200005.1.1.8.13")
SIGNKOREA_PERSONAL = ObjectIdentifier("1.2.410.200004.5.1.1.5")
SIGNKOREA_CORPORATE = ObjectIdentifier("1.2.410.200004.5.1.1.7")
KICA_PERSONAL = ObjectIdentifier("1.2.410.200004.5.2.1.2")
KICA_CORPORATE = ObjectIdentifier("1.2.410.200004.5.2.1.1")
CROSSCERT_PERSONAL = ObjectIdentifier("1.2.410.200004.5.4.1.1")
CROSSCERT_CORPORATE = ObjectIdentifier("1.2.410.200004.5.4.1.2")
TRADESIGN_PERSONAL = ObjectIdentifier("1.2.410.200012.1.1.1")
TRADESIGN_CORPORATE = ObjectIdentifier("1.2.410.200012.1.1.3")

# RFC 5280.
ANY_POLICY = ObjectIdentifier("2.5.29.32.0")
QT_CPS = ObjectIdentifier("1.3.6.1.5.5.7.2.1")
QT_UNOTICE = ObjectIdentifier("1.3.6.1.5.5.7.2.2")

# kpki's own policies (under the example arc).
OCSP_RESPONDER_POLICY = ObjectIdentifier("2.999.6960.1")
"""The policy in the certificatePolicies of kpki's delegated OCSP responder certificates.
kpki has no OID arc of its own and its certificates are for tests, so the policy sits under
the example arc 2.999 (ITU-T X.660). The CAs above a responder require an explicit policy,
so a client that checks policies (``openssl ocsp -policy_check``) refuses a responder
certificate without one."""

PRIVATE_PERSONAL = ObjectIdentifier("2.999.410.1")
"""The policy of kpki's private certificates (사설인증서, modelled on KB's mobile
certificate). Private providers do not publish their policy OIDs, so this one is kpki's own,
under the example arc 2.999 (ITU-T X.660) like the policies above; 410 is Korea's arc
number in 1.2.410. A relying party tells a private certificate from a joint or financial
one by it (:data:`pki.profiles.POLICY_CLASSES`)."""

# Key files (PKCS #5 v2, RFC 8018) and envelopes.
PBES2 = ObjectIdentifier("1.2.840.113549.1.5.13")
PBKDF2 = ObjectIdentifier("1.2.840.113549.1.5.12")
HMAC_SHA1 = ObjectIdentifier("1.2.840.113549.2.7")
"""hmacWithSHA1, PBKDF2's default PRF."""
RSA_ENCRYPTION = PublicKeyAlgorithmOID.RSAES_PKCS1_v1_5
"""rsaEncryption, the algorithm of an RSA PrivateKeyInfo."""
AES256_CBC = ObjectIdentifier("2.16.840.1.101.3.4.1.42")
"""id-aes256-CBC, a content encryption an envelope may use (SEED_CBC is the other)."""

# Hashes (for the VID AlgorithmIdentifier).
SHA1 = ObjectIdentifier("1.3.14.3.2.26")
SHA256 = ObjectIdentifier("2.16.840.1.101.3.4.2.1")

# Time stamps: RFC 3161, RFC 5816, RFC 5035.
TIME_STAMPING = ExtendedKeyUsageOID.TIME_STAMPING
"""id-kp-timeStamping, the only extended key usage of a TSA certificate (critical)."""
TST_INFO = ObjectIdentifier("1.2.840.113549.1.9.16.1.4")
"""id-ct-TSTInfo, the content type of a time-stamp token."""
SIGNATURE_TIME_STAMP_TOKEN = ObjectIdentifier("1.2.840.113549.1.9.16.2.14")
"""id-aa-signatureTimeStampToken, the unsigned attribute carrying a token over the
SignerInfo's signature value."""
SIGNING_CERTIFICATE_V2 = ObjectIdentifier("1.2.840.113549.1.9.16.2.47")
"""id-aa-signingCertificateV2 (ESSCertIDv2), which binds a token to the TSA certificate."""
TSA_POLICY = ObjectIdentifier("2.999.3161.1")
"""The policy kpki's TSA stamps under. kpki has no OID arc of its own and its time stamps
are for tests, so the policy sits under the example arc 2.999 (ITU-T X.660); it also
appears in the TSA certificate's certificatePolicies."""
