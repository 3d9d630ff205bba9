"""The bodies the LINE channel sends validate against LINE's official OpenAPI spec
(tests/data/line/messaging-api.yml, Apache-2.0, copied with its licence): from the
channel alone, and from the real send path (an API send, a campaign multicast, with
signed postbacks).

The spec's discriminated unions are rewritten into JSON Schema first (see `line_spec`).
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from messenger.channels.base import OutboundMessage
from messenger.channels.line import LineChannel
from messenger.domain.message import LineContent, Message
from messenger.domain.rendering import RenderedLine, render_channel
from messenger.domain.tracking import read_postback
from tests.conftest import Cloud, ShopKeys
from tests.messenger.line_server import FakeLine, fake_line_server
from tests.messenger.line_spec import (
    BASE,
    VENDORED,
    compact_schema,
    dumps,
    load_spec,
    rewrite_discriminators,
)
from tests.messenger.test_campaigns import CampaignWorld
from tests.messenger.test_messaging import LINE_USER

USER = "U" + "0123456789abcdef" * 2


@pytest.fixture(scope="module")
def validator_for() -> Any:
    spec = rewrite_discriminators(load_spec())
    registry: Registry[Any] = Registry().with_resource(
        "line.yml", Resource.from_contents(spec, default_specification=DRAFT7)
    )

    def make(schema_name: str) -> jsonschema.Draft7Validator:
        return jsonschema.Draft7Validator(
            {"$ref": f"line.yml{BASE}{schema_name}"}, registry=registry
        )

    return make


@pytest.fixture
def line_server() -> Iterator[FakeLine]:
    with fake_line_server() as server:
        yield server


FLEX = {
    "type": "bubble",
    "hero": {
        "type": "image",
        "url": "https://shop.example/img/{{ item }}.png",
        "size": "full",
    },
    "body": {
        "type": "box",
        "layout": "vertical",
        "contents": [
            {"type": "text", "text": "{{ customer.last_name }}様へ", "weight": "bold"},
            {
                "type": "button",
                "action": {"type": "uri", "label": "見る", "uri": "https://shop.example/sale"},
            },
        ],
    },
}


def _rendered(kind: str) -> RenderedLine:
    content = (
        LineContent(flex=FLEX, alt_text="{{ customer.last_name }}様へのお知らせ")
        if kind == "flex"
        else LineContent(text="{{ customer.last_name }}様、セール開始です")
    )
    message = Message("m-1", "acme", "sale", line=content)
    context = {"customer": {"last_name": "山田"}, "item": "serum"}
    rendered = render_channel(message, "line", context, "ja")
    assert isinstance(rendered, RenderedLine)
    return rendered


@pytest.mark.parametrize("kind", ["text", "flex"])
def test_push_body_validates_against_push_message_request(
    kind: str, validator_for: Any, line_server: FakeLine
) -> None:
    # Given a rendered text or flex message
    rendered = _rendered(kind)
    # When the LINE channel pushes it to the fake server
    LineChannel("t", base_url=line_server.base_url).send(
        OutboundMessage(
            delivery_id="d-1",
            to=USER,
            text=rendered.preview_text,
            line_messages=tuple(rendered.line_messages()),
        )
    )
    # Then the body it sent is a valid PushMessageRequest
    [request] = line_server.received
    validator_for("PushMessageRequest").validate(request.body)
    assert request.body["messages"][0]["type"] == kind


@pytest.mark.parametrize("kind", ["text", "flex"])
def test_multicast_body_validates_against_multicast_request(
    kind: str, validator_for: Any, line_server: FakeLine
) -> None:
    rendered = _rendered(kind)
    LineChannel("t", base_url=line_server.base_url).multicast(
        "c-1", [USER, "U" + "f" * 32], rendered.line_messages()
    )
    [request] = line_server.received
    validator_for("MulticastRequest").validate(request.body)


def test_the_validator_does_reject_bad_bodies(validator_for: Any) -> None:
    push = validator_for("PushMessageRequest")
    bad_bodies = [
        {"to": USER, "messages": []},  # minItems 1
        {"to": USER, "messages": [{"type": "txt", "text": "x"}]},  # unknown message type
        {"to": USER, "messages": [{"type": "text"}]},  # text message without text
        {"to": USER, "messages": [{"type": "flex", "altText": "a", "contents": {"type": "x"}}]},
    ]
    for body in bad_bodies:
        with pytest.raises(jsonschema.ValidationError):
            push.validate(body)


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> Iterator[CampaignWorld]:
    with fake_line_server() as line:
        yield CampaignWorld(cloud, line, shop)


BUTTONS = {
    "type": "bubble",
    "body": {
        "type": "box",
        "layout": "vertical",
        "contents": [{"type": "text", "text": "{{ customer.last_name }}様、春のセール"}],
    },
    "footer": {
        "type": "box",
        "layout": "vertical",
        "contents": [
            {
                "type": "button",
                "action": {"type": "postback", "label": "気になる", "data": "want=serum"},
            },
            {
                "type": "button",
                "action": {"type": "uri", "label": "見る", "uri": "https://shop.example/sale"},
            },
        ],
    },
}


def _line_message(world: CampaignWorld, line: dict[str, Any]) -> None:
    world.message("line-sale", email=None, sms=None, coupon=None, recommendations=0, line=line)


def _postback_data(body: dict[str, Any]) -> str:
    return str(body["messages"][0]["contents"]["footer"]["contents"][0]["action"]["data"])


@pytest.mark.parametrize(
    "line",
    [
        {"text": "{{ customer.last_name }}様、春のセール"},
        {"flex": BUTTONS, "alt_text": "{{ customer.last_name }}様へのお知らせ"},
    ],
    ids=["text", "flex-with-postback"],
)
def test_a_push_from_the_send_path_validates_against_the_spec(
    line: dict[str, Any], validator_for: Any, world: CampaignWorld
) -> None:
    # Given a LINE message saved through the API
    world.customer()
    _line_message(world, line)
    # When it is sent to one customer through the API
    assert world.send("line-sale")["channel"] == "line"
    # Then the push LINE received is a valid PushMessageRequest with a UUID retry key
    [request] = world.line.received
    assert request.path == "/v2/bot/message/push"
    validator_for("PushMessageRequest").validate(request.body)
    key = request.headers["X-Line-Retry-Key"]
    assert str(uuid.UUID(key)) == key
    if "flex" in line:  # the postback data is our signed token, within LINE's limit
        assert _postback_data(request.body).startswith("kz1.")


def test_a_campaign_multicast_validates_against_the_spec(
    validator_for: Any, world: CampaignWorld
) -> None:
    # Given three LINE friends in a segment and a flex message with a postback button
    friends = {f"c-{i}": "U" + f"{i:02d}" * 16 for i in range(1, 4)}
    for customer_id, user in friends.items():
        world.customer(customer_id, line_user_id=user, email=None, phone=None)
    world.enter("vip", *friends)
    _line_message(world, {"flex": BUTTONS, "alt_text": "春のセール"})
    # When the campaign runs
    world.campaign(variants=[{"name": "A", "message_id": "line-sale"}])
    world.tick()
    # Then its one multicast is a valid MulticastRequest with a UUID retry key
    [request] = world.line.received
    assert request.path == "/v2/bot/message/multicast"
    validator_for("MulticastRequest").validate(request.body)
    assert sorted(request.body["to"]) == sorted(friends.values())
    key = request.headers["X-Line-Retry-Key"]
    assert str(uuid.UUID(key)) == key
    assert _postback_data(request.body).startswith("kz1.")


def test_the_vendored_schema_is_the_one_the_spec_generates() -> None:
    # Given LINE's OpenAPI file in the test data
    # When its message schemas are generated again (`make line-schema`)
    regenerated = dumps(compact_schema(load_spec()))
    # Then the copy the LINE channel checks bodies with is exactly that
    assert VENDORED.read_text(encoding="utf-8") == regenerated


def test_the_api_loads_neither_yaml_nor_jsonschema_at_import() -> None:
    # Given a fresh interpreter, as at a Lambda cold start
    probe = (
        "import sys, messenger.entrypoints.api, messenger.entrypoints.events; "
        "print(sorted(m for m in ('jsonschema', 'yaml') if m in sys.modules))"
    )
    # When it imports the messenger's handler modules
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2] / "services",
    )
    # Then nothing parses YAML and the schema checker waits for the first LINE body
    assert out.stdout.strip() == "[]"


def _box(*contents: dict[str, Any]) -> dict[str, Any]:
    return {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": contents}}


def _save(world: CampaignWorld, line: dict[str, Any], message_id: str = "line-sale") -> Any:
    body = {"message_id": message_id, "name": "LINE sale", "line": line}
    return world.http.post("/v1/messages", json=body, headers=world.auth)


@pytest.mark.parametrize(
    ("component", "field", "says"),
    [
        (
            {"type": "text", "text": "春のセール", "weight": "heavy"},
            "line.flex.body.contents.0.weight",
            "regular, bold",
        ),
        ({"type": "button", "style": "primary"}, "line.flex.body.contents.0.action", "required"),
        (
            {"type": "button", "action": {"type": "postback", "label": "欲", "data": "x" * 301}},
            "line.flex.body.contents.0.action.data",
            "at most 300",
        ),
    ],
    ids=["weight-heavy", "button-without-action", "postback-data-301"],
)
def test_a_flex_body_line_would_refuse_is_a_422_naming_its_path(
    component: dict[str, Any], field: str, says: str, world: CampaignWorld
) -> None:
    # Given flex content that breaks LINE's spec (seen in bodies captured at a fake LINE)
    line = {"flex": _box(component), "alt_text": "春のセール"}
    # When a shop saves it
    response = _save(world, line)
    # Then it is refused, naming the JSON path and what LINE expects there
    assert response.status_code == 422, response.text
    [problem] = response.json()["error"]["fields"]
    assert problem["field"] == field
    assert says in problem["message"]
    # And nothing was stored
    assert world.http.get("/v1/messages/line-sale", headers=world.auth).status_code == 404


QUICK_REPLY = [
    {"action": {"type": "postback", "label": "欲しい", "data": "want=serum"}},
    {"action": {"type": "message", "label": "{{ customer.last_name }}です", "text": "問い合わせ"}},
    {
        "imageUrl": "https://shop.example/icon.png",
        "action": {"type": "uri", "label": "見る", "uri": "https://shop.example/sale"},
    },
    {"action": {"type": "camera", "label": "撮る"}},
    {"action": {"type": "location", "label": "店舗"}},
]


@pytest.mark.parametrize(
    "line",
    [
        {"text": "{{ customer.last_name }}様、春のセール", "quick_reply": QUICK_REPLY},
        {"flex": BUTTONS, "alt_text": "春のセール", "quick_reply": QUICK_REPLY},
    ],
    ids=["text", "flex"],
)
def test_quick_replies_are_saved_sent_signed_and_valid_on_the_wire(
    line: dict[str, Any], validator_for: Any, world: CampaignWorld
) -> None:
    # Given a LINE message with quick reply buttons, saved through the API
    world.customer()
    assert _save(world, line).status_code == 201
    saved = world.http.get("/v1/messages/line-sale", headers=world.auth).json()
    assert [i["action"]["type"] for i in saved["line"]["quick_reply"]] == [
        "postback", "message", "uri", "camera", "location"
    ]  # fmt: skip
    # When it is sent to a customer
    assert world.send("line-sale")["channel"] == "line"
    # Then LINE got a valid push carrying the rendered quick reply
    [request] = world.line.received
    validator_for("PushMessageRequest").validate(request.body)
    items = request.body["messages"][0]["quickReply"]["items"]
    assert [i["type"] for i in items] == ["action"] * 5
    assert items[1]["action"]["label"] == "山田です"
    # And the quick reply's postback is signed like any other, so a tap is tracked
    data = items[0]["action"]["data"]
    tapped = read_postback(world.container.adapters.links.secret, data)
    assert tapped is not None and tapped.data == "want=serum"


def test_a_quick_reply_action_line_does_not_allow_there_is_a_422(world: CampaignWorld) -> None:
    # Given a quick reply button that switches the rich menu (not a quick reply action)
    switch = {"action": {"type": "richmenuswitch", "richMenuAliasId": "a", "data": "d"}}
    # When it is saved
    response = _save(world, {"text": "春のセール", "quick_reply": [switch]})
    # Then it is refused, naming the action's type
    assert response.status_code == 422
    [problem] = response.json()["error"]["fields"]
    assert problem["field"] == "line.quick_reply.0.action.type"
    assert "postback" in problem["message"]


def test_postback_data_too_long_once_signed_is_a_422(world: CampaignWorld) -> None:
    # Given postback data under LINE's 300 characters, but not once signed for tracking
    token = "".join(
        base64.urlsafe_b64encode(hashlib.sha256(bytes([i])).digest()).decode() for i in range(5)
    )
    data = f"offer={token}"  # an opaque token of the shop's: it does not compress
    assert len(data) < 300
    button = {"type": "button", "action": {"type": "postback", "label": "欲しい", "data": data}}
    # When it is saved (in a flex button or a quick reply)
    for line in (
        {"flex": _box(button), "alt_text": "春のセール"},
        {"text": "春のセール", "quick_reply": [{"action": button["action"]}]},
    ):
        response = _save(world, line)
        # Then it is refused, naming the path and the room left after signing
        assert response.status_code == 422, response.text
        [problem] = response.json()["error"]["fields"]
        assert problem["field"] in (
            "line.flex.body.contents.0.action.data",
            "line.quick_reply.0.action.data",
        )
        assert "left for postback data after signing" in problem["message"]


def test_a_flex_template_that_renders_invalid_for_one_customer_is_refused_unsent(
    validator_for: Any, world: CampaignWorld
) -> None:
    # Given two LINE-only customers and a flex template whose weight depends on the name
    world.customer("c-1", email=None, phone=None)
    world.customer("c-2", last_name="佐藤", line_user_id="U" + "f" * 32, email=None, phone=None)
    weight = "{{ 'bold' if customer.last_name == '山田' else 'heavy' }}"
    flex = _box({"type": "text", "text": "{{ customer.last_name }}様", "weight": weight})
    assert _save(world, {"flex": flex, "alt_text": "春のセール"}).status_code == 201
    # When it is sent to both
    sent = world.send("line-sale", customer_id="c-1")
    refused = world.send("line-sale", customer_id="c-2")
    # Then the first went out, valid; the second is refused as content, without a request
    assert sent["status"] == "sent"
    assert refused["status"] == "failed"
    assert refused["reason"] == "line_spec:messages.0.contents.body.contents.0.weight"
    [request] = world.line.received
    validator_for("PushMessageRequest").validate(request.body)
    assert request.body["to"] == LINE_USER
    # And the second customer is still reachable on LINE: the next message goes there
    world.message("hello", email=None, sms=None, coupon=None, recommendations=0)
    assert world.send("hello", customer_id="c-2")["channel"] == "line"
    assert len(world.line.received) == 2
