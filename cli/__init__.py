"""The ``kpki`` command line: a thin click layer over :mod:`pki`."""
