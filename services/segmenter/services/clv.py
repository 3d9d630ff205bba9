"""Predictive CLV in the nightly: one BG/NBD + Gamma-Gamma fit per shop over its profiles
(segmenter.domain.clv, the code `kizuna analytics clv` runs), a score per customer.

The profile keeps order statistics, not every order, so the nightly's summary is read from
them: x = order count − 1, t_x = last − first order, T = now − first order (in weeks), and
the spend is the mean order value (the first order included: its amount is not kept
apart). `kizuna analytics clv` on a transactions file merges same-day orders and leaves the
first order's amount out, as the paper does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from segmenter.domain.model import ClvScore, Profile
from shared.log import get_logger

_log = get_logger("kizuna.clv")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


SETTING = "clv"
"""Shop setting {"monthly_discount_rate": 0.01}: the CLV's discount rate per month."""


def _days(moment: datetime | None) -> float:
    assert moment is not None
    return (moment - _EPOCH).total_seconds() / 86_400.0


def score_profiles(
    profiles: Sequence[Profile],
    now: datetime,
    monthly_discount_rate: float | None = None,
) -> tuple[dict[str, ClvScore], str | None]:
    """(score per customer id, None) or ({}, why not) for a shop without the history."""
    import numpy as np

    from segmenter.domain import clv

    buyers = [
        p
        for p in profiles
        if not p.merged_into
        and p.stats.order_count > 0
        and p.stats.first_order_at is not None
        and p.stats.first_order_at <= now
    ]
    unit = clv.DAYS_PER_WEEK
    first = np.array([_days(p.stats.first_order_at) for p in buyers])
    last = np.array([_days(p.stats.last_order_at) for p in buyers])
    count = np.array([p.stats.order_count for p in buyers], dtype=np.float64)
    revenue = np.array([float(p.stats.revenue) for p in buyers])
    today = _days(now)
    x = count - 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        spend = np.where(x > 0, revenue / count, np.nan)
    summary = clv.Summary(
        index=np.arange(len(buyers), dtype=np.int64),
        x=x,
        t_x=np.round(last - first, 4) / unit,
        T=np.round(today - first, 4) / unit,
        monetary=np.where(spend > 0, spend, np.nan),
        first_day=np.floor(first).astype(np.int64),
        holdout=None,
        calibration_end=int(np.floor(today)),
        holdout_end=None,
        unit_days=unit,
    )
    settings = clv.ClvSettings(
        monthly_discount_rate=clv.DEFAULT_MONTHLY_DISCOUNT_RATE
        if monthly_discount_rate is None
        else monthly_discount_rate
    )
    try:
        model = clv.fit_and_score(summary, settings)
    except clv.NotEnoughHistory as err:
        return {}, str(err)
    s = model.predictions
    waits = np.ceil(clv.median_days_to_next_purchase(model.bgnbd.params, summary.x, summary.T))
    scores = {}
    for i, profile in enumerate(buyers):
        value = float(s.predicted_clv_365d[i])
        scores[profile.customer_id] = ClvScore(
            p_alive=round(float(s.p_alive[i]), 6),
            expected_purchases_90d=round(float(s.expected_purchases_90d[i]), 6),
            expected_purchases_365d=round(float(s.expected_purchases_365d[i]), 6),
            predicted_clv_365d=round(value, 2) if np.isfinite(value) else None,
            predicted_next_order_at=now + timedelta(days=float(min(waits[i], 36_500.0))),
        )
    _log.info(
        "clv fitted",
        extra={
            "customers": summary.size,
            "log_likelihood": model.bgnbd.log_likelihood,
            "converged": model.bgnbd.converged and model.gamma_gamma.converged,
        },
    )
    return scores, None
