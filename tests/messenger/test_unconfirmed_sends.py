"""A delivery whose process died between the provider call and its record stays
`sending`; the claim's watch entry lets the dispatcher make it a visible, redrivable
dead letter once the grace has passed, without scanning and without sending it again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from messenger.adapters.repository import DUE_PK
from messenger.services.sending import UNCONFIRMED_AFTER
from shared.adapters.dynamodb import RequestCounter
from tests.conftest import Cloud
from tests.messenger.test_messaging import LINE_USER, World, crash_a_mail_send


def _due_items(world: World) -> list[dict[str, Any]]:
    """Every due entry in the messenger table (deferred sends, retries, watches)."""
    response = world.cloud.dynamodb.query(
        TableName=world.container.adapters.settings.messenger_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": DUE_PK}},
        ConsistentRead=True,
    )
    return list(response["Items"])


def _cap_times(world: World) -> int:
    person = world.container.adapters.recipients.get("acme", "c-1")
    assert person is not None
    return len(person.cap_times)


def test_a_send_left_sending_becomes_an_unconfirmed_dead_letter_after_the_grace(
    world: World,
) -> None:
    # Given a mail the provider took, and the process died before recording it
    mail = world.container.adapters.channels["email"]
    crashing = crash_a_mail_send(world)
    assert [d["status"] for d in world.deliveries()] == ["sending"]
    # When the dispatcher runs before the grace has passed
    world.clock.now += UNCONFIRMED_AFTER - timedelta(minutes=1)
    early = world.container.due.dispatch()
    # Then it leaves the delivery alone: it may still be in flight
    assert early == []
    assert [d["status"] for d in world.deliveries()] == ["sending"]
    assert world.deliveries(status="dead_letter") == []
    # When it runs once the grace has passed
    world.clock.now += timedelta(minutes=1)
    swept = world.container.due.dispatch()
    # Then the delivery is a dead letter the operator sees, flagged as a possible duplicate
    assert [(o.status, o.reason) for o in swept] == [("dead_letter", "unconfirmed")]
    (dead,) = world.deliveries(status="dead_letter")
    assert (dead["skip_reason"], dead["may_duplicate"]) == ("unconfirmed", True)
    # And nothing was sent again, its cap slot is kept, and no due entry is left
    assert len(crashing.accepted) == 1 and world.mails() == []
    assert _cap_times(world) == 1
    assert _due_items(world) == []
    world.clock.now += timedelta(hours=1)
    assert world.container.due.dispatch() == []
    assert len(crashing.accepted) == 1
    # When the operator redrives it with the provider working again
    world.container.adapters.channels["email"] = mail
    response = world.http.post(
        f"/v1/deliveries/{dead['delivery_id']}/redrive",
        json={"customer_id": "c-1"},
        headers=world.auth,
    )
    # Then it is sent once more, the answer says the person may have it twice, and the
    # cap still counts it once
    assert response.status_code == 202, response.text
    assert (response.json()["status"], response.json()["may_duplicate"]) == ("sent", True)
    assert len(world.mails()) == 1
    assert [d["status"] for d in world.deliveries()] == ["sent"]
    assert _cap_times(world) == 1
    assert _due_items(world) == []


def test_the_sweep_leaves_retries_alone_and_a_retried_send_is_not_swept(world: World) -> None:
    # Given a LINE send that got a 500 (a retry is due in a minute) for c-2
    world.customer("c-2", email=None, phone=None)
    world.line.answer_next(500)
    # And c-1's mail that died after the provider took it
    crash_a_mail_send(world)
    world.policy(channel_order=["line"])
    retried = world.send(customer_id="c-2", anchor="a-2")
    assert retried["status"] == "retry_scheduled"
    # When the dispatcher runs after the grace, with LINE working again
    world.clock.now += UNCONFIRMED_AFTER
    outcomes = world.container.due.dispatch()
    # Then the retry goes out once and the crashed send is an unconfirmed dead letter
    assert sorted((o.status, o.reason) for o in outcomes) == [
        ("dead_letter", "unconfirmed"),
        ("sent", None),
    ]
    assert [r.body["to"] for r in world.line.received] == [LINE_USER, LINE_USER]
    statuses = {d["customer_id"]: d["status"] for d in world.deliveries()}
    assert statuses == {"c-1": "dead_letter", "c-2": "sent"}
    # And the retry's own claim left no watch behind to sweep later
    assert _due_items(world) == []
    world.clock.now += UNCONFIRMED_AFTER * 2
    assert world.container.due.dispatch() == []
    assert statuses == {d["customer_id"]: d["status"] for d in world.deliveries()}


def test_a_normal_send_leaves_no_due_entry_and_still_costs_three_requests(world: World) -> None:
    # Given a warm container and two customers, one reached on LINE, one by mail
    world.customer("c-1")
    world.customer("c-2", line_user_id=None)
    world.message()
    assert world.send(anchor="warm")["status"] == "sent"
    table = world.container.adapters.settings.messenger_table
    counter = RequestCounter(table=table).attach(world.container.adapters.deliveries._client)  # type: ignore[attr-defined]
    for customer_id in ("c-1", "c-2"):
        counter.reset()
        # When a message is delivered
        assert world.send(customer_id=customer_id)["status"] == "sent"
        # Then the claim wrote its watch and the `sent` write removed it: three requests
        assert counter.count == 3, counter.calls
    # And no due entry is left, so the dispatcher has nothing to look at, ever
    assert _due_items(world) == []
    world.clock.now += UNCONFIRMED_AFTER * 2
    assert world.container.due.dispatch() == []
    assert {d["status"] for d in world.deliveries()} == {"sent"}


def test_the_grace_is_set_by_the_deployment(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a deployment that gives Lambdas at most 5 minutes
    from messenger import bootstrap
    from shared.settings import get_settings

    monkeypatch.setenv("KIZUNA_MESSENGER_UNCONFIRMED_AFTER_MINUTES", "5")
    get_settings.cache_clear()
    # When the messenger starts
    container = bootstrap.build()
    # Then a send still `sending` after 5 minutes counts as unconfirmed
    assert container.adapters.unconfirmed_after == timedelta(minutes=5)
    assert container.pipeline.unconfirmed_after == timedelta(minutes=5)
    get_settings.cache_clear()
