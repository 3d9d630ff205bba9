"""The console's analysis and marketing pages in headless Chromium, over real HTTP, on one
shop pair loaded and analysed once for the module (`stack`). What a marketer would notice:
each page shows the figures the `/v1/...` routes answer, its charts are drawn in colour,
its forms store what was typed (or name the field at fault), and a read-only key is
offered no change and refused one."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email import message_from_string, policy
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from messenger.entrypoints import events as messenger_events
from shared import clock as shared_clock
from shared.contracts.envelope import EventEnvelope
from tests.conftest import make_shop, order_payload, placed_today
from tests.console.browser import CHROMIUM, PHONE, Console, coloured_pixels
from tests.console.conftest import Stack, analyse, demo_orders, load_orders

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed (apt-get install chromium)"
)


@pytest.fixture
def marketer(stack: Stack, browser: Any) -> Iterator[Console]:
    """acme's marketer (segments read and write, messages read), signed in."""
    console = Console(browser, stack.base_url)
    console.sign_in(stack.shops.acme_marketer)
    yield console
    assert console.errors == []
    assert console.other_hosts() == []
    console.close()


Colour = Callable[[int, int, int], bool]
"""Whether a pixel's (r, g, b) is the colour a chart draws with."""


def _get(stack: Stack, path: str) -> Any:
    keys = stack.shops.acme
    r = stack.segmenter.get(path, headers=keys.header(keys.reader))
    assert r.status_code == 200, r.text
    return r.json()


def _numbers(texts: list[str]) -> list[int]:
    return [int(t.replace(",", "")) for t in texts]


def test_the_repeat_page_shows_the_funnel_the_days_to_a_second_order_and_retention(
    stack: Stack, marketer: Console, tmp_path: Path
) -> None:
    """Given acme analysed
    When the marketer opens the repeat page
    Then the funnel counts F1, F2, F3... as the repeat report does, the buckets of days to
    the second order hold the report's customers, and the retention heatmap has a
    coloured cell per cohort month and month since, as the report says."""
    page = marketer.page
    marketer.go("#/repeat", "repeat")
    funnel = _get(stack, "/v1/analytics/repeat")["rows"]
    stages = page.locator("#funnel tbody th").all_inner_texts()
    assert stages == [funnel[0]["from_stage"], *(r["to_stage"] for r in funnel)]
    counts = _numbers(page.locator("#funnel tbody td:nth-child(2)").all_inner_texts())
    assert counts == [funnel[0]["customers_from"], *(r["customers_to"] for r in funnel)]
    assert page.locator("#funnel tbody tr").nth(1).locator("td").nth(1).inner_text() == (
        f"{round(funnel[0]['rate'] * 100, 1):g}%"
    )

    second = _get(stack, "/v1/analytics/second-purchase")["rows"]
    assert _numbers(page.locator("#second-purchase tbody td:nth-child(2)").all_inner_texts()) == [
        b["customers"] for b in second
    ]
    assert page.locator("#second-purchase tbody th").first.inner_text() == "同日"

    retention = _get(stack, "/v1/analytics/retention")["rows"]
    assert page.locator("#retention tbody tr").count() == len(retention)
    first_cohort = retention[0]
    offsets = [k for k in first_cohort if re.fullmatch(r"m\d+", k)]
    filled = [k for k in offsets if first_cohort[k] is not None]
    assert page.locator("#retention tbody tr").first.locator("td[data-k]").count() == len(offsets)
    shown = page.locator("#retention tbody tr").first.locator("td[data-k]")
    assert all(shown.nth(int(k[1:])).inner_text().endswith("%") for k in filled)

    png = marketer.screenshot("console-repeat.png", tmp_path)
    checks: tuple[tuple[str, Colour], ...] = (
        ("#funnel", lambda r, g, b: b > r + 60),
        ("#second-purchase", lambda r, g, b: g > r + 40 and g > b),
        ("#retention", lambda r, g, b: g > r + 20 and g > b),
    )
    for selector, colour_test in checks:
        box = page.locator(selector).bounding_box()
        assert box is not None
        drawn = sum(n for c, n in coloured_pixels(png, box).items() if colour_test(*c))
        assert drawn > 500, selector


def test_the_ltv_page_shows_ltv_and_channels_and_takes_ad_spend_by_form_and_csv(
    stack: Stack, marketer: Console, tmp_path: Path
) -> None:
    """Given acme analysed, with no ad spend yet
    When the marketer opens LTV & channels, enters instagram's October spend by the form,
    then uploads a CSV for web, then a CSV with a bad month and a form with a negative amount
    Then LTV by cohort, channel and first product are the report's; after each good entry
    the channel table shows the spend and the CPA the channels report answers; a bad entry
    is refused naming its field, and nothing of it is stored."""
    page = marketer.page
    marketer.go("#/ltv", "ltv")
    ltv = _get(stack, "/v1/analytics/ltv")["rows"]
    for dimension, table_id in (
        ("cohort", "#ltv-cohort"),
        ("channel", "#ltv-channel"),
        ("first_product", "#ltv-first-product"),
    ):
        rows = [r for r in ltv if r["dimension"] == dimension]
        assert page.locator(f"{table_id} tbody tr").count() == len(rows), dimension
        assert _numbers(page.locator(f"{table_id} tbody td:nth-child(2)").all_inner_texts()) == [
            r["customers"] for r in rows
        ]
    web = next(r for r in ltv if r["dimension"] == "channel" and r["key"] == "web")
    row = page.locator("#ltv-channel tbody tr", has_text="web")
    assert row.locator("td").nth(3).inner_text() == f"¥{round(web['ltv_365d']):,}"
    assert page.locator("#ad-spend").inner_text() == "広告費はまだ入力されていません。"
    # And the page says why a 365-day LTV may exceed the lifetime one (matured customers)
    assert page.get_by_text("365日LTVが累計を上回ることがあります", exact=False).count() == 1

    # When they enter instagram's October spend by the form
    page.fill("#spend-channel", "instagram")
    page.fill("#spend-month", "2026-10")
    page.fill("#spend-amount", "300000")
    page.click("#ad-spend-form button[type=submit]")
    page.wait_for_selector("#ad-spend-status.ok")
    page.wait_for_selector("#ad-spend tbody tr")
    channels = {r["channel"]: r for r in _get(stack, "/v1/analytics/channels")["rows"]}
    instagram = page.locator("#channels tbody tr", has_text="instagram")
    assert instagram.locator("td").nth(0).inner_text() == "¥300,000"
    assert (
        instagram.locator("td").nth(2).inner_text() == f"¥{round(channels['instagram']['cpa']):,}"
    )

    # And upload a CSV for web
    page.set_input_files(
        "#spend-csv",
        files=[
            {
                "name": "spend.csv",
                "mimeType": "text/csv",
                "buffer": b"channel,month,amount\nweb,2026-09,120000\nweb,2026-10,80000\n",
            }
        ],
    )
    page.click("#spend-upload")
    page.wait_for_selector("#ad-spend-status:has-text('2件')")
    page.wait_for_selector("#ad-spend tbody tr:nth-child(3)")
    web_row = page.locator("#channels tbody tr", has_text="web")
    assert web_row.locator("td").nth(0).inner_text() == "¥200,000"

    # And a CSV with a bad month, then a negative amount in the form
    page.set_input_files(
        "#spend-csv",
        files=[
            {
                "name": "bad.csv",
                "mimeType": "text/csv",
                "buffer": b"channel,month,amount\nweb,2026-08,1000\nweb,Oct 2026,5\n",
            }
        ],
    )
    page.click("#spend-upload")
    page.wait_for_selector("#ad-spend-status.error")
    assert "line 3.month" in page.locator("#ad-spend-status").inner_text()
    page.fill("#spend-amount", "-5")
    page.click("#ad-spend-form button[type=submit]")
    page.wait_for_selector("#ad-spend-status:has-text('entries.0.amount')")
    stored = _get(stack, "/v1/analytics/ad-spend")
    assert sorted((e["channel"], e["month"], e["amount"]) for e in stored) == [
        ("instagram", "2026-10", 300000.0),
        ("web", "2026-09", 120000.0),
        ("web", "2026-10", 80000.0),
    ]
    assert page.locator("#ad-spend tbody tr").count() == 3
    png = marketer.screenshot("console-ltv.png", tmp_path)
    box = page.locator("#ltv-cohort").bounding_box()
    assert box is not None
    gold = sum(n for (r, g, b), n in coloured_pixels(png, box).items() if r > b + 60 and g > b)
    assert gold > 300


def test_the_list_diagnosis_page_shows_the_list_the_calendar_the_flows_and_the_forecast(
    stack: Stack, marketer: Console, tmp_path: Path
) -> None:
    """Given acme analysed
    When the marketer opens the list diagnosis and picks an earlier month
    Then the list analysis table, the calendar diagnosis and the lifecycle flows of that
    month, and the forecast with its backtest error are the reports' figures, the calendar
    is coloured by count and each month's mix is drawn in the ranks' colours."""
    page = marketer.page
    marketer.go("#/diagnosis", "diagnosis")
    listed = _get(stack, "/v1/analytics/list-analysis")["rows"]
    assert page.locator("#list-analysis tbody tr").count() == len(listed)
    last = page.locator("#list-analysis tbody tr").last
    assert _numbers(last.locator("td").all_inner_texts()[:6]) == [
        listed[-1][s] for s in ("new", "repeat", "loyal", "dormant", "lost", "total")
    ]

    calendar = _get(stack, "/v1/analytics/calendar")["rows"]
    lifecycle = _get(stack, "/v1/analytics/lifecycle")["rows"]
    months = sorted({r["month"] for r in calendar})
    for chosen in (months[-1], months[-4]):
        page.select_option("#diagnosis-month", chosen)
        cells = [r for r in calendar if r["month"] == chosen]
        shown = [
            _numbers(row.locator("td").all_inner_texts())
            for row in page.locator("#calendar tbody tr").all()
        ]
        assert shown == [[r["f1"], r["f2"], r["f3"], r["f4"], r["f5+"], r["total"]] for r in cells]
        for flow in (r for r in lifecycle if r["month"] == chosen):
            cell = page.locator(
                f"#lifecycle td[data-from='{flow['from_state']}'][data-to='{flow['to_state']}']"
            )
            assert cell.inner_text().split(" ")[0] == f"{flow['customers']:,}", flow

    forecast = _get(stack, "/v1/analytics/forecast")["rows"]
    rows = page.locator("#diagnosis-forecast tbody tr")
    assert rows.count() == len(forecast) == 6
    total = rows.last.locator("td").all_inner_texts()
    assert total[0] == f"{forecast[-1]['customers']:,}"
    error = forecast[-1]["backtest_error"]
    assert total[5] == ("+" if error > 0 else "") + f"{error:,.1f}".removesuffix(".0")

    png = marketer.screenshot("console-diagnosis.png", tmp_path)
    box = page.locator("#calendar").bounding_box()
    assert box is not None
    blue = sum(n for (r, g, b), n in coloured_pixels(png, box).items() if b > r + 40)
    assert blue > 500
    box = page.locator("#list-analysis").bounding_box()
    assert box is not None
    drawn = coloured_pixels(png, box)
    for colour in ((0x2B, 0x59, 0xC3), (0x1E, 0x7B, 0x4F), (0xB3, 0x26, 0x1E)):
        assert drawn.get(colour, 0) > 50, colour


CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
PAGES = ("repeat", "ltv", "diagnosis", "segments", "campaigns", "journeys", "deliveries", "surveys")


def test_every_new_page_speaks_english_after_the_toggle(stack: Stack, browser: Any) -> None:
    """Given a shop of its own (orders of two years, scored and analysed: no campaign,
    segment or survey another test named in Japanese), its admin on each page, in Japanese
    (the default)
    When they switch to English
    Then no Japanese is left on the page: every label, date and unit is in English, the
    built-in journeys' titles too."""
    keys = make_shop(stack.cloud, "eigo")
    load_orders(stack.segmenter, keys, demo_orders(customers=12, seed=21, prefix="en"))
    analyse(stack.cloud, stack.segmenter, keys)
    stack.cloud.deliver("SegmenterEventsFunction")  # the bus's events of its orders handed on
    _to_messenger(stack)
    console = Console(browser, stack.base_url)
    console.sign_in(keys.admin)
    page = console.page
    for view in PAGES:
        console.go(f"#/{view}", view)
        assert page.locator("html").get_attribute("lang") == "ja"
        assert CJK.search(page.locator("main").inner_text()), view
        page.click("#lang")
        page.wait_for_selector(f"html[lang=en] main[data-view={view}][data-ready=true]")
        english = page.evaluate(
            "() => ['main', '#nav'].map(s => document.querySelector(s).textContent).join(' ')"
        )
        assert not CJK.search(english), (view, CJK.findall(english)[:10])
        page.click("#lang")
        page.wait_for_selector(f"html[lang=ja] main[data-view={view}][data-ready=true]")
    assert console.errors == [] and console.other_hosts() == []
    console.close()


def test_a_read_only_key_is_offered_no_change_and_refused_one(stack: Stack, browser: Any) -> None:
    """Given acme's read-only key (segments:read, messages:read) signed in
    Then no page offers a change (ad spend, segment save, campaign, journey switch), and
    each change forced from the page with the session's cookie and CSRF token is a 403;
    and every page fits a phone's width."""
    keys = stack.shops.acme
    console = Console(browser, stack.base_url)
    console.sign_in(keys.reader)
    page = console.page
    controls = {
        "ltv": "#ad-spend-form, #spend-upload",
        "segments": "#segment-form",
        "campaigns": "#new-campaign",
        "journeys": "button[data-builtin]",
        "deliveries": "button[data-redrive]",
    }
    for view, selector in controls.items():
        console.go(f"#/{view}", view)
        assert page.locator(selector).count() == 0, view
    console.go("#/segments", "segments")
    assert _builder_count(page).startswith("該当する顧客")
    console.go("#/segments/rfm_loyal", "segments")
    assert page.locator("#enrol, #enrol-journey, #send-campaign").count() == 0
    console.go("#/campaigns/new/rfm_loyal", "campaigns")
    assert page.locator("#readonly-note").is_visible()
    assert page.locator("#campaign-form").count() == 0
    statuses = page.evaluate(
        """async () => {
            const csrf = document.cookie.split('; ')
                .find(c => c.startsWith('__Host-kizuna-csrf=')).split('=')[1];
            const send = (method, path, body, type) => fetch(path, {method,
                credentials: 'same-origin',
                headers: {'Content-Type': type || 'application/json', 'X-CSRF-Token': csrf},
                body: typeof body === 'string' ? body : JSON.stringify(body)}).then(r => r.status);
            return [
                await send('PUT', '/v1/analytics/ad-spend',
                    {entries: [{channel: 'web', month: '2026-10', amount: '1'}]}),
                await send('PUT', '/v1/analytics/ad-spend',
                    'channel,month,amount\\nweb,2026-10,1\\n', 'text/csv'),
                await send('POST', '/v1/messages', {message_id: 'x', name: 'x',
                    email: {subject: 's', html: '<p>x</p>', text: 'x'}}),
                await send('POST', '/v1/campaigns', {campaign_id: 'x', name: 'x',
                    segment_id: 'rfm_loyal', variants: [{name: 'A', message_id: 'x'}]}),
                await send('POST', '/v1/journeys/builtins/welcome/enable', {}),
                await send('POST', '/v1/segments', {segment_id: 'x', name: 'x', rule: {all: []}}),
                await send('POST', '/v1/journeys/winback/enrolments', {segment_id: 'rfm_loyal'}),
            ];
        }"""
    )
    assert statuses == [403] * 7

    # And on a phone each page fits the screen's width (wide tables scroll in their card)
    page.set_viewport_size(PHONE)
    for view in PAGES:
        console.go(f"#/{view}", view)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], view
    assert _get(stack, "/v1/analytics/ad-spend") == [] or all(
        e["amount"] != 1 for e in _get(stack, "/v1/analytics/ad-spend")
    )
    assert console.errors == [] and console.other_hosts() == []
    console.close()


def _to_feedback(event_type: str, detail: dict[str, Any]) -> None:
    """An event as the template's rule hands it to the feedback function."""
    from feedback.entrypoints import events
    from shared.contracts.envelope import EventEnvelope

    envelope = EventEnvelope(
        id=f"evt-{event_type}-{len(detail)}",
        shop="acme",
        type=event_type,
        time=shared_clock.now(),
        detail=detail,
    )
    events.handler({"detail": envelope.model_dump(mode="json")}, None)


def _to_messenger(stack: Stack) -> int:
    """What the bus delivered to the messenger's queue so far, handed to its function (as
    Lambda would)."""
    events = stack.cloud.take_events("MessengerEventsFunction")
    for event in events:
        messenger_events.handler(event, None)
    return len(events)


def test_a_drilled_down_cell_becomes_a_segment_and_a_campaign_sent_to_it(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    """Given three new customers who bought through LINE today, known to the messenger
    When acme's admin drills into their RFM cell, saves it as a segment, follows "send
    these customers a campaign" and creates one with a subject and a body
    Then the campaign form names that segment, the campaign runs once its wave is due,
    the three get the mail, and so does every other member of the cell the messenger has
    an address for (another test's new customers; the cell's older customers have none on
    file), nobody outside it; the campaigns page shows the sends the results route
    counts, and this week's figures on the overview count them with the week's other
    campaigns and journeys (whatever other tests sent before)."""
    keys = stack.shops.acme
    for n in range(3):
        body = order_payload(
            n=n,
            customer_id=f"line-{n}",
            email=f"line{n}@example.jp",
            placed_at="2026-11-23T09:00:00+09:00",
            sales_channel="line",
        )
        r = stack.segmenter.post("/v1/orders", json=body, headers=keys.header(keys.events))
        assert r.status_code == 201, r.text
    assert stack.segmenter.post(
        "/v1/segments/recompute", headers=keys.header(keys.admin)
    ).is_success
    _to_messenger(stack)
    rfm = _get(stack, "/v1/customers/line-0")["rfm"]
    r_score, f_score = rfm["r"], rfm["f"]
    segment = f"rfm-r{r_score}-f{f_score}"

    console = Console(browser, stack.base_url)
    console.sign_in(keys.admin)
    page = console.page
    console.go(f"#/rfm/{r_score}/{f_score}", "rfm")
    page.wait_for_selector("#drill-customers")
    assert {"line-0", "line-1", "line-2"} <= set(
        page.locator("#drill-customers a").all_inner_texts()
    )
    page.click("#save-segment")
    page.wait_for_selector("#save-status.ok")
    stack.cloud.deliver("SegmenterEventsFunction")  # the new segment counted
    page.wait_for_selector("#save-status[data-counted=true]")
    _to_messenger(stack)  # the bus brings the new segment's members to the messenger
    page.click("#send-campaign")
    page.wait_for_selector("main[data-view=campaigns][data-ready=true] #campaign-form")
    assert page.locator("#campaign-segment").input_value() == segment
    page.fill("#campaign-name", "LINE新規のお客様へ")
    page.fill("#campaign-subject", "ご購入ありがとうございます")
    page.fill("#campaign-body", "{{ customer.last_name }}様\n\n次回使えるクーポンをお送りします。")
    page.click("#campaign-form button[type=submit]")
    page.wait_for_selector("#campaign-title, #campaign-status.error")
    assert page.locator("#campaign-status").count() == 0, page.locator(
        "#campaign-status"
    ).inner_text()
    assert page.locator("#campaign-title").inner_text() == "LINE新規のお客様へ"

    # When the segment's members reach the messenger and the wave is due
    _to_messenger(stack)
    messenger_events.journey_dispatcher()
    _to_messenger(stack)
    mails = [
        m
        for m in stack.cloud.sent_mail()
        if message_from_string(m.raw_data, policy=policy.default)["Subject"]
        == "ご購入ありがとうございます"
    ]
    console.go("#/campaigns", "campaigns")
    row = page.locator("#campaigns tbody tr", has_text="LINE新規のお客様へ")
    campaign_id = row.locator("a").get_attribute("href").rsplit("/", 1)[1]
    sent_to = stack.messenger.get(
        f"/v1/campaigns/{campaign_id}/customers",
        params={"metric": "sent", "limit": 200},
        headers=keys.header(keys.reader),
    ).json()["customer_ids"]
    members = _get(stack, f"/v1/segments/{segment}/members?limit=1000")["customer_ids"]
    assert {"line-0", "line-1", "line-2"} <= set(sent_to) <= set(members)
    assert sorted(str(m.destinations[0]) for m in mails) == sorted(
        _get(stack, f"/v1/customers/{c}")["email"] for c in sent_to
    )
    results = stack.messenger.get(
        f"/v1/campaigns/{campaign_id}/results", headers=keys.header(keys.reader)
    ).json()
    cells = row.locator("td").all_inner_texts()
    assert results["total"]["sent"] == len(mails)
    assert _numbers(cells[3:7]) == [
        results["total"][k] for k in ("sent", "opened", "clicked", "converted")
    ]
    console.go("#/overview", "overview")
    week = [
        page.locator(f"#week-{k} .value").inner_text()
        for k in ("sent", "opened", "clicked", "converted")
    ]
    campaigns, journeys = _campaigns_this_week(stack), _journeys_this_week(stack)
    assert campaigns[0] >= results["total"]["sent"]  # this campaign's among the week's
    assert _numbers(week) == [c + j for c, j in zip(campaigns, journeys, strict=True)]
    console.go(f"#/campaigns/{campaign_id}", "campaigns")
    first_variant = page.locator("#campaign-variants tbody tr").first.locator("td").first
    assert first_variant.inner_text() == str(len(mails))
    console.screenshot("console-campaign.png", tmp_path)
    assert console.errors == [] and console.other_hosts() == []
    console.close()


def _check_graph(
    console: Console, tmp_path: Path, journey_id: str, definition: Any, stats: Any, shot: str
) -> None:
    """A box per step (and the trigger), an arrow per way on, a send's counts in its box,
    and the boxes' colours in a screenshot's pixels."""
    page = console.page
    graph = page.locator(f"details[data-journey='{journey_id}'] svg.flow-graph")
    nodes = graph.locator("g[data-node]")
    assert sorted(nodes.nth(i).get_attribute("data-node") or "" for i in range(nodes.count())) == (
        sorted(["", *definition["steps"]])
    )
    ways = [(definition["start"], "")] + [
        (to, step_id)
        for step_id, step in definition["steps"].items()
        for to in [step.get(k) for k in ("next", "else_next", "timeout_next")]
        + [v["next"] for v in step.get("variants", [])]
        if to
    ]
    edges = graph.locator("path[data-edge]")
    assert sorted(edges.nth(i).get_attribute("data-edge") or "" for i in range(edges.count())) == (
        sorted(f"{source or '__start'}>{to}" for to, source in ways)
    )
    sends = [k for k, v in definition["steps"].items() if v["type"] == "send"]
    for step_id in sends:
        counts = stats["steps"].get(step_id, {})
        box = graph.locator(f"g[data-node='{step_id}']").inner_html()
        assert f"配信 {counts.get('sent', 0)}" in box, box
    png = console.screenshot(shot, tmp_path)
    box = graph.bounding_box()
    assert box is not None and box["height"] > 100
    pixels = coloured_pixels(png, box)
    green = sum(n for (r, g, b), n in pixels.items() if g > r + 40 and g > b + 20)
    assert green > 50 * len(sends) > 0


def test_a_branching_journey_is_drawn_as_a_graph_of_its_steps(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    """Given acme's admin, and the built-in browse abandonment (it waits for an order or
    times out) switched on
    When they open its picture on the journeys page
    Then every step is a box on the graph and every way on (yes / no, on an event, on
    timeout, a variant) an arrow, as its definition says, with each send's counts."""
    keys = stack.shops.acme
    builtins = stack.messenger.get("/v1/journeys/builtins", headers=keys.header(keys.reader)).json()
    branching = next(b for b in builtins if b["name"] == "browse-abandonment")
    console = Console(browser, stack.base_url)
    console.sign_in(keys.admin)
    page = console.page
    console.go("#/journeys", "journeys")
    if branching["status"] != "active":
        page.click(f"button[data-builtin='{branching['name']}']")
        page.wait_for_selector(f"button[data-builtin='{branching['name']}'][aria-pressed=true]")
        page.wait_for_selector("main[data-ready=true] table#journeys")
    journey_id = branching["name"]  # a built-in runs as the journey of its name
    definition = stack.messenger.get(
        f"/v1/journeys/{journey_id}", headers=keys.header(keys.reader)
    ).json()["definition"]
    assert any(
        s.get("else_next") or s.get("timeout_next") or s.get("variants")
        for s in definition["steps"].values()
    ), definition
    stats = stack.messenger.get(
        f"/v1/journeys/{journey_id}/stats", headers=keys.header(keys.reader)
    ).json()
    page.click(f"details[data-journey='{journey_id}'] summary")
    _check_graph(console, tmp_path, journey_id, definition, stats, "console-journey.png")
    page.click(f"button[data-builtin='{branching['name']}']")
    page.wait_for_selector(f"button[data-builtin='{branching['name']}'][aria-pressed=false]")
    assert console.errors == [] and console.other_hosts() == []
    console.close()


def test_the_journeys_page_switches_built_ins_and_shows_their_numbers(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    """Given acme's admin on the journeys page
    When they enable the first built-in journey, then pause it
    Then every built-in is listed with its status, the enabled one appears among the
    shop's journeys with the numbers its stats route answers (lift "—" before anyone is
    measured), and pausing it shows it paused."""
    keys = stack.shops.acme
    console = Console(browser, stack.base_url)
    console.sign_in(keys.admin)
    page = console.page
    console.go("#/journeys", "journeys")
    builtins = stack.messenger.get("/v1/journeys/builtins", headers=keys.header(keys.reader)).json()
    rows = page.locator("#builtins tbody tr")
    assert rows.count() == len(builtins) >= 9
    first = builtins[0]
    assert rows.first.locator("th").inner_text() == first["title"]["ja"]
    assert rows.first.locator("td").nth(1).inner_text() == "未設定"

    page.click(f"button[data-builtin='{first['name']}']")
    page.wait_for_selector(f"button[data-builtin='{first['name']}'][aria-pressed=true]")
    page.wait_for_selector("main[data-ready=true] table#journeys")
    assert rows.first.locator("td").nth(1).inner_text() == "稼働中"
    journeys = stack.messenger.get("/v1/journeys", headers=keys.header(keys.reader)).json()
    stats = stack.messenger.get(
        f"/v1/journeys/{journeys[0]['journey_id']}/stats", headers=keys.header(keys.reader)
    ).json()
    cells = page.locator("#journeys tbody tr").first.locator("td").all_inner_texts()
    assert cells[0] == "稼働中"
    assert _numbers(cells[1:7]) == [
        stats[k] for k in ("entered", "holdout", "sent", "opened", "clicked", "converted")
    ]
    assert cells[7] == "—" if stats["lift"]["conversion"] is None else "95%" in cells[7]

    # And its picture: the trigger, then every step with where it leads
    journey_id = journeys[0]["journey_id"]
    definition = stack.messenger.get(
        f"/v1/journeys/{journey_id}", headers=keys.header(keys.reader)
    ).json()["definition"]
    page.click(f"details[data-journey='{journey_id}'] summary")
    picture = page.locator(f"details[data-journey='{journey_id}'] ol.flow")
    assert picture.locator("li").first.inner_text().startswith("開始")
    drawn = picture.locator("li[data-step]")
    assert drawn.first.get_attribute("data-step") == definition["start"]
    assert {drawn.nth(i).get_attribute("data-step") for i in range(drawn.count())} == set(
        definition["steps"]
    )
    for i in range(drawn.count()):
        step = definition["steps"][drawn.nth(i).get_attribute("data-step")]
        leads = [step[k] for k in ("next", "else_next", "timeout_next") if step.get(k)]
        leads += [v["next"] for v in step.get("variants", [])]
        shown = drawn.nth(i).locator(".flow-next").inner_text()
        assert [n for n in leads if n not in shown] == [] and (leads or shown == "ここで終了")

    # And the same drawn as a graph
    _check_graph(console, tmp_path, journey_id, definition, stats, "journey-linear.png")

    page.click(f"button[data-builtin='{first['name']}']")
    page.wait_for_selector(f"button[data-builtin='{first['name']}'][aria-pressed=false]")
    assert page.locator("#journeys tbody tr").first.locator("td").first.inner_text() == "停止中"
    assert console.errors == [] and console.other_hosts() == []
    console.close()


def _builder_count(page: Any) -> str:
    page.wait_for_selector("#builder-count[data-ready=true]")
    return str(page.locator("#builder-count").inner_text())


def _preview(stack: Stack, rule: dict[str, Any]) -> int:
    keys = stack.shops.acme
    r = stack.segmenter.post(
        "/v1/segments/preview", json={"rule": rule, "sample": 0}, headers=keys.header(keys.reader)
    )
    assert r.status_code == 200, r.text
    return int(r.json()["count"])


def test_the_segment_builder_counts_as_conditions_change_and_saves_the_rule(
    stack: Stack, marketer: Console
) -> None:
    """Given acme's marketer on the segments page
    When they change the first condition, add a second, type a value the rule language
    refuses, then correct it and save the segment
    Then the count under the builder follows every change with the preview route's
    count, the refusal names the condition's path, and the saved segment's members page
    lists exactly its members and says when they were recounted."""
    page = marketer.page
    marketer.go("#/segments", "segments")
    repeaters = {"all": [{"field": "order_count", "op": "gte", "value": 2}]}
    assert _builder_count(page) == f"該当する顧客: {_preview(stack, repeaters)}人"
    page.locator(".cond-value").first.fill("3")
    three = {"all": [{"field": "order_count", "op": "gte", "value": 3}]}
    assert _builder_count(page) == f"該当する顧客: {_preview(stack, three)}人"

    page.click("#add-condition")
    second = page.locator(".condition").nth(1)
    second.locator(".cond-field").select_option("acquisition_channel")
    second.locator(".cond-op").select_option("eq")
    second.locator(".cond-value").fill("instagram")
    both = {
        "all": [
            three["all"][0],
            {"field": "acquisition_channel", "op": "eq", "value": "instagram"},
        ]
    }
    expected = _preview(stack, both)
    assert 0 < expected < _preview(stack, three)
    assert _builder_count(page) == f"該当する顧客: {expected}人"

    page.locator(".cond-value").first.fill("many")
    assert "all[0].value" in _builder_count(page)
    assert page.locator("#builder-count.error").count() == 1
    page.locator(".cond-value").first.fill("3")
    assert _builder_count(page) == f"該当する顧客: {expected}人"

    page.fill("#segment-id", "insta-loyal")
    page.fill("#segment-name", "インスタ経由の常連")
    page.click("#segment-form button[type=submit]")
    page.wait_for_selector("#segment-status.ok")
    stack.cloud.deliver("SegmenterEventsFunction")  # the new segment counted
    page.wait_for_selector("#segment-status[data-counted=true]")
    assert f"({expected}人)" in page.locator("#segment-status").inner_text()
    page.wait_for_selector("#segments a[href='#/segments/insta-loyal']")
    page.click("#segments a[href='#/segments/insta-loyal']")
    page.wait_for_selector("main[data-ready=true] #members")
    members = _get(stack, "/v1/segments/insta-loyal/members")["customer_ids"]
    assert len(members) == expected
    assert sorted(page.locator("#members a").all_inner_texts()) == sorted(members)
    counted = page.locator("#segment-counted")
    assert counted.get_attribute("data-at") == _get(stack, "/v1/segments/insta-loyal")["counted_at"]
    assert "再集計" in counted.inner_text()
    exports = page.locator("a[download]")
    assert exports.count() == 2


def test_the_deliveries_page_shows_recent_sends_per_channel_and_status(
    stack: Stack, browser: Any
) -> None:
    """Given acme's deliveries (new customers' welcome mails, and what the module sent)
    When its read-only key opens the deliveries page, then filters on one status, then
    shows 20 rows a page and pages to older deliveries and back
    Then the per-channel counts and the recent log are the delivery route's, each with
    its status in words, the filter shows only that status, each page is the route's
    page at its cursor, and nothing offers a redrive."""
    keys = stack.shops.acme
    for n in range(21):
        body = order_payload(
            customer_id=f"welcome-{n}", email=f"welcome{n}@example.jp", placed_at=placed_today(n)
        )
        assert stack.segmenter.post(
            "/v1/orders", json=body, headers=keys.header(keys.events)
        ).is_success
    _to_messenger(stack)
    log = stack.messenger.get("/v1/deliveries?limit=200", headers=keys.header(keys.reader)).json()
    assert log
    console = Console(browser, stack.base_url)
    console.sign_in(keys.reader)
    page = console.page
    console.go("#/deliveries", "deliveries")
    assert page.locator("#deliveries tbody tr").count() == len(log)
    per_channel = {
        row.locator("th").inner_text(): row.locator("td").last.inner_text()
        for row in page.locator("#delivery-channels tbody tr").all()
    }
    assert per_channel == {
        channel: str(sum(1 for d in log if d["channel"] == channel))
        for channel in {d["channel"] for d in log}
    }
    labels = {
        o.get_attribute("value"): o.inner_text()
        for o in page.locator("#delivery-status option").all()
    }
    statuses = page.locator("#deliveries tbody td:nth-child(5)").all_inner_texts()
    assert statuses == [labels[d["status"]] for d in log]
    sent = [d for d in log if d["status"] == "sent"]
    page.select_option("#delivery-status", "sent")
    page.wait_for_selector("main[data-view=deliveries][data-ready=true] #delivery-status")
    console.go("#/deliveries/sent", "deliveries")
    assert page.locator("#deliveries tbody tr").count() == len(sent)
    assert set(page.locator("#deliveries tbody td:nth-child(5)").all_inner_texts()) <= {
        page.locator("#delivery-status option[value=sent]").inner_text()
    }
    assert page.locator("button[data-redrive]").count() == 0

    # Paging: 20 rows a page, older by the route's cursor, and back to the newest
    console.go("#/deliveries", "deliveries")
    first = stack.messenger.get("/v1/deliveries?limit=20", headers=keys.header(keys.reader))
    cursor = first.headers["X-Next-Cursor"]
    second = stack.messenger.get(
        "/v1/deliveries", params={"limit": 20, "cursor": cursor}, headers=keys.header(keys.reader)
    )
    page.select_option("#delivery-rows", "20")
    page.wait_for_selector("main[data-view=deliveries][data-ready=true] #deliveries-older")
    customers = "#deliveries tbody td:nth-child(2)"
    assert page.locator(customers).all_inner_texts() == [d["customer_id"] for d in first.json()]
    assert page.locator("#deliveries-newest").count() == 0
    console.follow("#deliveries-older", "deliveries")
    assert page.locator("#deliveries-newest").count() == 1
    assert page.locator(customers).all_inner_texts() == [d["customer_id"] for d in second.json()]
    console.follow("#deliveries-newest", "deliveries")
    assert page.locator("#deliveries-older").count() == 1
    assert page.locator(customers).all_inner_texts() == [d["customer_id"] for d in first.json()]
    assert page.locator("#deliveries-empty").count() == 0

    # And a status nothing has (no dead letter here) says so in words, not empty tables
    assert not [d for d in log if d["status"] == "dead_letter"]
    console.go("#/deliveries/dead_letter", "deliveries")
    assert page.locator("#deliveries tbody tr").count() == 0
    assert page.locator("#deliveries-empty").inner_text() == "表示できる配信はまだありません。"
    assert console.errors == [] and console.other_hosts() == []
    console.close()


SURVEY = {
    "survey_id": "after-purchase",
    "title": "ご購入後アンケート",
    "questions": [
        {"id": "recommend", "kind": "nps", "text": "友人にすすめたいですか？"},
        {
            "id": "why",
            "kind": "single",
            "text": "購入の決め手は？",
            "options": [{"id": "price", "label": "価格"}, {"id": "review", "label": "口コミ"}],
        },
    ],
}


def test_the_surveys_page_summarises_responses_with_the_nps_split(
    stack: Stack, browser: Any, marketer: Console
) -> None:
    """Given a survey with five responses (scores 10, 9, 8, 3, 0)
    When acme's admin opens the surveys page (and the marketer, whose key may not read
    survey results, too)
    Then the admin sees the response count, the NPS and its split into promoters,
    passives and detractors as the results route counts them, and each option's count;
    the SKUs with restock sign-ups as the route lists them, 20 a page, one chosen showing
    its sign-ups and releases; the marketer is told their key may not read them."""
    from feedback.entrypoints.api import app as feedback_app

    keys = stack.shops.acme
    feedback = TestClient(feedback_app)
    assert feedback.post("/v1/surveys", json=SURVEY, headers=keys.header(keys.admin)).is_success
    for n, (score, why) in enumerate(
        ((10, "price"), (9, "review"), (8, "price"), (3, "price"), (0, "review"))
    ):
        r = feedback.post(
            "/v1/surveys/after-purchase/responses",
            json={
                "response_id": f"r-{n}",
                "customer_id": f"c-{n:03d}",
                "answers": {"recommend": score, "why": why},
            },
            headers=keys.header(keys.admin),
        )
        assert r.status_code == 201, r.text
    results = feedback.get(
        "/v1/surveys/after-purchase/results", headers=keys.header(keys.admin)
    ).json()
    nps = next(q for q in results["total"]["questions"] if q["kind"] == "nps")["nps"]

    console = Console(browser, stack.base_url)
    console.sign_in(keys.admin)
    page = console.page
    console.go("#/surveys", "surveys")
    section = page.locator("section[data-survey=after-purchase]")
    assert "回答数: 5" in section.inner_text()
    assert section.locator(".nps").inner_text() == f"NPS: {nps['score']:g}"
    split = section.locator(".nps-split tbody td:nth-child(2)").all_inner_texts()
    assert _numbers(split) == [nps["promoters"], nps["passives"], nps["detractors"]] == [2, 1, 2]

    # Restock: three customers wait for SERUM-30, and it comes back (0 → 5)
    for n in range(3):
        body = {"sku": "SERUM-30", "channel": "email", "customer_id": f"c-{n:03d}"}
        r = feedback.post("/v1/restock/signups", json=body, headers=keys.header(keys.admin))
        assert r.status_code == 201, r.text
    _to_feedback("inventory.changed", {"sku": "SERUM-30", "previous_quantity": 0, "quantity": 5})
    sku = feedback.get("/v1/restock/skus/SERUM-30", headers=keys.header(keys.admin)).json()
    assert sku["releases"] and sku["signups"]["active"] == 3
    # And one customer waits for 21 other SKUs: the list of SKUs has two pages of 20
    for n in range(21):
        body = {"sku": f"TONER-{n:02d}", "channel": "email", "customer_id": "c-010"}
        r = feedback.post("/v1/restock/signups", json=body, headers=keys.header(keys.admin))
        assert r.status_code == 201, r.text
    listed = feedback.get("/v1/restock/skus?limit=500", headers=keys.header(keys.admin)).json()
    assert len(listed) == 22
    console.go("#/overview", "overview")
    console.go("#/surveys", "surveys")
    assert page.locator("#restock-skus tbody tr").count() == 20
    page.click("#restock-more")
    page.wait_for_selector("#restock-skus tbody tr:nth-child(22)")
    assert page.locator("#restock-more").is_hidden()
    shown = [row.split("\t") for row in page.locator("#restock-skus tbody tr").all_inner_texts()]
    assert [[x["sku"], *map(str, x["signups"].values())] for x in listed] == shown
    page.locator("#restock-skus a[data-sku='SERUM-30']").click()
    page.wait_for_selector("main[data-view=surveys][data-ready=true] #restock")
    signups = page.locator("#restock-signups tbody td").all_inner_texts()
    assert _numbers(signups) == [sku["signups"][k] for k in ("pending", "active", "unsubscribed")]
    rows = page.locator("#restock-releases tbody tr")
    assert rows.count() == len(sku["releases"])
    cells = rows.first.locator("td").all_inner_texts()
    first = sku["releases"][0]
    assert _numbers(cells[1:6]) == [
        first[k] for k in ("stock_at_start", "waves", "notified", "clicked", "purchased")
    ]
    assert console.errors == [] and console.other_hosts() == []
    console.close()

    marketer.go("#/surveys", "surveys")
    assert marketer.page.locator("#surveys-scope").is_visible()


def test_the_static_report_shows_the_consoles_numbers_without_a_script(
    stack: Stack, browser: Any, marketer: Console, tmp_path: Path
) -> None:
    """Given acme analysed
    When the operator runs `kizuna report --shop acme --out report.html`
    Then its read-only console session is ended once the file is written, the file holds
    no script and names no other file or host, and opened with
    JavaScript off it shows the overview's figures the console shows, the RFM grid's
    counts, the funnel, and heatmaps and the trend drawn in colour."""
    from typer.testing import CliRunner

    from ops.cli import app as cli

    out = tmp_path / "report.html"
    ran = CliRunner().invoke(
        cli, ["report", "--shop", "acme", "--out", str(out), "--api", stack.base_url]
    )
    assert ran.exit_code == 0, ran.output
    assert ran.output.strip() == str(out.resolve())
    keys = stack.shops.acme
    sessions = stack.segmenter.get("/v1/admin/sessions", headers=keys.header(keys.admin))
    links = [x for x in sessions.json() if x["key_id"] == "link"]
    assert links and all(x["ended_at"] for x in links)  # the report signed out
    html = out.read_text("utf-8")
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=|url\(|@import""", html, re.IGNORECASE)

    marketer.go("#/overview", "overview")
    shown = {
        k: marketer.page.locator(f"#kpi-{k} .value").inner_text()
        for k in ("customers", "active", "f2", "ltv")
    }
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    page.goto(out.as_uri())
    assert requests == [out.as_uri()]
    assert {k: page.locator(f"#kpi-{k} .value").inner_text() for k in shown} == shown
    grid = _get(stack, "/v1/segments/rfm-grid")
    counts = _numbers(page.locator("#rfm table.grid td strong").all_inner_texts())
    assert sum(counts) == sum(c["customers"] for c in grid["cells"])
    funnel = _get(stack, "/v1/analytics/repeat")["rows"]
    assert _numbers(
        [t.strip() for t in page.locator("table.funnel tbody td:nth-child(2)").all_inner_texts()]
    ) == [funnel[0]["customers_from"], *(r["customers_to"] for r in funnel)]
    assert page.locator("table.retention tbody tr").count() == len(
        _get(stack, "/v1/analytics/retention")["rows"]
    )
    drawn: tuple[tuple[str, Colour], ...] = (
        ("table.retention", lambda r, g, b: g > r + 20 and g > b),
        ("table.calendar", lambda r, g, b: b > r + 40),
        ("#overview svg", lambda r, g, b: b > r + 60),
        ("table.revenue", lambda r, g, b: r > b + 60 and g > b),
    )
    for selector, test in drawn:
        shot: bytes = page.locator(selector).screenshot()
        whole = {"x": 0.0, "y": 0.0, "width": 10_000.0, "height": 10_000.0}
        assert sum(n for c, n in coloured_pixels(shot, whole).items() if test(*c)) > 300, selector
    context.close()


def _week() -> tuple[datetime, datetime, str]:
    """The calendar week so far on the platform's clock (the module's fixed one): from
    Monday 00:00 in Tokyo, with that Monday's date (the journeys' `weeks` key)."""
    now = shared_clock.now()
    tokyo = now.astimezone(TOKYO)
    monday = (tokyo - timedelta(days=tokyo.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return monday, now, monday.date().isoformat()


TOKYO = ZoneInfo("Asia/Tokyo")
WEEK_COUNTS = ("sent", "opened", "clicked", "converted")


def _campaigns_this_week(stack: Stack) -> list[int]:
    keys = stack.shops.acme
    start, end, _ = _week()
    campaigns = stack.messenger.get("/v1/campaigns?limit=100", headers=keys.header(keys.reader))
    total = [0] * len(WEEK_COUNTS)
    for c in campaigns.json():
        if start <= datetime.fromisoformat(c["scheduled_at"]) <= end:
            path = f"/v1/campaigns/{c['campaign_id']}/results"
            results = stack.messenger.get(path, headers=keys.header(keys.reader)).json()
            total = [t + results["total"][k] for t, k in zip(total, WEEK_COUNTS, strict=True)]
    return total


def _journeys_this_week(stack: Stack) -> list[int]:
    """Every journey's counters for this week, from its stats."""
    keys = stack.shops.acme
    _, _, monday = _week()
    total = [0] * len(WEEK_COUNTS)
    journeys = stack.messenger.get("/v1/journeys?limit=100", headers=keys.header(keys.reader))
    for j in journeys.json():
        path = f"/v1/journeys/{j['journey_id']}/stats"
        weeks = stack.messenger.get(path, headers=keys.header(keys.reader)).json()["weeks"]
        week: dict[str, int] = next((w for w in weeks if w["week"] == monday), {})
        total = [t + week.get(k, 0) for t, k in zip(total, WEEK_COUNTS, strict=True)]
    return total


TODAY_ORDER = "2026-11-23T09:00:00+09:00"


def _cell_rule(r: int, f: int) -> dict[str, Any]:
    """The rule the page saves for an RFM cell."""
    scores = (("r_score", r), ("f_score", f))
    return {"all": [{"field": k, "op": "eq", "value": v} for k, v in scores]}


def test_a_drilled_down_cell_is_saved_and_put_into_a_journey(stack: Stack, browser: Any) -> None:
    """Given acme runs the built-in win-back journey (it starts when someone enters the
    dormant segment)
    When its admin drills into an RFM cell, saves its customers as a segment and puts them
    into the win-back journey, then does it again from the segment's page
    Then every one of the cell's customers entered the journey once (the holdout
    included), the page says so with the journey's own count, and the second time
    nobody entered again."""
    keys = stack.shops.acme
    admin = keys.header(keys.admin)
    for n in range(2):  # two first orders today, known to the messenger with an address
        body = order_payload(
            n=n, customer_id=f"new-{n}", email=f"new{n}@example.jp", placed_at=TODAY_ORDER
        )
        r = stack.segmenter.post("/v1/orders", json=body, headers=keys.header(keys.events))
        assert r.status_code == 201, r.text
    assert stack.segmenter.post("/v1/segments/recompute", headers=admin).is_success
    assert stack.messenger.post("/v1/journeys/builtins/winback/enable", headers=admin).is_success
    _to_messenger(stack)  # what the bus holds (the dormant may enter win-back on the way)
    before = stack.messenger.get("/v1/journeys/winback/stats", headers=admin).json()["entered"]
    rfm = _get(stack, "/v1/customers/new-0")["rfm"]
    r_score, f_score = rfm["r"], rfm["f"]
    customers = _preview(stack, _cell_rule(r_score, f_score))
    segment = f"rfm-r{r_score}-f{f_score}"

    console = Console(browser, stack.base_url)
    console.sign_in(keys.admin)
    page = console.page
    console.go(f"#/rfm/{r_score}/{f_score}", "rfm")
    page.click("#save-segment")
    page.wait_for_selector("#save-status.ok, #save-status.error")
    stack.cloud.deliver("SegmenterEventsFunction")  # the new segment counted
    _to_messenger(stack)  # the bus brings the segment's members to the messenger
    page.wait_for_selector("#enrol-journey")
    assert page.locator("#enrol-journey option").all_inner_texts() == ["Win-back"]
    page.click("#enrol")
    page.wait_for_selector("#enrol-status.ok, #enrol-status.error")
    after = stack.messenger.get("/v1/journeys/winback/stats", headers=admin).json()["entered"]
    entered = after - before
    assert 0 < entered <= customers
    assert page.locator("#enrol-status").inner_text() == (
        f"{entered}人がジャーニーに入りました(すでに参加中・対象外: {customers - entered}人)。"
    )

    # And this week's sends on the overview count the journey's with the campaigns'
    # (the calendar week so far, Tokyo), sends, opens, clicks and conversions alike
    journeys = _journeys_this_week(stack)
    campaigns = _campaigns_this_week(stack)
    assert journeys[0] > 0
    console.go("#/overview", "overview")
    week = [page.locator(f"#week-{k} .value").inner_text() for k in WEEK_COUNTS]
    assert _numbers(week) == [c + j for c, j in zip(campaigns, journeys, strict=True)]
    rows = page.locator("#week-sources tbody tr")
    assert _numbers(rows.nth(0).locator("td").all_text_contents()) == campaigns
    # (one row per journey, by name, adding up to the journeys' numbers)
    per_journey = {
        rows.nth(i).locator("th").text_content(): _numbers(
            rows.nth(i).locator("td").all_text_contents()
        )
        for i in range(1, rows.count())
    }
    assert "ジャーニー「Win-back」" in per_journey, per_journey
    assert [sum(c) for c in zip(*per_journey.values(), strict=True)] == journeys

    # And the journeys page shows the win-back's weeks (newest first) as its stats count
    # them, their sends adding up to the journey's
    stats = stack.messenger.get("/v1/journeys/winback/stats", headers=admin).json()
    assert sum(w["sent"] for w in stats["weeks"]) == stats["sent"] > 0
    console.go("#/journeys", "journeys")
    page.click("details[data-journey='winback'] summary")
    rows = page.locator("details[data-journey='winback'] table.weeks tbody tr")
    shown = [r.split("\t") for r in rows.all_inner_texts()]
    assert [[_numbers([n])[0] for n in row[1:]] for row in shown] == [
        [w[k] for k in ("sent", "opened", "clicked", "converted")]
        for w in reversed(stats["weeks"][-8:])
    ]
    monday = datetime.fromisoformat(stats["weeks"][-1]["week"])
    assert shown[0][0] == f"{monday.year}年{monday.month}月{monday.day}日の週"

    console.go(f"#/segments/{segment}", "segments")
    page.click("#enrol")
    page.wait_for_selector("#enrol-status.ok, #enrol-status.error")
    assert page.locator("#enrol-status").inner_text().startswith("0人がジャーニーに入りました")
    again = stack.messenger.get("/v1/journeys/winback/stats", headers=admin).json()["entered"]
    assert again == after

    # And the profile of one of them lists the journey, as the enrolments route says
    (enrolment,) = stack.messenger.get(
        "/v1/journeys/enrolments?customer_id=new-0", headers=admin
    ).json()
    console.go("#/customers/new-0", "customers")
    cells = page.locator("#profile-journeys tbody tr").first
    labels = {"active": "進行中", "holdout": "比較対象(配信なし)", "completed": "完了"}
    assert cells.locator("th").inner_text() == "Win-back"
    assert cells.locator("td").first.inner_text() == labels[enrolment["status"]]
    assert page.locator("#profile dt", has_text="好み").count() == 1
    assert console.errors == [] and console.other_hosts() == []
    console.close()


def test_a_campaign_with_two_variants_is_created_and_shows_each_variants_results(
    stack: Stack, browser: Any
) -> None:
    """Given a segment of acme's customers who first bought today, known to the messenger
    When its admin creates a campaign with a second variant (its own subject and body),
    judged by clicks, and its wave runs
    Then the campaign has both variants, each with its own message, the people got one
    of the two subjects each, and the campaign page shows each variant's sends and its
    chance of being best as the results route counts them."""
    keys = stack.shops.acme
    admin = keys.header(keys.admin)
    for n in range(4):  # first orders today, known to the messenger with an address
        body = order_payload(
            n=n, customer_id=f"ab-{n}", email=f"ab{n}@example.jp", placed_at=TODAY_ORDER
        )
        r = stack.segmenter.post("/v1/orders", json=body, headers=keys.header(keys.events))
        assert r.status_code == 201, r.text
    rule = {"field": "first_order_at", "op": "within_last_days", "value": 1}
    body = {"segment_id": "today", "name": "今日の新規", "rule": rule}
    r = stack.segmenter.post("/v1/segments", json=body, headers=admin)
    assert r.status_code == 201, r.text
    stack.cloud.deliver("SegmenterEventsFunction")  # the new segment counted
    _to_messenger(stack)

    console = Console(browser, stack.base_url)
    console.sign_in(keys.admin)
    page = console.page
    console.go("#/campaigns/new/today", "campaigns")
    assert page.locator("#campaign-metric-row").is_hidden()
    page.fill("#campaign-name", "常連様 A/B")
    page.fill("#campaign-subject", "いつもありがとうございます A")
    page.fill("#campaign-body", "{{ customer.last_name }}様\n\nA")
    page.click("#add-variant")
    page.fill("#campaign-subject-B", "いつもありがとうございます B")
    page.fill("#campaign-body-B", "{{ customer.last_name }}様\n\nB")
    page.select_option("#campaign-metric", "clicks")
    page.click("#campaign-form button[type=submit]")
    page.wait_for_selector("#campaign-title, #campaign-status.error")
    assert page.locator("#campaign-status").count() == 0, page.locator(
        "#campaign-status"
    ).inner_text()
    campaign_id = page.evaluate("location.hash").rsplit("/", 1)[1]
    campaign = stack.messenger.get(f"/v1/campaigns/{campaign_id}", headers=admin).json()
    assert campaign["metric"] == "clicks"
    assert [(v["name"], v["message_id"]) for v in campaign["variants"]] == [
        ("A", f"{campaign_id}-a"),
        ("B", f"{campaign_id}-b"),
    ]

    messenger_events.journey_dispatcher()
    _to_messenger(stack)
    subjects = [
        message_from_string(m.raw_data, policy=policy.default)["Subject"]
        for m in stack.cloud.sent_mail()
    ]
    got = {s for s in subjects if s.startswith("いつもありがとうございます")}
    results = stack.messenger.get(f"/v1/campaigns/{campaign_id}/results", headers=admin).json()
    sent = {v: row["sent"] for v, row in results["by_variant"].items()}
    assert sum(sent.values()) == results["total"]["sent"] > 0
    assert got <= {"いつもありがとうございます A", "いつもありがとうございます B"}

    console.go("#/campaigns", "campaigns")
    console.go(f"#/campaigns/{campaign_id}", "campaigns")
    rows = page.locator("#campaign-variants tbody tr")
    shown = {
        rows.nth(i).locator("th").inner_text(): rows.nth(i).locator("td").all_inner_texts()
        for i in range(rows.count())
    }
    assert {v: _numbers(shown[v][:1]) for v in ("A", "B")} == {v: [sent[v]] for v in ("A", "B")}
    for v in ("A", "B"):
        assert shown[v][-1].endswith("%"), shown[v]
    assert console.errors == [] and console.other_hosts() == []
    console.close()


def test_the_other_charts_drill_down_to_their_customers_and_a_segment(
    stack: Stack, browser: Any
) -> None:
    """Given acme's admin
    When they follow a rank on the RFM page, a stage of the repeat funnel and a channel of
    the LTV page, and save the funnel stage's customers as a segment
    Then the rank leads to the customers its rule counts, the stage and the channel to
    the customers the reports count (the analytics pass's), and the saved segment leads
    on to a campaign and a journey as a cell's does."""
    keys = stack.shops.acme
    console = Console(browser, stack.base_url)
    console.sign_in(keys.admin)
    page = console.page
    console.go("#/rfm", "rfm")
    page.locator("a[data-drill='rank:dormant']").first.click()
    count = _preview(stack, {"all": [{"field": "rfm_rank", "op": "eq", "value": "dormant"}]})
    assert _drilled_count(page) == count > 0
    assert page.locator("#drill-customers li").count() == min(count, 500)
    funnel = _get(stack, "/v1/analytics/repeat")["rows"]
    channels = [r for r in _get(stack, "/v1/analytics/ltv")["rows"] if r["dimension"] == "channel"]
    instagram = next(r for r in channels if r["key"] == "instagram")
    clicks = [
        ("#/repeat", "reached:2", funnel[0]["customers_to"], ("repeat", {"stage": "2"})),
        (
            "#/ltv",
            "channel:instagram",
            instagram["customers"],
            ("ltv", {"dimension": "channel", "key": "instagram"}),
        ),
    ]
    for hash_, drill, counted, (report, cell) in clicks:
        console.go(hash_, hash_[2:])
        page.locator(f"a[data-drill='{drill}']").first.click()
        assert _drilled_count(page) == counted > 0, drill
        assert _shown(page) == _cell(stack, report, **cell)["customer_ids"], drill
    console.go("#/drill/reached/2", "drill")
    page.click("#save-segment")
    page.wait_for_selector("#save-status.ok, #save-status.error")
    assert page.locator("#save-status").get_attribute("class") == "ok", page.locator(
        "#save-status"
    ).inner_text()
    page.wait_for_selector("#send-campaign")
    assert page.locator("#send-campaign").get_attribute("href") == "#/campaigns/new/reached-2"
    page.wait_for_selector("#enrol-journey, #enrol-none")
    assert console.errors == [] and console.other_hosts() == []
    console.close()


def test_funnel_stages_second_purchase_buckets_and_ltv_rows_lead_to_exactly_their_customers(
    stack: Stack, marketer: Console
) -> None:
    """Given acme analysed and its marketer
    When they follow the funnel's F3 stage and the fullest days-to-second-purchase bucket
    on the repeat page and the fullest channel of the LTV page's channel economics, and
    save each one's customers as a segment
    Then each lists as many customers as the report counts there, the ones the cells
    route names (buyers added after the pass do not change them), and each segment's
    members are exactly those customers."""
    page = marketer.page
    funnel = {r["from_stage"]: r for r in _get(stack, "/v1/analytics/repeat")["rows"]}
    marketer.go("#/repeat", "repeat")
    page.locator("#funnel a[data-drill='reached:3']").click()
    assert _drilled_count(page) == funnel["F3"]["customers_from"] > 0
    ids = _cell(stack, "repeat", stage="3")["customer_ids"]
    assert _shown(page) == ids
    assert _saved_members(stack, page, "reached-3") == sorted(ids)

    buckets = _get(stack, "/v1/analytics/second-purchase")["rows"]
    bucket = max(buckets, key=lambda b: b["customers"])
    marketer.go("#/repeat", "repeat")
    page.locator(f"#second-purchase a[data-drill='gap:{bucket['bucket']}']").click()
    assert _drilled_count(page) == bucket["customers"] > 0
    ids = _cell(stack, "second-purchase", bucket=bucket["bucket"])["customer_ids"]
    assert _shown(page) == ids
    slug = re.sub(r"[^a-z0-9]+", "-", bucket["bucket"]).strip("-")
    assert _saved_members(stack, page, f"gap-{slug}") == sorted(ids)

    channel = max(_get(stack, "/v1/analytics/channels")["rows"], key=lambda r: r["new_customers"])
    marketer.go("#/ltv", "ltv")
    page.locator(f"#channels a[data-drill='channel:{channel['channel']}']").click()
    assert _drilled_count(page) == channel["new_customers"] > 0
    ids = _cell(stack, "ltv", dimension="channel", key=channel["channel"])["customer_ids"]
    assert _shown(page) == ids[:500]
    if len(ids) <= 500:
        slug = re.sub(r"[^a-z0-9]+", "-", channel["channel"]).strip("-")
        assert _saved_members(stack, page, f"channel-{slug}") == sorted(ids)


def _drilled_count(page: Any) -> int:
    page.wait_for_selector("main[data-view=drill][data-ready=true] #drill-title")
    title = page.locator("#drill-title").inner_text()
    return _numbers([title.rsplit(": ", 1)[1].rstrip("人")])[0]


def test_cohorts_and_retention_cells_drill_down_to_the_customers_the_reports_count(
    stack: Stack, marketer: Console
) -> None:
    """Given acme analysed and its marketer on the repeat page
    When they follow a cohort of the retention heatmap, one of its cells (the cohort's
    customers who bought again k months after their first month), a cohort and each first
    product of the LTV page, and save the cell's customers as a segment
    Then each lists as many customers as the report counts behind it (the analytics pass's
    figure, not the page's own), and the cell's segment has exactly its customers."""
    page = marketer.page
    retention = _get(stack, "/v1/analytics/retention")["rows"]
    cells = [
        (r, int(k[1:]))
        for r in retention
        for k in r
        if re.fullmatch(r"m\d+", k) and k != "m0" and r[k]
    ]
    assert cells, retention
    row, k = max(cells, key=lambda c: c[0][f"m{c[1]}"] * c[0]["customers"])
    marketer.go("#/repeat", "repeat")
    page.locator(f"#retention a[data-drill='retained:{row['month']}.{k}']").click()
    assert _drilled_count(page) == round(row[f"m{k}"] * row["customers"]) > 0
    assert page.locator("#drill-customers li").count() == min(_drilled_count(page), 500)

    marketer.go("#/repeat", "repeat")
    page.locator(f"#retention a[data-drill='cohort:{row['month']}']").click()
    assert _drilled_count(page) == row["customers"]

    ltv = [r for r in _get(stack, "/v1/analytics/ltv")["rows"] if r["dimension"] == "cohort"]
    cohort = max(ltv, key=lambda r: r["customers"])
    marketer.go("#/ltv", "ltv")
    page.locator(f"#ltv-cohort a[data-drill='cohort:{cohort['key']}']").click()
    assert _drilled_count(page) == cohort["customers"]

    products = [
        r for r in _get(stack, "/v1/analytics/ltv")["rows"] if r["dimension"] == "first_product"
    ]
    for product in products:
        marketer.go("#/ltv", "ltv")
        page.locator(f"#ltv-first-product a[data-drill='first_product:{product['key']}']").click()
        # the report's count, whoever the module's other tests add after the pass
        assert _drilled_count(page) == product["customers"], product["key"]

    marketer.go(f"#/drill/retained/{row['month']}.{k}", "drill")
    ids = _cell(stack, "retention", month=row["month"], month_offset=str(k))["customer_ids"]
    assert _shown(page) == ids
    assert _saved_members(stack, page, f"retained-{row['month']}-{k}") == sorted(ids)

    marketer.go("#/drill/retained/2025-13.x", "drill")
    assert page.locator("main .notice").inner_text() == "この絞り込みはありません。"


def test_the_latest_calendar_diagnosis_cells_drill_down_to_their_customers(
    stack: Stack, marketer: Console
) -> None:
    """Given acme analysed and its marketer on the list diagnosis page
    When they follow the fullest cell of the latest month's calendar diagnosis (months
    since the last order × orders so far), and a cell of 12+ months
    Then each lists the customers the calendar report counts in it, the ones the cells
    route names, whoever bought since the pass (the module's other tests add buyers)."""
    page = marketer.page
    rows = _get(stack, "/v1/analytics/calendar")["rows"]
    latest = max(r["month"] for r in rows)
    cells = [
        (r["months_since_last_order"], k[1:], r[k])
        for r in rows
        if r["month"] == latest
        for k in r
        if re.fullmatch(r"f(\d|5\+)", k) and r[k]
    ]
    fullest = max(cells, key=lambda c: c[2])
    oldest = max((c for c in cells if c[0] == "12+"), key=lambda c: c[2], default=None)
    for recency, orders, customers in [fullest, *([oldest] if oldest else [])]:
        marketer.go("#/diagnosis", "diagnosis")
        page.locator(f"#calendar a[data-drill='was:{latest}.{recency}.{orders}']").click()
        assert _drilled_count(page) == customers, (recency, orders)
        cell = _cell(stack, "calendar", month=latest, recency=recency, frequency=orders)
        assert _shown(page) == cell["customer_ids"]
    marketer.go("#/diagnosis", "diagnosis")
    assert page.locator("#calendar tbody td").count() == 6 * 6


def _cell(stack: Stack, report: str, **params: str) -> dict[str, Any]:
    """A cell's customers as the API answers them (the first 500)."""
    query = urlencode({**params, "limit": "500"})
    body: dict[str, Any] = _get(stack, f"/v1/analytics/{report}/customers?{query}")
    return body


def _shown(page: Any) -> list[str]:
    page.wait_for_selector("main[data-view=drill][data-ready=true] #drill-customers")
    texts: list[str] = page.locator("#drill-customers a").all_inner_texts()
    return texts


def _saved_members(stack: Stack, page: Any, segment: str) -> list[str]:
    """Save the drilled-down customers as a segment, count it, and read its members."""
    page.click("#save-segment")
    page.wait_for_selector("#save-status.ok, #save-status.error")
    assert page.locator("#save-status").get_attribute("class") == "ok", page.locator(
        "#save-status"
    ).inner_text()
    stack.cloud.deliver("SegmenterEventsFunction")  # the new segment counted
    page.wait_for_selector("#save-status[data-counted=true]")
    members: list[str] = _get(stack, f"/v1/segments/{segment}/members?limit=1000")["customer_ids"]
    return sorted(members)


def test_earlier_months_list_flow_and_calendar_cells_lead_to_their_customers_and_a_segment(
    stack: Stack, marketer: Console
) -> None:
    """Given acme analysed and its marketer on the list diagnosis page
    When they follow an earlier month's count in the list analysis table, a flow of an
    earlier month's lifecycle matrix and a cell of an earlier month's calendar diagnosis,
    and save each one's customers as a segment
    Then each lists the customers the report counts there at that month's end (as many as
    the report says, the ones the cells route names), and each segment's members are
    exactly that cell's customers."""
    page = marketer.page
    listed = _get(stack, "/v1/analytics/list-analysis")["rows"]
    month = listed[-4]["month"]
    state = max(("new", "repeat", "loyal", "dormant", "lost"), key=lambda s: listed[-4][s])
    marketer.go("#/diagnosis", "diagnosis")
    page.locator(f"#list-analysis a[data-drill='listed:{month}.{state}']").click()
    assert _drilled_count(page) == listed[-4][state] > 0
    ids = _cell(stack, "list-analysis", month=month, state=state)["customer_ids"]
    assert _shown(page) == ids
    assert _saved_members(stack, page, f"listed-{month}-{state}") == sorted(ids)

    flows = [
        r
        for r in _get(stack, "/v1/analytics/lifecycle")["rows"]
        if r["month"] == month and r["from_state"] != "none"
    ]
    flow = max(flows, key=lambda r: r["customers"])
    a, b = flow["from_state"], flow["to_state"]
    marketer.go("#/diagnosis", "diagnosis")
    page.select_option("#diagnosis-month", month)
    page.locator(f"#lifecycle a[data-drill='flow:{month}.{a}.{b}']").click()
    assert _drilled_count(page) == flow["customers"] > 0
    ids = _cell(stack, "lifecycle", month=month, from_state=a, to_state=b)["customer_ids"]
    assert _shown(page) == ids
    assert _saved_members(stack, page, f"flow-{month}-{a}-{b}") == sorted(ids)

    calendar = [r for r in _get(stack, "/v1/analytics/calendar")["rows"] if r["month"] == month]
    rec, freq, n = max(
        (
            (r["months_since_last_order"], k[1:], r[k])
            for r in calendar
            for k in r
            if re.fullmatch(r"f(\d|5\+)", k)
        ),
        key=lambda c: c[2],
    )
    marketer.go("#/diagnosis", "diagnosis")
    page.select_option("#diagnosis-month", month)
    page.locator(f"#calendar a[data-drill='was:{month}.{rec}.{freq}']").click()
    assert _drilled_count(page) == n > 0
    ids = _cell(stack, "calendar", month=month, recency=rec, frequency=freq)["customer_ids"]
    assert _shown(page) == ids
    slug = re.sub(r"[^a-z0-9]+", "-", f"{month}.{rec}.{freq}").strip("-")
    assert _saved_members(stack, page, f"was-{slug}") == sorted(ids)


def test_a_profile_shows_consent_per_channel_and_per_topic(stack: Stack, marketer: Console) -> None:
    """Given an acme customer who opted in to mail at checkout, then left the step mails
    topic through an unsubscribe link (the messenger's `consent.withdrawn` on the bus,
    brought to the segmenter's event function by its rule)
    When the marketer opens their profile
    Then the consent table shows mail marketing consented and the step mails topic
    withdrawn on every channel, as the profile route holds them, and the topics left are
    named among the profile's facts."""
    withdrawn = EventEnvelope(
        id="evt-console-topic-left",
        shop="acme",
        type="consent.withdrawn",
        detail={
            "customer_id": "c-007",
            "channel": "all",
            "category": "marketing",
            "topic": "step_mails",
            "withdrawn_at": shared_clock.now().isoformat(),
        },
    )
    stack.cloud.events.put_events(
        Entries=[
            {
                "Source": "kizuna.messenger",
                "DetailType": "consent.withdrawn",
                "Detail": withdrawn.model_dump_json(),
                "EventBusName": stack.cloud.settings.event_bus_name,
            }
        ]
    )
    stack.cloud.deliver("SegmenterEventsFunction")
    held = _get(stack, "/v1/customers/c-007")["consents"]
    assert {(c["channel"], c["category"], c["granted"]) for c in held} >= {
        ("email", "marketing", True),
        ("email", "topic:step_mails", False),
        ("line", "topic:step_mails", False),
    }

    page = marketer.page
    marketer.go("#/customers/c-007", "customers")
    page.wait_for_selector("#consents")
    rows = [
        [cell.strip() for cell in row.split("\t")]
        for row in page.locator("#consents tbody tr").all_inner_texts()
    ]
    assert len(rows) == len(held)
    assert rows[0][:3] == ["email", "販促", "同意"], rows
    left = [r for r in rows if r[1] == "トピック: step_mails"]
    channels = {c["channel"] for c in held if c["category"] == "topic:step_mails"}
    assert {r[0] for r in left} == channels
    assert all(r[2] == "撤回" for r in left)
    facts = page.locator("#profile").inner_text()
    assert "配信停止したトピック\nstep_mails" in facts, facts


def _tab_to(page: Any, selector: str, most: int = 80) -> None:
    """Press Tab until `selector` has the focus (at most `most` times)."""
    for _ in range(most):
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_a_marketer_works_the_console_with_the_keyboard_alone(stack: Stack, browser: Any) -> None:
    """Given the console's sign-in page and no mouse
    When acme's marketer tabs to the key, types it and presses Enter, tabs to the RFM
    page's link, uses "skip to the content", tabs to a cell, and presses Enter on each
    Then they are signed in, the skip link moves the focus to the page without leaving
    it, and the cell drills down to its customers."""
    console = Console(browser, stack.base_url)
    console.open()
    page = console.page
    _tab_to(page, "#api_key")
    page.keyboard.type(stack.shops.acme_marketer)
    page.keyboard.press("Enter")
    page.wait_for_selector("main[data-view=overview][data-ready=true]")
    _tab_to(page, "#nav a[data-view=rfm]")
    page.keyboard.press("Enter")
    page.wait_for_selector("main[data-view=rfm][data-ready=true]")
    page.evaluate("document.activeElement.blur()")
    _tab_to(page, "a.skip")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    assert page.evaluate("location.hash") == "#/rfm"
    assert page.locator("main").get_attribute("data-view") == "rfm"
    _tab_to(page, "#rfm-grid button")
    page.keyboard.press("Enter")
    page.wait_for_selector("main[data-view=rfm][data-ready=true] #drill-customers")
    assert page.locator("#drill-customers li").count() > 0
    assert console.errors == [] and console.other_hosts() == []
    console.close()


def test_the_overviews_ranks_now_lead_to_the_customers_of_that_month_end(
    stack: Stack, marketer: Console
) -> None:
    """Given acme analysed and its marketer on the overview
    When they follow the forecast table's count of each rank now (the last complete month)
    Then each lists the customers the list analysis counts in that rank at that month's
    end, the ones the cells route names."""
    page = marketer.page
    rows = [r for r in _get(stack, "/v1/analytics/forecast")["rows"] if r["customers"]]
    ranks = [r for r in rows if r["state"] in ("new", "repeat", "loyal", "dormant", "lost")]
    assert ranks
    for row in ranks:
        marketer.go("#/overview", "overview")
        drill = f"listed:{row['month']}.{row['state']}"
        page.locator(f"#forecast a[data-drill='{drill}']").click()
        assert _drilled_count(page) == row["customers"], drill
        cell = _cell(stack, "list-analysis", month=row["month"], state=row["state"])
        assert _shown(page) == cell["customer_ids"][:500], drill
