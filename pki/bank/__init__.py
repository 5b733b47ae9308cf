"""The bank around the certificates (issue 14): institutions, customers and accounts, security
media (security cards, OTP), phone verification, designated devices, limits and transfer
authorisation. Domain only: HTTP lives in :mod:`pki.web`, the command line in ``cli/``."""
