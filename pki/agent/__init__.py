"""The local signing agent (``kpki agent``): the program on the user's PC that web pages on
an allow-list of origins ask to sign with the NPKI certificates on disk (issue 17)."""
