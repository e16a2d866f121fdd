"""The contract-risk rules not covered by seed 003, over HTTP: each rule's alert (rule,
severity, basis, exposure to the cent, subject) in the POST /v1/events answer, in
GET /v1/alerts and on the Kafka alerts topic; and a near miss that raises nothing.

Histories and arithmetic are those of tests/unit/test_risk_rules.py. Unless a test says
otherwise the contract is Zones Inc's: floor 15 %, burden 20 %, no MSP fee, 2024-01-01 to
2025-12-31; the assignment is Dana Reyes at P 30.00 / B 37.50, 40 h a week, 2024-01-01 to
2024-12-30 (364 days, 52 weeks): markup 25 %, burdened cost 36.00, margin 1.50/h, 60.00 a week.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from events.alerts import Alert
from projections.margin import round_money
from simulation.examples import OMIT, example
from tests.support.http import auth, post, read_sse
from tests.support.services import Services, Tokens, running_services
from tests.support.stack import Stack, unique
from tests.support.topics import alerts_on

MIDYEAR = "2024-06-03"  # day 154 of the assignment: 210 days = 30 weeks remaining

View = tuple[str, str, str, str | None, str, str | None]
"""(rule, severity, basis, exposure, contract_id, assignment_id)."""


def at(day: str, hour: int = 9) -> str:
    return f"{day}T{hour:02d}:00:00+00:00"


def _signed(cid: str, am_id: str, day: str = "2024-01-01", **terms: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "client_name": "Zones Inc", "start_date": "2024-01-01", "end_date": "2025-12-31",
        "markup_floor_pct": "15", "burden_pct": "20", "msp_fee_pct": OMIT,
        "min_assignment_weeks": OMIT, "conversion_fee_pct": "20",
        "conversion_fee_waived_after_hours": "2080", "non_solicit_months": 6,
    }  # fmt: skip
    fields.update(terms)
    return example(
        "ContractSigned", contract_id=cid, account_manager_id=am_id, occurred_at=at(day, 8),
        **fields,
    )  # fmt: skip


def _started(cid: str, aid: str, day: str = "2024-01-01") -> dict[str, Any]:
    return example(
        "AssignmentStarted", contract_id=cid, assignment_id=aid, staffer_id="S-42",
        staffer_name="Dana Reyes", pay_rate="30.00", bill_rate="37.50", hours_per_week="40",
        start_date=day, expected_end_date="2024-12-30", burden_pct=OMIT, occurred_at=at(day),
    )  # fmt: skip


def _event(type_name: str, cid: str, day: str, hour: int = 9, **fields: Any) -> dict[str, Any]:
    return example(type_name, contract_id=cid, occurred_at=at(day, hour), **fields)


def _contact(cid: str, day: str, responded: bool = False, direction: str = "outbound") -> Any:
    return _event("ClientContactLogged", cid, day, direction=direction, responded=responded)


def _negotiate(cid: str, aid: str, negotiation: str, day: str, hour: int = 8) -> dict[str, Any]:
    return _event(
        "MarkupNegotiationOpened", cid, day, hour, negotiation_id=negotiation, assignment_id=aid
    )


def _agree(cid: str, negotiation: str, day: str, markup: str, effective: str | None = None) -> Any:
    return _event(
        "MarkupAgreed", cid, day, negotiation_id=negotiation, markup_pct=markup,
        effective_date=effective or day,
    )  # fmt: skip


def _submit(http: httpx.Client, token: str, events: list[dict[str, Any]]) -> list[Any]:
    """Each event's "alerts" in its POST answer, once the rules have judged it."""
    answers = []
    for event in events:
        r = post(http, token, event)
        assert r.status_code == 201, r.text
        alerts = r.json()["alerts"]
        assert alerts is not None, "the rules had not judged the event when the API answered"
        answers.append(alerts)
    return answers


def _exposure(x: Decimal | str | None) -> str | None:
    return None if x is None else str(round_money(Decimal(x)))


def _view(a: dict[str, Any] | Alert) -> View:
    if isinstance(a, Alert):
        return (a.rule, a.severity, a.basis, _exposure(a.exposure), a.contract_id, a.assignment_id)
    return (a["rule"], a["severity"], a["basis"], a["exposure"], a["contract_id"],
            a["assignment_id"])  # fmt: skip


def _views(alerts: list[Any], rule: str | None = None) -> set[View]:
    """Alerts as views; RELATIONSHIP_NEGLECT left out unless asked for (it runs on the
    topic-wide event-time clock, so other tests' events may raise it on any contract)."""
    return {
        _view(a)
        for a in alerts
        if (rule is None and _view(a)[0] != "RELATIONSHIP_NEGLECT") or _view(a)[0] == rule
    }


def _listed(http: httpx.Client, token: str, cid: str, rule: str | None = None) -> set[View]:
    r = http.get("/v1/alerts", params={"contract_id": cid}, headers=auth(token))
    assert r.status_code == 200, r.text
    return _views(r.json()["alerts"], rule)


async def _on_topic(
    stack: Stack, services: Services, cid: str, rule: str, expected: int, wait_s: float = 20
) -> list[Alert]:
    """The alerts of `rule` about `cid` on the alerts topic, once `expected` are there (or
    whatever is there after `wait_s`)."""

    def mine(a: Alert) -> bool:
        return a.contract_id == cid and a.rule == rule

    return await alerts_on(stack, services.topics.alerts.name, mine, expected, wait_s)


async def _expect_everywhere(
    stack: Stack,
    services: Services,
    http: httpx.Client,
    token: str,
    answered: list[Any],
    expected: View,
) -> None:
    """`expected` is the one alert the event answered with, is listed for its contract, is on
    the alerts topic once, and comes on the live stream (read from its start)."""
    rule, cid = expected[0], expected[4]
    assert _views(answered) == {expected}
    assert _listed(http, token, cid, rule) == {expected}
    on_topic = await _on_topic(stack, services, cid, rule, expected=1)
    assert [_view(a) for a in on_topic] == [expected]
    async with httpx.AsyncClient(base_url=services.url, timeout=60) as client:
        _, streamed = await read_sse(
            client,
            {**auth(token), "Last-Event-ID": "0"},
            lambda a: a["contract_id"] == cid and a["rule"] == rule,
        )
    assert _view(streamed) == expected


# ---------------------------------------------------------------------------------------------
# BELOW_FLOOR (burden 10: P 30 costs 33.00, so a cut below the floor is not also a loss)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "fields", "basis", "exposure"),
    [
        # 12 % → B 33.60; floor 15 % → 34.50; (34.50 − 33.60) × 40 × 30 weeks = 1,080.00
        ("MarkupAgreed", {"markup_pct": "12", "effective_date": MIDYEAR}, "applied", "1080.00"),
        # 14.5 % → B 34.35; floor bill 34.50; 0.15 × 40 h × 30 weeks (from its day) = 180.00
        ("MarkupProposed", {"markup_pct": "14.5", "proposed_by": "client"}, "proposed", "180.00"),
    ],
)
async def test_below_floor(
    ready_stack: Stack,
    services: Services,
    http: httpx.Client,
    api_tokens: Tokens,
    type_name: str,
    fields: dict[str, Any],
    basis: str,
    exposure: str,
) -> None:
    cid, aid = unique("C"), unique("A")
    day = "2024-05-27" if type_name == "MarkupAgreed" else MIDYEAR
    *_, answered = _submit(
        http,
        api_tokens.am,
        [
            _signed(cid, api_tokens.am_id, burden_pct="10"),
            _started(cid, aid),
            _negotiate(cid, aid, "N-1", "2024-05-20"),
            _event(type_name, cid, day, negotiation_id="N-1", **fields),
        ],
    )
    await _expect_everywhere(
        ready_stack, services, http, api_tokens.am, answered,
        ("BELOW_FLOOR", "high", basis, exposure, cid, aid),
    )  # fmt: skip


def test_near_miss_a_markup_exactly_at_the_floor_is_not_below_it(
    http: httpx.Client, api_tokens: Tokens
) -> None:
    cid, aid = unique("C"), unique("A")
    answers = _submit(
        http,
        api_tokens.am,
        [
            _signed(cid, api_tokens.am_id, burden_pct="10"),
            _started(cid, aid),
            _negotiate(cid, aid, "N-1", "2024-05-20"),
            _event("MarkupProposed", cid, MIDYEAR, markup_pct="15", proposed_by="client"),
            _agree(cid, "N-1", MIDYEAR, "15.00"),
        ],
    )
    assert [_views(a) for a in answers[-2:]] == [set(), set()]
    assert _listed(http, api_tokens.am, cid, "BELOW_FLOOR") == set()


# ---------------------------------------------------------------------------------------------
# COMMITMENT_SHORTFALL (min_assignment_weeks 26)
# ---------------------------------------------------------------------------------------------


def _ended(
    http: httpx.Client, api_tokens: Tokens, end_date: str, reason: str
) -> tuple[str, str, list[Any]]:
    """A contract committing to 26 weeks, its assignment started 2024-01-01 and ended on
    `end_date` for `reason`: (contract id, assignment id, the alerts the end was answered with)."""
    cid, aid = unique("C"), unique("A")
    *_, answered = _submit(
        http,
        api_tokens.am,
        [
            _signed(cid, api_tokens.am_id, min_assignment_weeks=26),
            _started(cid, aid),
            _event(
                "AssignmentEnded", cid, end_date, assignment_id=aid, end_date=end_date,
                reason=reason,
            ),
        ],
    )  # fmt: skip
    return cid, aid, answered


async def test_commitment_shortfall_when_the_client_ends_early(
    ready_stack: Stack, services: Services, http: httpx.Client, api_tokens: Tokens
) -> None:
    cid, aid, answered = _ended(http, api_tokens, "2024-03-11", "ended_early_by_client")
    # served 2024-01-01 → 2024-03-11 = 70 days = 10 weeks of 26: 16 weeks short × 60.00 = 960.00
    await _expect_everywhere(
        ready_stack, services, http, api_tokens.am, answered,
        ("COMMITMENT_SHORTFALL", "high", "applied", "960.00", cid, aid),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("end_date", "reason"),
    [
        ("2024-07-01", "ended_early_by_client"),  # day 182: the 26 weeks served in full
        ("2024-07-01", "completed"),
        ("2024-03-11", "staffer_left"),  # short, but the staffer's choice, not the client's
    ],
)
def test_near_miss_no_commitment_shortfall(
    http: httpx.Client, api_tokens: Tokens, end_date: str, reason: str
) -> None:
    cid, _, answered = _ended(http, api_tokens, end_date, reason)
    assert _views(answered) == set()
    assert _listed(http, api_tokens.am, cid, "COMMITMENT_SHORTFALL") == set()


# ---------------------------------------------------------------------------------------------
# MARGIN_EROSION (burden 10: P 30 costs 33.00; at 25 % margin 4.50/h, 180.00 a week)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cuts", "exposure"),
    [
        # a second cut within 90 days: 2024-02-01 to 23 % (B 36.90: 156.00 a week, 24.00
        # lost), 60 days on to 22 % (B 36.60: 144.00, 12.00 lost): (24.00 + 12.00) × 52
        ((("2024-02-01", "23"), ("2024-04-01", "22")), "1872.00"),
        # cuts adding to 5 points within 180 days: 3 points to 22 % (B 36.60: 36.00 a week
        # lost), 152 days on 2 points to 20 % (B 36.00: 24.00 lost): (36.00 + 24.00) × 52
        ((("2024-01-15", "22"), ("2024-06-15", "20")), "3120.00"),
    ],
    ids=["second-cut-within-90-days", "5-points-within-180-days"],
)
async def test_margin_erosion(
    ready_stack: Stack,
    services: Services,
    http: httpx.Client,
    api_tokens: Tokens,
    cuts: tuple[tuple[str, str], ...],
    exposure: str,
) -> None:
    cid, aid = unique("C"), unique("A")
    (day1, markup1), (day2, markup2) = cuts
    answers = _submit(
        http,
        api_tokens.am,
        [
            _signed(cid, api_tokens.am_id, burden_pct="10"),
            _started(cid, aid),
            _negotiate(cid, aid, "N-1", day1),
            _agree(cid, "N-1", day1, markup1),
            _negotiate(cid, aid, "N-2", day2),
            _agree(cid, "N-2", day2, markup2),
        ],
    )
    assert _views(answers[3]) == set()  # one cut alone is not erosion
    await _expect_everywhere(
        ready_stack, services, http, api_tokens.am, answers[5],
        ("MARGIN_EROSION", "medium", "applied", exposure, cid, None),
    )  # fmt: skip


@pytest.mark.parametrize(
    "cuts",
    [
        (("2024-02-01", "23"), ("2024-05-02", "22")),  # 91 days apart, 2 + 1 = 3 points
        (("2024-02-01", "23"), ("2024-03-01", "26")),  # the second raises the markup
        (("2024-02-01", "15"),),  # one deep cut (10 points) to the floor, alone
    ],
    ids=["91-days-under-5-points", "a-raise-is-no-cut", "one-deep-cut"],
)
def test_near_miss_no_margin_erosion(
    http: httpx.Client, api_tokens: Tokens, cuts: tuple[tuple[str, str], ...]
) -> None:
    cid, aid = unique("C"), unique("A")
    events = [_signed(cid, api_tokens.am_id, burden_pct="10"), _started(cid, aid)]
    for n, (day, markup) in enumerate(cuts, start=1):
        events += [_negotiate(cid, aid, f"N-{n}", day), _agree(cid, f"N-{n}", day, markup)]
    answers = _submit(http, api_tokens.am, events)
    assert all(_views(a) == set() for a in answers[2:])
    assert _listed(http, api_tokens.am, cid, "MARGIN_EROSION") == set()


# ---------------------------------------------------------------------------------------------
# RELATIONSHIP_STRAIN
# ---------------------------------------------------------------------------------------------


async def test_relationship_strain_a_complaint_with_a_legal_threat_is_high(
    ready_stack: Stack, services: Services, http: httpx.Client, api_tokens: Tokens
) -> None:
    cid, aid = unique("C"), unique("A")
    *_, answered = _submit(
        http,
        api_tokens.am,
        [
            _signed(cid, api_tokens.am_id),
            _started(cid, aid),
            _event(
                "ClientComplaintLogged", cid, MIDYEAR, about="recruiter_conduct", legal_threat=True
            ),
        ],
    )
    # the contract's remaining gross profit: 60.00 a week × 30 weeks = 1,800.00
    await _expect_everywhere(
        ready_stack, services, http, api_tokens.am, answered,
        ("RELATIONSHIP_STRAIN", "high", "applied", "1800.00", cid, None),
    )  # fmt: skip


async def test_relationship_strain_three_unanswered_calls_within_14_days_seed_001(
    ready_stack: Stack, services: Services, http: httpx.Client, api_tokens: Tokens
) -> None:
    cid, aid = unique("C"), unique("A")
    answers = _submit(
        http,
        api_tokens.am,
        [
            _signed(cid, api_tokens.am_id),
            _started(cid, aid),
            _contact(cid, "2024-06-03"),
            _contact(cid, "2024-06-10"),
            _contact(cid, "2024-06-17"),  # the third, 14 days after the first
            _contact(cid, "2024-06-18"),  # a fourth in the same run raises no second alert
        ],
    )
    assert _views(answers[2]) == _views(answers[3]) == _views(answers[5]) == set()
    # as of 2024-06-17 (day 168): 196 days = 28 weeks × 60.00 = 1,680.00
    await _expect_everywhere(
        ready_stack, services, http, api_tokens.am, answers[4],
        ("RELATIONSHIP_STRAIN", "medium", "applied", "1680.00", cid, None),
    )  # fmt: skip


@pytest.mark.parametrize(
    "contacts",
    [
        [("2024-06-03", False, "outbound"), ("2024-06-04", False, "outbound")],
        [
            ("2024-06-03", False, "outbound"),
            ("2024-06-04", False, "outbound"),
            ("2024-06-05", True, "outbound"),  # answered: the run ends
            ("2024-06-06", False, "outbound"),
        ],
        [
            ("2024-06-03", False, "outbound"),
            ("2024-06-04", False, "outbound"),
            ("2024-06-05", True, "inbound"),  # the client called: the run ends
            ("2024-06-06", False, "outbound"),
        ],
        [
            ("2024-06-03", False, "outbound"),
            ("2024-06-10", False, "outbound"),
            ("2024-06-18", False, "outbound"),  # 15 days after the first
        ],
    ],
    ids=["two-unanswered", "an-answer-resets", "an-inbound-resets", "three-over-15-days"],
)
def test_near_miss_no_relationship_strain(
    http: httpx.Client, api_tokens: Tokens, contacts: list[tuple[str, bool, str]]
) -> None:
    cid, aid = unique("C"), unique("A")
    answers = _submit(
        http,
        api_tokens.am,
        [_signed(cid, api_tokens.am_id), _started(cid, aid)]
        + [_contact(cid, day, responded, direction) for day, responded, direction in contacts],
    )
    assert all(_views(a) == set() for a in answers)
    assert _listed(http, api_tokens.am, cid, "RELATIONSHIP_STRAIN") == set()


# ---------------------------------------------------------------------------------------------
# RELATIONSHIP_NEGLECT (timer on event time: the latest occurred_at the risk agent has seen on
# the topic). On a stack of its own, so that no other test's events move that clock.
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def quiet_services(ready_stack: Stack) -> AsyncIterator[Services]:
    async with running_services(ready_stack) as svc:
        yield svc


@pytest.fixture
def quiet_http(quiet_services: Services) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=quiet_services.url, timeout=60) as client:
        yield client


async def test_relationship_neglect_after_30_days_without_contact_seed_004(
    ready_stack: Stack, quiet_services: Services, quiet_http: httpx.Client, api_tokens: Tokens
) -> None:
    http, token = quiet_http, api_tokens.am
    # Near miss first (the clock only moves forward): contacted 2024-05-01, the contract's
    # latest event 29 days later.
    near, near_aid = unique("C"), unique("A")
    answers = _submit(
        http,
        token,
        [
            _signed(near, api_tokens.am_id),
            _started(near, near_aid),
            _contact(near, "2024-05-01", responded=True),
            _negotiate(near, near_aid, "N-1", "2024-05-30", hour=9),  # 29 days to the hour
        ],
    )
    assert all(_views(a, "RELATIONSHIP_NEGLECT") == set() for a in answers)
    assert _listed(http, token, near, "RELATIONSHIP_NEGLECT") == set()

    # Contacted 2024-06-03, then the contract's next event 30 days later: a silence of 30 days.
    cid, aid = unique("C"), unique("A")
    contact = _contact(cid, "2024-06-03", responded=True)
    gap = _negotiate(cid, aid, "N-1", "2024-07-03", hour=9)  # 30 days to the hour
    answers = _submit(
        http,
        token,
        [_signed(cid, api_tokens.am_id, day="2024-06-01"), _started(cid, aid, "2024-06-01"),
         contact, gap],
    )  # fmt: skip
    # Low, about the contract, no exposure.
    expected = ("RELATIONSHIP_NEGLECT", "low", "applied", None, cid, None)
    r = http.get("/v1/alerts", params={"contract_id": cid}, headers=auth(token))
    assert r.status_code == 200, r.text
    listed = [a for a in r.json()["alerts"] if a["rule"] == "RELATIONSHIP_NEGLECT"]
    assert [_view(a) for a in listed] == [expected]
    # Counted from the contact, raised at the event time that ended the 30 days.
    assert listed[0]["event_ids"] == [contact["event_id"]]
    assert listed[0]["raised_at"] == "2024-07-03T09:00:00+00:00"
    on_topic = await _on_topic(ready_stack, quiet_services, cid, "RELATIONSHIP_NEGLECT", 1)
    assert [_view(a) for a in on_topic] == [expected]
    async with httpx.AsyncClient(base_url=quiet_services.url, timeout=60) as client:
        _, streamed = await read_sse(
            client,
            {**auth(token), "Last-Event-ID": "0"},
            lambda a: a["contract_id"] == cid and a["rule"] == "RELATIONSHIP_NEGLECT",
        )
    assert _view(streamed) == expected
    # The POST answer carries an event's alerts by the event's stream version; a timer alert
    # carries the version of the event its silence is counted from (the contact), so it is in
    # no POST answer: the contact's was given before the silence ran out.
    assert [_views(a, "RELATIONSHIP_NEGLECT") for a in answers] == [set()] * 4
