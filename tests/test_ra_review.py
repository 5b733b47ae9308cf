"""A hostile review of issue 15's flows (helper R): each defect found, as a test that failed
on the code before its fix. Tests of files another helper is still changing are marked
``xfail(strict=True)`` with the reason, so they flip when fixed."""

from __future__ import annotations

import datetime as dt

import pytest

from pki.clock import FixedClock
from pki.errors import SimpleAuthAppError
from pki.home import Home
from pki.usecases.simpleauth import simple_auth_of_home

from .simpleauth_helpers import make_home

T0 = dt.datetime(2026, 3, 16, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def simple_auth(tmp_path, key_pool):
    clock = FixedClock(T0)
    make_home(tmp_path / "home", key_pool=key_pool, clock=clock)
    with Home.open(tmp_path / "home", key_generator=key_pool, clock=clock) as home:
        yield simple_auth_of_home(home)


@pytest.mark.parametrize("token", ["9" * 30 + ".YQ.YQ", "99999999999999999999.YQ.YQ",
                                   "1" * 400 + ".YQ.YQ"])
def test_a_device_token_naming_a_huge_provider_is_no_app_not_a_crash(simple_auth, token):
    # the provider part went to SQLite as an integer beyond 64 bits: OverflowError, a 500
    with pytest.raises(SimpleAuthAppError):
        simple_auth.app(token)
    with pytest.raises(SimpleAuthAppError):
        simple_auth.pending(token)
