#!/usr/bin/env python3
"""OCSP through ``kpki serve --workers 2`` against ``openssl ocsp -index -multi 2``, same run.

The reference is OpenSSL's own responder (C, one RSA-2048 signature per response, two
processes): what a user would run instead, and close to the limit of two cores signing
every response. Both answer for the same CA with the same responder certificate and key,
from the same certificates: kpki from its store, OpenSSL from an ``index.txt`` holding the
same serials and revocations. Both get the same load from the same generator, interleaved:
one round of kpki then one of OpenSSL, ``--rounds`` times, and the median, min and max of
the per-round ratios are printed. The generator is ``--clients`` processes, each sending
one request at a time over a raw socket (prebuilt HTTP/1.1 POSTs, a minimal response
reader: tens of microseconds a request, far below either server's cost), keeping the
connection alive where the server does (kpki) and opening a new one where it closes it
after each answer (``openssl ocsp`` answers HTTP/1.0). ``wrk`` was tried first and cannot
be used: after a wrk run with more than one connection, ``openssl ocsp -multi 2``'s children
(OpenSSL 3.0.19) were left spinning at full CPU and answered nothing more.

Measured:

1. Requests without a nonce (a rotation over good, revoked and unknown serials): kpki
   answers with responses produced ahead of time (RFC 5019); OpenSSL signs each.
   Target: kpki >= 1.5x OpenSSL's responses/s.
2. Requests with a fresh random nonce each: both sign each response. Target >= 0.8x.
3. p99 latency of kpki at a moderate load (each client pauses ``--pause-ms`` between
   requests) while ``kpki publish`` republishes the CA's full CRL over
   ``--revocations`` entries in its own process at the lower priority ``kpki serve
   --workers`` gives its publisher (``nice -n 10``), against the same load idle, alternated
   round by round. Target: p99 during the republish <= 2x idle p99.

Before measuring, one request of each kind is checked on both servers (the status each
gives, the nonce echoed); during the rounds every answer's HTTP status is read, and a round
with any other than 200 is reported.

    python bench/ocsp.py [--quick] [--rounds 5] [--seconds 5] [--revocations 1000000]

``--quick``: 3 s rounds and 100,000 revocations (a few minutes in all).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import secrets
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from _serve import kpki_serve
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp

from pki.usecases.serving import PUBLISHER_NICENESS

KPKI = str(Path(sys.executable).parent / "kpki")
NONCE_SIZE = 16
CA = "yessign"



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path,
                  deadline: float = 30.0) -> None:
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        if proc.poll() is not None:
            raise SystemExit("openssl ocsp ended before it listened:\n" + log.read_text())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


# -- the material ---------------------------------------------------------------------


def make_home(root: Path, *, good: int, revoked: int) -> dict[str, object]:
    """A home with ``good`` + ``revoked`` joint certificates of the CA and its OCSP signer;
    the OpenSSL responder's files beside it; the request bodies."""
    from pki import lifecycle
    from pki.home import Home

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with Home.create(root / "home", passphrase=None) as home:
        authority = home.authority()
        issued = [authority.issue_joint(name="홍길동", rrn="9005171234566",
                                        public_key=key.public_key())
                  for _ in range(good + revoked)]
        reasons = [x509.ReasonFlags.key_compromise, x509.ReasonFlags.superseded]
        for i, cert in enumerate(issued[good:]):
            lifecycle.revoke(home.store, cert.serial, at=home.clock.now(),
                             reason=reasons[i % 2])
        home.publisher().round()
        signer, signer_key = home.publisher().ensure_ocsp_signer(CA)
        ca_cert = home.store.get_ca(CA).certificate
        index = []
        for cert in issued:
            status = home.store.status_of(CA, cert.serial)
            assert status is not None
            expiry = cert.certificate.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
            serial = format(cert.serial, "X")
            serial = serial.zfill(len(serial) + len(serial) % 2)
            if status[0].value == "valid":
                index.append(f"V\t{expiry}\t\t{serial}\tunknown\t/CN=bench")
            else:
                when = (status[1] or home.clock.now()).strftime("%y%m%d%H%M%SZ")
                reason = {x509.ReasonFlags.key_compromise: "keyCompromise",
                          x509.ReasonFlags.superseded: "superseded"}[status[2]]
                index.append(f"R\t{expiry}\t{when},{reason}\t{serial}\tunknown\t/CN=bench")
        (root / "index.txt").write_text("\n".join(index) + "\n")
        (root / "index.txt.attr").write_text("unique_subject = no\n")
        pem = serialization.Encoding.PEM
        (root / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
        (root / "signer.pem").write_bytes(signer.certificate.public_bytes(pem))
        (root / "signer-key.pem").write_bytes(signer_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        os.chmod(root / "signer-key.pem", 0o600)
        aia = issued[0].certificate.extensions.get_extension_for_class(
            x509.AuthorityInformationAccess).value
        path = aia[0].access_location.value.split("://", 1)[1].split("/", 1)[1]
        unknown = (x509.CertificateBuilder().subject_name(issued[0].subject)
                   .issuer_name(ca_cert.subject).public_key(key.public_key())
                   .serial_number(424242)
                   .not_valid_before(issued[0].certificate.not_valid_before_utc)
                   .not_valid_after(issued[0].certificate.not_valid_after_utc)
                   .sign(key, hashes.SHA256()))

    def request(cert: x509.Certificate, nonce: bytes | None = None) -> bytes:
        builder = ocsp.OCSPRequestBuilder().add_certificate(cert, ca_cert, hashes.SHA1())
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        return builder.build().public_bytes(serialization.Encoding.DER)

    certs = [c.certificate for c in issued] + [unknown]
    expected = ["GOOD"] * good + ["REVOKED"] * revoked + ["UNKNOWN"]
    marker = b"\xa5" * NONCE_SIZE
    with_nonce = request(issued[0].certificate, marker)
    at = with_nonce.index(marker)
    return {"path": "/" + path, "bodies": [request(c) for c in certs], "expected": expected,
            "nonce_template": (with_nonce[:at], with_nonce[at + NONCE_SIZE:]),
            "request": request, "certs": certs, "home": root / "home"}


def populate(home_path: Path, n: int) -> None:
    """``n`` revoked certificates more in the CA (recorded through the store's interface,
    in one transaction): the full CRL the republish rebuilds."""
    from pki.home import Home
    from pki.store import CertificateRecord, CertStatus, KeyOrigin

    revoked_at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    not_after = dt.datetime(2027, 3, 1, 14, 59, 59, tzinfo=dt.UTC)
    with Home.open(home_path) as home:
        cert_der = home.store.get_ca(CA).der
        with home.store.transaction() as tx:
            for i in range(n):
                tx.put_certificate(CertificateRecord(
                    ca=CA, serial=int.from_bytes(secrets.token_bytes(16)) or 1,
                    subject=f"CN=bench{i}", holder="bench", profile="joint-general",
                    status=CertStatus.REVOKED, not_before=revoked_at, not_after=not_after,
                    der=cert_der, issued_at=revoked_at, key_origin=KeyOrigin.PUBLIC_KEY,
                    revoked_at=revoked_at, reason=x509.ReasonFlags.superseded))


# -- the servers and the load ---------------------------------------------------------


def openssl_responder(root: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["openssl", "ocsp", "-index", str(root / "index.txt"), "-port", str(port),
         "-rsigner", str(root / "signer.pem"), "-rkey", str(root / "signer-key.pem"),
         "-CA", str(root / "ca.pem"), "-resp_key_id", "-nmin", "60", "-multi", "2",
         "-ignore_err"], stdout=subprocess.DEVNULL,
        stderr=(root / "openssl.log").open("wb"))  # -multi makes its own session


def check(url: str, material: dict[str, object]) -> None:
    """Each kind of request once: the status expected, the nonce echoed."""
    request = material["request"]
    for cert, expected in zip(material["certs"], material["expected"], strict=True):  # type: ignore[call-overload]
        for nonce in (None, secrets.token_bytes(NONCE_SIZE)):
            ask = urllib.request.Request(url, data=request(cert, nonce),  # type: ignore[operator]
                                         headers={"Content-Type": "application/ocsp-request"})
            with urllib.request.urlopen(ask, timeout=30) as answer:
                response = ocsp.load_der_ocsp_response(answer.read())
            if response.certificate_status.name != expected:
                raise SystemExit(f"{url}: {response.certificate_status.name}, not {expected}")
            if nonce is not None and response.extensions.get_extension_for_class(
                    x509.OCSPNonce).value.nonce != nonce:
                raise SystemExit(f"{url}: the nonce was not echoed")


def client(host: str, port: int, requests: list[bytes], nonce: tuple[bytes, bytes] | None,
           stop: Any, pause: float, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Send requests one at a time until ``stop`` is set (each the next of ``requests``, or
    a fresh nonce between the two halves of ``nonce``), pausing ``pause`` seconds between
    them; put (answers, non-200 answers, latencies) on ``results``. Never leaves a request
    unanswered when it stops."""
    sock: socket.socket | None = None
    answered = bad = 0
    latencies: list[float] = []
    clock = time.perf_counter
    i = 0
    while not stop.is_set():
        start = clock()
        if sock is None:
            sock = socket.create_connection((host, port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if nonce is None:
            sock.sendall(requests[i % len(requests)])
            i += 1
        else:
            sock.sendall(nonce[0] + os.urandom(NONCE_SIZE) + nonce[1])
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("the server closed the connection before it answered")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.lower().split(b"\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in lines
                      if line.startswith(b"content-length:"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("the server closed the connection mid-answer")
            body += chunk
        latencies.append(clock() - start)
        answered += 1
        bad += lines[0].split(b" ")[1] != b"200"
        if lines[0].startswith(b"http/1.0") or b"connection: close" in lines:
            # Reset, not closed: thousands of connections a second in TIME_WAIT would make
            # each connect() slower (measured: openssl's rate halved within 15 s).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            sock = None
        if pause:
            time.sleep(pause)
    if sock is not None:
        sock.close()
    results.put((answered, bad, latencies))


class Load:
    """``clients`` processes of :func:`client` against one URL."""

    def __init__(self, url: str, material: dict[str, object], *, with_nonce: bool,
                 clients: int, pause: float = 0.0) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

        def http(body: bytes) -> bytes:
            return (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                    "Content-Type: application/ocsp-request\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode() + body

        self.requests = [http(body) for body in material["bodies"]]  # type: ignore[attr-defined]
        prefix, suffix = material["nonce_template"]  # type: ignore[misc]
        whole = http(prefix + b"\0" * NONCE_SIZE + suffix)
        at = len(whole) - len(suffix) - NONCE_SIZE
        self.nonce = (whole[:at], whole[at + NONCE_SIZE:]) if with_nonce else None
        self.clients = clients
        self.pause = pause
        self.running: list[multiprocessing.Process] = []
        self.results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        self.stop = multiprocessing.Event()
        self.started = 0.0

    def start(self) -> None:
        self.stop.clear()
        self.running = [multiprocessing.Process(
            target=client, args=(self.host, self.port, self.requests, self.nonce, self.stop,
                                 self.pause, self.results)) for _ in range(self.clients)]
        for process in self.running:
            process.start()
        self.started = time.perf_counter()

    def finish(self) -> dict[str, float]:
        self.stop.set()
        wall = time.perf_counter() - self.started
        got = [self.results.get() for _ in self.running]
        for process in self.running:
            process.join()
        latencies = sorted(x for _, _, each in got for x in each)
        answered = sum(a for a, _, _ in got)
        return {"rate": answered / wall, "bad": sum(b for _, b, _ in got),
                "p50_ms": 1000 * latencies[len(latencies) // 2],
                "p99_ms": 1000 * latencies[min(len(latencies) - 1,
                                               int(len(latencies) * 0.99))]}

    def run(self, seconds: float) -> dict[str, float]:
        self.start()
        time.sleep(seconds)
        return self.finish()


def summary(name: str, ratios: list[float], target: str) -> str:
    return (f"{name}: median {statistics.median(ratios):.2f} (min {min(ratios):.2f}, "
            f"max {max(ratios):.2f}) over {len(ratios)} rounds; target {target}")


def errors(result: dict[str, float]) -> str:
    bad = int(result["bad"])
    return f" [{bad} not 200]" if bad else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput round")
    parser.add_argument("--clients", type=int, default=4,
                        help="load processes, one request at a time each")
    parser.add_argument("--workers", type=int, default=2, help="kpki serve --workers")
    parser.add_argument("--revocations", type=int, default=1_000_000,
                        help="entries of the republished CRL")
    parser.add_argument("--pause-ms", type=float, default=5.0,
                        help="pause of each client between requests, latency rounds")
    parser.add_argument("--quick", action="store_true",
                        help="3 s rounds, 100,000 revocations")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.revocations = 3.0, 100_000

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print("setting up: certificates, OCSP signer, openssl index ...", flush=True)
        material = make_home(root, good=48, revoked=16)
        port = free_port()
        reference = openssl_responder(root, port)
        try:
            wait_for_port(port, reference, root / "openssl.log")
            openssl_url = f"http://127.0.0.1:{port}{material['path']}"
            with kpki_serve(material["home"], "--read-only", "--workers",  # type: ignore[arg-type]
                            str(args.workers), "--poll", "1") as base:
                kpki_url = base + str(material["path"])
                check(kpki_url, material)
                check(openssl_url, material)
                throughput(args, kpki_url, openssl_url, material)
                os.killpg(reference.pid, signal.SIGTERM)
                reference.wait()
                print(f"setting up: {args.revocations:,} more revocations ...", flush=True)
                populate(material["home"], args.revocations)  # type: ignore[arg-type]
                republish_latency(args, kpki_url, material)
        finally:
            if reference.poll() is None:
                os.killpg(reference.pid, signal.SIGTERM)
                reference.wait()


def throughput(args: argparse.Namespace, kpki_url: str, openssl_url: str,
               material: dict[str, object]) -> None:
    print(f"load: {args.clients} client processes, one request at a time each, "
          f"{args.seconds:g} s a round; kpki serve --read-only --workers {args.workers} "
          f"against openssl ocsp -index -multi 2 (load {os.getloadavg()[0]:.2f})")
    for name, with_nonce, target in (("without nonce", False, ">= 1.5"),
                                     ("with nonces", True, ">= 0.8")):
        ours_load = Load(kpki_url, material, with_nonce=with_nonce, clients=args.clients)
        theirs_load = Load(openssl_url, material, with_nonce=with_nonce, clients=args.clients)
        ours_load.run(1)  # warm up
        theirs_load.run(1)
        ratios = []
        for round_ in range(args.rounds):
            ours = ours_load.run(args.seconds)
            theirs = theirs_load.run(args.seconds)
            ratios.append(ours["rate"] / theirs["rate"])
            print(f"  {name}, round {round_ + 1}: kpki {ours['rate']:7.0f}/s{errors(ours)} "
                  f"(p99 {ours['p99_ms']:.1f} ms), openssl {theirs['rate']:7.0f}/s"
                  f"{errors(theirs)} (p99 {theirs['p99_ms']:.1f} ms), "
                  f"ratio {ratios[-1]:.2f}", flush=True)
        print(summary(f"OCSP {name}, kpki/openssl responses per second", ratios, target),
              flush=True)


def republish_latency(args: argparse.Namespace, kpki_url: str,
                      material: dict[str, object]) -> None:
    """Rounds during ``kpki publish`` (one round: every CA's CRLs, in its own process) and
    idle rounds as long, alternated."""
    home = material["home"]
    load = Load(kpki_url, material, with_nonce=False, clients=args.clients,
                pause=args.pause_ms / 1000)
    print(f"latency: {args.clients} clients pausing {args.pause_ms:g} ms between requests "
          f"(without nonce); republish: nice -n {PUBLISHER_NICENESS} kpki publish over "
          f"{args.revocations:,} revocations in its own process, as kpki serve --workers "
          f"runs its publisher (load {os.getloadavg()[0]:.2f})", flush=True)
    ratios = []
    for round_ in range(args.rounds):
        load.start()
        start = time.perf_counter()
        publish = subprocess.run(["nice", "-n", str(PUBLISHER_NICENESS), KPKI, "--home",
                                  str(home), "publish", "--json"],
                                 capture_output=True, text=True)
        took = time.perf_counter() - start
        busy = load.finish()
        if publish.returncode:
            raise SystemExit("kpki publish failed:\n" + publish.stderr)
        idle = load.run(took)
        ratios.append(busy["p99_ms"] / idle["p99_ms"])
        print(f"  round {round_ + 1}: republish {took:.1f} s; p99 during "
              f"{busy['p99_ms']:.2f} ms ({busy['rate']:.0f}/s{errors(busy)}), idle "
              f"{idle['p99_ms']:.2f} ms ({idle['rate']:.0f}/s{errors(idle)}), "
              f"ratio {ratios[-1]:.2f}", flush=True)
    print(summary("OCSP p99 during a republish / idle p99", ratios, "<= 2.0"), flush=True)


if __name__ == "__main__":
    main()
