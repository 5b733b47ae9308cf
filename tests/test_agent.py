"""The local signing agent (issue 17 item 2): its rules without HTTP (pki.agent.service),
over HTTP (pki.agent.app: the Host and Origin checks, CORS, the JSON error contract) and
its command (kpki agent). The browser tests are in tests/test_agent_browser.py."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given
from hypothesis import strategies as st

from pki.agent import (
    AgentSettings,
    Location,
    LocationKind,
    SigningAgent,
    SignOrder,
    State,
    create_app,
)
from pki.agent.service import ENCODINGS, Shown, content_of, contents_of, envelope_recipient
from pki.agent.settings import location_of, normalise_origin
from pki.cli.main import cli
from pki.clock import FixedClock
from pki.errors import (
    AgentBusyError,
    AgentExpiredError,
    AgentKeyError,
    AgentNotFoundError,
    AgentOriginError,
    AgentPasswordError,
    AgentRequestError,
    AgentSettingsError,
    AgentStateError,
)
from pki.home import Home
from pki.keys import npki
from pki.profiles import JointPolicy
from pki.signing import open_r_envelope, verify
from pki.signing.status import RecordsSource
from pki.vid import identify_data_of, vid_matches

ORIGIN = "http://127.0.0.1:5501"
OTHER_ORIGIN = "http://127.0.0.1:5502"
FOREIGN = "https://evil.example"
PASSWORD = "Agent-pass-1234!"
WRONG = "Wrong-pass-9999!"
RRN = "9005171234566"
PETITION = "민원 신청서: 주민등록등본 발급을 신청합니다."


@dataclass
class Material:
    """A home, and an NPKI base holding a general and a banking joint certificate."""

    home: Home
    base: Path
    usb: Path
    general: object
    banking: object
    general_folder: Path
    banking_folder: Path

    @property
    def root(self) -> x509.Certificate:
        return self.home.store.get_ca("root").certificate

    def locations(self) -> tuple[Location, ...]:
        return (Location(LocationKind.HARD_DISK, self.base),
                Location(LocationKind.REMOVABLE, self.usb))

    def verify(self, der: bytes, *, content: bytes | None = None, **call: object) -> object:
        return verify(der, content=content, trust=[self.root],
                      intermediates=list(self.general.chain),  # type: ignore[attr-defined]
                      clock=self.home.clock, sources=[RecordsSource(self.home.store)], **call)


def npki_material(home: Home, tmp_path: Path) -> Material:
    authority = home.authority()
    general = authority.issue_joint(name="홍길동", rrn=RRN)
    banking = authority.issue_joint(name="김철수", rrn="8501011234566",
                                    policy=JointPolicy.BANKING)
    base, usb = tmp_path / "disk", tmp_path / "usb"
    folders = []
    for issued in (general, banking):
        files = npki.dump(npki.folder_for(base, issued.certificate), issued.certificate,
                          issued.private_key, PASSWORD, r=issued.r)
        folders.append(files.folder)
    usb.mkdir()
    return Material(home, base, usb, general, banking, folders[0], folders[1])


@pytest.fixture
def material(home: Home, tmp_path: Path) -> Material:
    return npki_material(home, tmp_path)


def make_agent(material: Material, clock: FixedClock, **settings: object) -> SigningAgent:
    return SigningAgent(AgentSettings.of([ORIGIN, OTHER_ORIGIN],
                                         locations=material.locations(),
                                         **settings),  # type: ignore[arg-type]
                        clock=clock)


@pytest.fixture
def agent(material: Material, clock: FixedClock) -> SigningAgent:
    return make_agent(material, clock)


def order(**kw: object) -> SignOrder:
    return SignOrder(PETITION.encode(), **kw)  # type: ignore[arg-type]


def general_index(agent: SigningAgent, opened: object, material: Material) -> int:
    view = agent.view(opened.request_id, token=opened.dialog_token)  # type: ignore[attr-defined]
    return next(o.index for o in view.offered
                if o.entry.certificate == material.general.certificate)  # type: ignore[attr-defined]


# -- settings ---------------------------------------------------------------------------

@pytest.mark.parametrize(("given", "origin"), [
    ("https://www.gov.kr", "https://www.gov.kr"),
    ("https://WWW.Gov.KR:443/", "https://www.gov.kr"),
    ("http://127.0.0.1:5501", "http://127.0.0.1:5501"),
    ("http://localhost:80", "http://localhost"),
])
def test_an_allowed_origin_is_written_as_browsers_send_it(given: str, origin: str) -> None:
    assert normalise_origin(given) == origin


@pytest.mark.parametrize("given", ["*", "https://*.gov.kr", "null", "file:///tmp",
                                   "www.gov.kr", "https://www.gov.kr/path",
                                   "https://www.gov.kr?x=1", "https://user@www.gov.kr",
                                   "https://www.gov.kr:99999"])
def test_wildcards_null_and_what_is_no_origin_are_refused(given: str) -> None:
    with pytest.raises(AgentSettingsError) as refused:
        AgentSettings.of([given], locations=())
    assert refused.value.field == "allowed_origins"


def test_an_agent_without_an_allowed_origin_is_refused() -> None:
    with pytest.raises(AgentSettingsError):
        AgentSettings.of([], locations=())


def test_a_base_under_a_mount_root_is_a_removable_drive(tmp_path: Path) -> None:
    assert location_of(Path("/media/user/USB")).kind is LocationKind.REMOVABLE
    assert location_of(tmp_path).kind is LocationKind.FOLDER
    settings = AgentSettings.of([ORIGIN], bases=[tmp_path, tmp_path, Path.home()])
    assert [(loc.kind, loc.path) for loc in settings.locations] == [
        (LocationKind.HARD_DISK, Path.home()), (LocationKind.FOLDER, tmp_path)]


@given(st.one_of(st.text(max_size=60),
                 st.builds(lambda scheme, host, rest: f"{scheme}://{host}{rest}",
                           st.sampled_from(["http", "https", "HTTP", "ftp", ""]),
                           st.text(max_size=20), st.text(max_size=20))))
def test_an_origin_is_normalised_or_refused_never_crashes(text: str) -> None:
    try:
        origin = normalise_origin(text)
    except AgentSettingsError as exc:
        assert exc.field == "allowed_origins"
        return
    assert normalise_origin(origin) == origin
    assert "*" not in origin and origin.startswith(("http://", "https://"))


# -- the content ------------------------------------------------------------------------

def test_text_is_signed_in_the_encoding_asked_for() -> None:
    assert content_of(text=PETITION, encoding="UTF-8", b64=None, limit=1000) \
        == PETITION.encode()
    assert content_of(text=PETITION, encoding="euc-kr", b64=None, limit=1000) \
        == PETITION.encode("cp949")
    assert content_of(text=None, encoding=None, b64=base64.b64encode(b"\x00\xff").decode(),
                      limit=10) == b"\x00\xff"


def test_several_texts_are_encoded_each_within_one_limit() -> None:
    assert contents_of(text=None, texts=["가", "나"], encoding="EUC-KR", b64=None,
                       limit=10) == ("가".encode("cp949"), "나".encode("cp949"))
    assert contents_of(text="가", texts=None, encoding=None, b64=None, limit=10) \
        == ("가".encode(),)


@pytest.mark.parametrize(("kw", "code", "field"), [
    ({"text": None, "texts": [], "encoding": None, "b64": None}, "bad_request",
     "content.texts"),
    ({"text": "x", "texts": ["y"], "encoding": None, "b64": None}, "bad_request", "content"),
    ({"text": None, "texts": ["y"], "encoding": None, "b64": "eA=="}, "bad_request",
     "content"),
    ({"text": None, "texts": ["가나다", "가나다", "가나다"], "encoding": "UTF-8", "b64": None},
     "too_large", "content.texts"),
    ({"text": None, "texts": ["x", "😀"], "encoding": "EUC-KR", "b64": None}, "bad_request",
     "content.texts[1]"),
    ({"text": None, "texts": ["x"] * 101, "encoding": None, "b64": None}, "bad_request",
     "content.texts"),
])
def test_unusable_texts_are_refused_naming_the_field(kw: dict, code: str, field: str) -> None:
    with pytest.raises(AgentRequestError) as refused:
        contents_of(**kw, limit=20)
    assert (refused.value.code, refused.value.field) == (code, field)


@pytest.mark.parametrize(("kw", "code", "field"), [
    ({"text": "x", "encoding": "UTF-16", "b64": None}, "unsupported_encoding",
     "content.encoding"),
    ({"text": "x", "encoding": "ISO-2022-KR", "b64": None}, "unsupported_encoding",
     "content.encoding"),
    ({"text": "😀", "encoding": "EUC-KR", "b64": None}, "bad_request", "content.text"),
    ({"text": None, "encoding": None, "b64": "not base64!"}, "bad_request", "content.base64"),
    ({"text": "x", "encoding": None, "b64": "eA=="}, "bad_request", "content"),
    ({"text": None, "encoding": None, "b64": None}, "bad_request", "content"),
    ({"text": "가" * 11, "encoding": "UTF-8", "b64": None}, "too_large", "content.text"),
    ({"text": "가" * 4, "encoding": "UTF-8", "b64": None}, "too_large", "content.text"),
    ({"text": None, "encoding": None, "b64": base64.b64encode(b"x" * 11).decode()},
     "too_large", "content.base64"),
])
def test_unusable_content_is_refused_naming_the_field(kw: dict, code: str, field: str) -> None:
    with pytest.raises(AgentRequestError) as refused:
        content_of(**kw, limit=10)
    assert (refused.value.code, refused.value.field) == (code, field)


@given(st.one_of(st.none(), st.text(max_size=40)),
       st.one_of(st.none(), st.sampled_from(["UTF-8", "utf-8", "EUC-KR", "euc-kr", "latin-1"]),
                 st.text(max_size=10)),
       st.one_of(st.none(), st.text(max_size=40),
                 st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())))
def test_content_is_bytes_or_a_refusal_naming_its_field(text: str | None,
                                                        encoding: str | None,
                                                        b64: str | None) -> None:
    try:
        data = content_of(text=text, encoding=encoding, b64=b64, limit=30)
    except AgentRequestError as exc:
        assert exc.field.startswith("content")
        assert exc.code in ("bad_request", "unsupported_encoding", "too_large")
        return
    assert isinstance(data, bytes) and len(data) <= 30


@given(st.one_of(st.none(), st.lists(st.text(max_size=12), max_size=5)),
       st.one_of(st.none(), st.sampled_from(["UTF-8", "EUC-KR", "latin-1"])),
       st.one_of(st.none(), st.text(max_size=5)))
def test_texts_are_bytes_each_or_a_refusal_naming_the_field(texts: list[str] | None,
                                                            encoding: str | None,
                                                            text: str | None) -> None:
    try:
        contents = contents_of(text=text, texts=texts, encoding=encoding, b64=None,
                               limit=30)
    except AgentRequestError as exc:
        assert exc.field.startswith("content")
        return
    assert sum(map(len, contents)) <= 30
    order = SignOrder(contents[0], more=contents[1:], encoding=encoding or "UTF-8")
    assert [c.text for c in order.shown()] == (texts if texts is not None else [text])


def test_envelope_to_must_be_an_rsa_certificate(material: Material) -> None:
    with pytest.raises(AgentRequestError) as refused:
        envelope_recipient("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    assert refused.value.field == "envelopeTo"
    pem = material.root.public_bytes(Encoding.PEM).decode()
    assert envelope_recipient(pem) == material.root


# -- the rules of a request ---------------------------------------------------------------

@pytest.mark.parametrize("origin", [FOREIGN, None, "null", "http://127.0.0.1:5501/"])
def test_a_page_from_an_origin_not_allowed_opens_nothing(agent: SigningAgent,
                                                         origin: str | None) -> None:
    with pytest.raises(AgentOriginError):
        agent.open(origin, order())


def test_the_dialog_lists_kind_holder_expiry_and_issuer(agent: SigningAgent,
                                                        material: Material) -> None:
    opened = agent.open(ORIGIN, order(purpose="주민등록등본 발급"))
    view = agent.view(opened.request_id, token=opened.dialog_token)
    assert view.origin == ORIGIN and view.purpose == "주민등록등본 발급"
    assert [loc.kind for loc in view.locations] == [LocationKind.HARD_DISK,
                                                    LocationKind.REMOVABLE]
    rows = {o.entry.common_name.split("(")[0]: o for o in view.offered}
    assert set(rows) == {"홍길동", "김철수"}
    assert rows["홍길동"].entry.policy_class.value == "general"
    assert rows["김철수"].entry.policy_class.value == "restricted"
    assert all(o.location == 0 and o.usable for o in view.offered)
    assert view.counted_by_file is False


@pytest.mark.parametrize("encoding", ["UTF-8", "EUC-KR"])
def test_the_dialog_shows_the_text_to_be_signed_decoded_as_its_encoding(
        agent: SigningAgent, encoding: str) -> None:
    signed = PETITION.encode(ENCODINGS[encoding])
    opened = agent.open(ORIGIN, SignOrder(signed, encoding=encoding))
    view = agent.view(opened.request_id, token=opened.dialog_token)
    assert view.contents == (Shown(PETITION, encoding, len(signed),
                                   hashlib.sha256(signed).hexdigest()),)


def test_binary_content_is_shown_as_its_size_and_sha256(agent: SigningAgent) -> None:
    data = bytes(range(256)) * 3
    opened = agent.open(ORIGIN, SignOrder(data))
    view = agent.view(opened.request_id, token=opened.dialog_token)
    assert view.contents == (Shown(None, None, 768, hashlib.sha256(data).hexdigest()),)


def test_several_texts_are_each_shown_and_each_signed(agent: SigningAgent,
                                                      material: Material) -> None:
    texts = (PETITION, "첨부 1: 가족관계증명서", "첨부 2: 위임장")
    signed = tuple(t.encode("cp949") for t in texts)
    opened = agent.open(ORIGIN, SignOrder(signed[0], more=signed[1:], encoding="EUC-KR",
                                          attached=False))
    index = general_index(agent, opened, material)
    view = agent.view(opened.request_id, token=opened.dialog_token)
    assert [c.text for c in view.contents] == list(texts)
    assert [c.sha256 for c in view.contents] == [hashlib.sha256(b).hexdigest()
                                                 for b in signed]
    result = agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                           password=PASSWORD)  # one confirmation, one password
    assert len(result.signatures) == 3 and result.signature == result.signatures[0]
    for content, signature in zip(signed, result.signatures, strict=True):
        assert material.verify(signature, content=content).ok  # type: ignore[attr-defined]
    assert not material.verify(result.signatures[1], content=signed[0]).ok  # type: ignore[attr-defined]


@pytest.mark.parametrize(("content", "encoding"), [(b"\xff\xfe", "UTF-8"),
                                                   (b"\xff", "EUC-KR"),
                                                   (b"x", "UTF-7")])
def test_text_that_its_encoding_cannot_read_is_refused(content: bytes, encoding: str) -> None:
    with pytest.raises(AgentRequestError) as refused:
        SignOrder(content, encoding=encoding)
    assert refused.value.field.startswith("content")
    with pytest.raises(AgentRequestError):
        SignOrder("가".encode(), more=(content,), encoding=encoding)


@pytest.mark.parametrize("purpose", ["주민등록등본\n발급", "\x1b[31m발급", "\x00", "확인\u202e급발",
                                     "zero\u200bwidth", "line\u2028break", "\x7f", "\ud800"])
def test_a_purpose_with_control_characters_is_refused(purpose: str) -> None:
    with pytest.raises(AgentRequestError) as refused:
        SignOrder(b"x", purpose=purpose)
    assert (refused.value.code, refused.value.field) == ("bad_request", "purpose")


def test_a_purpose_in_plain_words_is_kept_as_given() -> None:
    assert SignOrder(b"x", purpose="주민등록등본 발급 (수수료 0원) - 1/2").purpose \
        == "주민등록등본 발급 (수수료 0원) - 1/2"


def test_nothing_is_signed_without_the_users_ok(agent: SigningAgent,
                                                material: Material) -> None:
    opened = agent.open(ORIGIN, order())
    assert agent.outcome(opened.request_id, origin=ORIGIN,
                         token=opened.caller_token).state is State.PENDING
    index = general_index(agent, opened, material)
    assert agent.outcome(opened.request_id, origin=ORIGIN,
                         token=opened.caller_token).state is State.PENDING
    agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                  password=PASSWORD)
    outcome = agent.outcome(opened.request_id, origin=ORIGIN, token=opened.caller_token)
    assert outcome.state is State.SIGNED and outcome.result is not None
    result = material.verify(outcome.result.signature)
    assert result.ok, result.summary()  # type: ignore[attr-defined]
    assert result.content == PETITION.encode()  # type: ignore[attr-defined]
    assert outcome.result.certificate == material.general.certificate


def test_a_confirmation_signs_once(agent: SigningAgent, material: Material) -> None:
    opened = agent.open(ORIGIN, order())
    index = general_index(agent, opened, material)
    agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                  password=PASSWORD)
    for again in (lambda: agent.confirm(opened.request_id, token=opened.dialog_token,
                                        certificate=index, password=PASSWORD),
                  lambda: agent.dismiss(opened.request_id, token=opened.dialog_token),
                  lambda: agent.cancel(opened.request_id, origin=ORIGIN,
                                       token=opened.caller_token),
                  lambda: agent.view(opened.request_id, token=opened.dialog_token)):
        with pytest.raises(AgentStateError) as refused:
            again()
        assert refused.value.code == "already_answered"
        assert refused.value.state == "signed"


def test_a_cancelled_request_signs_nothing(agent: SigningAgent, material: Material) -> None:
    opened = agent.open(ORIGIN, order())
    index = general_index(agent, opened, material)
    assert agent.dismiss(opened.request_id, token=opened.dialog_token).state \
        is State.CANCELLED
    with pytest.raises(AgentStateError) as refused:
        agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                      password=PASSWORD)
    assert refused.value.code == "already_answered"
    outcome = agent.outcome(opened.request_id, origin=ORIGIN, token=opened.caller_token)
    assert (outcome.state, outcome.result) == (State.CANCELLED, None)


def test_the_page_withdrawing_its_request_cancels_it(agent: SigningAgent) -> None:
    opened = agent.open(ORIGIN, order())
    agent.cancel(opened.request_id, origin=ORIGIN, token=opened.caller_token)
    assert agent.outcome(opened.request_id, origin=ORIGIN,
                         token=opened.caller_token).state is State.CANCELLED


def test_a_second_request_while_one_is_open_is_busy(agent: SigningAgent) -> None:
    opened = agent.open(ORIGIN, order())
    with pytest.raises(AgentBusyError):
        agent.open(OTHER_ORIGIN, order())
    agent.cancel(opened.request_id, origin=ORIGIN, token=opened.caller_token)
    agent.open(OTHER_ORIGIN, order())


def test_answered_requests_are_kept_for_a_while_not_for_ever(agent: SigningAgent,
                                                             clock: FixedClock) -> None:
    from pki.agent.service import KEPT_ANSWERED

    opened = [agent.open(ORIGIN, order())]
    agent.cancel(opened[0].request_id, origin=ORIGIN, token=opened[0].caller_token)
    for _ in range(KEPT_ANSWERED):
        o = agent.open(ORIGIN, order())
        agent.cancel(o.request_id, origin=ORIGIN, token=o.caller_token)
        opened.append(o)
    agent.open(ORIGIN, order())  # settles: the first answered request is forgotten
    with pytest.raises(AgentNotFoundError):
        agent.outcome(opened[0].request_id, origin=ORIGIN, token=opened[0].caller_token)
    last = opened[-1]
    assert agent.outcome(last.request_id, origin=ORIGIN,
                         token=last.caller_token).state is State.CANCELLED
    clock.advance(2 * agent.settings.request_ttl)
    with pytest.raises(AgentNotFoundError):  # a lifetime after it expired
        agent.outcome(last.request_id, origin=ORIGIN, token=last.caller_token)


def test_a_wrong_password_is_counted_in_the_request_and_locks_nothing(
        agent: SigningAgent, material: Material) -> None:
    key_file = material.general_folder / npki.KEY_FILE
    before = key_file.read_bytes()
    opened = agent.open(ORIGIN, order())
    index = general_index(agent, opened, material)
    for attempt in (1, 2, 3):
        with pytest.raises(AgentPasswordError) as refused:
            agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                          password=WRONG)
        assert refused.value.attempts == attempt
        assert refused.value.counted_by_file is False
        assert WRONG not in str(refused.value)
    view = agent.view(opened.request_id, token=opened.dialog_token)
    assert view.attempts == {index: 3}
    assert agent.outcome(opened.request_id, origin=ORIGIN,
                         token=opened.caller_token).state is State.PENDING
    agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                  password=PASSWORD)
    assert key_file.read_bytes() == before  # the file holds no counter to charge


def test_a_second_confirmation_while_one_is_signing_is_refused(
        agent: SigningAgent, material: Material, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = agent.open(ORIGIN, order())
    index = general_index(agent, opened, material)
    inside, release = threading.Event(), threading.Event()
    real_load = npki.load

    def held_load(folder: Path, password: str) -> object:
        inside.set()
        release.wait(60)
        return real_load(folder, password)

    monkeypatch.setattr("pki.agent.service.npki.load", held_load)
    raised: list[BaseException] = []

    def confirm_wrong() -> None:
        try:
            agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                          password=WRONG)
        except AgentPasswordError as exc:
            raised.append(exc)

    first = threading.Thread(target=confirm_wrong)
    first.start()
    try:
        assert inside.wait(60)
        # (a cancel meanwhile is tests/test_review17.py's: the request then ends cancelled)
        with pytest.raises(AgentStateError) as refused:
            agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                          password=PASSWORD)
        assert refused.value.code == "in_progress"
    finally:
        release.set()
        first.join(60)
    # the first one's wrong password was counted once, and the request is open again
    assert len(raised) == 1
    assert agent.view(opened.request_id, token=opened.dialog_token).attempts == {index: 1}


@pytest.mark.parametrize("who", ["forged caller token", "the dialog's token as caller's",
                                 "another allowed origin", "unknown id"])
def test_a_request_answers_only_its_page_with_its_token(agent: SigningAgent,
                                                        who: str) -> None:
    opened = agent.open(ORIGIN, order())
    request_id, origin, token = opened.request_id, ORIGIN, opened.caller_token
    if who == "forged caller token":
        token = "A" * len(token)
    elif who == "the dialog's token as caller's":
        token = opened.dialog_token
    elif who == "another allowed origin":
        origin = OTHER_ORIGIN
    else:
        request_id = "nosuch"
    with pytest.raises(AgentNotFoundError):
        agent.outcome(request_id, origin=origin, token=token)
    with pytest.raises(AgentNotFoundError):
        agent.cancel(request_id, origin=origin, token=token)
    assert agent.outcome(opened.request_id, origin=ORIGIN,
                         token=opened.caller_token).state is State.PENDING


def test_the_dialog_answers_only_its_token(agent: SigningAgent) -> None:
    opened = agent.open(ORIGIN, order())
    for token in (opened.caller_token, "", "x" * 43):
        with pytest.raises(AgentNotFoundError):
            agent.view(opened.request_id, token=token)
        with pytest.raises(AgentNotFoundError):
            agent.confirm(opened.request_id, token=token, certificate=0, password=PASSWORD)
        with pytest.raises(AgentNotFoundError):
            agent.dismiss(opened.request_id, token=token)


def test_tokens_are_unguessable_and_distinct(agent: SigningAgent) -> None:
    opened = agent.open(ORIGIN, order())
    assert len(opened.caller_token) >= 43 and len(opened.dialog_token) >= 43
    assert opened.caller_token != opened.dialog_token
    assert opened.caller_token not in repr(opened)


def test_a_request_expires_on_the_clock(material: Material, clock: FixedClock) -> None:
    agent = make_agent(material, clock, request_ttl=dt.timedelta(minutes=5))
    opened = agent.open(ORIGIN, order())
    index = general_index(agent, opened, material)
    clock.advance(dt.timedelta(minutes=4, seconds=59))
    assert agent.outcome(opened.request_id, origin=ORIGIN,
                         token=opened.caller_token).state is State.PENDING
    clock.advance(dt.timedelta(seconds=1))
    with pytest.raises(AgentExpiredError):
        agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                      password=PASSWORD)
    assert agent.outcome(opened.request_id, origin=ORIGIN,
                         token=opened.caller_token).state is State.EXPIRED
    agent.open(ORIGIN, order())  # an expired request holds nothing open


def test_an_unreadable_key_file_is_refused_and_the_request_stays_open(
        agent: SigningAgent, material: Material) -> None:
    opened = agent.open(ORIGIN, order())
    index = general_index(agent, opened, material)
    key_file = material.general_folder / npki.KEY_FILE
    key_file.write_bytes(key_file.read_bytes()[:40])
    with pytest.raises(AgentKeyError) as refused:
        agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                      password=PASSWORD)
    assert refused.value.code == "key_unreadable"
    assert agent.outcome(opened.request_id, origin=ORIGIN,
                         token=opened.caller_token).state is State.PENDING


def test_a_certificate_the_dialog_did_not_offer_is_refused(agent: SigningAgent) -> None:
    opened = agent.open(ORIGIN, order())
    with pytest.raises(AgentKeyError) as refused:  # never viewed: nothing offered
        agent.confirm(opened.request_id, token=opened.dialog_token, certificate=0,
                      password=PASSWORD)
    assert refused.value.code == "certificate_unusable"
    agent.view(opened.request_id, token=opened.dialog_token)
    with pytest.raises(AgentKeyError):
        agent.confirm(opened.request_id, token=opened.dialog_token, certificate=7,
                      password=PASSWORD)


def test_an_expired_certificate_is_shown_but_cannot_sign(material: Material) -> None:
    later = FixedClock(material.home.clock.now() + dt.timedelta(days=800))
    agent = make_agent(material, later)
    opened = agent.open(ORIGIN, order())
    view = agent.view(opened.request_id, token=opened.dialog_token)
    assert view.offered and not any(o.usable for o in view.offered)
    with pytest.raises(AgentKeyError) as refused:
        agent.confirm(opened.request_id, token=opened.dialog_token, certificate=0,
                      password=PASSWORD)
    assert refused.value.code == "certificate_unusable"


def test_r_is_returned_when_asked_and_matches_the_vid(agent: SigningAgent,
                                                      material: Material) -> None:
    opened = agent.open(ORIGIN, order(include_r=True))
    index = general_index(agent, opened, material)
    result = agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                           password=PASSWORD)
    assert result.r == material.general.r  # type: ignore[attr-defined]
    identity = identify_data_of(result.certificate)
    assert identity is not None and vid_matches(identity, RRN, result.r)
    assert material.verify(result.signature, rrn=RRN, r=result.r).ok  # type: ignore[attr-defined]


def test_a_key_file_without_r_cannot_answer_include_r(agent: SigningAgent,
                                                      material: Material) -> None:
    issued = material.general
    npki.dump(material.general_folder, issued.certificate,  # type: ignore[attr-defined]
              issued.private_key, PASSWORD, r=None)  # type: ignore[attr-defined]
    opened = agent.open(ORIGIN, order(include_r=True))
    index = general_index(agent, opened, material)
    with pytest.raises(AgentKeyError) as refused:
        agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                      password=PASSWORD)
    assert refused.value.code == "no_r"


@pytest.mark.parametrize(("attached", "pss"), [(True, False), (False, True), (False, False),
                                               (True, True)])
def test_every_shape_asked_for_verifies(agent: SigningAgent, material: Material,
                                        attached: bool, pss: bool) -> None:
    opened = agent.open(ORIGIN, order(attached=attached, pss=pss))
    index = general_index(agent, opened, material)
    result = agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                           password=PASSWORD)
    signed = cms.ContentInfo.load(result.signature)["content"]
    assert (signed["encap_content_info"]["content"].native is None) == (not attached)
    algorithm = signed["signer_infos"][0]["signature_algorithm"]["algorithm"].native
    assert algorithm == ("rsassa_pss" if pss else "rsassa_pkcs1v15")
    checked = material.verify(result.signature,
                              content=None if attached else PETITION.encode())
    assert checked.ok, checked.summary()  # type: ignore[attr-defined]


def test_envelope_to_seals_the_signature_and_r_to_the_site(agent: SigningAgent,
                                                           material: Material) -> None:
    site = material.banking  # any RSA certificate with its key stands in for the site's
    opened = agent.open(ORIGIN, order(include_r=True,
                                      envelope_to=site.certificate))  # type: ignore[attr-defined]
    index = general_index(agent, opened, material)
    result = agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                           password=PASSWORD)
    assert result.enveloped
    inner = open_r_envelope(result.signature, site.private_key)  # type: ignore[attr-defined]
    assert material.verify(inner).ok  # type: ignore[attr-defined]
    assert result.r is not None
    assert open_r_envelope(result.r, site.private_key) == material.general.r  # type: ignore[attr-defined]
    # the site checks the VID from the envelope it received, as kpki verify --r-envelope does
    checked = material.verify(inner, rrn=RRN, r_envelope=result.r,
                              recipient_key=site.private_key)  # type: ignore[attr-defined]
    assert checked.ok, checked.summary()  # type: ignore[attr-defined]


def test_a_waiting_page_is_woken_by_the_answer(agent: SigningAgent,
                                               material: Material) -> None:
    opened = agent.open(ORIGIN, order())
    index = general_index(agent, opened, material)
    seen: list[State] = []
    waiter = threading.Thread(target=lambda: seen.append(agent.outcome(
        opened.request_id, origin=ORIGIN, token=opened.caller_token, wait=60).state))
    waiter.start()
    agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                  password=PASSWORD)
    waiter.join(timeout=60)
    assert seen == [State.SIGNED]


def test_closing_the_agent_wakes_a_waiting_page(agent: SigningAgent) -> None:
    opened = agent.open(ORIGIN, order())
    seen: list[State] = []
    waiter = threading.Thread(target=lambda: seen.append(agent.outcome(
        opened.request_id, origin=ORIGIN, token=opened.caller_token, wait=60).state))
    waiter.start()
    agent.close()
    waiter.join(timeout=60)
    assert seen == [State.PENDING]


def test_the_password_is_nowhere_in_what_the_agent_keeps(agent: SigningAgent,
                                                         material: Material) -> None:
    opened = agent.open(ORIGIN, order())
    index = general_index(agent, opened, material)
    with pytest.raises(AgentPasswordError):
        agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                      password=WRONG)
    result = agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                           password=PASSWORD)
    kept = repr(agent.__dict__) + repr(result)
    assert PASSWORD not in kept and WRONG not in kept


# -- over HTTP ----------------------------------------------------------------------------

class Answer:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        for name, value in headers:
            key = name.lower()
            self.headers[key] = f"{self.headers[key]}, {value}" if key in self.headers else value
        self.text = body.decode("utf-8", "replace")

    def json(self) -> object:
        return json.loads(self.text)


class Client:
    """Plain HTTP to the agent served on a real socket (Host and Origin as given)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.own = f"http://127.0.0.1:{port}"

    def request(self, method: str, path: str, *, content: object = None,
                headers: dict[str, str] | None = None) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            headers = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
            chunked = content is not None and not isinstance(content, bytes | str)
            connection.request(method, path, body=content, headers=headers,  # type: ignore[arg-type]
                               encode_chunked=chunked)
            response = connection.getresponse()
            return Answer(response.status, response.getheaders(), response.read())
        finally:
            connection.close()

    def get(self, path: str, **kw: object) -> Answer:
        return self.request("GET", path, **kw)  # type: ignore[arg-type]

    def post(self, path: str, **kw: object) -> Answer:
        return self.request("POST", path, **kw)  # type: ignore[arg-type]

    def options(self, path: str, **kw: object) -> Answer:
        return self.request("OPTIONS", path, **kw)  # type: ignore[arg-type]


@contextlib.contextmanager
def served(agent: SigningAgent) -> object:
    from pki.web.thread import serve_in_thread

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    try:
        with serve_in_thread(create_app(agent, port=port), sock=sock):
            yield Client(port)
    finally:
        agent.close()
        sock.close()


@pytest.fixture
def client(agent: SigningAgent) -> object:
    with served(agent) as c:
        yield c


def page_post(client: Client, path: str, body: object, *, origin: str | None = ORIGIN
              ) -> Answer:
    headers = {"Content-Type": "application/json"}
    if origin is not None:
        headers["Origin"] = origin
    return client.post(f"/agent/v1{path}", content=json.dumps(body).encode(), headers=headers)


def dialog_post(client: Client, path: str, body: object) -> Answer:
    return page_post(client, f"/dialog{path}", body, origin=client.own)


def open_http(client: Client, **body: object) -> tuple[str, str, str]:
    answer = page_post(client, "/requests",
                       {"content": {"text": PETITION, "encoding": "UTF-8"}, **body})
    assert answer.status_code == 201, answer.text
    data = answer.json()
    request_id, dialog_token = data["dialog"].split("#", 1)[1].split(".")
    assert request_id == data["request"]
    return data["request"], data["token"], dialog_token


@pytest.mark.parametrize("host", ["evil.example", "evil.example:PORT", "127.0.0.1:9",
                                  "192.168.0.10:PORT", "127.0.0.1", ""])
def test_a_host_other_than_the_agents_is_refused(client: Client, host: str) -> None:
    answer = client.get("/agent/v1/ping", headers={"Host": host.replace("PORT", str(client.port)),
                                                   "Origin": ORIGIN})
    assert answer.status_code == 421
    assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize("host", ["127.0.0.1:PORT", "localhost:PORT", "LOCALHOST:PORT"])
def test_the_agents_own_host_names_are_served(client: Client, host: str) -> None:
    answer = client.get("/agent/v1/ping", headers={"Host": host.replace("PORT", str(client.port)),
                                                   "Origin": ORIGIN})
    assert answer.status_code == 200
    assert answer.json()["version"]


def test_an_allowed_origin_gets_its_own_origin_back_never_a_wildcard(client: Client
                                                                     ) -> None:
    answer = client.get("/agent/v1/ping", headers={"Origin": ORIGIN})
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in answer.headers["vary"]
    preflight = client.options("/agent/v1/requests", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
        "Access-Control-Request-Private-Network": "true"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert preflight.headers["access-control-allow-private-network"] == "true"


@pytest.mark.parametrize("origin", [FOREIGN, "null", "http://127.0.0.1:5501.evil.example"])
def test_a_foreign_origin_gets_nothing(client: Client, agent: SigningAgent,
                                       origin: str) -> None:
    preflight = client.options("/agent/v1/requests", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 403
    ping = client.get("/agent/v1/ping", headers={"Origin": origin})
    opened = page_post(client, "/requests", {"content": {"text": "x"}}, origin=origin)
    for answer in (preflight, ping, opened):
        assert not any(h.startswith("access-control-") for h in answer.headers)
    assert (ping.status_code, opened.status_code) == (403, 403)
    assert opened.json()["error"]["code"] == "origin_not_allowed"
    # nothing was opened: an allowed page can still ask
    assert page_post(client, "/requests", {"content": {"text": "x"}}).status_code == 201


def test_a_page_api_call_without_an_origin_is_refused(client: Client) -> None:
    assert page_post(client, "/requests", {"content": {"text": "x"}},
                     origin=None).status_code == 403
    assert client.get("/agent/v1/ping").status_code == 403


def test_the_page_cannot_use_the_dialogs_calls(client: Client) -> None:
    request_id, _, dialog_token = open_http(client)
    # even holding the dialog's token, the page's origin reads no certificate list
    answer = page_post(client, f"/dialog/{request_id}/view", {"token": dialog_token})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" in answer.headers  # the page may read the refusal


def test_signing_over_http_end_to_end(client: Client, material: Material) -> None:
    request_id, token, dialog_token = open_http(client, includeR=True, algorithm="pss",
                                                purpose="전입신고")
    assert page_post(client, f"/requests/{request_id}/outcome",
                     {"token": token}).json() == {"state": "pending"}
    view = dialog_post(client, f"/{request_id}/view", {"token": dialog_token})
    assert view.status_code == 200
    shown = view.json()
    assert shown["purpose"] == "전입신고" and shown["origin"] == ORIGIN
    assert shown["contents"] == [{"text": PETITION, "encoding": "UTF-8",
                                  "bytes": len(PETITION.encode()),
                                  "sha256": hashlib.sha256(PETITION.encode()).hexdigest()}]
    assert [p["label"] for p in shown["locations"]] == ["하드디스크", "이동식디스크"]
    row = next(c for c in shown["certificates"] if c["holder"].startswith("홍길동"))
    assert row["kind"] == "범용" and row["issuer"] == "yessign"
    assert row["expires"] == material.general.certificate.not_valid_after_utc.astimezone(  # type: ignore[attr-defined]
        dt.timezone(dt.timedelta(hours=9))).strftime("%Y-%m-%d")
    assert row["details"]["serial"] == str(material.general.certificate.serial_number)  # type: ignore[attr-defined]
    assert {c["kind"] for c in shown["certificates"]} == {"범용", "은행·보험용"}
    wrong = dialog_post(client, f"/{request_id}/confirm",
                        {"token": dialog_token, "certificate": row["index"],
                         "password": WRONG})
    assert wrong.status_code == 401
    assert wrong.json()["error"] | {"message": ""} == {
        "code": "wrong_password", "message": "", "attempts": 1, "countedByFile": False}
    assert WRONG not in wrong.text
    right = dialog_post(client, f"/{request_id}/confirm",
                        {"token": dialog_token, "certificate": row["index"],
                         "password": PASSWORD})
    assert right.json() == {"state": "signed"} and PASSWORD not in right.text
    outcome = page_post(client, f"/requests/{request_id}/outcome", {"token": token}).json()
    assert outcome["state"] == "signed" and outcome["enveloped"] is False
    assert outcome["signatures"] == [outcome["signature"]]
    signature = base64.b64decode(outcome["signature"])
    r = base64.b64decode(outcome["r"])
    assert material.verify(signature, rrn=RRN, r=r).ok  # type: ignore[attr-defined]
    assert x509.load_pem_x509_certificate(outcome["certificate"].encode()) \
        == material.general.certificate  # type: ignore[attr-defined]
    again = dialog_post(client, f"/{request_id}/confirm",
                        {"token": dialog_token, "certificate": row["index"],
                         "password": PASSWORD})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_answered")


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    ({"content": {"text": "x", "encoding": "UTF-7"}}, 400, "unsupported_encoding",
     "content.encoding"),
    ({"content": {"text": "x"}, "algorithm": "md5"}, 400, "bad_request", "algorithm"),
    ({"content": {"text": "x"}, "colour": "red"}, 400, "bad_request", "colour"),
    ({"content": {"text": "x"}, "attached": "yes"}, 400, "bad_request", "attached"),
    ({"content": {"text": "x", "charset": "UTF-8"}}, 400, "bad_request", "charset"),
    ({"attached": True}, 400, "bad_request", "content"),
    ({"content": {"text": "x"}, "envelopeTo": "not a certificate"}, 400, "bad_request",
     "envelopeTo"),
    ({"content": {"text": "x"}, "purpose": "가" * 201}, 400, "bad_request", "purpose"),
    ({"content": {"text": "x"}, "purpose": "등본\u202e급발"}, 400, "bad_request", "purpose"),
    ({"content": {"text": "x"}, "purpose": "등본\r\n발급"}, 400, "bad_request", "purpose"),
    ({"content": {"base64": base64.b64encode(b"x" * 1025).decode()}}, 413, "too_large",
     "content.base64"),
])
def test_a_bad_request_is_refused_before_the_dialog(material: Material, clock: FixedClock,
                                                    body: dict, status: int, code: str,
                                                    field: str) -> None:
    agent = make_agent(material, clock, max_content_bytes=1024)
    with served(agent) as client:
        answer = page_post(client, "/requests", body)
        assert answer.status_code == status, answer.text
        assert answer.json()["error"]["code"] == code
        assert answer.json()["error"].get("field") == field
        assert "`" not in answer.json()["error"]["message"]  # kpki's words, not msgspec's
        assert page_post(client, "/requests", {"content": {"text": "x"}}).status_code == 201


def test_several_texts_over_http_are_shown_and_signed_each(client: Client,
                                                          material: Material) -> None:
    texts = [PETITION, "첨부: 위임장"]
    request_id, token, dialog_token = open_http(client, content={"texts": texts,
                                                                 "encoding": "EUC-KR"})
    view = dialog_post(client, f"/{request_id}/view", {"token": dialog_token}).json()
    assert [c["text"] for c in view["contents"]] == texts
    assert {c["encoding"] for c in view["contents"]} == {"EUC-KR"}
    index = next(c["index"] for c in view["certificates"] if c["holder"].startswith("홍길동"))
    dialog_post(client, f"/{request_id}/confirm",
                {"token": dialog_token, "certificate": index, "password": PASSWORD})
    outcome = page_post(client, f"/requests/{request_id}/outcome", {"token": token}).json()
    signatures = [base64.b64decode(s) for s in outcome["signatures"]]
    assert outcome["signature"] == outcome["signatures"][0] and len(signatures) == 2
    for text, signature in zip(texts, signatures, strict=True):
        verified = material.verify(signature)
        assert verified.ok and verified.content == text.encode("cp949")  # type: ignore[attr-defined]


def test_a_body_over_the_limit_is_refused_while_it_streams(material: Material,
                                                           clock: FixedClock) -> None:
    agent = make_agent(material, clock, max_content_bytes=1024)
    with served(agent) as client:
        def chunks() -> object:
            yield b'{"content": {"text": "'
            for _ in range(1000):
                yield b"x" * 1024
            yield b'"}}'

        answer = client.post("/agent/v1/requests", content=chunks(),
                             headers={"Origin": ORIGIN})
        assert answer.status_code == 413
        assert answer.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"\xff\xfe", b'{"content": 5}'])
def test_a_body_that_is_no_request_is_a_400(client: Client, raw: bytes) -> None:
    answer = client.post("/agent/v1/requests", content=raw, headers={"Origin": ORIGIN})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] in ("bad_json", "bad_request")


def test_a_second_request_over_http_is_busy(client: Client) -> None:
    open_http(client)
    busy = page_post(client, "/requests", {"content": {"text": "x"}}, origin=OTHER_ORIGIN)
    assert (busy.status_code, busy.json()["error"]["code"]) == (409, "busy")


def test_a_forged_or_missing_token_is_an_unknown_request(client: Client) -> None:
    request_id, token, dialog_token = open_http(client)
    for path, body in ((f"/requests/{request_id}/outcome", {"token": "forged"}),
                       (f"/requests/{request_id}/outcome", {"token": dialog_token}),
                       (f"/requests/{request_id}/cancel", {"token": "forged"}),
                       ("/requests/nosuch/outcome", {"token": token})):
        answer = page_post(client, path, body)
        assert (answer.status_code, answer.json()["error"]["code"]) == (404,
                                                                         "unknown_request")
    missing = page_post(client, f"/requests/{request_id}/outcome", {})
    assert (missing.status_code, missing.json()["error"]["field"]) == (400, "token")
    forged = dialog_post(client, f"/{request_id}/view", {"token": token})
    assert forged.status_code == 404


def test_the_dialog_cancel_reaches_the_page(client: Client) -> None:
    request_id, token, dialog_token = open_http(client)
    assert dialog_post(client, f"/{request_id}/cancel", {"token": dialog_token}).json() \
        == {"state": "cancelled"}
    assert page_post(client, f"/requests/{request_id}/outcome", {"token": token}).json() \
        == {"state": "cancelled"}
    again = dialog_post(client, f"/{request_id}/cancel", {"token": dialog_token})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_answered")


def test_an_expired_request_over_http(client: Client, clock: FixedClock) -> None:
    request_id, token, dialog_token = open_http(client)
    clock.advance(dt.timedelta(minutes=6))
    view = dialog_post(client, f"/{request_id}/view", {"token": dialog_token})
    assert (view.status_code, view.json()["error"]["code"]) == (410, "expired")
    assert page_post(client, f"/requests/{request_id}/outcome", {"token": token}).json() \
        == {"state": "expired"}


def test_the_dialog_page_cannot_be_framed(client: Client) -> None:
    page = client.get("/agent/v1/dialog")
    assert page.status_code == 200 and "인증서 선택" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"


def test_the_script_and_the_dialog_files_are_served(client: Client) -> None:
    for path, kind in (("/agent/v1/agent.js", "javascript"),
                       ("/agent/v1/static/dialog.js", "javascript"),
                       ("/agent/v1/static/dialog.css", "css")):
        answer = client.get(path)
        assert answer.status_code == 200 and kind in answer.headers["content-type"]
    assert "KpkiAgent" in client.get("/agent/v1/agent.js").text
    missing = client.get("/agent/v1/nosuch")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "no_route")


def test_the_password_is_never_logged(client: Client, material: Material,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    request_id, _, dialog_token = open_http(client)
    index = dialog_post(client, f"/{request_id}/view",
                        {"token": dialog_token}).json()["certificates"][0]["index"]
    for password in (WRONG, PASSWORD):
        dialog_post(client, f"/{request_id}/confirm",
                    {"token": dialog_token, "certificate": index, "password": password})
    assert not any(p in caplog.text for p in (WRONG, PASSWORD))


# -- kpki agent ---------------------------------------------------------------------------

def test_the_command_needs_an_allowed_origin() -> None:
    result = CliRunner().invoke(cli, ["agent", "--port", "0"])
    assert result.exit_code == 2
    assert "--allow-origin" in result.output


@pytest.mark.parametrize("origin", ["*", "null", "https://www.gov.kr/path"])
def test_the_command_refuses_an_origin_that_is_none(origin: str) -> None:
    result = CliRunner().invoke(cli, ["agent", "--port", "0", "--allow-origin", origin])
    assert result.exit_code == 2
    assert "--allow-origin" in result.output
    assert result.output.startswith("kpki: error:") and result.output.count("\n") == 1


def test_a_port_in_use_is_a_usage_error_naming_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["agent", "--port", str(port), "--allow-origin",
                                          ORIGIN])
    assert result.exit_code == 2
    assert "--port" in result.output and result.output.count("\n") == 1


def _start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], dict[str, object]]:
    env = {**os.environ, "HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "pki.cli", "agent", "--port", "0",
                             "--json", "--allow-origin", ORIGIN, "--npki-base",
                             str(tmp_path / "usb"), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise AssertionError(proc.communicate()[1])
    return proc, json.loads(line)


@pytest.mark.parametrize(("sent", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_the_command_listens_on_127_0_0_1_and_stops_cleanly(tmp_path: Path,
                                                            sent: signal.Signals,
                                                            status: int) -> None:
    import urllib.request

    proc, said = _start(tmp_path)
    try:
        assert str(said["url"]).startswith("http://127.0.0.1:")
        assert said["port"] == int(str(said["url"]).rsplit(":", 1)[1]) != 0
        assert said["allowed_origins"] == [ORIGIN]
        assert [loc["kind"] for loc in said["locations"]] == ["hard_disk", "folder"]  # type: ignore[attr-defined]
        request = urllib.request.Request(f"{said['url']}/agent/v1/ping",
                                         headers={"Origin": ORIGIN})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.headers["access-control-allow-origin"] == ORIGIN
        proc.send_signal(sent)
        ended = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stderr is not None and proc.stdout is not None
    rest = proc.stderr.read()
    proc.stderr.close()
    proc.stdout.close()
    assert ended == status, rest
    assert "Traceback" not in rest
