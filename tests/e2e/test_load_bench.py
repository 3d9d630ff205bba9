"""The load bench's reconciliation (`bench/load.py --with-journeys`), kept from rotting:
its counting is checked on a hand-made stack state that reconciles and on the same state
with one fault at a time, and the whole bench runs once, small, on the real local stack."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bench import load, load_journeys
from bench.load_journeys import Accepted, Observed

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _sent(delivery_id: str, trigger: str) -> dict[str, Any]:
    category = "transactional" if trigger == "shipping_notice" else "marketing"
    return {"delivery_id": delivery_id, "trigger": trigger, "status": "sent", "category": category}


def _capped(delivery_id: str, trigger: str) -> dict[str, Any]:
    """A send waiting for a frequency-cap slot."""
    return _sent(delivery_id, trigger) | {"status": "deferred", "skip_reason": "frequency_cap"}


def _enrolled(journey: str, status: str = "active", at: str = "2026-01-01T00:00:00") -> Any:
    return {"journey_id": journey, "status": status, "entered_at": at}


def _shop() -> tuple[dict[str, list[Accepted]], dict[str, str], Observed]:
    """One buyer of one order who viewed SKU-3 twice before it, one sign-up with a
    birthday, everyone treated: what the stack holds when everything went right. The
    buyer's fourth cap-counted mail (the replenishment reminder) waits for a cap slot;
    the post-purchase step mails are exempt, the shipping notice transactional."""
    timelines = {"c-0": [Accepted("view", "SKU-3"), Accepted("view", "SKU-3")]}
    timelines["c-0"].append(Accepted("order", "o-1"))
    accepted = {"o-1": "c-0"}
    buyer = ["welcome-first-purchase", "post-purchase", "replenishment", "browse-abandonment"]
    deliveries = [
        _sent("w", "welcome"),
        _sent("s", "shipping_notice"),
        _sent("c", "campaign:load-news"),
        _sent("j1", "journey:welcome-first-purchase:story"),
        _capped("j2", "journey:replenishment:remind"),
        *(_sent(f"p{d}", f"journey:post-purchase:mail-{d}") for d in (1, 3, 5, 7)),
    ]
    signup = [_sent("b", "journey:birthday:gift")]
    signup += [_sent("h", "journey:welcome-signup:hello"), _sent("p", "journey:welcome-signup:p")]
    seen = Observed(
        enrolments={
            "c-0": [_enrolled(j) for j in buyer],
            "bday-0": [_enrolled("birthday"), _enrolled("welcome-signup")],
        },
        deliveries={"c-0": deliveries, "bday-0": signup},
        stats={"replenishment": {"steps": {"remind": {"status_deferred": 1}}}},
        campaign={"processed": 1, "skipped": {}, "topic": "newsletter"},
        segment_members={"c-0"},
    )
    sent = [d for ds in seen.deliveries.values() for d in ds if d["status"] == "sent"]
    seen.wire = [d["delivery_id"] for d in sent]
    seen.wire_at = {d: NOW + timedelta(hours=n) for n, d in enumerate(seen.wire)}
    return timelines, accepted, seen


def _problems(timelines: Any, accepted: Any, seen: Observed) -> list[str]:
    return load_journeys.reconcile(timelines, accepted, ["bday-0"], seen)[2]


def test_a_stack_state_that_reconciles_reports_no_problem() -> None:
    """Given the hand-made state of a run where everything went right
    When the bench reconciles it
    Then nothing is reported, and the figures are the ones the events call for."""
    timelines, accepted, seen = _shop()
    rows, totals, problems = load_journeys.reconcile(timelines, accepted, ["bday-0"], seen)
    assert problems == []
    assert rows["post-purchase"].sent_expected == 4
    assert rows["browse-abandonment"].sent_expected == 0  # the order came after the views
    assert rows["replenishment"].capped == 1
    assert totals["cap-counted messages on the wire"] == 6  # c-0's 3; birthday, signup's 2
    assert totals["messages on the wire"] == totals["sent deliveries"] == 11


@pytest.mark.parametrize(
    ("fault", "named"),
    [
        ("a mail on the wire twice", "doubled"),
        ("an enrolment missing", "welcome-first-purchase: entered 0, expected 1"),
        ("a held-out person mailed", "birthday: sent 1 + capped 0, expected 0"),
        ("a step sent but not on the wire", "welcome-first-purchase: 0 of 1 sent on the"),
        ("a capped send lost", "replenishment: sent 0 + capped 0, expected 1"),
        (
            "a fourth capped mail in the window on the wire",
            "c-0: 4 cap-counted messages on the wire",
        ),
        ("a send held back the stack never deferred", "replenishment: 1 capped, 0 ever deferred"),
        ("a campaign mail twice to one person", "campaign mail went to someone twice"),
        ("the shipping notice missing", "0 notices, 1 orders"),
    ],
)
def test_each_fault_in_the_stack_state_is_reported(fault: str, named: str) -> None:
    """Given the state of a run where everything went right, with one fault put in
    When the bench reconciles it
    Then the fault is reported, naming what does not add up."""
    timelines, accepted, seen = _shop()
    seen = copy.deepcopy(seen)
    buyer = seen.deliveries["c-0"]
    if fault == "a mail on the wire twice":
        seen.wire.append("j1")
    elif fault == "an enrolment missing":
        seen.enrolments["c-0"].pop(0)
    elif fault == "a held-out person mailed":
        seen.enrolments["bday-0"][0]["status"] = "holdout"
    elif fault == "a step sent but not on the wire":
        seen.wire.remove("j1")
    elif fault == "a capped send lost":
        buyer[:] = [d for d in buyer if d["delivery_id"] != "j2"]
    elif fault == "a send held back the stack never deferred":
        seen.stats["replenishment"]["steps"]["remind"] = {"status_sent": 1}
    elif fault == "a fourth capped mail in the window on the wire":
        buyer[:] = [d for d in buyer if d["delivery_id"] != "j2"]
        buyer.append(_sent("j2", "journey:replenishment:remind"))
        seen.wire.append("j2")
        seen.wire_at["j2"] = NOW + timedelta(days=6)
    elif fault == "a campaign mail twice to one person":
        buyer.append(_sent("c2", "campaign:load-news"))
        seen.wire.append("c2")
    else:
        buyer[:] = [d for d in buyer if d["trigger"] != "shipping_notice"]
        seen.wire.remove("s")
    problems = _problems(timelines, accepted, seen)
    assert any(named in p for p in problems), problems


def _with_winback() -> tuple[dict[str, list[Accepted]], dict[str, str], Observed, Any]:
    """The state that reconciles, plus three people with imported history: one dormant
    already (entered at the first nightly), one turning dormant on the fifth day (entered
    that day), one not dormant; each entry treated and its first mail sent."""
    timelines, accepted, seen = _shop()
    dormant = load_journeys.Dormant.of(3, NOW)
    at = {"w-100000": NOW + timedelta(hours=1), "w-100001": NOW + timedelta(days=5, hours=1)}
    for cid in dormant.people:
        seen.enrolments[cid] = []
        seen.deliveries[cid] = []
    for cid, when in at.items():
        seen.enrolments[cid] = [_enrolled("winback", at=when.isoformat())]
        seen.deliveries[cid] = [_sent(f"wb-{cid}", "journey:winback:remember")]
        seen.wire.append(f"wb-{cid}")
        seen.wire_at[f"wb-{cid}"] = when + timedelta(minutes=1)
    return timelines, accepted, seen, dormant


def test_the_winback_reconciles_when_each_dormant_person_entered_once() -> None:
    """Given the hand-made state with two people dormant by the end (one of them from the
    fifth day) and one not, each dormant one entered once and mailed
    When the bench reconciles it
    Then nothing is reported and the win-back's figures are the bench's own count."""
    timelines, accepted, seen, dormant = _with_winback()
    rows, totals, problems = load_journeys.reconcile(timelines, accepted, ["bday-0"], seen, dormant)
    assert problems == []
    assert dormant.expected() == ["w-100000", "w-100001"]
    assert (rows["winback"].entered_expected, rows["winback"].sent) == (2, 2)
    assert totals["win-back: of them, turned dormant during the advance"] == 1


@pytest.mark.parametrize(
    ("fault", "named"),
    [
        ("a dormant person entered twice", "winback: w-100000 entered 2 times"),
        ("a person not dormant entered", "winback: w-100002 entered, not dormant"),
        ("entered before the last order was a year old", "w-100001 entered before its last"),
        ("a dormant person never entered", "winback: 1 dormant never entered (w-100001"),
        ("the first mail not sent", "winback: sent 1 + capped 0, expected 2"),
    ],
)
def test_each_winback_fault_is_reported(fault: str, named: str) -> None:
    """Given the win-back state that reconciles, with one fault put in
    When the bench reconciles it
    Then the fault is reported, naming the person or the count."""
    timelines, accepted, seen, dormant = _with_winback()
    if fault == "a dormant person entered twice":
        seen.enrolments["w-100000"].append(_enrolled("winback", "completed"))
    elif fault == "a person not dormant entered":
        seen.enrolments["w-100002"] = [_enrolled("winback", at=NOW.isoformat())]
    elif fault == "entered before the last order was a year old":
        seen.enrolments["w-100001"][0]["entered_at"] = (NOW + timedelta(days=1)).isoformat()
    elif fault == "a dormant person never entered":
        seen.enrolments["w-100001"] = []
    else:
        seen.deliveries["w-100001"] = []
        seen.wire.remove("wb-w-100001")
    problems = load_journeys.reconcile(timelines, accepted, ["bday-0"], seen, dormant)[2]
    assert any(named in p for p in problems), problems


def _line_and_sms() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Sent deliveries to two LINE customers (one campaign multicast) and an SMS one, and
    what the sandbox holds for them: the LINE outbox's request, moto SNS's message."""
    multicast = "sandbox-5f0c"  # the group's retry key, each delivery's provider id
    line = [
        _sent(f"d-{c}", "campaign:load-news") | {"customer_id": c, "channel": "line"}
        for c in ("c-1", "c-6")
    ]
    for d in line:
        d["provider_message_id"] = multicast
    sms = _sent("d-c-2", "shipping_notice") | {"customer_id": "c-2", "channel": "sms"}
    sms["provider_message_id"] = "sns-1"
    users = [load_journeys.line_user_id(c) for c in ("c-1", "c-6")]
    request = {"to": users, "messages": [{"type": "text", "text": "新商品のお知らせ"}]}
    raw = {"retry_key": "5f0c", "request": request}
    sandbox: list[dict[str, Any]] = [
        {"channel": "line", "id": "l", "to": ",".join(users), "raw": raw},
        {"channel": "sms", "id": "sns-1", "to": "+819010000002", "raw": None},
    ]
    return [*line, sms], sandbox


@pytest.mark.parametrize(
    ("fault", "wire"),
    [
        ("none", ["d-c-1", "d-c-6", "d-c-2"]),
        ("the multicast missed a user", ["d-c-1", "d-c-2"]),
        ("an SMS twice", ["d-c-1", "d-c-6", "d-c-2", "d-c-2"]),
        ("a push to someone nobody sent to", ["d-c-1", "d-c-6", "line:sandbox-5f0c:Ux", "d-c-2"]),
    ],
)
def test_line_and_sms_on_the_wire_are_read_back_to_their_deliveries(
    fault: str, wire: list[str]
) -> None:
    """Given sent LINE deliveries (one multicast to two people) and an SMS, and the
    sandbox's LINE outbox and SNS messages, with one fault at a time
    When the bench reads the wire
    Then each person a request reached counts as its delivery, once per message, and a
    message no delivery matches keeps its own key (so the reconciliation's wire = sent
    fails on each fault)."""
    sent, sandbox = _line_and_sms()
    if fault == "the multicast missed a user":
        sandbox[0]["raw"]["request"]["to"].pop(1)
    elif fault == "an SMS twice":
        sandbox.append(dict(sandbox[1]))
    elif fault == "a push to someone nobody sent to":
        sandbox[0]["raw"]["request"]["to"].insert(2, "Ux")
    seen = Observed()
    load_journeys.read_wire(seen, sandbox, sent)
    assert seen.wire == wire
    assert seen.wire_channels["line"] == len([w for w in wire if "c-2" not in w])


@pytest.mark.e2e
def test_the_bench_reconciles_a_small_load_with_journeys_on_the_local_stack() -> None:
    """Given the local stack in its own process, every built-in journey on
    And 6 customers with an imported order history dated back from the stack's clock
    When 60 orders with views and carts are posted by 2 workers while the dispatcher ticks
    and a campaign sends, then every order ships, the sold-out SKU returns and the clock
    moves 9 days (the nightly recompute daily, and once more at the end)
    Then accepted = stored = published, every journey's entries and sends are what the
    events call for (sent, or held back by the product's frequency cap), each sent
    delivery is on the wire once, nobody gets more than the cap on the wire in its
    window, the 4 people dormant by the end (2 of them from the advance's sixth day)
    entered the win-back once each and no one else did, and nothing failed."""
    result = load.run(
        seconds=900,
        concurrency=2,
        customers=40,
        seed=3,
        with_journeys=True,
        max_orders=60,
        birthdays=4,
        tick_seconds=5,
        dormant=6,
    )
    assert result.problems == []
    assert result.holds
    assert result.counts["accepted"] == result.counts["stored"] >= 60
    assert result.totals["campaign sent"] > 0
    assert result.totals["messages on the wire"] == result.totals["sent deliveries"]
    assert sum(j.sent for j in result.journeys.values()) > result.counts["buyers"]
    assert result.phases["load and drain"]["TransactWriteItems"] > 0
    assert result.totals["journey sends deferred for the cap"] > 0  # the product's 3 in 7 days
    assert result.totals["on the wire by line"] > 0
    assert result.totals["on the wire by sms"] > 0
    assert result.totals["cap-counted messages on the wire"] > result.counts["buyers"]
    winback = result.journeys["winback"]
    assert winback.entered == winback.entered_expected == 4
    assert result.totals["win-back enrolments"] == 4
    assert result.totals["win-back: of them, turned dormant during the advance"] == 2
    assert winback.sent == winback.wire == winback.sent_expected == 4 - winback.held_out
