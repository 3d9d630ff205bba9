"""Reports from facts: add the facts of a period up, then divide. Pure Python.

Facts are what the analytics pass stored (see `segmenter.adapters.duckdb_engine`): small
rows keyed by month. Inputs that change between passes (ad spend, message rates, the
target ROI) are applied here, at read time, so a new ad-spend figure shows at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

Row = dict[str, Any]
Facts = Mapping[str, Sequence[Mapping[str, Any]]]

WINDOWS = ("90d", "180d", "365d", "3y", "lifetime")
STATES = ("new", "repeat", "loyal", "dormant", "lost")
"""List lifecycle: new (F1), repeat (F2), loyal (F3+) with an order in the last 180 days;
dormant (181-365 days); lost (over 365 days)."""
RECENCY_BUCKETS = ("0", "1", "2", "3-5", "6-11", "12+")
FREQUENCY_BUCKETS = ("1", "2", "3", "4", "5+")
SECOND_PURCHASE_BUCKETS = (
    "same_day",
    "1-10",
    "11-30",
    "31-60",
    "61-90",
    "91-180",
    "181-360",
    "later",
)
FORECAST_HORIZONS = (3, 6, 12)
BACKTEST_MONTHS = 6
FIT_MONTHS = 12
BASES = ("revenue", "gross_profit")


class UnknownReport(LookupError):
    pass


@dataclass(frozen=True)
class Period:
    """Months `start`..`end` (YYYY-MM, both included); None = open."""

    start: str | None = None
    end: str | None = None

    def contains(self, month: str | None) -> bool:
        if month is None:
            return True
        return (self.start is None or month >= self.start) and (
            self.end is None or month <= self.end
        )


@dataclass(frozen=True)
class AdSpend:
    channel: str
    month: str
    amount: float


@dataclass(frozen=True)
class ReportInputs:
    """What a report reads besides facts."""

    as_of: date
    period: Period = field(default_factory=Period)
    basis: str = "revenue"
    ad_spend: Sequence[AdSpend] = ()
    message_costs: Mapping[str, float] = field(default_factory=dict)
    """Cost of one message per channel (email, line, sms); a channel without a rate makes
    the campaign's cost unknown rather than free."""
    target_roi: float = 1.0
    """LTV ROI the allowable CPA is computed for: (LTV − CPA) / CPA on gross profit."""


def month_of(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def months_between(a: str, b: str) -> int:
    """Whole months from month a to month b."""
    return (int(b[:4]) - int(a[:4])) * 12 + int(b[5:7]) - int(a[5:7])


def add_months(month: str, n: int) -> str:
    index = int(month[:4]) * 12 + int(month[5:7]) - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _ratio(num: float, den: float, digits: int = 4) -> float | None:
    return round(num / den, digits) if den else None


def _in(rows: Iterable[Mapping[str, Any]], period: Period) -> list[Mapping[str, Any]]:
    return [r for r in rows if period.contains(r.get("month"))]


# ---------------------------------------------------------------------------- LTV


def _ltv_groups(facts: Facts, inputs: ReportInputs, dimension: str) -> dict[str, dict[str, float]]:
    groups: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in _in(facts.get("ltv", ()), inputs.period):
        if r["dimension"] != dimension:
            continue
        g = groups[str(r["key"])]
        g["customers"] += r["customers"]
        for w in WINDOWS:
            g[f"matured_{w}"] += r[f"matured_{w}"]
            for basis in BASES:
                g[f"{basis}_{w}"] += r[f"{basis}_{w}"]
    return groups


def ltv(facts: Facts, inputs: ReportInputs) -> list[Row]:
    """Average value per customer within each window of their first purchase, counting
    only customers whose window has fully passed, by cohort, channel, first product and
    first offer."""
    out: list[Row] = []
    for dimension in ("cohort", "channel", "first_product", "first_offer"):
        for key, g in sorted(_ltv_groups(facts, inputs, dimension).items()):
            row: Row = {
                "dimension": dimension,
                "key": key,
                "basis": inputs.basis,
                "customers": int(g["customers"]),
            }
            for w in WINDOWS:
                row[f"ltv_{w}"] = _ratio(g[f"{inputs.basis}_{w}"], g[f"matured_{w}"], 2)
                row[f"customers_{w}"] = int(g[f"matured_{w}"])
            out.append(row)
    return out


# ---------------------------------------------------------------------------- repeat


def repeat(facts: Facts, inputs: ReportInputs) -> list[Row]:
    """F(n) → F(n+1): of the customers who reached n orders, the share who reached n+1.
    The F1 → F2 row is the repeat rate."""
    reached: dict[int, int] = defaultdict(int)
    for r in _in(facts.get("repeat", ()), inputs.period):
        reached[int(r["n"])] += int(r["customers"])
    top = max(reached, default=0)
    return [
        {
            "from_stage": f"F{n}",
            "to_stage": f"F{n + 1}",
            "customers_from": reached[n],
            "customers_to": reached[n + 1],
            "rate": _ratio(reached[n + 1], reached[n]),
        }
        for n in range(1, top)
    ]


def second_purchase(facts: Facts, inputs: ReportInputs) -> list[Row]:
    """Days from the first to the second purchase, in the buckets Japanese shops use."""
    counts: dict[str, int] = defaultdict(int)
    for r in _in(facts.get("second_purchase", ()), inputs.period):
        counts[str(r["bucket"])] += int(r["customers"])
    repeaters = sum(counts[b] for b in SECOND_PURCHASE_BUCKETS)
    buyers = repeaters + counts["none"]
    out: list[Row] = []
    running = 0
    for b in SECOND_PURCHASE_BUCKETS:
        running += counts[b]
        out.append(
            {
                "bucket": b,
                "customers": counts[b],
                "share_of_repeaters": _ratio(counts[b], repeaters),
                "cumulative_share_of_repeaters": _ratio(running, repeaters),
                "share_of_buyers": _ratio(counts[b], buyers),
            }
        )
    return out


def retention(facts: Facts, inputs: ReportInputs) -> list[Row]:
    """継続率: of a first-purchase month's customers, the share who bought in the k-th
    month after it (m0 = the first month, always 1). Months not yet reached are empty."""
    rows = _in(facts.get("retention", ()), inputs.period)
    by_cohort: dict[str, dict[int, int]] = defaultdict(dict)
    for r in rows:
        by_cohort[str(r["month"])][int(r["month_offset"])] = int(r["customers"])
    now = month_of(inputs.as_of)
    width = max((months_between(m, now) for m in by_cohort), default=-1) + 1
    out: list[Row] = []
    for month in sorted(by_cohort):
        cells = by_cohort[month]
        size = cells.get(0, 0)
        age = months_between(month, now)
        row: Row = {"month": month, "customers": size}
        for k in range(width):
            row[f"m{k}"] = _ratio(cells.get(k, 0), size) if k <= age else None
        out.append(row)
    return out


# ---------------------------------------------------------------------------- channels


def channels(facts: Facts, inputs: ReportInputs) -> list[Row]:
    """Per acquisition channel over the period: ad spend, new customers, CPA, 365-day LTV,
    LTV/CPA, payback month (months after the first purchase until the cumulative gross
    profit per customer reaches the CPA; 0 = within the first month) and the allowable CPA
    for the target LTV ROI."""
    spend: dict[str, float] = defaultdict(float)
    for s in inputs.ad_spend:
        if inputs.period.contains(s.month):
            spend[s.channel] += s.amount
    groups = _ltv_groups(facts, inputs, "channel")
    now = month_of(inputs.as_of)
    cohort_size: dict[tuple[str, str], int] = defaultdict(int)
    for r in _in(facts.get("ltv", ()), inputs.period):
        if r["dimension"] == "channel":
            cohort_size[(str(r["key"]), str(r["month"]))] += int(r["customers"])
    profit: dict[tuple[str, str], dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for r in _in(facts.get("payback", ()), inputs.period):
        profit[(str(r["channel"]), str(r["month"]))][int(r["age"])] += float(r["gross_profit"])
    out: list[Row] = []
    for channel in sorted(set(spend) | set(groups)):
        g = groups.get(channel, {})
        new = int(g.get("customers", 0))
        cpa = _ratio(spend.get(channel, 0.0), new, 2) if channel in spend else None
        ltv_value = _ratio(g.get(f"{inputs.basis}_365d", 0), g.get("matured_365d", 0), 2)
        ltv_gp = _ratio(g.get("gross_profit_365d", 0), g.get("matured_365d", 0), 2)
        cohorts = [(m, n) for (c, m), n in cohort_size.items() if c == channel]
        out.append(
            {
                "channel": channel,
                "ad_spend": round(spend.get(channel, 0.0), 2),
                "new_customers": new,
                "cpa": cpa,
                "basis": inputs.basis,
                "ltv_365d": ltv_value,
                "ltv_to_cpa": _ratio(ltv_value, cpa, 2) if ltv_value is not None and cpa else None,
                "payback_month": _payback(channel, cohorts, profit, now, cpa),
                "allowable_cpa": (
                    round(ltv_gp / (1 + inputs.target_roi), 2) if ltv_gp is not None else None
                ),
                "target_roi": inputs.target_roi,
            }
        )
    return out


def _payback(
    channel: str,
    cohorts: Sequence[tuple[str, int]],
    profit: Mapping[tuple[str, str], Mapping[int, float]],
    now: str,
    cpa: float | None,
) -> int | None:
    if cpa is None or not cohorts:
        return None
    oldest = max(months_between(m, now) for m, _ in cohorts)
    for age in range(oldest + 1):
        eligible = [(m, n) for m, n in cohorts if months_between(m, now) >= age]
        customers = sum(n for _, n in eligible)
        earned = sum(
            sum(v for a, v in profit.get((channel, m), {}).items() if a <= age) for m, _ in eligible
        )
        if customers and earned / customers >= cpa:
            return age
    return None


# ---------------------------------------------------------------------------- campaigns


def campaigns(facts: Facts, inputs: ReportInputs) -> list[Row]:
    """ROI per campaign and customer rank: attributed net revenue against the cost of the
    messages sent (shop rates per channel) plus the discounts the attributed orders took.
    Then each journey's rows (`source` journey, `_journey_rows`): all, per version and
    per rank at entry, which also weigh its revenue against its holdout's."""
    groups: dict[tuple[str, str, str, str], dict[str, float]] = defaultdict(
        lambda: defaultdict(float)
    )
    unpriced: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    for r in _in(facts.get("campaigns", ()), inputs.period):
        for rank in (str(r["rank"]), "(all)"):
            k = (str(r["source"]), str(r["source_id"]), str(r["name"]), rank)
            g = groups[k]
            for name in ("sent", "converted", "orders", "revenue", "discount"):
                g[name] += float(r[name])
            rate = inputs.message_costs.get(str(r["channel"]))
            if rate is None:
                unpriced[k].add(str(r["channel"]))
            else:
                g["message_cost"] += rate * float(r["sent"])
    out: list[Row] = []
    for k in sorted(groups):
        g = groups[k]
        message_cost = None if unpriced[k] else round(g["message_cost"], 2)
        cost = None if message_cost is None else round(message_cost + g["discount"], 2)
        out.append(
            {
                "source": k[0],
                "source_id": k[1],
                "name": k[2],
                "rank": k[3],
                "sent": int(g["sent"]),
                "converted": int(g["converted"]),
                "conversion_rate": _ratio(g["converted"], g["sent"]),
                "orders": int(g["orders"]),
                "revenue": round(g["revenue"], 2),
                "message_cost": message_cost,
                "discount": round(g["discount"], 2),
                "cost": cost,
                "roi": _ratio(g["revenue"] - cost, cost) if cost else None,
                "unpriced_channels": ",".join(sorted(unpriced[k])) or None,
            }
        )
    for source_id in dict.fromkeys(str(r["source_id"]) for r in facts.get("journeys", ())):
        out += _journey_rows(facts, source_id, inputs)
    return out


NOT_BY_RANK = "(not by rank)"
"""The rank of what a journey counted before the messenger counted entry cohorts."""
_JOURNEY_NUMBERS = (
    "treated",
    "converted",
    "revenue",
    "holdout",
    "holdout_converted",
    "holdout_revenue",
    "discount",
)


def _journey_sum(rows: Iterable[Mapping[str, Any]], less: Iterable[Mapping[str, Any]] = ()) -> Row:
    """The journey fact rows `rows` added up (less the rows `less`)."""
    out: Row = {"sent": defaultdict(int), **dict.fromkeys(_JOURNEY_NUMBERS, 0.0)}
    for sign, group in ((1, rows), (-1, less)):
        for r in group:
            for c, n in r["sent"].items():
                out["sent"][str(c)] += sign * int(n)
            for name in _JOURNEY_NUMBERS:
                out[name] += sign * float(r.get(name) or 0)
    return out


def _journey_rows(facts: Facts, source_id: str, inputs: ReportInputs) -> list[Row]:
    """One journey's rows: all versions and ranks, each version, then each rank the
    people held when they entered (the messenger's entry cohorts).

    A period keeps the people who entered in its months (shop time), with everything they
    were sent and bought, also later: a journey's cost and revenue follow its entrants.
    Without a period, the rows are the messenger's running totals, and what it counted
    before it counted cohorts is a rank row of its own (`(not by rank)`), so the ranks
    add up to the whole; with a period, that is left out (it has no month) and each row
    says how many entrants it was (`entered_without_month`)."""
    totals = [r for r in facts.get("journeys", ()) if str(r["source_id"]) == source_id]
    cohorts = [r for r in facts.get("journey_cohorts", ()) if str(r["source_id"]) == source_id]
    whole = next((r for r in totals if r.get("version") is None), totals[0])
    unmonthed = _journey_sum([whole], cohorts)
    without_month = int(unmonthed["treated"] + unmonthed["holdout"])
    period = inputs.period
    if period.start is None and period.end is None:
        groups: list[tuple[Any, str, Mapping[str, Any]]] = [
            ("(all)" if r.get("version") is None else r["version"], "(all)", r) for r in totals
        ]
        ranks = {str(c["rank"]) for c in cohorts}
        groups += [
            ("(all)", k, _journey_sum(c for c in cohorts if str(c["rank"]) == k))
            for k in sorted(ranks)
        ]
        if any(unmonthed["sent"].values()) or any(unmonthed[n] for n in _JOURNEY_NUMBERS):
            groups.append(("(all)", NOT_BY_RANK, unmonthed))
    else:
        kept = [c for c in cohorts if period.contains(str(c["month"]))]
        versions = [r["version"] for r in totals if r.get("version") is not None]
        groups = [("(all)", "(all)", _journey_sum(kept))]
        groups += [
            (v, "(all)", _journey_sum(c for c in kept if c["version"] == v)) for v in versions
        ]
        groups += [
            ("(all)", k, _journey_sum(c for c in kept if str(c["rank"]) == k))
            for k in sorted({str(c["rank"]) for c in kept})
        ]
    return [
        {
            **_journey_row(
                {**numbers, "source_id": source_id, "name": whole["name"], "version": None},
                inputs.message_costs,
            ),
            "version": version,
            "rank": rank,
            "period_by": "entry_month",
            "entered_without_month": without_month,
        }
        for version, rank, numbers in groups
    ]


def _journey_row(r: Mapping[str, Any], rates: Mapping[str, float]) -> Row:
    """One journey's ROI over the numbers `r`: against its attributed revenue, and
    against the holdout's, i.e. the treated group's revenue less the holdout's scaled to
    the treated group's size (`incremental_revenue`): `roi_vs_holdout` = (revenue −
    holdout revenue × treated / holdout − message cost − discounts) / cost. Conversion is
    per treated person."""
    sent = {str(c): int(n) for c, n in r["sent"].items() if int(n)}
    unpriced = sorted(c for c in sent if c not in rates)
    message_cost = None if unpriced else round(sum(rates[c] * n for c, n in sent.items()), 2)
    discount = float(r.get("discount", 0.0))
    cost = None if message_cost is None else round(message_cost + discount, 2)
    treated, holdout = round(float(r["treated"])), round(float(r["holdout"]))
    revenue = float(r["revenue"])
    expected = float(r["holdout_revenue"]) * treated / holdout if holdout else None
    incremental = None if expected is None else round(revenue - expected, 2)
    return {
        "source": "journey",
        "source_id": str(r["source_id"]),
        "name": str(r["name"]),
        "rank": "(all)",
        "version": "(all)" if r.get("version") is None else int(r["version"]),
        "sent": sum(sent.values()),
        "converted": round(float(r["converted"])),
        "conversion_rate": _ratio(float(r["converted"]), treated),
        "orders": None,
        "revenue": round(revenue, 2),
        "message_cost": message_cost,
        "discount": round(discount, 2),
        "cost": cost,
        "roi": _ratio(revenue - cost, cost) if cost else None,
        "unpriced_channels": ",".join(unpriced) or None,
        "treated": treated,
        "holdout": holdout,
        "holdout_conversion_rate": _ratio(float(r["holdout_converted"]), holdout),
        "holdout_revenue_scaled": None if expected is None else round(expected, 2),
        "incremental_revenue": incremental,
        "roi_vs_holdout": (
            _ratio(incremental - cost, cost) if cost and incremental is not None else None
        ),
    }


# ---------------------------------------------------------------------------- revenue


def revenue(facts: Facts, inputs: ReportInputs) -> list[Row]:
    """Sales over time: per calendar month, orders, buyers, first orders (new customers),
    revenue and gross profit net of cancellations and refunds, and the average order."""
    out: list[Row] = []
    for r in _in(facts.get("revenue", ()), inputs.period):
        orders = int(r["orders"])
        out.append(
            {
                "month": str(r["month"]),
                "orders": orders,
                "customers": int(r["customers"]),
                "first_orders": int(r["first_orders"]),
                "revenue": round(float(r["revenue"]), 2),
                "gross_profit": round(float(r["gross_profit"]), 2),
                "average_order_value": _ratio(float(r["revenue"]), orders, 2),
            }
        )
    return out


# ---------------------------------------------------------------------------- structure


def _counts_by_month(facts: Facts) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATES, 0))
    for r in facts.get("list", ()):
        counts[str(r["month"])][str(r["state"])] += int(r["customers"])
    return counts


def list_analysis(facts: Facts, inputs: ReportInputs) -> list[Row]:
    """リスト分析表: customers per lifecycle rank at each month end."""
    counts = _counts_by_month(facts)
    out: list[Row] = []
    for month in sorted(counts):
        if inputs.period.contains(month):
            c = counts[month]
            out.append({"month": month, **c, "total": sum(c.values())})
    return out


def calendar(facts: Facts, inputs: ReportInputs) -> list[Row]:
    """カレンダー診断表: at each month end, customers by months since their last purchase
    (rows) and number of orders (columns f1..f5+)."""
    grid: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(FREQUENCY_BUCKETS, 0)
    )
    months: set[str] = set()
    for r in _in(facts.get("calendar", ()), inputs.period):
        months.add(str(r["month"]))
        grid[(str(r["month"]), str(r["recency"]))][str(r["frequency"])] += int(r["customers"])
    out: list[Row] = []
    for month in sorted(months):
        for rec in RECENCY_BUCKETS:
            cells = grid.get((month, rec), dict.fromkeys(FREQUENCY_BUCKETS, 0))
            out.append(
                {
                    "month": month,
                    "months_since_last_order": rec,
                    **{f"f{b}": cells[b] for b in FREQUENCY_BUCKETS},
                    "total": sum(cells.values()),
                }
            )
    return out


def _transitions(facts: Facts) -> dict[str, dict[tuple[str, str], int]]:
    moves: dict[str, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    for r in facts.get("lifecycle", ()):
        moves[str(r["month"])][(str(r["from_state"]), str(r["to_state"]))] += int(r["customers"])
    return moves


def lifecycle(facts: Facts, inputs: ReportInputs) -> list[Row]:
    """リストライフサイクル: month over month flows between ranks; `none` → a rank is a new
    customer; `rate` is the share of the from-rank's customers of the month before."""
    out: list[Row] = []
    for month, moves in sorted(_transitions(facts).items()):
        if not inputs.period.contains(month):
            continue
        totals: dict[str, int] = defaultdict(int)
        for (a, _), n in moves.items():
            totals[a] += n
        for (a, b), n in sorted(moves.items()):
            rate = _ratio(n, totals[a]) if a != "none" else None
            out.append(
                {"month": month, "from_state": a, "to_state": b, "customers": n, "rate": rate}
            )
    return out


@dataclass(frozen=True)
class ForecastModel:
    """A transition matrix and the new-customer inflow fitted on months up to `fitted_to`."""

    fitted_to: str
    matrix: dict[str, dict[str, float]]
    inflow_share: dict[str, float]
    inflow_intercept: float
    inflow_slope: float

    def inflow(self, months_ahead: int) -> float:
        return max(self.inflow_intercept + self.inflow_slope * months_ahead, 0.0)

    def project(self, start: Mapping[str, float], months: int) -> dict[str, float]:
        counts = {s: float(start.get(s, 0)) for s in STATES}
        for step in range(1, months + 1):
            nxt = dict.fromkeys(STATES, 0.0)
            for a in STATES:
                for b, p in self.matrix[a].items():
                    nxt[b] += counts[a] * p
            for s, share in self.inflow_share.items():
                nxt[s] += self.inflow(step) * share
            counts = nxt
        return counts


def fit_forecast(facts: Facts, fitted_to: str, fit_months: int = FIT_MONTHS) -> ForecastModel:
    """Pooled transition counts of the `fit_months` months up to `fitted_to` (row-normalised;
    a rank never observed stays where it is), and a least-squares line through the monthly
    new-customer counts of the same months."""
    moves = _transitions(facts)
    months = [add_months(fitted_to, -k) for k in range(fit_months - 1, -1, -1)]
    pooled: dict[str, dict[str, int]] = {a: defaultdict(int) for a in STATES}
    inflow_by_month: list[float] = []
    inflow_states: dict[str, int] = defaultdict(int)
    for month in months:
        new = 0
        for (a, b), n in moves.get(month, {}).items():
            if a == "none":
                new += n
                inflow_states[b] += n
            else:
                pooled[a][b] += n
        inflow_by_month.append(float(new))
    matrix: dict[str, dict[str, float]] = {}
    for a in STATES:
        total = sum(pooled[a].values())
        matrix[a] = {b: n / total for b, n in pooled[a].items()} if total else {a: 1.0}
    inflow_total = sum(inflow_states.values())
    share = {b: n / inflow_total for b, n in inflow_states.items()} if inflow_total else {}
    xs = list(range(-len(months) + 1, 1))  # the last fitted month is x = 0
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(inflow_by_month) / n
    var = sum((x - mean_x) ** 2 for x in xs)
    slope = (
        sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, inflow_by_month, strict=True)) / var
        if var
        else 0.0
    )
    return ForecastModel(fitted_to, matrix, share, mean_y - slope * mean_x, slope)


def forecast_months(inputs: ReportInputs) -> str:
    """The month the forecast starts from: the period's end, else the last complete month."""
    last_complete = add_months(month_of(inputs.as_of), -1)
    if inputs.period.end is not None and inputs.period.end < last_complete:
        return inputs.period.end
    return last_complete


def forecast(facts: Facts, inputs: ReportInputs) -> list[Row]:
    """Customers per rank 3, 6 and 12 months after the last complete month, from the
    observed transition matrices and the new-customer trend; with a backtest: the same
    model fitted on months up to M−6, projected 6 months, against what M showed. Then,
    where the pass fitted BG/NBD, the active base it forecasts (`_alive_row`)."""
    counts = _counts_by_month(facts)
    base = forecast_months(inputs)
    if base not in counts:
        return []
    model = fit_forecast(facts, base)
    ahead = {h: model.project(counts[base], h) for h in FORECAST_HORIZONS}
    back_base = add_months(base, -BACKTEST_MONTHS)
    back = (
        fit_forecast(facts, back_base).project(counts[back_base], BACKTEST_MONTHS)
        if back_base in counts
        else None
    )
    out: list[Row] = []
    for s in (*STATES, "total"):

        def pick(values: Mapping[str, float], state: str = s) -> float:
            return sum(values.values()) if state == "total" else float(values.get(state, 0))

        actual = pick({k: float(v) for k, v in counts[base].items()})
        row: Row = {"state": s, "month": base, "customers": round(actual)}
        for h in FORECAST_HORIZONS:
            row[f"in_{h}_months"] = round(pick(ahead[h]), 1)
        if back is not None:
            predicted = pick(back)
            row["backtest_from"] = back_base
            row["backtest_forecast"] = round(predicted, 1)
            row["backtest_error"] = round(predicted - actual, 1)
            row["backtest_error_pct"] = _ratio(abs(predicted - actual) * 100, actual, 1)
        out.append(row)
    alive = {int(r["months"]): float(r["customers"]) for r in facts.get("clv_alive", ())}
    if alive:
        out.append(_alive_row(alive, model, month_of(inputs.as_of)))
    return out


def _alive_row(alive: Mapping[int, float], model: ForecastModel, month: str) -> Row:
    """The active base by BG/NBD (the pass's CLV fit): today's buyers expected still
    active 3, 6 and 12 months after the as-of day, plus the newcomers the trend brings
    meanwhile (counted active: they have just bought). No backtest: the fit is of today."""
    row: Row = {"state": "active_bgnbd", "month": month, "customers": round(alive.get(0, 0.0))}
    for h in FORECAST_HORIZONS:
        newcomers = sum(model.inflow(k) for k in range(1, h + 1))
        row[f"in_{h}_months"] = round(alive.get(h, 0.0) + newcomers, 1)
    return row


REPORTS: dict[str, Callable[[Facts, ReportInputs], list[Row]]] = {
    "ltv": ltv,
    "repeat": repeat,
    "second-purchase": second_purchase,
    "retention": retention,
    "channels": channels,
    "campaigns": campaigns,
    "revenue": revenue,
    "list-analysis": list_analysis,
    "calendar": calendar,
    "lifecycle": lifecycle,
    "forecast": forecast,
}
"""Report name → view. A later report (e.g. predictive CLV) registers its view here and
its facts through the engine's hooks."""


def render(name: str, facts: Facts, inputs: ReportInputs) -> list[Row]:
    try:
        view = REPORTS[name]
    except KeyError:
        raise UnknownReport(name) from None
    return view(facts, inputs)
