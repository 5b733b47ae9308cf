import contextlib
import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pki.errors import InvalidNameError
from pki.names import (
    MAX_CN_BYTES,
    MAX_NAME_LENGTH,
    build_name,
    check_common_name,
    check_folder_name,
    check_holder_name,
    npki_folder_name,
)


@pytest.mark.parametrize("name", ["", "   ", " 홍길동", "홍길동 ", "a" * (MAX_NAME_LENGTH + 1),
                                  "홍/길동", "홍\\길동", "홍(길동", "홍)길동", "홍\x00", "홍\n동"])
def test_bad_holder_names_are_refused(name):
    with pytest.raises(InvalidNameError):
        check_holder_name(name)


def test_holder_name_is_nfc_normalised():
    decomposed = "\u1112\u1169\u11bc"  # 홍 as conjoining jamo
    assert check_holder_name(decomposed) == "홍"


def test_name_check_allows_max_length_characters():
    # Whether such a name fits a CA's CN is the authority's check (test_delivery.py).
    assert check_holder_name("가" * MAX_NAME_LENGTH) == "가" * MAX_NAME_LENGTH


def test_cn_over_64_characters_is_refused():
    with pytest.raises(InvalidNameError):
        build_name(country="kr", organization="yessign", common_name="x" * 65)


def test_cn_limit_counts_utf8_bytes_as_pyca_does():
    assert check_common_name("가" * 21) == "가" * 21  # 63 bytes
    with pytest.raises(InvalidNameError, match="66 bytes"):
        check_common_name("가" * 22)
    with pytest.raises(InvalidNameError):
        build_name(country="kr", organization="yessign", common_name="가" * 22)
    assert MAX_CN_BYTES == 64


@pytest.mark.parametrize("char", list(',+=;"<>#'))
def test_characters_a_folder_name_would_escape_are_refused(char):
    with pytest.raises(InvalidNameError, match="not allowed"):
        check_holder_name(f"홍{char}길동")


@given(st.text(min_size=1, max_size=20))
def test_every_accepted_name_has_a_folder(text):
    """One rule: what the name check accepts, the NPKI folder writer accepts."""
    try:
        name = check_holder_name(text)
    except InvalidNameError:
        return
    common_name = f"{name}()009104120260316000000001"
    assume(len(common_name.encode()) <= MAX_CN_BYTES)
    subject = build_name(country="kr", organization="yessign", units=("personal4IB", "INITECH"),
                         common_name=common_name)
    assert check_folder_name(npki_folder_name(subject))


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b", "a\x00b", "x" * 256])
def test_folder_names_refused(name):
    with pytest.raises(InvalidNameError):
        check_folder_name(name)


def test_npki_folder_name_is_reversed_with_lower_case_types():
    name = build_name(country="kr", organization="yessign", units=("personal4IB", "INITECH"),
                      common_name="홍길동()0011234")
    assert npki_folder_name(name) == "cn=홍길동()0011234,ou=INITECH,ou=personal4IB,o=yessign,c=kr"


def test_npki_folder_name_escapes_separators():
    name = build_name(country="KR", organization="A,B", common_name="x+y")
    assert npki_folder_name(name) == "cn=x\\+y,o=A\\,B,c=KR"


@given(st.text(max_size=40))
def test_name_check_only_raises_its_own_error(text):
    with contextlib.suppress(InvalidNameError):
        assert check_holder_name(text)


# -- issue 13: names Windows or macOS would refuse as the NPKI folder ---------------------


@pytest.mark.parametrize(("name", "rule", "shown"), [
    ("a:b", "reserved-character", "':'"),
    ("a*b", "reserved-character", "'*'"),
    ("a?b", "reserved-character", "'?'"),
    ("a|b", "reserved-character", "'|'"),
    ('a"b', "reserved-character", "'\"'"),
    ("a<b", "reserved-character", "'<'"),
    ("a>b", "reserved-character", "'>'"),
    ("a/b", "reserved-character", "'/'"),
    ("a\\b", "reserved-character", "'\\\\'"),
    ("a\x01b", "control-character", "U+0001"),
    ("a\x00b", "control-character", "U+0000"),
    ("CON", "reserved-device-name", "CON"),
    ("con", "reserved-device-name", "CON"),
    ("Nul.txt", "reserved-device-name", "NUL"),
    ("aux.tar.gz", "reserved-device-name", "AUX"),
    ("PRN ", "trailing-dot-or-space", "space"),
    ("COM1", "reserved-device-name", "COM1"),
    ("lpt9.der", "reserved-device-name", "LPT9"),
    ("COM\u00b9", "reserved-device-name", "COM\u00b9"),
    ("CONIN$", "reserved-device-name", "CONIN$"),
    ("name.", "trailing-dot-or-space", "dot"),
    ("name ", "trailing-dot-or-space", "space"),
    (".", "dot-name", "'.'"),
    ("..", "dot-name", "'..'"),
    ("", "empty", "empty"),
])
def test_folder_names_windows_or_macos_refuse(name, rule, shown):
    with pytest.raises(InvalidNameError) as info:
        check_folder_name(name)
    assert info.value.rule == rule
    assert shown in str(info.value)


def test_folder_name_error_lists_every_reserved_character_once():
    with pytest.raises(InvalidNameError) as info:
        check_folder_name("a:b*?:")
    assert info.value.characters == ("*", ":", "?")
    assert "'*', ':', '?'" in str(info.value)
    assert "Windows" in str(info.value)


@pytest.mark.parametrize("name", [
    "CONSOLE", "COM10", "LPT", "con-x", "a.b", ".hidden", "xCON", "x" * 255,
    "cn=홍길동()0011234,ou=INITECH,ou=personal4IB,o=yessign,c=kr"])
def test_folder_names_every_system_takes(name):
    assert check_folder_name(name) == name


@pytest.mark.parametrize(("name", "shown"), [("a:b*?", "'*', ':', '?'"), ("홍|길동", "'|'")])
def test_holder_name_with_a_character_windows_refuses_in_folders(name, shown):
    with pytest.raises(InvalidNameError) as info:
        check_holder_name(name)
    assert info.value.rule == "reserved-character"
    assert shown in str(info.value)
    assert "Windows" in str(info.value)


@pytest.mark.parametrize("name", [".", "..", "...", "-", "1234", "._."])
def test_holder_name_without_a_letter_is_not_a_name(name):
    with pytest.raises(InvalidNameError) as info:
        check_holder_name(name)
    assert info.value.rule == "no-letter"


@pytest.mark.parametrize("name", ["KILDONG.HONG", "J.R.", "Con", "홍길동2", "O'Neil"])
def test_names_with_dots_and_device_words_are_still_names(name):
    """The holder's name is never a folder by itself: the folder is ``cn=<name>()...``."""
    assert check_holder_name(name) == name


@given(st.text(min_size=1, max_size=20))
def test_every_folder_an_accepted_name_makes_passes_the_folder_rule(text):
    try:
        name = check_holder_name(text)
    except InvalidNameError:
        return
    for ch in '<>:"/\\|?*':
        assert ch not in name
    assert check_folder_name(f"cn={name}()0011234,ou=INITECH,o=yessign,c=kr")


@pytest.mark.parametrize(("name", "shown"), [("a:b*?", "'*', ':', '?'"), ("..", "no letter")])
def test_cli_refuses_names_whose_folder_windows_refuses(name, shown, home, tmp_path,
                                                        monkeypatch):
    from click.testing import CliRunner

    from pki.cli.main import cli
    from pki.rrn import synthetic_rrn

    path = str(home.path)
    home.close()
    monkeypatch.setenv("KPKI_KEY_PASSWORD", "Test-pass-1234!")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, [
        "--home", path, "issue", "joint", "--name", name,
        "--rrn", synthetic_rrn(dt.date(1990, 5, 17)).digits, "--out", str(out)])
    assert result.exit_code == 2, result.output  # a usage error naming --name (issue 13)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kpki: error: Invalid value for --name: "
                                                   "the name "), result.stderr
    assert shown in lines[0]
    assert not out.exists() or not any(out.rglob("signCert.der"))
