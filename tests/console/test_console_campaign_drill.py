"""A campaign's results drill down to their customers in headless Chromium (Debian's),
over real HTTP on in-process moto: a variant's count opens the list of the people it
counts, which is saved as a segment of exactly them."""

from __future__ import annotations

from email import message_from_string, policy
from pathlib import Path
from typing import Any

from messenger.entrypoints import events as messenger_events
from tests.browser import needs_chromium
from tests.conftest import order_payload, placed_today
from tests.console.browser import Console
from tests.console.conftest import Stack

pytestmark = needs_chromium

PEOPLE = [f"cd-{n}" for n in range(6)]
SUBJECTS = {"A": "冬のご案内", "B": "【本日限定】冬のご案内"}


def _to_messenger(stack: Stack) -> None:
    """What the bus delivered to the messenger's queue so far, handed to its function."""
    for event in stack.cloud.take_events("MessengerEventsFunction"):
        messenger_events.handler(event, None)


def _admin(stack: Stack) -> dict[str, str]:
    return stack.shops.acme.header(stack.shops.acme.admin)


def _sent_campaign(stack: Stack) -> str:
    """Six new customers with mail consent, a listed segment of them, and an A/B campaign
    sent to it; the campaign's id."""
    for c in PEOPLE:
        body = order_payload(1, customer_id=c, email=f"{c}@example.jp", placed_at=placed_today())
        r = stack.segmenter.post(
            "/v1/orders", json=body, headers=stack.shops.acme.header(stack.shops.acme.events)
        )
        assert r.status_code == 201, r.text
    assert stack.segmenter.post("/v1/segments/recompute", headers=_admin(stack)).is_success
    _to_messenger(stack)
    r = stack.segmenter.post(
        "/v1/segments/listed",
        json={"segment_id": "drill-audience", "name": "冬の対象者", "customer_ids": PEOPLE},
        headers=_admin(stack),
    )
    assert r.status_code == 201, r.text
    stack.cloud.deliver("SegmenterEventsFunction")
    _to_messenger(stack)
    for name, subject in SUBJECTS.items():
        message = {
            "message_id": f"winter-{name.lower()}",
            "name": subject,
            "email": {
                "subject": subject,
                "html": "<p>冬のご案内です。</p>",
                "text": "冬のご案内です。",
            },
        }
        r = stack.messenger.post("/v1/messages", json=message, headers=_admin(stack))
        assert r.status_code == 201, r.text
    campaign = {
        "campaign_id": "winter-ab",
        "name": "冬のご案内",
        "segment_id": "drill-audience",
        "variants": [{"name": n, "message_id": f"winter-{n.lower()}"} for n in SUBJECTS],
        "wave_interval_minutes": 0,
    }
    r = stack.messenger.post("/v1/campaigns", json=campaign, headers=_admin(stack))
    assert r.status_code == 201, r.text
    messenger_events.journey_dispatcher()
    _to_messenger(stack)
    return "winter-ab"


def test_a_variants_count_lists_its_customers_who_become_a_segment(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    """Given an A/B campaign sent to six customers
    When acme's admin opens its results, chooses variant A's "sent" count with the
    keyboard, and saves the customers listed
    Then the list is exactly the people whose mail had A's subject, as many as the count
    shown, and the saved segment's members are those people."""
    campaign_id = _sent_campaign(stack)
    got_a = sorted(
        str(m.destinations[0]).split("@")[0]
        for m in stack.cloud.sent_mail()
        if message_from_string(m.raw_data, policy=policy.default)["Subject"] == SUBJECTS["A"]
    )
    sent_at_all = [
        m
        for m in stack.cloud.sent_mail()
        if message_from_string(m.raw_data, policy=policy.default)["Subject"] in SUBJECTS.values()
    ]
    assert len(sent_at_all) == len(PEOPLE) and got_a  # both variants drew someone (seeded)
    console = Console(browser, stack.base_url)
    console.sign_in(stack.shops.acme.admin)
    page = console.page
    console.go(f"#/campaigns/{campaign_id}", "campaigns")
    console.screenshot("console-campaign-results.png", tmp_path)
    link = page.locator("#campaign-variants a[data-campaign-drill='sent:A:*']")
    assert link.inner_text() == str(len(got_a))

    # When they choose it with the keyboard
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("main[data-view=campaigns][data-ready=true] #drill-customers")

    # Then exactly variant A's recipients are listed, as many as the count said
    listed = sorted(page.locator("#drill-customers a").all_inner_texts())
    assert listed == got_a
    assert page.locator("#drill-title").inner_text().endswith(f"{len(got_a)}人")

    # When they save them as a segment
    page.click("#save-segment")
    page.wait_for_selector("#save-status.ok")
    stack.cloud.deliver("SegmenterEventsFunction")
    page.wait_for_selector("#save-status[data-counted=true]")

    # Then the segment's members are the customers listed
    segment_id = "campaign-winter-ab-a-sent"
    assert segment_id in page.locator("#save-status").inner_text()
    r = stack.segmenter.get(f"/v1/segments/{segment_id}/members", headers=_admin(stack))
    assert sorted(r.json()["customer_ids"]) == listed
    # And the way back leads to the results again
    page.click("#campaign-back")
    page.wait_for_selector("main[data-view=campaigns][data-ready=true] #campaign-variants")
    assert console.errors == [] and console.other_hosts() == []
    console.close()


JOURNEY_PEOPLE = [f"jd-{n}" for n in range(8)]


def _journey_with_a_holdout(stack: Stack) -> str:
    """Eight new customers put into a one-mail journey with a 50 % holdout; its id."""
    events = stack.shops.acme.header(stack.shops.acme.events)
    for c in JOURNEY_PEOPLE:
        body = order_payload(1, customer_id=c, email=f"{c}@example.jp", placed_at=placed_today())
        assert stack.segmenter.post("/v1/orders", json=body, headers=events).status_code == 201
    assert stack.segmenter.post("/v1/segments/recompute", headers=_admin(stack)).is_success
    _to_messenger(stack)
    r = stack.segmenter.post(
        "/v1/segments/listed",
        json={
            "segment_id": "welcome-audience",
            "name": "ようこそ対象",
            "customer_ids": JOURNEY_PEOPLE,
        },
        headers=_admin(stack),
    )
    assert r.status_code == 201, r.text
    stack.cloud.deliver("SegmenterEventsFunction")
    _to_messenger(stack)
    message = {
        "message_id": "welcome-drill",
        "name": "ようこそ",
        "email": {"subject": "ようこそ", "html": "<p>ようこそ</p>", "text": "ようこそ"},
    }
    assert (
        stack.messenger.post("/v1/messages", json=message, headers=_admin(stack)).status_code == 201
    )
    journey = {
        "journey_id": "welcome-drill",
        "name": "ようこそジャーニー",
        "trigger": {"segment": "welcome-audience"},
        "holdout_percent": 50,
        "start": "mail",
        "steps": {"mail": {"type": "send", "message_id": "welcome-drill"}},
    }
    r = stack.messenger.post("/v1/journeys", json=journey, headers=_admin(stack))
    assert r.status_code == 201, r.text
    r = stack.messenger.post(
        "/v1/journeys/welcome-drill/enrolments",
        json={"segment_id": "welcome-audience"},
        headers=_admin(stack),
    )
    assert r.status_code == 200 and r.json()["entered"] == len(JOURNEY_PEOPLE), r.text
    _to_messenger(stack)
    return "welcome-drill"


def test_a_journeys_holdout_and_a_steps_count_list_their_customers(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    """Given eight customers put into a one-mail journey with a 50 % holdout
    When acme's admin opens the journeys page and chooses the holdout's count with the
    keyboard, saves its customers, then opens the mail step's "sent" count
    Then the holdout lists exactly those who got no mail, as many as shown, and becomes a
    segment of them; the step lists exactly those who got it."""
    journey_id = _journey_with_a_holdout(stack)
    mailed = sorted(
        str(m.destinations[0]).split("@")[0]
        for m in stack.cloud.sent_mail()
        if message_from_string(m.raw_data, policy=policy.default)["Subject"] == "ようこそ"
    )
    held = sorted(set(JOURNEY_PEOPLE) - set(mailed))
    assert mailed and held  # the draw split them
    console = Console(browser, stack.base_url)
    console.sign_in(stack.shops.acme.admin)
    page = console.page
    console.go("#/journeys", "journeys")
    row = page.locator("#journeys tbody tr", has_text="ようこそジャーニー")
    link = row.locator("a[data-journey-drill='holdout:*']")
    assert link.inner_text() == str(len(held))

    # When they choose the holdout's count with the keyboard
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("main[data-view=journeys][data-ready=true] #drill-customers")

    # Then exactly those who got no mail are listed, and saved as a segment of them
    console.screenshot("console-journey-drill.png", tmp_path)
    assert sorted(page.locator("#drill-customers a").all_inner_texts()) == held
    assert page.locator("#drill-times, #drill-before").count() == 0  # all of it is listed
    assert page.locator("#drill-title").inner_text().endswith(f"{len(held)}人")
    page.click("#save-segment")
    page.wait_for_selector("#save-status.ok")
    stack.cloud.deliver("SegmenterEventsFunction")
    page.wait_for_selector("#save-status[data-counted=true]")
    segment_id = f"journey-{journey_id}-holdout"
    r = stack.segmenter.get(f"/v1/segments/{segment_id}/members", headers=_admin(stack))
    assert sorted(r.json()["customer_ids"]) == held

    # When they open the mail step's numbers and choose its "sent" count
    page.click("#journey-back")
    page.wait_for_selector("main[data-view=journeys][data-ready=true] #journeys")
    details = page.locator(f"details[data-journey='{journey_id}']")
    details.locator("summary").click()
    treated = details.locator("p.journey-groups a[data-journey-drill='treated:*']")
    assert treated.inner_text() == str(len(mailed))
    sent = details.locator("table.journey-steps a[data-journey-drill='sent:mail']")
    assert sent.inner_text() == str(len(mailed))
    sent.click()
    page.wait_for_selector("main[data-view=journeys][data-ready=true] #drill-customers")

    # Then exactly those who got the mail are listed
    assert sorted(page.locator("#drill-customers a").all_inner_texts()) == mailed

    # When they choose the journey's "sent" (every step's, summed), then the mail's box in
    # the picture, and its "sent" count in the list under the picture
    page.click("#journey-back")
    page.wait_for_selector("main[data-view=journeys][data-ready=true] #journeys")
    row = page.locator("#journeys tbody tr", has_text="ようこそジャーニー")
    every_step = row.locator("a[data-journey-drill='sent:*']")
    assert every_step.inner_text() == str(len(mailed))
    every_step.click()
    page.wait_for_selector("main[data-view=journeys][data-ready=true] #drill-customers")
    # Then each lists exactly those who got the mail
    assert sorted(page.locator("#drill-customers a").all_inner_texts()) == mailed
    for drawn in (
        "svg.flow-graph a[data-node-drill='mail']",
        "ol.flow a[data-journey-drill='sent:mail']",
    ):
        page.click("#journey-back")
        page.wait_for_selector("main[data-view=journeys][data-ready=true] #journeys")
        details.locator("summary").click()
        if drawn.startswith("ol"):
            assert details.locator(drawn).inner_text() == str(len(mailed))
        details.locator(drawn).click()
        page.wait_for_selector("main[data-view=journeys][data-ready=true] #drill-customers")
        assert sorted(page.locator("#drill-customers a").all_inner_texts()) == mailed, drawn

    # When one entry predates the enrolments' own copies (a shop upgraded mid-journey)
    table = stack.cloud.settings.journeys_table
    copy = stack.cloud.dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"PEOPLE#acme#{journey_id}"}},
    )["Items"][0]
    stack.cloud.dynamodb.delete_item(TableName=table, Key={"pk": copy["pk"], "sk": copy["sk"]})
    console.go(f"#/journeys/{journey_id}/customers/entered/*", "journeys")

    # Then the page lists the others and says one of the count is not listed
    assert page.locator("#drill-customers a").count() == len(JOURNEY_PEOPLE) - 1
    assert "1件" in page.locator("#drill-before").inner_text()
    assert console.errors == [] and console.other_hosts() == []
    console.close()
