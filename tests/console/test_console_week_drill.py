"""The overview's week tiles lead to the customers behind them in headless Chromium
(Debian's), over real HTTP on in-process moto: the "sent" tile's customers link lists the
people this week's mail went to, which are saved as a segment of exactly them."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_string, policy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shared import clock as shared_clock
from tests.browser import needs_chromium
from tests.console.browser import Console
from tests.console.conftest import Stack
from tests.console.test_console_campaign_drill import PEOPLE, SUBJECTS, _admin, _sent_campaign

pytestmark = needs_chromium


def test_a_week_tiles_customers_become_a_segment(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    """Given a campaign mailed to six customers this week (the platform's clock), listed
    after a hundred campaigns of next week (the campaign list's first page holds none of
    this week's)
    When acme's admin opens the overview and follows the "sent" tile's customers link,
    then saves the customers listed
    Then the tile counts the messages that left and the people they went to, as the list
    does, the list is exactly those people, and the saved segment's members are they; and
    the overview asked the messenger five times (the week's split and the four tiles),
    reading neither the campaign list nor the journeys."""
    _sent_campaign(stack)
    later = (shared_clock.now() + timedelta(days=7)).isoformat()
    for n in range(100):
        campaign = {
            "campaign_id": f"a-{n:03d}",
            "name": "来週のご案内",
            "segment_id": "drill-audience",
            "variants": [{"name": "A", "message_id": "winter-a"}],
            "scheduled_at": later,
        }
        r = stack.messenger.post("/v1/campaigns", json=campaign, headers=_admin(stack))
        assert r.status_code == 201, r.text
    mailed = sorted(
        str(m.destinations[0]).split("@")[0]
        for m in stack.cloud.sent_mail()
        if message_from_string(m.raw_data, policy=policy.default)["Subject"] in SUBJECTS.values()
    )  # (their welcome mail, sent for a first order, is neither a campaign's nor a journey's)
    assert mailed == sorted(PEOPLE)
    api = stack.messenger.get(
        "/v1/deliveries/customers", params={"metric": "sent"}, headers=_admin(stack)
    ).json()
    console = Console(browser, stack.base_url)
    console.sign_in(stack.shops.acme.admin)
    page = console.page
    page.wait_for_selector("#week-sent .below a")
    assert page.locator("#week-sent .value").inner_text() == str(len(mailed))
    assert page.locator("#week-sent .below").inner_text() == f"{len(mailed)}通 · {len(PEOPLE)}人"
    assert (api["messages"], api["times"], api["count"]) == (len(mailed), len(mailed), len(PEOPLE))
    campaigns = page.locator("#week-sources tbody tr").nth(0).locator("td").all_text_contents()
    assert campaigns[0] == str(len(mailed))  # the table under the tiles splits the same sum
    split = stack.messenger.get("/v1/deliveries/week", headers=_admin(stack)).json()
    assert [sum(c["sent"] for c in split["campaigns"]), split["journeys"]["sent"]] == [
        len(mailed),
        0,
    ]
    asked = sorted(
        path
        for path in (urlsplit(u).path for u in console.requests)
        if path.startswith(("/v1/campaigns", "/v1/journeys", "/v1/deliveries"))
    )
    assert asked == ["/v1/deliveries/customers"] * 4 + ["/v1/deliveries/week"], asked
    console.screenshot("console-week-tiles.png", tmp_path)

    # When they follow the tile's customers link with the keyboard
    link = page.locator("#week-sent .below a")
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("main[data-view=drill][data-ready=true] #drill-customers")

    # Then exactly the people mailed are listed, and the title says how many messages
    listed = sorted(page.locator("#drill-customers a").all_inner_texts())
    assert listed == sorted(PEOPLE)
    assert page.locator("#drill-title").inner_text().endswith(f"{len(PEOPLE)}人（{len(mailed)}通）")

    # When they save them as a segment
    page.click("#save-segment")
    page.wait_for_selector("#save-status.ok")
    stack.cloud.deliver("SegmenterEventsFunction")
    page.wait_for_selector("#save-status[data-counted=true]")

    # Then the segment's members are the customers listed
    segment_id = f"week-sent-{api['week']}"
    assert segment_id in page.locator("#save-status").inner_text()
    r = stack.segmenter.get(f"/v1/segments/{segment_id}/members", headers=_admin(stack))
    assert sorted(r.json()["customer_ids"]) == listed
    assert console.errors == [] and console.other_hosts() == []
    console.close()
