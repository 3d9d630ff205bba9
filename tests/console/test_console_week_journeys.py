"""The overview's week table lists each journey on its own row, by name, in headless
Chromium (Debian's), over real HTTP on in-process moto."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser import needs_chromium
from tests.console.browser import Console
from tests.console.conftest import Stack
from tests.console.test_console_campaign_drill import PEOPLE, _admin, _sent_campaign

pytestmark = needs_chromium

JOURNEYS = {"thanks": "お礼のご案内", "revisit": "再訪のお誘い"}


def _journey_sends(stack: Stack, journey_id: str) -> dict[str, int]:
    """The journey's own numbers of this week, from its stats route."""
    stats = stack.messenger.get(f"/v1/journeys/{journey_id}/stats", headers=_admin(stack))
    assert stats.status_code == 200, stats.text
    week = stats.json()["weeks"][-1]
    return {k: int(week[k]) for k in ("sent", "opened", "clicked", "converted")}


def test_the_week_table_lists_each_journey_by_name(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    """Given a campaign mailed to six customers this week, and two journeys that mailed
    the same six (put into each from their segment)
    When acme's admin opens the overview, in Japanese and then in English
    Then the table under the week tiles has the campaigns' row and one row per journey,
    by name, with that journey's sends of the week (its stats), and the rows add up to
    the "sent" tile."""
    _sent_campaign(stack)
    for journey_id, name in JOURNEYS.items():
        body = {
            "journey_id": journey_id,
            "name": name,
            "trigger": {"segment": "dormant"},
            "start": "mail",
            "steps": {"mail": {"type": "send", "message_id": "winter-a"}},
        }
        r = stack.messenger.post("/v1/journeys", json=body, headers=_admin(stack))
        assert r.status_code == 201, r.text
        r = stack.messenger.post(
            f"/v1/journeys/{journey_id}/enrolments",
            json={"segment_id": "drill-audience"},
            headers=_admin(stack),
        )
        assert r.status_code == 200 and r.json()["entered"] == len(PEOPLE), r.text
    own = {j: _journey_sends(stack, j) for j in JOURNEYS}
    assert [own[j]["sent"] for j in JOURNEYS] == [len(PEOPLE)] * 2

    console = Console(browser, stack.base_url)
    console.sign_in(stack.shops.acme.admin)
    page = console.page
    page.wait_for_selector("#week-sources tbody tr", state="attached")
    page.click("details:has(#week-sources) summary")  # the table opens under the tiles
    rows = [_cells(r) for r in page.locator("#week-sources tbody tr").all()]
    tile = int(page.locator("#week-sent .value").inner_text().replace(",", ""))

    # Then: the campaigns' row, then the journeys by name (sorted), each with its sends
    labels = [label for label, _ in rows]
    assert labels[0].startswith("キャンペーン")
    assert labels[1:] == ["ジャーニー「お礼のご案内」", "ジャーニー「再訪のお誘い」"], labels
    assert [rows[1][1], rows[2][1]] == [list(own[j].values()) for j in ("thanks", "revisit")]
    assert sum(cells[0] for _, cells in rows) == tile == len(PEOPLE) * 3
    console.screenshot("console-week-journeys.png", tmp_path)

    # And in English the rows say "Journey" with the same names
    page.click("#lang")
    page.wait_for_selector("html[lang=en] main[data-view=overview][data-ready=true]")
    page.click("details:has(#week-sources) summary")
    english = [_cells(r)[0] for r in page.locator("#week-sources tbody tr").all()]
    assert english[1:] == ["Journey “お礼のご案内”", "Journey “再訪のお誘い”"], english
    assert console.errors == [] and console.other_hosts() == []
    console.close()


def _cells(row: Any) -> tuple[str, list[int]]:
    """A table row's label and its numbers (the header cell, then sent...converted)."""
    label = row.locator("th").inner_text() if row.locator("th").count() else ""
    texts = row.locator("td").all_inner_texts()
    if not label:
        label, texts = texts[0], texts[1:]
    return label, [int(t.replace(",", "")) for t in texts]
