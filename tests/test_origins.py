"""pki.origins.normalise_origin: the one reading of a web origin, as a browser sends it in
its Origin header, that the SDK's allow-list (pki.cloud.sdk) and the agent's
(pki.agent.settings) share. The SDK's own accepted hosts no browser sends (a space, a
percent sign, a scoped IPv6 address, a lone dot) and never matched."""

from __future__ import annotations

import pytest

from pki.agent.settings import normalise_origin as agent_origin
from pki.cloud.sdk import normalize_origin as sdk_origin
from pki.errors import AgentSettingsError, CloudRequestError, InvalidOriginError
from pki.origins import normalise_origin

ACCEPTED = [
    ("https://www.gov.kr", "https://www.gov.kr"),
    ("https://WWW.Gov.KR:443/", "https://www.gov.kr"),
    ("HTTPS://bank.test", "https://bank.test"),
    ("http://LocalHost:8000", "http://localhost:8000"),
    ("http://localhost:80", "http://localhost"),
    ("https://bank.test:443", "https://bank.test"),
    ("http://bank.test:443", "http://bank.test:443"),
    ("http://127.0.0.1:5501", "http://127.0.0.1:5501"),
    ("http://[::1]:3000", "http://[::1]:3000"),
    ("http://[0:0:0:0:0:0:0:1]", "http://[::1]"),
    ("https://XN--LG3B21R.kr", "https://xn--lg3b21r.kr"),
    ("https://my_site.gov.kr", "https://my_site.gov.kr"),
    ("https://www.gov.kr.", "https://www.gov.kr."),
    (" https://bank.test ", "https://bank.test"),
]

REFUSED = [
    "", "*", "https://*.gov.kr", "null", "NULL", "file:///tmp", "ftp://bank.test",
    "bank.test", "//bank.test", "https://", "https://www.gov.kr/path",
    "https://www.gov.kr?x=1", "https://www.gov.kr#top", "https://user@www.gov.kr",
    "https://user:pw@www.gov.kr", "https://www.gov.kr:99999", "https://www.gov.kr:0",
    "https://www.gov.kr:x", "https://www gov.kr", "https://www%2egov.kr",
    "https://www.gov.kr\\@evil.example", "http://[fe80::1%25eth0]:8000", "http://[::1",
    "http://[bank]", "https://.", "https://..gov.kr", "https://민원.kr",
    "https://" + "a" * 300 + ".kr",
]


@pytest.mark.parametrize(("given", "origin"), ACCEPTED)
def test_an_origin_is_written_as_browsers_send_it(given: str, origin: str) -> None:
    assert normalise_origin(given) == origin
    assert normalise_origin(origin) == origin
    assert sdk_origin(given) == agent_origin(given) == origin


@pytest.mark.parametrize("given", REFUSED)
def test_what_no_browser_sends_as_an_origin_is_refused(given: str) -> None:
    with pytest.raises(InvalidOriginError):
        normalise_origin(given)
    with pytest.raises(CloudRequestError) as sdk:
        sdk_origin(given)
    assert sdk.value.field == "origin"
    with pytest.raises(AgentSettingsError) as agent:
        agent_origin(given)
    assert agent.value.field == "allowed_origins"


def test_a_korean_domain_is_refused_naming_the_form_browsers_send() -> None:
    with pytest.raises(InvalidOriginError) as refused:
        normalise_origin("https://민원.kr:8443")
    assert refused.value.ascii_form == "https://xn--lg3b21r.kr:8443"
    with pytest.raises(CloudRequestError) as sdk:
        sdk_origin("https://민원.kr")
    assert "https://xn--lg3b21r.kr" in str(sdk.value)


@pytest.mark.parametrize("given", [None, 8000, b"https://bank.test"])
def test_what_is_not_text_is_refused(given: object) -> None:
    with pytest.raises(InvalidOriginError):
        normalise_origin(given)
