"""Security cards (issue 14 item 2): the 2006 challenge rule, a card printed from a seed,
a challenge valid 120 s and answered once, five wrong answers lock the card until a branch
resets it, every wrong answer counted exactly under threads, processes and crashes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from pki.bank.cards import PrintedCard, SecurityCards, card_answer
from pki.bank.institutions import add_bank
from pki.bank.media import MediumKind, MediumOutcome
from pki.errors import (
    BankNotFoundError,
    BankRequestError,
    CardLockedError,
    ChallengeExpiredError,
    ChallengeUsedError,
    WrongCardAnswerError,
)
from pki.store import AuditAction, open_store, sqlite_url

from .bank_helpers import T0, BankWorld, in_parallel, in_processes, killed_at, make_world


@pytest.fixture
def world(tmp_path: Path) -> BankWorld:
    return make_world(tmp_path)


def _issued(world: BankWorld, seed: str = "card-1") -> PrintedCard:
    return world.cards.issue(world.hana, world.customer.id, seed=seed)


def _wrong(card: PrintedCard, first: int, second: int) -> str:
    right = card.answer(first, second)
    return f"{(int(right) + 1) % 10000:04d}"


def _store_card(world: BankWorld):
    return world.store.active_security_card(world.customer.id)


def test_the_answer_is_two_digits_of_the_first_code_and_two_of_the_second() -> None:
    codes = tuple(f"{n:04d}" for n in range(35))
    codes = (*codes[:7], "2442", *codes[8:34], "8808")
    assert card_answer(codes, 8, 35) == "2408"  # the issue's example
    assert card_answer(codes, 35, 8) == "8842"


def test_a_seed_prints_the_same_card_and_the_setting_sets_its_size(tmp_path: Path,
                                                                   world: BankWorld) -> None:
    card = _issued(world, seed="printed")
    assert len(card.codes) == 35 and all(len(c) == 4 and c.isdigit() for c in card.codes)
    assert len(card.serial) == 8 and card.serial.isdigit()
    small = make_world(tmp_path / "other", settings={"card_positions": 25})
    again = small.cards.issue(small.hana, small.customer.id, seed="printed")
    assert again.serial == card.serial and again.codes == card.codes[:25]
    assert card.text().splitlines()[0] == f"No. {card.serial}"
    assert f"35: {card.code(35)}" in card.text()
    unseeded = {world.cards.issue(world.hana, world.customer.id).serial for _ in range(3)}
    assert len(unseeded) == 3


def test_a_right_answer_is_accepted_and_a_challenge_names_two_positions(world: BankWorld
                                                                        ) -> None:
    card = _issued(world)
    for _ in range(30):
        challenge = world.cards.challenge(world.hana, world.customer.id)
        assert challenge.first != challenge.second
        assert {challenge.first, challenge.second} <= set(range(1, 36))
        assert challenge.serial == card.serial
        assert challenge.expires_at == world.clock.now() + dt.timedelta(seconds=120)
        world.cards.answer(world.hana, challenge.id, card.answer(challenge.first,
                                                                 challenge.second))


def test_a_challenge_is_answered_once(world: BankWorld) -> None:
    card = _issued(world)
    challenge = world.cards.challenge(world.hana, world.customer.id)
    right = card.answer(challenge.first, challenge.second)
    world.cards.answer(world.hana, challenge.id, right)
    with pytest.raises(ChallengeUsedError) as info:
        world.cards.answer(world.hana, challenge.id, right)
    assert info.value.code == "challenge_used"
    wrong_first = world.cards.challenge(world.hana, world.customer.id)
    with pytest.raises(WrongCardAnswerError):
        world.cards.answer(world.hana, wrong_first.id, _wrong(card, wrong_first.first,
                                                              wrong_first.second))
    with pytest.raises(ChallengeUsedError):  # a wrong answer used it up too
        world.cards.answer(world.hana, wrong_first.id,
                           card.answer(wrong_first.first, wrong_first.second))
    assert _store_card(world).failures == 1  # the refusal after it counted nothing


def test_a_challenge_expires_after_120_seconds_and_counts_nothing(world: BankWorld) -> None:
    card = _issued(world)
    on_time = world.cards.challenge(world.hana, world.customer.id)
    late = world.cards.challenge(world.hana, world.customer.id)
    world.clock.advance(dt.timedelta(seconds=120))
    world.cards.answer(world.hana, on_time.id, card.answer(on_time.first, on_time.second))
    world.clock.advance(dt.timedelta(seconds=1))
    with pytest.raises(ChallengeExpiredError) as info:
        world.cards.answer(world.hana, late.id, _wrong(card, late.first, late.second))
    assert info.value.code == "challenge_expired"
    assert _store_card(world).failures == 0


def test_the_bank_clock_decides_an_expiry_whatever_time_the_caller_gives(world: BankWorld
                                                                         ) -> None:
    card = _issued(world)
    challenge = world.cards.challenge(world.hana, world.customer.id)
    right = card.answer(challenge.first, challenge.second)
    world.clock.advance(dt.timedelta(seconds=121))
    with pytest.raises(ChallengeExpiredError):
        world.cards.answer(world.hana, challenge.id, right, at=challenge.expires_at)
    outcome = world.cards.medium(world.hana, challenge.id).verify(right, at=T0)
    assert (outcome.accepted, outcome.code) == (False, "challenge_expired")
    assert world.store.card_challenge(challenge.id).answered_at is None


def test_an_answer_is_recorded_at_the_bank_clocks_time(world: BankWorld) -> None:
    card = _issued(world)
    challenge = world.cards.challenge(world.hana, world.customer.id)
    world.clock.advance(dt.timedelta(seconds=30))
    world.cards.answer(world.hana, challenge.id, card.answer(challenge.first, challenge.second),
                       at=T0 - dt.timedelta(days=1))
    assert world.store.card_challenge(challenge.id).answered_at == world.clock.now()


def test_five_wrong_answers_lock_the_card_until_a_branch_resets_it(world: BankWorld) -> None:
    card = _issued(world)
    left = []
    for _ in range(4):
        challenge = world.cards.challenge(world.hana, world.customer.id)
        with pytest.raises(WrongCardAnswerError) as info:
            world.cards.answer(world.hana, challenge.id,
                               _wrong(card, challenge.first, challenge.second))
        left.append(info.value.attempts_left)
    assert left == [4, 3, 2, 1]
    last = world.cards.challenge(world.hana, world.customer.id)
    with pytest.raises(CardLockedError) as locked:
        world.cards.answer(world.hana, last.id, _wrong(card, last.first, last.second))
    assert locked.value.code == "card_locked"
    world.clock.advance(dt.timedelta(days=3650))  # the lock never clears by itself
    with pytest.raises(CardLockedError):
        world.cards.challenge(world.hana, world.customer.id)
    before = len(world.store.audit_log())
    reset = world.cards.reset(world.hana, world.customer.id, operator="branch-0123/kim")
    assert (reset.failures, reset.locked) == (0, False)
    (row,) = world.store.audit_log()[before:]
    assert row.action == AuditAction.BANK_CARD_RESET
    assert row.detail["operator"] == "branch-0123/kim" and row.detail["was_locked"]
    challenge = world.cards.challenge(world.hana, world.customer.id)
    world.cards.answer(world.hana, challenge.id, card.answer(challenge.first, challenge.second))


def test_a_right_answer_clears_the_wrong_ones_before_it(world: BankWorld) -> None:
    card = _issued(world)
    for _ in range(4):
        challenge = world.cards.challenge(world.hana, world.customer.id)
        with pytest.raises(WrongCardAnswerError):
            world.cards.answer(world.hana, challenge.id,
                               _wrong(card, challenge.first, challenge.second))
    challenge = world.cards.challenge(world.hana, world.customer.id)
    world.cards.answer(world.hana, challenge.id, card.answer(challenge.first, challenge.second))
    assert _store_card(world).failures == 0


@pytest.mark.parametrize("answer", ["240", "24080", "24O8", "２４０８", "", None, 2408])
def test_a_malformed_answer_is_refused_without_using_the_challenge(world: BankWorld,
                                                                   answer: object) -> None:
    card = _issued(world)
    challenge = world.cards.challenge(world.hana, world.customer.id)
    with pytest.raises(BankRequestError) as info:
        world.cards.answer(world.hana, challenge.id, answer)  # type: ignore[arg-type]
    assert info.value.field == "answer"
    assert _store_card(world).failures == 0
    world.cards.answer(world.hana, challenge.id, card.answer(challenge.first, challenge.second))


def test_cards_belong_to_one_institution(world: BankWorld) -> None:
    card = _issued(world)
    kb, _ = add_bank(world.store, "004", at=world.clock.now())
    challenge = world.cards.challenge(world.hana, world.customer.id)
    right = card.answer(challenge.first, challenge.second)
    with pytest.raises(BankNotFoundError) as info:
        world.cards.answer(kb, challenge.id, right)
    assert info.value.what == "challenge"
    with pytest.raises(BankNotFoundError):
        world.cards.challenge(kb, world.customer.id)
    world.cards.answer(world.hana, challenge.id, right)  # untouched by the stranger


def test_a_new_card_or_a_loss_report_retires_the_old_card(world: BankWorld) -> None:
    old = _issued(world, seed="old")
    pending = world.cards.challenge(world.hana, world.customer.id)
    new = _issued(world, seed="new")
    with pytest.raises(BankNotFoundError):
        world.cards.answer(world.hana, pending.id, old.answer(pending.first, pending.second))
    assert [c.retired_at is not None for c in world.store.security_cards_of(
        world.customer.id)] == [True, False]
    challenge = world.cards.challenge(world.hana, world.customer.id)
    world.cards.report_lost(world.hana, world.customer.id)
    with pytest.raises(BankNotFoundError):
        world.cards.answer(world.hana, challenge.id, new.answer(challenge.first,
                                                                challenge.second))
    with pytest.raises(BankNotFoundError):
        world.cards.challenge(world.hana, world.customer.id)


def test_a_challenge_as_a_medium_returns_outcomes(world: BankWorld) -> None:
    card = _issued(world)
    right = world.cards.challenge(world.hana, world.customer.id)
    medium = world.cards.medium(world.hana, right.id)
    assert medium.kind is MediumKind.SECURITY_CARD
    assert medium.verify(card.answer(right.first, right.second)) == MediumOutcome(
        MediumKind.SECURITY_CARD, True)
    assert medium.verify(card.answer(right.first, right.second)).code == "challenge_used"
    wrong = world.cards.challenge(world.hana, world.customer.id)
    outcome = world.cards.medium(world.hana, wrong.id).verify(
        _wrong(card, wrong.first, wrong.second))
    assert (outcome.accepted, outcome.code, outcome.attempts_left) == (
        False, "wrong_card_answer", 4)


# -- concurrency and crashes ----------------------------------------------------------------


def test_twenty_parallel_answers_to_one_challenge_compare_exactly_one(world: BankWorld
                                                                      ) -> None:
    card = _issued(world)
    challenge = world.cards.challenge(world.hana, world.customer.id)
    wrong = _wrong(card, challenge.first, challenge.second)
    connections = [world.reopen() for _ in range(20)]
    results = in_parallel(20, lambda i: connections[i][2].answer(world.hana, challenge.id,
                                                                  wrong))
    assert sum(isinstance(r, WrongCardAnswerError) for r in results) == 1
    assert all(isinstance(r, WrongCardAnswerError | ChallengeUsedError) for r in results)
    assert _store_card(world).failures == 1


def test_twenty_parallel_wrong_answers_lock_after_exactly_five(world: BankWorld) -> None:
    card = _issued(world)
    challenges = [world.cards.challenge(world.hana, world.customer.id) for _ in range(20)]
    connections = [world.reopen() for _ in range(20)]
    results = in_parallel(20, lambda i: connections[i][2].answer(
        world.hana, challenges[i].id, _wrong(card, challenges[i].first, challenges[i].second)))
    assert sorted(r.attempts_left for r in results if isinstance(r, WrongCardAnswerError)
                  ) == [1, 2, 3, 4]
    assert all(isinstance(r, WrongCardAnswerError | CardLockedError) for r in results)
    stored = _store_card(world)
    assert (stored.failures, stored.locked) == (5, True)
    counted = [e for e in world.store.audit_log()
               if e.action in (AuditAction.BANK_CARD_WRONG, AuditAction.BANK_CARD_LOCKED)]
    assert len(counted) == 5


def _answer_in_process(path: str, institution_id: int, pairs: list[tuple[str, str]],
                       barrier: object, queue: object) -> None:
    try:
        from pki.clock import FixedClock

        from .bank_helpers import T0

        store = open_store(sqlite_url(path))
        institution = store.institution(institution_id)
        cards = SecurityCards(store, clock=FixedClock(T0))
        barrier.wait(timeout=60)  # type: ignore[attr-defined]
        codes = []
        for challenge_id, answer in pairs:
            try:
                cards.answer(institution, challenge_id, answer)  # type: ignore[arg-type]
                codes.append("accepted")
            except (WrongCardAnswerError, CardLockedError) as exc:
                codes.append(exc.code)
        store.close()
        queue.put(codes)  # type: ignore[attr-defined]
    except BaseException as exc:
        queue.put([repr(exc)])  # type: ignore[attr-defined]


def test_processes_answering_wrong_at_once_count_exactly_five(world: BankWorld) -> None:
    card = _issued(world)
    challenges = [world.cards.challenge(world.hana, world.customer.id) for _ in range(16)]
    pairs = [(c.id, _wrong(card, c.first, c.second)) for c in challenges]
    results = in_processes(_answer_in_process,
                           [(str(world.path), world.hana.id, pairs[n::4]) for n in range(4)])
    codes = [code for batch in results for code in batch]
    assert sorted(set(codes)) == ["card_locked", "wrong_card_answer"], codes
    assert codes.count("wrong_card_answer") == 4
    stored = _store_card(world)
    assert (stored.failures, stored.locked) == (5, True)


def test_a_crash_after_the_comparison_counts_nothing_and_leaves_the_challenge(
        world: BankWorld) -> None:
    card = _issued(world)
    challenge = world.cards.challenge(world.hana, world.customer.id)
    wrong = _wrong(card, challenge.first, challenge.second)
    killed_at("bank.card.compared", f"""
import datetime as dt
from pki.bank.cards import SecurityCards
from pki.clock import FixedClock
from pki.store import open_store, sqlite_url
store = open_store(sqlite_url({str(world.path)!r}))
SecurityCards(store, clock=FixedClock(dt.datetime.fromisoformat({world.clock.now().isoformat()!r}))
              ).answer(store.institution({world.hana.id}), {challenge.id!r}, {wrong!r})
""")
    store = open_store(sqlite_url(world.path))
    try:
        assert store.active_security_card(world.customer.id).failures == 0  # type: ignore[union-attr]
        assert store.card_challenge(challenge.id).answered_at is None  # type: ignore[union-attr]
        assert not [e for e in store.audit_log() if e.action.startswith("bank.card.wrong")]
    finally:
        store.close()
    world.cards.answer(world.hana, challenge.id, card.answer(challenge.first, challenge.second))


def test_printed_card_positions_are_one_based(world: BankWorld) -> None:
    card = _issued(world)
    assert card.code(1) == card.codes[0]
    for bad in (0, 36):
        with pytest.raises(ValueError):
            card.code(bad)
    assert dataclasses.replace(card, codes=()).text() == f"No. {card.serial}"


def test_whatever_arrives_as_an_answer_is_refused_by_name_or_compared(tmp_path: Path) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    world = make_world(tmp_path)
    card = _issued(world)

    @settings(max_examples=60, deadline=None)
    @given(st.one_of(st.text(max_size=8), st.integers(), st.binary(max_size=6), st.none()))
    def check(answer: object) -> None:
        world.cards.reset(world.hana, world.customer.id, operator="branch")
        challenge = world.cards.challenge(world.hana, world.customer.id)
        right = card.answer(challenge.first, challenge.second)
        try:
            world.cards.answer(world.hana, challenge.id, answer)  # type: ignore[arg-type]
        except BankRequestError as exc:
            assert exc.field == "answer"
            assert not (isinstance(answer, str) and len(answer) == 4 and answer.isascii()
                        and answer.isdigit())
            assert world.store.card_challenge(challenge.id).answered_at is None  # type: ignore[union-attr]
        except WrongCardAnswerError:
            assert answer != right
        else:
            assert answer == right

    check()
