"""`kizuna demo` as a person runs it (`make demo`): the real local stack from
infra/template.yaml, a synthetic shop through the public API, and a summary that shows
every part working, then the built-in journeys over 35 simulated days. Fewer live customers
than the default keeps it to a few minutes; the shop's imported past (700 customers) is the
same whatever the count, so that the analytics pass fits BG/NBD + Gamma-Gamma."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
KIZUNA = str(Path(sys.executable).parent / "kizuna")
REPO = Path(__file__).resolve().parents[2]
CUSTOMERS = 15
"""Enough for every channel: the demo makes customers 1-5 LINE friends, 6-10 SMS
subscribers, and sends its campaign and survey to the first 15 and 12."""


def _count(output: str, label: str) -> int:
    """The number in the table row that starts with `label`."""
    found = re.search(rf"│ {re.escape(label)}\s*│\s*(\d+)", output)
    assert found, f"no row {label!r} in the demo output"
    return int(found.group(1))


def test_the_demo_runs_every_service_end_to_end() -> None:
    # Given a shell with no AWS or Kizuna settings, and a terminal wide enough for the tables
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KIZUNA_"))}
    env["COLUMNS"] = "200"

    # When `kizuna demo` runs
    result = subprocess.run(
        [KIZUNA, "demo", "--customers", str(CUSTOMERS)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
        check=False,
    )
    out = result.stdout

    # Then it finishes
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "demo finished" in out
    # And the shop's past went in through the batched import, enough customers to fit on
    assert _count(out, "orders imported") > _count(out, "past customers") >= 500
    assert _count(out, "past customers with 3+ orders") >= 20
    # And every order went in, and the nightly recompute ranked every customer who bought,
    # the live ones (read back profile by profile) and the imported ones
    assert _count(out, "orders posted") == _count(out, "201 created") > 0
    live = sum(_count(out, stage) for stage in ("F1", "F2", "F3+"))
    buyers = live + _count(out, "past customers")
    ranks = [
        _count(out, r) for r in ("優良 loyal", "準優良 semi-loyal", "一般 general", "休眠 dormant")
    ]
    assert live > 0 and sum(ranks) == buyers
    # And the headline numbers are there, computed by the analytics pass (no 202 shown)
    assert "Headline numbers" in out and "not computed yet" not in out
    f2 = re.search(r"│ F2 rate \(repeat\)\s*│\s*(\d+\.\d)% \((\d+) of (\d+)\)", out)
    assert f2, "no F2 rate with a percentage"
    past_repeaters = _count(out, "past customers with 2+ orders")
    repeaters = _count(out, "F2") + _count(out, "F3+") + past_repeaters
    assert (int(f2.group(2)), int(f2.group(3))) == (repeaters, buyers)
    assert float(f2.group(1)) == round(100 * repeaters / buyers, 1)
    # And each acquisition channel has its new customers, CPA, 365-day LTV and payback
    channels = re.findall(
        r"│ (web|app|rakuten)\s*│\s*(\d+)\s*│\s*¥[\d,]+\s*│\s*¥([\d,]+)\s*│"
        r"\s*(?:¥[\d,]+|n/a) \((\d+) matured\)\s*│\s*(month \d+|not yet)\s*│",
        out,
    )
    assert {c[0] for c in channels} == {"web", "app", "rakuten"}, channels
    assert sum(int(c[1]) for c in channels) == buyers
    assert all(int(c[2].replace(",", "")) > 0 for c in channels)
    # And the customers per rank add up to the buyers, each with a 3-month forecast
    ranks_now = re.findall(
        r"│ (new \(F1\)|lost \(> 365 days\)|total)\s*│\s*(\d+)\s*│\s*\d+\.\d", out
    )
    assert dict(ranks_now).get("total") == str(buyers), ranks_now
    # And the nightly analytics pass fitted BG/NBD + Gamma-Gamma on every buyer, its
    # parameters shown with the fit's n and log-likelihood
    number = r"(\d+(?:\.\d+)?(?:e[+-]\d+)?)"
    fitted = re.search(
        rf"│ BG/NBD \(NightlyAnalytics\)\s*│ r={number}, α={number}, a={number}, b={number}, "
        rf"p={number}, q={number}, γ={number}, n=(\d+), log-likelihood=-{number}",
        out,
    )
    assert fitted, "no fitted BG/NBD parameters"
    assert all(float(v) > 0 for v in fitted.groups())
    assert int(fitted.group(8)) == buyers
    # And the sandbox holds messages on all three channels; the replayed history (first
    # orders a month to two years old) welcomed no one, today's first orders one mail each
    sent = {c: int(n) for n, c in re.findall(r"(\d+) (mail|line|sms) in all", out)}
    assert set(sent) == {"mail", "line", "sms"} and min(sent.values()) > 0, sent
    assert "Welcome mails for the replayed history: 0 " in out
    welcomed = re.search(
        r"First orders placed today, opted in: (\d+); welcome mails in the sandbox: (\d+)", out
    )
    assert welcomed and welcomed.group(1) == welcomed.group(2) != "0"
    # And the feedback table shows survey answers and a completed restock release
    assert "Feedback: survey and restock release" in out
    assert _count(out, "survey responses") > 0
    assert re.search(r"│ release status\s*│\s*completed", out)
    assert _count(out, "release notified") > 0
    # And every built-in journey was enabled, and after 35 days the step mails went out,
    # with the lift against the holdout shown
    assert "Built-in journeys after 35 days" in out
    journeys = dict(re.findall(r"│ ([a-z-]+)\s*│\s*\d+\s*│\s*\d+\s*│\s*(\d+)\s*│", out))
    assert {"post-purchase", "abandoned-cart", "winback", "birthday"} <= set(journeys), journeys
    assert int(journeys["post-purchase"]) > 0 and int(journeys["abandoned-cart"]) > 0
    assert re.search(r"│ post-purchase .*pt \[", out)
    # And nothing failed on the way
    assert "Handler failures: 0; dead letters: 0" in out
    # And the static report of the demo shop is written, its path printed
    report = re.search(r"Static report \(kizuna report\): (\S+)", out)
    assert report, "no static report path"
    html = Path(report.group(1)).read_text("utf-8")
    assert 'id="kpi-customers"' in html and "<script" not in html
