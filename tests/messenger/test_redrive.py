"""An operator redrives a dead letter: one more attempt through the normal send path,
same delivery id, every check of a first send made again; only dead letters, only the
shop's own."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from messenger.channels.base import Channel, OutboundMessage, SendResult
from shared.auth.service import authenticate_token, create_key
from tests.conftest import Cloud, ShopKeys, make_shop
from tests.messenger.test_messaging import World


def _dead_letter_on_line(world: World) -> dict[str, Any]:
    """A LINE send that got a 500 on each of its 5 attempts."""
    world.policy(channel_order=["line"])
    world.customer()
    world.message()
    world.line.answer_next(*([500] * 5))
    world.send()
    for _ in range(4):
        world.clock.now += timedelta(hours=1)
        world.container.due.dispatch()
    (dead,) = world.deliveries(status="dead_letter")
    return dead


def _redrive(
    world: World, delivery_id: str, customer_id: str = "c-1", auth: dict[str, str] | None = None
) -> Any:
    return world.http.post(
        f"/v1/deliveries/{delivery_id}/redrive",
        json={"customer_id": customer_id},
        headers=auth or world.auth,
    )


def test_a_5xx_dead_letter_is_redriven_to_sent_with_the_same_retry_key(world: World) -> None:
    # Given a LINE send that became a dead letter after five 500s
    dead = _dead_letter_on_line(world)
    assert dead["may_duplicate"] is False
    # When the operator redrives it and LINE accepts this time
    response = _redrive(world, dead["delivery_id"])
    # Then it is sent, nothing suggests a duplicate, and LINE saw one retry key throughout
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["delivery_id"], body["status"], body["channel"]) == (
        dead["delivery_id"],
        "sent",
        "line",
    )
    assert body["may_duplicate"] is False
    keys = {r.headers["X-Line-Retry-Key"] for r in world.line.received}
    assert len(world.line.received) == 6 and len(keys) == 1
    assert [d["status"] for d in world.deliveries()] == ["sent"]
    # And redriving it again is a 409 naming its status, and sends nothing
    again = _redrive(world, dead["delivery_id"])
    assert again.status_code == 409 and "sent" in again.json()["error"]["message"]
    assert len(world.line.received) == 6


def test_a_redrive_that_fails_again_is_a_dead_letter_after_one_attempt(world: World) -> None:
    # Given a dead letter, and LINE still answering 500
    dead = _dead_letter_on_line(world)
    world.line.answer_next(500)
    # When it is redriven
    body = _redrive(world, dead["delivery_id"]).json()
    # Then it made one more attempt only, and is a dead letter again
    assert body["status"] == "dead_letter"
    assert len(world.line.received) == 6
    assert world.container.due.dispatch() == []


def test_a_redrive_checks_unsubscribes_again(world: World) -> None:
    # Given a dead letter, and the person unsubscribed from marketing since
    dead = _dead_letter_on_line(world)
    world.container.adapters.deliveries.unsubscribe(
        "acme", "c-1", "all", "marketing", world.clock.now
    )
    # When it is redriven
    body = _redrive(world, dead["delivery_id"]).json()
    # Then nothing goes out
    assert (body["status"], body["reason"]) == ("skipped", "unsubscribed")
    assert len(world.line.received) == 5


def test_an_unconfirmed_send_is_redriven_only_with_may_duplicate(world: World) -> None:
    # Given a mail send whose provider call raised (the mail may have gone out)
    world.policy(channel_order=["email"])
    world.customer()
    world.message()
    mail = world.container.adapters.channels["email"]

    class Raises(Channel):
        name = "email"
        supports_html = supports_subject = True

        def send(self, message: OutboundMessage) -> SendResult:
            raise RuntimeError("SDK bug")

    world.container.adapters.channels["email"] = Raises()
    assert world.send()["status"] == "dead_letter"
    (dead,) = world.deliveries(status="dead_letter")
    assert dead["may_duplicate"] is True
    # When the operator redrives it once the provider works again
    world.container.adapters.channels["email"] = mail
    body = _redrive(world, dead["delivery_id"]).json()
    # Then it is sent, and the answer says the person may now have it twice
    assert (body["status"], body["may_duplicate"]) == ("sent", True)
    assert len(world.mails()) == 1


def test_only_the_shops_own_dead_letters_can_be_redriven(
    world: World, cloud: Cloud, shop: ShopKeys
) -> None:
    # Given acme's dead letter, and a key of another shop that may send
    dead = _dead_letter_on_line(world)
    beta = make_shop(cloud, "beta")
    admin = authenticate_token(cloud.keys, beta.admin)
    beta_token = create_key(cloud.keys, admin, "crm", ["messages:send"]).token
    beta_auth = {"Authorization": f"Bearer {beta_token}"}
    # When beta, an unknown id, the wrong customer or a read-only key try to redrive
    by_beta = _redrive(world, dead["delivery_id"], auth=beta_auth)
    unknown = _redrive(world, "0" * 32)
    wrong_customer = _redrive(world, dead["delivery_id"], customer_id="c-2")
    read_only = _redrive(
        world, dead["delivery_id"], auth={"Authorization": f"Bearer {shop.reader}"}
    )
    missing = world.http.post(
        f"/v1/deliveries/{dead['delivery_id']}/redrive", json={}, headers=world.auth
    )
    # Then they are refused and acme's dead letter stays as it was, unsent
    assert by_beta.status_code == 404 and by_beta.json()["error"]["fields"][0]["field"] == (
        "delivery_id"
    )
    assert unknown.status_code == 404
    assert wrong_customer.status_code == 404
    assert read_only.status_code == 403
    assert missing.status_code == 422 and "customer_id" in missing.text
    assert [d["status"] for d in world.deliveries()] == ["dead_letter"]
    assert len(world.line.received) == 5


def test_a_delivery_that_is_not_a_dead_letter_is_a_409_naming_its_status(world: World) -> None:
    # Given a send waiting for a retry after one 500
    world.policy(channel_order=["line"])
    world.customer()
    world.message()
    world.line.answer_next(500)
    pending = world.send()
    assert pending["status"] == "retry_scheduled"
    # When someone tries to redrive it
    response = _redrive(world, pending["delivery_id"])
    # Then it is a 409 naming the status, and nothing was sent again
    assert response.status_code == 409
    assert "retry_scheduled" in response.json()["error"]["message"]
    assert response.json()["error"]["fields"][0]["field"] == "status"
    assert len(world.line.received) == 1
