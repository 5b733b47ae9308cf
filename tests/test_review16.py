"""Hostile review of issue 16's finished parts: each test is a defect found by attacking
the new commands as a user and a relying party would (PKCS #11 URIs, secret files,
``kpki ca set --crl-shards``, ``kpki cert list`` paging, serving new shards' CRLs)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pki.cli.main import cli
from pki.errors import PKCS11URIError
from pki.keys.pkcs11uri import parse_uri

KPKI = str(Path(sys.executable).parent / "kpki")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("KPKI_")}


def _one_line(stderr: str, *words: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    for word in words:
        assert word in lines[0], stderr
    return lines[0]


# -- secrets never in messages -----------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "PKCS11:token=t?PIN-VALUE=s3cretpin&module-path=/m.so",
    "PKCS11:token=t?Pin-Value=s3cretpin",
    "pkcs 11:token=t?pin%2Dvalue=s3cretpin",
    "pkcs 11:token=t?pin%2dvalue=s3cretpin",
])
def test_a_pin_in_a_refused_uri_is_never_shown_whatever_its_case_or_escapes(text):
    with pytest.raises(PKCS11URIError) as refused:
        parse_uri(text)
    assert "s3cretpin" not in str(refused.value)


def _limited_memory() -> None:
    limit = 1 << 30  # 1 GiB: kpki needs far less; reading /dev/zero whole needs more
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.sqlite_only("runs kpki init in a subprocess on a folder of its own")
def test_a_secret_file_without_end_is_refused_in_one_line_not_read_to_its_end(tmp_path):
    done = subprocess.run([KPKI, "--home", str(tmp_path / "h"), "init",
                           "--passphrase-file", "/dev/zero"],
                          capture_output=True, text=True, env=_env(), timeout=120,
                          preexec_fn=_limited_memory)
    assert done.returncode == 1
    _one_line(done.stderr, "/dev/zero")
    assert not (tmp_path / "h").exists()


def test_a_secret_file_is_read_to_its_first_line_only(tmp_path):
    from pki.cli.secrets import read_secret_file

    big = tmp_path / "pin"
    with big.open("wb") as f:
        f.write(b"1234\n")
        f.truncate(1 << 40)  # a terabyte, sparse: reading it whole would never end
    assert read_secret_file(big) == b"1234"


# -- kpki ca set --crl-shards ------------------------------------------------------------------


@pytest.mark.parametrize(("label", "value"), [("root", "2"), ("yessign", "2")])
def test_a_crl_shards_refused_by_kpkis_rules_is_a_usage_error_naming_the_option(
        home, label, value):
    runner = CliRunner()
    base = ["--home", str(home.path)]
    grown = runner.invoke(cli, [*base, "ca", "set", "yessign", "--crl-shards", "4"])
    assert grown.exit_code == 0, grown.output
    refused = runner.invoke(cli, [*base, "ca", "set", label, "--crl-shards", value])
    assert refused.exit_code == 2, refused.output
    _one_line(refused.stderr, "--crl-shards")
    assert home.store.get_ca("yessign").crl_shards == 4
    assert home.store.get_ca("root").crl_shards == 1


# -- kpki cert list paging ---------------------------------------------------------------------


def test_a_huge_limit_is_all_or_a_usage_error_never_an_unexpected_error(home):
    done = CliRunner().invoke(cli, ["--home", str(home.path), "cert", "list", "--limit",
                                    str(10 ** 30)])
    assert done.exit_code in (0, 2), done.output
    assert "unexpected" not in done.output


@pytest.mark.parametrize("text", ["1_0", "\uff11\uff10", "1 0", "+10"])
def test_a_serial_is_plain_hex_digits_only(home, text):
    done = CliRunner().invoke(cli, ["--home", str(home.path), "cert", "list", "--after", text,
                                    "--ca", "yessign"])
    assert done.exit_code == 2
    _one_line(done.stderr, "--after", "not a hex serial")


# -- serving the shards' CRLs ------------------------------------------------------------------


def test_a_running_server_serves_the_crls_of_shards_added_after_it_started(home):
    import urllib.error
    import urllib.request

    from pki.revocation.shards import shard_url
    from pki.web import WebState, create_app, serve_in_thread

    def get(url: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    state = WebState.of_home(home, poll_seconds=3600)  # started with one CRL for yessign
    with serve_in_thread(create_app(state)) as base:
        home.set_crl_shards("yessign", 4)  # another process, a replica's operator
        issued = home.authority("yessign").issue_joint(name="홍길동", rrn="9005171234566")
        shard = issued.certificate.serial_number % 4
        path = shard_url(home.store.get_ca("yessign").crl_url, shard).split("/", 3)[3]
        assert get(f"{base}/{path}")[0] == 503  # named in a certificate, not yet published
        home.publisher().round()
        status, body = get(f"{base}/{path}")
        assert status == 200 and body == home.store.published_crl("yessign", shard=shard).der
        folder = path.rsplit("/", 1)[0]
        for absent in ("4.crl", "03.crl", "x.crl", "-1.crl", "1.crl.crl"):
            assert get(f"{base}/{folder}/{absent}")[0] == 404, absent
