"""`kizuna report`: the console's overview, RFM, repeat, LTV and list diagnosis as one
self-contained HTML file, to mail to someone who will not sign in.

The figures come from the same JSON routes the console and partner tools read
(`/v1/analytics/{report}`, `/v1/segments/rfm-grid`), through `collect(get)`, so the file
shows the console's numbers. The file holds no script and names no other file or host:
styles are inline, the trend is an inline SVG, heatmaps are colour-scaled tables, and the
labels are the console's own message catalogue (ja or en).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from html import escape
from pathlib import Path
from typing import Any

from console.entrypoints.pages import STATIC

Get = Callable[[str], tuple[int, Any]]
"""A GET of a route path: (status, JSON body)."""

REPORTS = (
    "list-analysis",
    "revenue",
    "repeat",
    "second-purchase",
    "retention",
    "ltv",
    "channels",
    "calendar",
    "lifecycle",
    "forecast",
)
STATES = ("new", "repeat", "loyal", "dormant", "lost")
RANKS = ("loyal", "semi_loyal", "general", "dormant")
COLOURS = {
    "new": "#2b59c3",
    "repeat": "#1e7b4f",
    "loyal": "#b8860b",
    "dormant": "#8a8f9c",
    "lost": "#b3261e",
}
RECENCY = ("0", "1", "2", "3-5", "6-11", "12+")
FREQUENCY = ("1", "2", "3", "4", "5+")
LTV_WINDOWS = ("90d", "180d", "365d", "lifetime")


@dataclass(frozen=True)
class ReportData:
    """What the routes answered for one shop; a report not computed yet is `pending`."""

    shop_id: str
    as_of: str | None
    rows: Mapping[str, Sequence[Mapping[str, Any]]]
    grid: Mapping[str, Any]
    pending: Mapping[str, str] = field(default_factory=dict)


class ReportUnavailable(Exception):
    """A route refused (a wrong key or shop): the report cannot be written."""


def collect(shop_id: str, get: Get) -> ReportData:
    """Every report and the RFM grid, through the routes the console reads."""
    rows: dict[str, Sequence[Mapping[str, Any]]] = {}
    pending: dict[str, str] = {}
    as_of: str | None = None
    for name in REPORTS:
        status, body = get(f"/v1/analytics/{name}")
        if status == 202:
            pending[name] = str(body.get("status", "not_computed"))
            continue
        if status != 200:
            raise ReportUnavailable(f"GET /v1/analytics/{name}: {status}")
        rows[name] = body["rows"]
        as_of = as_of or body.get("as_of")
    status, grid = get("/v1/segments/rfm-grid")
    if status != 200:
        raise ReportUnavailable(f"GET /v1/segments/rfm-grid: {status}")
    return ReportData(shop_id, as_of, rows, grid, pending)


def messages(lang: str) -> dict[str, str]:
    """The console's catalogue of the language (the report's labels are the pages')."""
    data: dict[str, str] = json.loads((STATIC / "i18n" / f"{lang}.json").read_text("utf-8"))
    return data


class _Form:
    """Numbers, yen, percentages and dates in the language's form (as the pages write
    them with Intl: ¥1,234; 12.3%; 2026年11月23日 or November 23, 2026)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.text = messages(lang)

    def t(self, key: str, **values: object) -> str:
        out = self.text.get(key, key)
        for k, v in values.items():
            out = out.replace("{" + k + "}", str(v))
        return out

    @staticmethod
    def num(value: float | int | None) -> str:
        if value is None:
            return "—"
        rounded = round(float(value), 1)
        return f"{rounded:,.1f}".removesuffix(".0")

    @staticmethod
    def yen(value: float | int | None) -> str:
        return "—" if value is None else f"¥{round(float(value)):,}"

    def pct(self, value: float | None) -> str:
        return "—" if value is None else self.num(float(value) * 100) + "%"

    def day(self, iso: str | None) -> str:
        if not iso:
            return "—"
        d = date.fromisoformat(iso[:10])
        if self.lang == "ja":
            return f"{d.year}年{d.month}月{d.day}日"
        return f"{d:%B} {d.day}, {d.year}"

    def month(self, ym: str) -> str:
        d = date(int(ym[:4]), int(ym[5:7]), 1)
        return f"{d.year}年{d.month}月" if self.lang == "ja" else f"{d:%b} {d.year}"


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], css: str = "", caption: str = ""
) -> str:
    """Cells are HTML already escaped by the caller (`_e`) or built here."""
    head = "".join(f'<th scope="col">{h}</th>' for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            (
                f'<th scope="row">{c}</th>'
                if i == 0
                else (c if c.startswith("<td") else f"<td>{c}</td>")
            )
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    cap = f'<caption class="sr">{caption}</caption>' if caption else ""
    return f'<table class="{css}">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _e(value: object) -> str:
    return escape(str(value))


def _heat(text: str, share: float | None, rgb: str) -> str:
    if share is None:
        return f"<td>{text}</td>"
    s = max(0.0, min(1.0, share))
    colour = "#fff" if s > 0.55 else "inherit"
    return f'<td style="background:rgba({rgb},{0.06 + 0.84 * s:.3f});color:{colour}">{text}</td>'


def _bar(text: str, value: float, most: float, colour: str = "#2b59c3") -> str:
    width = 0.0 if not most else max(0.0, min(1.0, value / most)) * 100
    return (
        f'<td><span class="bar"><span style="width:{width:.1f}%;background:{colour}">'
        f"</span></span> {text}</td>"
    )


def _trend_svg(rows: Sequence[Mapping[str, Any]], f: _Form) -> str:
    """Customers per rank at each month end as lines (the console's uPlot chart, drawn
    without a script)."""
    if len(rows) < 2:
        return ""
    width, height, pad = 720, 220, 30
    top = max(1, *(int(r[s]) for r in rows for s in STATES))

    def point(i: int, v: float) -> str:
        x = pad + i * (width - 2 * pad) / (len(rows) - 1)
        y = height - pad - v * (height - 2 * pad) / top
        return f"{x:.1f},{y:.1f}"

    lines = "".join(
        f'<polyline fill="none" stroke="{COLOURS[s]}" stroke-width="2" '
        f'points="{" ".join(point(i, float(r[s])) for i, r in enumerate(rows))}"/>'
        for s in STATES
    )
    labels = (
        f'<text x="{pad}" y="{height - 8}" font-size="11">{_e(f.month(rows[0]["month"]))}</text>'
        f'<text x="{width - pad}" y="{height - 8}" font-size="11" text-anchor="end">'
        f"{_e(f.month(rows[-1]['month']))}</text>"
        f'<text x="4" y="{pad - 8}" font-size="11">{_e(f.num(top))}</text>'
    )
    legend = " ".join(
        f'<span style="color:{COLOURS[s]}">■</span> {_e(f.t("state." + s))}' for s in STATES
    )
    return (
        f'<svg role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'aria-label="{_e(f.t("overview.trend_alt"))}">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        f'stroke="#d9dde6"/>{lines}{labels}</svg><p class="legend">{legend}</p>'
    )


def _overview(d: ReportData, f: _Form) -> str:
    listed = d.rows.get("list-analysis", [])
    last = listed[-1] if listed else None
    f2 = next((r for r in d.rows.get("repeat", []) if r["from_stage"] == "F1"), None)
    cohorts = [r for r in d.rows.get("ltv", []) if r["dimension"] == "cohort"]
    matured = sum(r["customers_365d"] for r in cohorts if r["ltv_365d"] is not None)
    total = sum(r["ltv_365d"] * r["customers_365d"] for r in cohorts if r["ltv_365d"] is not None)
    kpis = [
        ("kpi.customers", f.num(last["total"]) if last else "—", "customers"),
        (
            "kpi.active",
            f.num(last["new"] + last["repeat"] + last["loyal"]) if last else "—",
            "active",
        ),
        ("kpi.f2", f.pct(f2["rate"]) if f2 else "—", "f2"),
        ("kpi.ltv365", f.yen(total / matured) if matured else "—", "ltv"),
    ]
    cards = "".join(
        f'<div class="kpi" id="kpi-{i}"><div class="label">{_e(f.t(k))}</div>'
        f'<div class="value">{_e(v)}</div></div>'
        for k, v, i in kpis
    )
    forecast = d.rows.get("forecast", [])
    ahead = _table(
        [
            _e(f.t(h, n=n))
            for h, n in (
                ("table.state", 0),
                ("forecast.now", 0),
                ("forecast.in", 3),
                ("forecast.in", 6),
                ("forecast.in", 12),
            )
        ],
        [
            [
                _e(f.t("state." + r["state"])),
                f.num(r["customers"]),
                f.num(r["in_3_months"]),
                f.num(r["in_6_months"]),
                f.num(r["in_12_months"]),
            ]
            for r in forecast
        ],
    )
    return (
        f'<section id="overview"><h2>{_e(f.t("overview.title"))}</h2>'
        f'<div class="kpis">{cards}</div>'
        f"<h3>{_e(f.t('overview.revenue'))}</h3>{_revenue(d, f)}"
        f"<h3>{_e(f.t('overview.trend'))}</h3>{_trend_svg(listed, f)}"
        f"<h3>{_e(f.t('overview.forecast'))}</h3>"
        + (ahead if forecast else f"<p>{_e(f.t('overview.no_forecast'))}</p>")
        + "</section>"
    )


def _revenue(d: ReportData, f: _Form) -> str:
    """Revenue per month as bars in a table (the console's chart, without a script)."""
    months = d.rows.get("revenue", [])
    most = max([1.0, *(float(r["revenue"]) for r in months)])
    return _table(
        [_e(f.t(k)) for k in ("table.month", "table.revenue", "overview.orders")],
        [
            [
                _e(f.month(r["month"])),
                _bar(f.yen(r["revenue"]), r["revenue"], most, "#b8860b"),
                f.num(r["orders"]),
            ]
            for r in months
        ],
        css="revenue",
    )


def _rfm(d: ReportData, f: _Form) -> str:
    cells = {(c["r"], c["f"]): c for c in d.grid.get("cells", [])}
    most = max([1, *(c["customers"] for c in cells.values())])
    rows = []
    for r in range(5, 0, -1):
        row = [f"R{r}"]
        for fr in range(1, 6):
            c = cells.get((r, fr), {"customers": 0, "revenue": 0})
            text = (
                f"<strong>{f.num(c['customers'])}</strong><br><small>{f.yen(c['revenue'])}</small>"
            )
            row.append(_heat(text, c["customers"] / most, "43,89,195"))
        rows.append(row)
    grid = _table(["R \\ F", *(f"F{n}" for n in range(1, 6))], rows, "grid", _e(f.t("rfm.caption")))
    ranks = _table(
        [_e(f.t("table.rank")), _e(f.t("table.customers"))],
        [[_e(f.t("rank." + r)), f.num(d.grid.get("ranks", {}).get(r, 0))] for r in RANKS]
        + [[_e(f.t("rfm.unscored")), f.num(d.grid.get("unscored", 0))]],
    )
    return (
        f'<section id="rfm"><h2>{_e(f.t("rfm.title"))}</h2>{grid}'
        f"<h3>{_e(f.t('rfm.ranks'))}</h3>{ranks}</section>"
    )


def _repeat(d: ReportData, f: _Form) -> str:
    funnel = d.rows.get("repeat", [])
    first = funnel[0]["customers_from"] if funnel else 0
    stages = (
        [(funnel[0]["from_stage"], first, None)]
        + [(r["to_stage"], r["customers_to"], r["rate"]) for r in funnel]
        if funnel
        else []
    )
    funnel_table = _table(
        [_e(f.t(k)) for k in ("repeat.stage", "table.customers", "repeat.rate", "repeat.of_first")],
        [
            [s, _bar(f.num(n), n, first), f.pct(rate), f.pct(n / first if first else None)]
            for s, n, rate in stages
        ],
        css="funnel",
    )
    buckets = d.rows.get("second-purchase", [])
    most = max([1, *(b["customers"] for b in buckets)])

    def bucket(b: str) -> str:
        return f.t("bucket." + b) if b in ("same_day", "later") else f.t("bucket.days", range=b)

    second = _table(
        [
            _e(f.t(k))
            for k in ("repeat.days", "table.customers", "repeat.share", "repeat.cumulative")
        ],
        [
            [
                _e(bucket(b["bucket"])),
                _bar(f.num(b["customers"]), b["customers"], most, "#1e7b4f"),
                f.pct(b["share_of_repeaters"]),
                f.pct(b["cumulative_share_of_repeaters"]),
            ]
            for b in buckets
        ],
    )
    retention = d.rows.get("retention", [])
    width = max([0, *(sum(1 for k in r if k[1:].isdigit() and k[0] == "m") for r in retention)])
    top = max([0.0001, *(r.get(f"m{k}") or 0 for r in retention for k in range(1, width))])
    heat = _table(
        [
            _e(f.t("repeat.cohort")),
            _e(f.t("table.customers")),
            *(_e(f.t("repeat.month_n", n=k)) for k in range(width)),
        ],
        [
            [_e(f.month(r["month"])), f.num(r["customers"])]
            + [
                "<td>" + f.pct(r["m0"]) + "</td>"
                if k == 0
                else _heat(
                    "" if r.get(f"m{k}") is None else f.pct(r[f"m{k}"]),
                    None if r.get(f"m{k}") is None else r[f"m{k}"] / top,
                    "30,123,79",
                )
                for k in range(width)
            ]
            for r in retention
        ],
        css="heat retention",
        caption=_e(f.t("repeat.retention_caption")),
    )
    return (
        f'<section id="repeat"><h2>{_e(f.t("repeat.title"))}</h2>'
        f"<h3>{_e(f.t('repeat.funnel'))}</h3>{funnel_table}"
        f"<h3>{_e(f.t('repeat.second'))}</h3>{second}"
        f"<h3>{_e(f.t('repeat.retention'))}</h3><p>{_e(f.t('repeat.retention_help'))}</p>{heat}</section>"
    )


def _ltv(d: ReportData, f: _Form) -> str:
    channels = _table(
        [
            _e(f.t(k))
            for k in (
                "table.channel",
                "ltv.ad_spend",
                "ltv.new_customers",
                "ltv.cpa",
                "ltv.ltv365",
                "ltv.ltv_to_cpa",
                "ltv.payback",
                "ltv.allowable_cpa",
            )
        ],
        [
            [
                _e(r["channel"]),
                f.yen(r["ad_spend"]),
                f.num(r["new_customers"]),
                f.yen(r["cpa"]),
                f.yen(r["ltv_365d"]),
                f.num(r["ltv_to_cpa"]),
                "—"
                if r["payback_month"] is None
                else _e(f.t("ltv.payback_months", n=r["payback_month"])),
                f.yen(r["allowable_cpa"]),
            ]
            for r in d.rows.get("channels", [])
        ],
        css="channels",
    )
    out = [
        f'<section id="ltv"><h2>{_e(f.t("ltv.title"))}</h2>'
        f"<h3>{_e(f.t('ltv.channels'))}</h3>{channels}"
    ]
    for dimension in ("cohort", "channel", "first_product"):
        rows = [r for r in d.rows.get("ltv", []) if r["dimension"] == dimension]
        out.append(f"<h3>{_e(f.t('ltv_by.' + dimension))}</h3>")
        out.append(
            _table(
                [
                    _e(f.t("ltv_key." + dimension)),
                    _e(f.t("table.customers")),
                    *(_e(f.t("ltv_window." + w)) for w in LTV_WINDOWS),
                ],
                [
                    [
                        _e(
                            f.month(r["key"])
                            if dimension == "cohort" and len(r["key"]) == 7
                            else r["key"]
                        ),
                        f.num(r["customers"]),
                    ]
                    + [f.yen(r["ltv_" + w]) for w in LTV_WINDOWS]
                    for r in rows
                ],
                css=f"ltv-{dimension}",
            )
        )
    return "".join(out) + "</section>"


def _diagnosis(d: ReportData, f: _Form) -> str:
    listed = d.rows.get("list-analysis", [])
    list_table = _table(
        [_e(f.t("table.month")), *(_e(f.t("state." + s)) for s in STATES), _e(f.t("table.total"))],
        [
            [_e(f.month(r["month"])), *(f.num(r[s]) for s in STATES), f.num(r["total"])]
            for r in listed
        ],
        css="list-analysis",
    )
    calendar = d.rows.get("calendar", [])
    month = max((r["month"] for r in calendar), default=None)
    cells = {r["months_since_last_order"]: r for r in calendar if r["month"] == month}
    top = max([1, *(r[f"f{b}"] for r in cells.values() for b in FREQUENCY)])
    calendar_table = _table(
        [
            _e(f.t("diagnosis.recency")),
            *(_e(f.t("diagnosis.orders_n", n=b)) for b in FREQUENCY),
            _e(f.t("table.total")),
        ],
        [
            [_e(f.t("diagnosis.months_ago", n=rec))]
            + [
                _heat(
                    f.num(cells.get(rec, {}).get(f"f{b}", 0)),
                    cells.get(rec, {}).get(f"f{b}", 0) / top,
                    "43,89,195",
                )
                for b in FREQUENCY
            ]
            + [f.num(cells.get(rec, {}).get("total", 0))]
            for rec in RECENCY
        ],
        css="heat calendar",
        caption=_e(f.t("diagnosis.calendar_caption")),
    )
    flows = {
        (r["from_state"], r["to_state"]): r
        for r in d.rows.get("lifecycle", [])
        if r["month"] == month
    }
    flow_table = _table(
        [_e(f.t("diagnosis.from_to")), *(_e(f.t("state." + s)) for s in STATES)],
        [
            [_e(f.t("diagnosis.first_order") if a == "none" else f.t("state." + a))]
            + [
                _heat(
                    f.num(flows[(a, b)]["customers"])
                    + (
                        ""
                        if flows[(a, b)]["rate"] is None
                        else f" ({f.pct(flows[(a, b)]['rate'])})"
                    ),
                    flows[(a, b)]["rate"],
                    "184,134,11",
                )
                if (a, b) in flows
                else "0"
                for b in STATES
            ]
            for a in ("none", *STATES)
        ],
        css="heat lifecycle",
    )
    forecast = d.rows.get("forecast", [])
    back = forecast[0].get("backtest_from") if forecast else None
    forecast_table = _table(
        [
            _e(f.t(k, n=n))
            for k, n in (
                ("table.state", 0),
                ("forecast.now", 0),
                ("forecast.in", 3),
                ("forecast.in", 6),
                ("forecast.in", 12),
                ("diagnosis.backtest_forecast", 0),
                ("diagnosis.backtest_error", 0),
                ("diagnosis.backtest_error_pct", 0),
            )
        ],
        [
            [
                _e(f.t("state." + r["state"])),
                f.num(r["customers"]),
                f.num(r["in_3_months"]),
                f.num(r["in_6_months"]),
                f.num(r["in_12_months"]),
                f.num(r.get("backtest_forecast")),
                "—"
                if r.get("backtest_error") is None
                else ("+" if r["backtest_error"] > 0 else "") + f.num(r["backtest_error"]),
                "—"
                if r.get("backtest_error_pct") is None
                else f.num(r["backtest_error_pct"]) + "%",
            ]
            for r in forecast
        ],
        css="forecast",
    )
    backtest = (
        f.t(
            "diagnosis.backtest_help",
            **{"from": f.month(back), "to": f.month(forecast[0]["month"])},
        )
        if back
        else f.t("diagnosis.no_backtest")
    )
    return (
        f'<section id="diagnosis"><h2>{_e(f.t("diagnosis.title"))}</h2>'
        f"<h3>{_e(f.t('diagnosis.list'))}</h3>{list_table}"
        f"<h3>{_e(f.t('diagnosis.calendar'))} ({_e(f.month(month) if month else '—')})</h3>"
        f"{calendar_table}"
        f"<h3>{_e(f.t('diagnosis.lifecycle'))}</h3><p>{_e(f.t('diagnosis.lifecycle_help'))}</p>{flow_table}"
        f"<h3>{_e(f.t('diagnosis.forecast'))}</h3><p>{_e(backtest)}</p>{forecast_table}</section>"
    )


STYLE = """
body{font-family:system-ui,"Hiragino Sans","Noto Sans JP",sans-serif;color:#1d2433}
body{margin:0 auto;max-width:1100px;padding:16px}
h1{font-size:1.5em}h3{font-size:1.05em;margin-top:24px}
h2{font-size:1.25em;border-bottom:2px solid #2b59c3;padding-bottom:4px;margin-top:40px}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:.9em}
th,td{padding:5px 7px;border-bottom:1px solid #d9dde6;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
table.heat td,table.grid td{text-align:center;border:1px solid #f6f7fa}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:12px}
.kpi{border:1px solid #d9dde6;border-radius:8px;padding:12px}
.kpi .label{color:#5b6478;font-size:.85em}.kpi .value{font-size:1.6em;font-weight:700}
.bar{display:inline-block;width:160px;height:12px;background:#eef1f6;vertical-align:middle}
.bar span{display:block;height:100%}
.muted,.legend{color:#5b6478}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
section{overflow-x:auto}
"""


def render(d: ReportData, lang: str = "ja", now: datetime | None = None) -> str:
    """The whole report as one HTML document (no script, no link, no image file)."""
    f = _Form(lang)
    if d.pending.get("list-analysis"):
        status = f.t("status." + d.pending["list-analysis"])
        body = f"<p>{_e(f.t('overview.pending', status=status))}</p>"
    else:
        body = _overview(d, f) + _rfm(d, f) + _repeat(d, f) + _ltv(d, f) + _diagnosis(d, f)
    title = f"{f.t('app.title')} — {f.t('frame.shop', shop=d.shop_id)}"
    stamp = f.t("overview.as_of", date=f.day(d.as_of)) if d.as_of else ""
    written = " · " + f.t("report.written", date=f.day(now.isoformat())) if now else ""
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        f'<h1>{_e(title)}</h1><p class="muted">{_e(stamp)}{_e(written)}</p>{body}</body></html>'
    )


def write(path: Path, html: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path.resolve()


@contextmanager
def console_session(base_url: str, link_token: str) -> Iterator[Get]:
    """GETs through a console session: the signed link is exchanged for the session
    cookie once, as the page does; every report is then read with that cookie, and the
    session is signed out at the end (it would otherwise stay open for hours)."""
    import httpx

    with httpx.Client(base_url=base_url.rstrip("/"), timeout=60) as http:
        signed_in = http.post("/console/session", data={"link": link_token})
        if signed_in.status_code != 200:
            raise ReportUnavailable(f"sign-in refused: {signed_in.status_code}")
        jar = {c.name: str(c.value) for c in signed_in.cookies.jar if c.name.startswith("__Host-")}
        cookie = "; ".join(f"{name}={value}" for name, value in jar.items())

        def get(path: str) -> tuple[int, Any]:
            response = http.get(path, headers={"Cookie": cookie})
            return response.status_code, response.json()

        try:
            yield get
        finally:
            csrf = jar.get("__Host-kizuna-csrf", "")
            http.delete("/console/session", headers={"Cookie": cookie, "X-CSRF-Token": csrf})
