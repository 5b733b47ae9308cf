import contextlib
import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pki.entropy import SeededEntropy
from pki.errors import InvalidRRNError
from pki.rrn import MAX_RANDOM_RRNS, RRN, check_digit, random_rrns, synthetic_rrn


def test_valid_rrn_parses_with_or_without_hyphen():
    rrn = synthetic_rrn(dt.date(1990, 5, 17), serial=42)
    assert RRN.parse(rrn.digits) == rrn
    assert RRN.parse(f"{rrn.digits[:6]}-{rrn.digits[6:]}") == rrn
    assert rrn.birth_date == dt.date(1990, 5, 17)


@pytest.mark.parametrize("text", ["", "123", "12345678901234", "900517-123456", "9005171a34567",
                                  "９００５１７１２３４５６７", "900517 1234567"])
def test_rrn_must_be_13_digits(text):
    with pytest.raises(InvalidRRNError) as info:
        RRN.parse(text)
    assert info.value.rule == "format"


@pytest.mark.parametrize("first12", ["900230123456", "901301123456", "900100123456",
                                     "010229323456"])
def test_rrn_must_hold_a_real_date(first12):
    with pytest.raises(InvalidRRNError) as info:
        RRN.parse(first12 + str(check_digit(first12)))
    assert info.value.rule == "date"


def test_rrn_check_digit_is_enforced():
    rrn = synthetic_rrn(dt.date(1985, 1, 2))
    wrong = rrn.digits[:12] + str((int(rrn.digits[12]) + 1) % 10)
    with pytest.raises(InvalidRRNError) as info:
        RRN.parse(wrong)
    assert info.value.rule == "check-digit"


def test_known_check_digit():
    # 8·2+0·3+0·4+1·5+0·6+1·7+1·8+2·9+3·2+4·3+5·4+6·5 = 122; (11 - 122 % 11) % 10 = 0.
    assert check_digit("800101123456") == 0
    # 9·2+0·3+0·4+5·5+1·6+7·7+1·8+2·9+3·2+4·3+5·4+6·5 = 192; (11 - 192 % 11) % 10 = 6.
    assert check_digit("900517123456") == 6


def test_rrn_is_masked_in_str_and_repr():
    rrn = synthetic_rrn(dt.date(1990, 5, 17), serial=12345)
    assert rrn.digits[7:] not in str(rrn)
    assert rrn.digits[7:] not in repr(rrn)
    assert str(rrn) == "900517-1******"


def test_century_digit_decides_birth_year():
    assert synthetic_rrn(dt.date(2003, 4, 5)).birth_date == dt.date(2003, 4, 5)
    assert synthetic_rrn(dt.date(2003, 4, 5), female=True).digits[6] == "4"
    assert synthetic_rrn(dt.date(1970, 4, 5), foreigner=True).digits[6] == "5"


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)),
       st.booleans(), st.integers(0, 99999))
def test_synthetic_rrns_always_validate(day, female, serial):
    rrn = synthetic_rrn(day, female=female, serial=serial)
    assert RRN.parse(rrn.digits) == rrn
    assert rrn.birth_date == day


@given(st.text(max_size=20))
def test_rrn_parser_only_raises_its_own_error(text):
    with contextlib.suppress(InvalidRRNError):
        RRN.parse(text)


# -- issue 13: the check digit's error, the seventh digit, numbers since October 2020 -----


def test_wrong_check_digit_error_names_the_right_one():
    rrn = synthetic_rrn(dt.date(1985, 1, 2), serial=77)
    expected = int(rrn.digits[12])
    found = (expected + 4) % 10
    with pytest.raises(InvalidRRNError) as info:
        RRN.parse(rrn.digits[:12] + str(found))
    assert info.value.rule == "check-digit"
    assert (info.value.found, info.value.expected) == (found, expected)
    assert f"check digit is {found}, expected {expected}" in str(info.value)
    assert rrn.digits[7:12] not in str(info.value)  # the number itself stays out


@pytest.mark.parametrize(("birth", "female", "foreigner", "seventh"), [
    (dt.date(1899, 12, 31), False, False, "9"),
    (dt.date(1850, 1, 1), True, False, "0"),
    (dt.date(1990, 5, 17), False, False, "1"),
    (dt.date(1990, 5, 17), True, False, "2"),
    (dt.date(2003, 4, 5), False, False, "3"),
    (dt.date(2003, 4, 5), True, False, "4"),
    (dt.date(1970, 4, 5), False, True, "5"),
    (dt.date(1970, 4, 5), True, True, "6"),
    (dt.date(2005, 6, 7), False, True, "7"),
    (dt.date(2005, 6, 7), True, True, "8"),
])
def test_seventh_digit_encodes_century_sex_and_foreigner(birth, female, foreigner, seventh):
    rrn = synthetic_rrn(birth, female=female, foreigner=foreigner, serial=3)
    assert rrn.digits[6] == seventh
    parsed = RRN.parse(rrn.digits)
    assert (parsed.birth_date, parsed.female, parsed.foreigner) == (birth, female, foreigner)


@pytest.mark.parametrize("birth", [dt.date(1799, 12, 31), dt.date(2100, 1, 1)])
def test_synthetic_rrn_outside_the_centuries_the_seventh_digit_knows(birth):
    with pytest.raises(InvalidRRNError) as info:
        synthetic_rrn(birth)
    assert info.value.rule == "date"


def test_no_seventh_digit_for_a_foreigner_born_before_1900():
    with pytest.raises(InvalidRRNError, match="1900") as info:
        synthetic_rrn(dt.date(1890, 1, 1), foreigner=True)
    assert info.value.rule == "date"


@pytest.mark.parametrize("last", range(10))
def test_numbers_of_births_since_october_2020_have_no_check_digit(last):
    """From October 2020 the six digits after the seventh are random: no check digit."""
    first12 = "2103043" + "98765"
    rrn = RRN.parse(first12 + str(last))
    assert rrn.birth_date == dt.date(2021, 3, 4)
    assert not rrn.check_digit_applies


def test_births_just_before_october_2020_keep_the_check_digit():
    rrn = synthetic_rrn(dt.date(2020, 9, 30), serial=5)
    assert rrn.check_digit_applies
    wrong = rrn.digits[:12] + str((int(rrn.digits[12]) + 1) % 10)
    with pytest.raises(InvalidRRNError):
        RRN.parse(wrong)
    assert not synthetic_rrn(dt.date(2020, 10, 1)).check_digit_applies


def test_synthetic_rrns_pass_validators_of_either_era():
    """A synthetic number born since October 2020 still carries a correct check digit, so a
    validator that (wrongly) checks it everywhere accepts it too."""
    rrn = synthetic_rrn(dt.date(2024, 2, 29), female=True, serial=4321)
    assert check_digit(rrn.digits[:12]) == int(rrn.digits[12])


def test_random_rrns_are_distinct_valid_and_of_the_asked_person():
    rrns = random_rrns(dt.date(1990, 5, 17), count=200, female=True,
                       entropy=SeededEntropy("rrn"))
    assert len({r.digits for r in rrns}) == 200
    for rrn in rrns:
        assert RRN.parse(rrn.digits) == rrn
        assert (rrn.birth_date, rrn.female, rrn.foreigner) == (dt.date(1990, 5, 17), True, False)
        assert int(rrn.digits[7:9]) <= 95  # a region code real validators accept


def test_random_rrns_can_give_every_number_of_a_day_and_no_more():
    rrns = random_rrns(dt.date(2001, 1, 1), count=MAX_RANDOM_RRNS, entropy=SeededEntropy(1))
    assert len({r.digits for r in rrns}) == MAX_RANDOM_RRNS
    with pytest.raises(ValueError):
        random_rrns(dt.date(2001, 1, 1), count=MAX_RANDOM_RRNS + 1, entropy=SeededEntropy(1))


# -- kpki rrn ------------------------------------------------------------------------------


def _kpki(*args):
    from click.testing import CliRunner

    from pki.cli.main import cli

    return CliRunner().invoke(cli, list(args))


def test_cli_rrn_prints_valid_distinct_numbers_of_the_asked_person():
    result = _kpki("rrn", "--birth", "1990-05-17", "--sex", "F", "--count", "20")
    assert result.exit_code == 0, result.output
    lines = result.stdout.split()
    assert len(set(lines)) == 20
    for line in lines:
        rrn = RRN.parse(line)
        assert (rrn.birth_date, rrn.female, rrn.foreigner) == (dt.date(1990, 5, 17), True, False)
        assert line[6] == "2"


@pytest.mark.parametrize(("birth", "sex", "seventh", "check"), [
    ("1970-01-02", "M", "5", True), ("2005-06-07", "f", "8", True),
    ("2021-03-04", "F", "8", False)])
def test_cli_rrn_foreign_json(birth, sex, seventh, check):
    result = _kpki("rrn", "--birth", birth, "--sex", sex, "--foreign", "--json")
    assert result.exit_code == 0, result.output
    [info] = json.loads(result.stdout)
    assert info["rrn"][6] == seventh and info["formatted"] == f"{info['rrn'][:6]}-{info['rrn'][6:]}"
    assert info["birth_date"] == birth and info["sex"] == sex.upper() and info["foreign"] is True
    assert info["check_digit"] is check
    assert RRN.parse(info["rrn"]).foreigner


def test_cli_rrn_refuses_a_birth_the_seventh_digit_cannot_say():
    result = _kpki("rrn", "--birth", "1890-01-01", "--sex", "M", "--foreign")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kpki: error: --birth 1890-01-01: ")


@pytest.mark.parametrize("args", [["--birth", "1990-02-30", "--sex", "M"],
                                  ["--birth", "1990-01-01", "--sex", "X"],
                                  ["--birth", "1990-01-01", "--sex", "M", "--count", "0"]])
def test_cli_rrn_usage_errors(args):
    result = _kpki("rrn", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("kpki: error: ")


def test_cli_error_for_a_wrong_check_digit_names_the_right_one(tmp_path):
    rrn = synthetic_rrn(dt.date(1990, 5, 17), serial=12345)
    right = int(rrn.digits[12])
    result = _kpki("--home", str(tmp_path / "none"), "issue", "joint", "--name", "홍길동",
                   "--rrn", rrn.digits[:12] + str((right + 1) % 10), "--out", str(tmp_path))
    assert result.exit_code == 2  # a usage error naming --rrn, as a bad --r is
    assert "--rrn" in result.stderr
    assert f"check digit is {(right + 1) % 10}, expected {right}" in result.stderr
