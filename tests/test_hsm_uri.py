"""PKCS #11 URIs (RFC 7512) as ``kpki init --ca-keys`` takes them.

Rules: a valid URI reads back to the same canonical text; every fixed edit of a valid URI
that breaks it (an unknown, misspelt, capitalised, duplicated, empty or value-less
attribute, a character a URI may not hold, a broken escape, a path attribute after '?' or
a query attribute before it, another scheme) is a :class:`PKCS11URIError` naming the
attribute, in one line; a PIN is never accepted in a URI and never echoed; a key store's
URI names a token and its module, not an object; any text is parsed or refused with that
error, never a crash.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from cli.main import cli
from pki.errors import HSMProblem, PKCS11URIError
from pki.keys.pkcs11 import PKCS11CAKeyStore
from pki.keys.pkcs11uri import PKCS11URI, parse_uri

VALID = ("pkcs11:token=kpki-ca;manufacturer=SoftHSM%20project;serial=1a2b3c;model=SoftHSM%20v2"
         "?module-path=/usr/lib/softhsm/libsofthsm2.so")
ATTRIBUTES = ["token", "manufacturer", "serial", "model", "module-path"]


def test_a_valid_uri_reads_back_canonically():
    uri = parse_uri(VALID)
    assert uri == PKCS11URI(token="kpki-ca", manufacturer="SoftHSM project", serial="1a2b3c",
                            model="SoftHSM v2",
                            module_path="/usr/lib/softhsm/libsofthsm2.so")
    assert str(uri) == VALID
    assert parse_uri(str(uri)) == uri


def test_object_attributes_read_back_with_binary_ids_and_slashes():
    uri = parse_uri("pkcs11:token=a;object=yessign%2Focsp;type=private;id=%01%A2;slot-id=3;"
                    "library-version=2.6?module-path=/m.so")
    assert (uri.object, uri.type, uri.id, uri.slot_id, uri.library_version) == (
        "yessign/ocsp", "private", b"\x01\xa2", 3, "2.6")
    assert parse_uri(str(uri)) == uri
    assert str(parse_uri(VALID).with_object("yessign/ocsp")).count("yessign%2Focsp") == 1


def _edits() -> list[tuple[str, str, str]]:
    """(id, broken URI, the attribute the error must name) for fixed edits of VALID."""
    path, _, query = VALID.partition("?")
    items = path[len("pkcs11:"):].split(";")
    edits = []
    for i, item in enumerate(items):
        name, _, value = item.partition("=")

        def with_item(new: str, i: int = i) -> str:
            return "pkcs11:" + ";".join([*items[:i], new, *items[i + 1:]]) + "?" + query

        edits += [
            (f"{name}-misspelt", with_item(f"{name[:-1]}={value}"), name[:-1]),
            (f"{name}-capitalised", with_item(f"{name.upper()}={value}"), name.upper()),
            (f"{name}-twice", with_item(f"{item};{item}"), name),
            (f"{name}-empty", with_item(f"{name}="), name),
            (f"{name}-no-value", with_item(name), name),
            (f"{name}-space", with_item(f"{name}=a b"), name),
            (f"{name}-broken-escape", with_item(f"{name}=a%2"), name),
            (f"{name}-bad-escape", with_item(f"{name}=a%zz"), name),
            (f"{name}-quote", with_item(f'{name}=a"b'), name),
            (f"{name}-in-query", f"{VALID}&{item}", name),
            (f"{name}-not-utf8", with_item(f"{name}=%ff"), name),
            (f"{name}-control", with_item(f"{name}=a%0ab"), name),
        ]
    edits += [
        ("module-path-in-path", VALID.replace("?module-path=", ";module-path=", 1),
         "module-path"),
        ("module-path-twice", VALID + "&module-path=/x.so", "module-path"),
        ("module-path-empty", VALID.split("?")[0] + "?module-path=", "module-path"),
        ("module-path-relative", VALID.split("?")[0] + "?module-path=lib.so", "module-path"),
        ("pin-value", VALID + "&pin-value=1234", "pin-value"),
        ("pin-source", VALID + "&pin-source=file:/run/pin", "pin-source"),
        ("module-name", VALID + "&module-name=softhsm2", "module-name"),
        ("vendor", VALID + "&x-vendor=1", "x-vendor"),
        ("vendor-in-path", VALID.replace("?", ";x-vendor=1?"), "x-vendor"),
        ("unknown", VALID.replace("?", ";colour=blue?"), "colour"),
        ("stray-semicolon", VALID.replace(";", ";;", 1), ""),
        ("stray-ampersand", VALID + "&", ""),
        ("empty-query", VALID.split("?")[0] + "?", "query"),
        ("fragment", VALID + "#x", "fragment"),
        ("other-scheme", VALID.replace("pkcs11:", "pkcs12:"), "scheme"),
        ("capital-scheme", VALID.replace("pkcs11:", "PKCS11:"), "scheme"),
        ("no-scheme", VALID[len("pkcs11:"):], "scheme"),
        ("bad-type", VALID.replace("?", ";type=secret?"), "type"),
        ("bad-slot-id", VALID.replace("?", ";slot-id=x1?"), "slot-id"),
        ("bad-library-version", VALID.replace("?", ";library-version=2.x?"),
         "library-version"),
    ]
    return edits


@pytest.mark.parametrize("case, text, attribute", _edits(), ids=[e[0] for e in _edits()])
def test_every_fixed_edit_that_breaks_the_uri_is_refused_naming_the_attribute(
        case, text, attribute):
    with pytest.raises(PKCS11URIError) as refused:
        parse_uri(text)
    assert refused.value.attribute == attribute, (case, str(refused.value))
    assert refused.value.problem is HSMProblem.URI
    message = str(refused.value)
    assert "\n" not in message and "1234" not in message


@pytest.mark.parametrize("text, attribute", [
    ("pkcs11:token=a", "module-path"),
    ("pkcs11:serial=1?module-path=/m.so", "token"),
    ("pkcs11:token=a;object=yessign?module-path=/m.so", "object"),
    ("pkcs11:token=a;id=%01?module-path=/m.so", "id"),
    ("pkcs11:token=a;type=private?module-path=/m.so", "type"),
])
def test_a_key_store_uri_names_a_token_and_its_module_only(text, attribute):
    with pytest.raises(PKCS11URIError) as refused:
        PKCS11CAKeyStore(text, pin=b"1234")
    assert refused.value.attribute == attribute


@given(st.text(max_size=80))
def test_any_text_is_parsed_or_refused_never_a_crash(text):
    for candidate in (text, "pkcs11:" + text):
        try:
            parse_uri(candidate)
        except PKCS11URIError as exc:
            assert "\n" not in str(exc)


def test_cli_refuses_a_bad_uri_as_a_usage_error_naming_the_option(tmp_path):
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "h"), "init", "--ca-keys",
                                      VALID + "&pin-value=1234"])
    assert result.exit_code == 2
    assert "--ca-keys" in result.output and "1234" not in result.output
    assert not (tmp_path / "h").exists()
