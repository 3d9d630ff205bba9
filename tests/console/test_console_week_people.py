"""The overview's week tiles take their people ("M人") from the week split's counted
`people`, in headless Chromium (Debian's), over real HTTP on in-process moto: one
request for the whole week section, however many people the messages reached."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from messenger import bootstrap as messenger_bootstrap
from tests.browser import needs_chromium
from tests.console.browser import Console
from tests.console.conftest import Stack
from tests.console.test_console_campaign_drill import PEOPLE, _admin, _sent_campaign

pytestmark = needs_chromium


def test_the_week_tiles_count_people_once_across_campaigns_and_journeys(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    """Given acme's weeks counted whole from this one (as `kizuna shop create` marks a
    new shop), a campaign mailed to six customers this week and a journey that mailed
    the same six
    When acme's admin opens the overview
    Then the "sent" tile says the twelve messages and the six people behind them, as the
    drill-down counts them, and the overview asked the messenger once (the week's split:
    no drill-down, nothing that reads a recipient record)."""
    messenger_bootstrap.build(stack.cloud.settings).week.new_shop("acme")
    _sent_campaign(stack)
    journey = {
        "journey_id": "thanks",
        "name": "お礼のご案内",
        "trigger": {"segment": "dormant"},
        "start": "mail",
        "steps": {"mail": {"type": "send", "message_id": "winter-a"}},
    }
    r = stack.messenger.post("/v1/journeys", json=journey, headers=_admin(stack))
    assert r.status_code == 201, r.text
    r = stack.messenger.post(
        "/v1/journeys/thanks/enrolments",
        json={"segment_id": "drill-audience"},
        headers=_admin(stack),
    )
    assert r.status_code == 200 and r.json()["entered"] == len(PEOPLE), r.text
    drill = stack.messenger.get(
        "/v1/deliveries/customers", params={"metric": "sent"}, headers=_admin(stack)
    ).json()
    assert (drill["messages"], drill["count"]) == (2 * len(PEOPLE), len(PEOPLE))

    console = Console(browser, stack.base_url)
    console.sign_in(stack.shops.acme.admin)
    page = console.page
    page.wait_for_selector("#week-sent .below a")

    messages = 2 * len(PEOPLE)
    assert page.locator("#week-sent .value").inner_text() == str(messages)
    assert page.locator("#week-sent .below").inner_text() == f"{messages}通 · {len(PEOPLE)}人"
    asked = sorted(
        path
        for path in (urlsplit(u).path for u in console.requests)
        if path.startswith(("/v1/campaigns", "/v1/journeys", "/v1/deliveries"))
    )
    assert asked == ["/v1/deliveries/week"], asked
    console.screenshot("console-week-people.png", tmp_path)
    assert console.errors == [] and console.other_hosts() == []
    console.close()
