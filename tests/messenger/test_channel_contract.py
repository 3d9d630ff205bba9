"""One contract, run over every channel: declared capabilities and a typed send()."""

from __future__ import annotations

from collections.abc import Callable

import boto3
import pytest

from messenger.channels.base import Channel, OutboundMessage, SendStatus
from messenger.channels.email import EmailChannel
from tests.conftest import REGION, SENDER, Cloud

ChannelFactory = Callable[[str], Channel]


def _email(sender: str) -> Channel:
    return EmailChannel(boto3.client("sesv2", region_name=REGION), sender, "Kizuna Demo Shop")


CHANNELS: dict[str, tuple[ChannelFactory, str]] = {"email": (_email, "hanako@example.jp")}


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_channel_declares_capabilities(name: str, cloud: Cloud) -> None:
    factory, _ = CHANNELS[name]
    channel = factory(SENDER)
    assert channel.name == name
    assert isinstance(channel.supports_html, bool)
    assert isinstance(channel.supports_subject, bool)


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_send_returns_sent_with_provider_id(name: str, cloud: Cloud) -> None:
    factory, address = CHANNELS[name]
    result = factory(SENDER).send(
        OutboundMessage(
            delivery_id="d-1",
            to=address,
            subject="件名",
            text="本文",
            html="<p>本文</p>",
            unsubscribe_url="https://k.test/u/x",
        )
    )
    assert result.status is SendStatus.SENT
    assert result.provider_message_id


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_refused_send_is_a_typed_hard_failure(name: str, cloud: Cloud) -> None:
    factory, address = CHANNELS[name]
    result = factory("unverified@example.org").send(
        OutboundMessage(delivery_id="d-2", to=address, subject="s", text="t")
    )
    assert result.status is SendStatus.HARD_FAILED
    assert result.error
