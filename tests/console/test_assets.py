"""The console's own files: small, complete in both languages, and from this origin only."""

from __future__ import annotations

import gzip
import json
import re
from typing import get_args

from fastapi.testclient import TestClient

from console.entrypoints import pages
from feedback.domain.restock import ReleaseStatus, SignUpStatus
from messenger.domain.campaign import RESULT_METRICS, CampaignStatus
from messenger.domain.journeys.definition import JourneyStatus, StepType
from messenger.domain.journeys.enrolment import EnrolmentStatus
from messenger.domain.journeys.people import METRICS as JOURNEY_METRICS
from messenger.domain.model import DeliveryStatus
from segmenter.domain.analytics.views import STATES
from segmenter.domain.segments.builtin import BUILTIN_SEGMENTS
from segmenter.domain.segments.rfm import RfmRank
from shared.contracts.details import Category
from tests.conftest import Cloud

STATIC = pages.STATIC
JS_BUDGET_GZIPPED = 150 * 1024


def _catalogue(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((STATIC / "i18n" / f"{lang}.json").read_text("utf-8"))
    return data


def test_the_page_ships_under_150_kb_of_javascript_gzipped() -> None:
    """Given every script the page loads (the vendored uPlot and the console's own)
    Then together they are under 150 KB gzipped."""
    scripts = re.findall(r'<script src="([^"]+)"', (STATIC / "index.html").read_text("utf-8"))
    assert scripts == ["/console/assets/uplot.min.js", "/console/assets/app.js"]
    total = sum(len(gzip.compress((STATIC / s.rsplit("/", 1)[1]).read_bytes(), 9)) for s in scripts)
    assert total < JS_BUDGET_GZIPPED, total


def test_every_file_the_page_names_is_its_own() -> None:
    """Given the page shell, its styles and scripts
    Then nothing names another host (no CDN, no web font), and every asset it loads is one
    the console serves."""
    html = (STATIC / "index.html").read_text("utf-8")
    for name in ["index.html", *pages.ASSETS]:
        text = (STATIC / name).read_text("utf-8")
        urls = re.findall(r"""(?:src|href)=["'](?:https?:)?//|url\(\s*["']?(?:https?:)?//""", text)
        assert urls == [], name
    for ref in re.findall(r'(?:src|href)="(/console/assets/[^"]+)"', html):
        assert ref.removeprefix("/console/assets/") in pages.ASSETS
    assert (STATIC / "uplot.LICENSE").read_text("utf-8").startswith("The MIT License")


def test_both_languages_are_complete() -> None:
    """Given the Japanese and English catalogues
    Then they hold the same keys, none empty, and every key the page asks for, including
    one per value the API answers (ranks, list states, order and delivery statuses)."""
    ja, en = _catalogue("ja"), _catalogue("en")
    assert set(ja) == set(en)
    assert all(v.strip() for v in [*ja.values(), *en.values()])
    script = (STATIC / "app.js").read_text("utf-8")
    html = (STATIC / "index.html").read_text("utf-8")
    asked = set(re.findall(r'\bt\("([a-z0-9_]+\.[a-z0-9_.]+)"', script))
    asked |= set(re.findall(r'data-i18n="([^"]+)"', html))
    asked |= {f"rank.{r}" for r in RfmRank} | {f"state.{s}" for s in (*STATES, "total")}
    asked |= {f"delivery.{s}" for s in DeliveryStatus}
    asked |= {f"order.{s}" for s in ("placed", "shipped", "delivered", "cancelled", "returned")}
    asked |= {f"status.{s}" for s in ("not_computed", "queued", "running", "failed")}
    asked |= {f"campaign_status.{s}" for s in CampaignStatus} | {"rank.unranked"}
    asked |= {f"campaign_who.{m}" for m in RESULT_METRICS}
    asked |= {f"journey_who.{m}" for m in JOURNEY_METRICS}
    asked |= {f"journey_status.{s}" for s in (*JourneyStatus, "off")}
    asked |= {f"enrolment.{s}" for s in EnrolmentStatus}
    asked |= {f"step_type.{s}" for s in StepType}
    asked |= {f"release.{s}" for s in get_args(ReleaseStatus)}
    asked |= {f"signup.{s}" for s in get_args(SignUpStatus)}
    asked |= {f"builtin_segment.{s.id}" for s in BUILTIN_SEGMENTS}
    asked |= {f"consent.{c}" for c in get_args(Category)}
    assert sorted(asked - set(ja)) == []
    assert all(
        re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", ja[k]) for k in ("nav.overview", "rfm.save")
    )


def test_assets_are_served_with_their_type_and_the_csp(cloud: Cloud) -> None:
    """Given the console app
    Then each asset comes with its type, every answer carries a CSP that allows this
    origin only, and an unknown or traversing name is a 404."""
    from console.entrypoints.api import app

    client = TestClient(app)
    page = client.get("/console/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    for name, media in pages.ASSETS.items():
        got = client.get(f"/console/assets/{name}")
        assert got.status_code == 200 and got.headers["content-type"] == media, name
    for bad in ("nope.js", "../bootstrap.py", "%2e%2e/bootstrap.py", "uplot.LICENSE"):
        assert client.get(f"/console/assets/{bad}").status_code == 404, bad
    unknown = client.get("/console/assets/nope.js").json()["error"]
    assert unknown["fields"][0]["field"] == "name"
    assert client.get("/console", follow_redirects=False).headers["location"] == "/console/"
