"""The bodies the LINE channel sends validate against LINE's official OpenAPI spec
(tests/data/line/messaging-api.yml, Apache-2.0, copied with its licence): from the
channel alone, and from the real send path (an API send, a campaign multicast, with
signed postbacks).

OpenAPI 3.0 `discriminator` is not JSON Schema, so the spec's discriminated unions
(Message, FlexContainer, FlexComponent, Action…) are rewritten before validation: the
base schema dispatches on the property to the mapped subtype (an unknown value fails),
and subtypes refer to a copy of the base without the dispatch (no infinite loop).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from messenger.channels.base import OutboundMessage
from messenger.channels.line import LineChannel
from messenger.domain.message import LineContent, Message
from messenger.domain.rendering import RenderedLine, render_channel
from tests.conftest import Cloud, ShopKeys
from tests.messenger.line_server import FakeLine, fake_line_server
from tests.messenger.test_campaigns import CampaignWorld

SPEC = Path(__file__).resolve().parent.parent / "data" / "line" / "messaging-api.yml"
USER = "U" + "0123456789abcdef" * 2
BASE = "#/components/schemas/"


def _rewrite(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    schemas: dict[str, Any] = spec["components"]["schemas"]
    bases = {name: s for name, s in schemas.items() if "discriminator" in s}
    for name, schema in bases.items():
        disc = schema.pop("discriminator")
        prop, mapping = disc["propertyName"], disc.get("mapping", {})
        schemas[f"{name}__base"] = copy.deepcopy(schema)
        # Subtypes extend the base through allOf: point them at the copy.
        for target in mapping.values():
            sub = schemas[target.removeprefix(BASE)]
            for part in sub.get("allOf", []):
                if part.get("$ref") == f"{BASE}{name}":
                    part["$ref"] = f"{BASE}{name}__base"
        schemas[name] = {
            "allOf": [
                {"$ref": f"{BASE}{name}__base"},
                {"required": [prop], "properties": {prop: {"enum": sorted(mapping)}}},
                *(
                    {
                        "if": {"properties": {prop: {"const": value}}},
                        "then": {"$ref": target},
                    }
                    for value, target in mapping.items()
                ),
            ]
        }
    return spec


@pytest.fixture(scope="module")
def validator_for() -> Any:
    spec = _rewrite(yaml.safe_load(SPEC.read_text()))
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
