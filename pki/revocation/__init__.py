"""Revocation publishing: CRLs (full and delta) and OCSP."""
