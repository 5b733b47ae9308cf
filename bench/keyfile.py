#!/usr/bin/env python3
"""Reading a signPri.key against OpenSSL's PBKDF1 in C, the KDF it must compute, measured
interleaved in the same run.

A variant-A file with real parameters (8-byte salt, 2,048 iterations of SHA-1: what NPKI
files use, ``npki.DEFAULT_ITERATIONS``) is decrypted ``-n`` times a round: PBKDF1-SHA1,
SEED-CBC, PKCS #8 parsing, R extraction, the key consistency check.

**The reference and its limit**: PBKDF1-SHA1 with the same password, salt and count as
OpenSSL computes it in C, the ``PBKDF1`` KDF of OpenSSL 3's legacy provider
(``EVP_KDF_derive``, one call for all 2,048 iterations) reached through ``ctypes`` from the
system's ``libcrypto.so.3``. A file read cannot be faster than its KDF, so read / reference
is how far kpki is from the KDF's C speed. (``hashlib.pbkdf2_hmac`` is PBKDF2, another KDF;
pyca has no PBKDF1; a loop over ``hashlib.sha1`` or over libcrypto's ``SHA1`` through
ctypes is C per call but Python per iteration, which is what kpki's own PBKDF1 is: it loops
over CPython's built-in SHA-1, which sets up no OpenSSL context per call and runs 1.5 times
as fast as ``hashlib.sha1`` here.) OpenSSL
3.0's PBKDF1 initialises a digest context at every iteration, so it is not the bare SHA-1
compression function's speed either: a C loop over the compression function would be
faster still. Without the legacy provider (or without libcrypto) the reference is left out
and only the absolute times and the iteration count are printed.

Also timed in the same rounds: kpki's own PBKDF1 (``npki.pbkdf1_sha1``, the iterated SHA-1,
Python per iteration), so the read's overhead over its KDF is printed as
issue 3 defined it.

Each round times ``-n`` of each side, the order reversed every other round (ABAB); ratios
are taken within a round and printed as median, min and max.

    python bench/keyfile.py [-n 300] [--rounds 5]

Targets: read / kpki's own PBKDF1 <= 1.2 (issue 3). Against OpenSSL's C PBKDF1 no target is
set (issue 18 asks for the figure).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import datetime as dt
import os
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import rsa

from pki.keys import npki

PASSWORD = "Bench-pass-1234!"


class _Param(ctypes.Structure):
    """OpenSSL's ``OSSL_PARAM``."""

    _fields_ = [("key", ctypes.c_char_p), ("data_type", ctypes.c_uint),
                ("data", ctypes.c_void_p), ("data_size", ctypes.c_size_t),
                ("return_size", ctypes.c_size_t)]


_UNSIGNED, _UTF8, _OCTETS = 2, 4, 5
_UNMODIFIED = ctypes.c_size_t(-1).value


def openssl_pbkdf1(password: bytes, salt: bytes, iterations: int
                   ) -> Callable[[], bytes] | str:
    """A function computing PBKDF1-SHA1 of ``password``, ``salt``, ``iterations`` with
    OpenSSL's legacy provider, or why there is none."""
    name = ctypes.util.find_library("crypto")
    if name is None:
        return "no libcrypto found"
    lib = ctypes.CDLL(name)
    try:
        lib.OSSL_PROVIDER_load.restype = ctypes.c_void_p
        lib.OSSL_PROVIDER_load.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.EVP_KDF_fetch.restype = ctypes.c_void_p
        lib.EVP_KDF_fetch.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        lib.EVP_KDF_CTX_new.restype = ctypes.c_void_p
        lib.EVP_KDF_CTX_new.argtypes = [ctypes.c_void_p]
        lib.EVP_KDF_CTX_set_params.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.EVP_KDF_derive.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                       ctypes.c_void_p]
    except AttributeError:
        return f"{name} is not OpenSSL 3 (no EVP_KDF)"
    if not (lib.OSSL_PROVIDER_load(None, b"legacy") and lib.OSSL_PROVIDER_load(None, b"default")):
        return "OpenSSL's legacy provider does not load"
    kdf = lib.EVP_KDF_fetch(None, b"PBKDF1", None)
    ctx = lib.EVP_KDF_CTX_new(kdf) if kdf else None
    if not ctx:
        return "OpenSSL has no PBKDF1"
    buffers = [ctypes.create_string_buffer(password, len(password)),
               ctypes.create_string_buffer(salt, len(salt)), ctypes.c_uint64(iterations),
               ctypes.create_string_buffer(b"SHA1")]

    def param(key: bytes, kind: int, data: ctypes._CData, size: int) -> _Param:
        return _Param(key, kind, ctypes.cast(ctypes.pointer(data), ctypes.c_void_p), size,
                      _UNMODIFIED)

    params = (_Param * 5)(param(b"pass", _OCTETS, buffers[0], len(password)),
                          param(b"salt", _OCTETS, buffers[1], len(salt)),
                          param(b"iter", _UNSIGNED, buffers[2], 8),
                          param(b"digest", _UTF8, buffers[3], 4), _Param(None, 0, None, 0, 0))
    if lib.EVP_KDF_CTX_set_params(ctx, params) != 1:
        return "OpenSSL's PBKDF1 refuses the parameters"
    out = ctypes.create_string_buffer(20)

    def derive() -> bytes:
        if lib.EVP_KDF_derive(ctx, out, 20, None) != 1:
            raise RuntimeError("EVP_KDF_derive failed")
        return out.raw

    derive.keep = (lib, buffers, params)  # type: ignore[attr-defined]
    return derive


def spread(values: list[float], fmt: str) -> str:
    return (f"median {statistics.median(values):{fmt}}  min {min(values):{fmt}}  "
            f"max {max(values):{fmt}}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="operations per side per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (>= 5)")
    args = parser.parse_args()
    rounds = max(5, args.rounds)

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = npki.encrypt(key, PASSWORD, r=bytes(range(20)))
    _, salt, count, _, _ = npki._parse(data, npki.MAX_ITERATIONS)
    password = PASSWORD.encode()
    reference = openssl_pbkdf1(password, salt, count)
    if callable(reference):
        assert reference() == npki.pbkdf1_sha1(password, salt, count)

    sides: dict[str, Callable[[], object]] = {
        "read": lambda: npki.decrypt(data, PASSWORD),
        "own": lambda: npki.pbkdf1_sha1(password, salt, count)}
    if callable(reference):
        sides["openssl"] = reference
    times: dict[str, list[float]] = {name: [] for name in sides}
    for round_ in range(rounds):
        order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
        for name in order:
            function = sides[name]
            start = time.perf_counter()
            for _ in range(args.n):
                function()
            times[name].append((time.perf_counter() - start) / args.n * 1e3)

    def ratios(a: str, b: str) -> list[float]:
        return [x / y for x, y in zip(times[a], times[b], strict=True)]

    print(f"bench/keyfile.py -n {args.n} --rounds {rounds} "
          f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f})")
    print(f"{rounds} interleaved rounds of {args.n} a side; PBKDF1-SHA1 of {count} iterations, "
          f"{len(salt)}-byte salt (ms each):")
    if callable(reference):
        print(f"OpenSSL PBKDF1 in C (legacy provider): {spread(times['openssl'], '7.3f')}"
              "  (the reference: the KDF at C speed)")
    else:
        print(f"OpenSSL PBKDF1 in C: not measured ({reference}); absolute times only")
    print(f"kpki's PBKDF1 (a Python loop):         {spread(times['own'], '7.3f')}")
    print(f"read signPri.key (variant A):          {spread(times['read'], '7.3f')}")
    if callable(reference):
        print(f"  read / OpenSSL's C PBKDF1:           {spread(ratios('read', 'openssl'), '7.2f')}"
              "  (no target)")
        print(f"  kpki's PBKDF1 / OpenSSL's:           {spread(ratios('own', 'openssl'), '7.2f')}")
    print(f"  read / kpki's own PBKDF1:            {spread(ratios('read', 'own'), '7.2f')}"
          "  (target <= 1.20, issue 3)")


if __name__ == "__main__":
    main()
