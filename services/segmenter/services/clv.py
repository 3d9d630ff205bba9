"""Predictive CLV in the analytics pass: one BG/NBD + Gamma-Gamma fit per shop
(segmenter.domain.clv, the code `kizuna analytics clv` runs), a score per customer.

The fit reads the per-customer summary the pass has already built in DuckDB (the
``customers`` table of the snapshot, `duckdb_engine.clv_inputs`): same-day orders merged,
x = repeat purchase days, t_x = first to last purchase day, T = first purchase to the
as-of day (in weeks), and the spend as the mean of the repeat purchase days (the first
left out, as in the paper and the command). Only the analytics function runs this: numpy
and scipy never load in the API or the segmenter's nightly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from segmenter.domain.model import ClvScore
from shared.log import get_logger

if TYPE_CHECKING:
    import duckdb

    from segmenter.adapters.duckdb_engine import ClvInputs
    from segmenter.services.ports import SettingStore

_log = get_logger("kizuna.clv")


SETTING = "clv"
"""Shop setting {"monthly_discount_rate": "0.01"}: the CLV's discount rate per month."""
DEFAULT_MONTHLY_DISCOUNT_RATE = 0.01
"""`segmenter.domain.clv.DEFAULT_MONTHLY_DISCOUNT_RATE`, repeated here so that the API,
which reads and writes the setting, never imports numpy (a test keeps them equal)."""


def get_settings(settings: SettingStore, shop_id: str) -> dict[str, Any]:
    """The shop's CLV settings, the default filled in where the shop has set none."""
    rate = monthly_discount_rate(settings, shop_id)
    return {
        "monthly_discount_rate": DEFAULT_MONTHLY_DISCOUNT_RATE if rate is None else rate,
        "default": rate is None,
    }


def set_settings(
    settings: SettingStore, shop_id: str, monthly_discount_rate: Decimal
) -> dict[str, Any]:
    """Store the shop's monthly discount rate (validated at the edge: 0 to 1); the next
    analytics pass discounts every customer's predicted CLV with it."""
    settings.put_setting(shop_id, SETTING, {"monthly_discount_rate": str(monthly_discount_rate)})
    return get_settings(settings, shop_id)


def monthly_discount_rate(settings: SettingStore, shop_id: str) -> float | None:
    """The shop's stored rate, None when it has set none (the pass uses the default)."""
    rate = (settings.get_setting(shop_id, SETTING) or {}).get("monthly_discount_rate")
    return None if rate is None else float(rate)


ALIVE_MONTHS = (0, 3, 6, 12)
"""Months after the as-of day the BG/NBD active base is forecast for (0: now)."""


def score_customers(
    inputs: ClvInputs,
    now: datetime,
    monthly_discount_rate: float | None = None,
    alive: dict[int, float] | None = None,
    params: dict[str, float] | None = None,
) -> tuple[dict[str, ClvScore], str | None]:
    """(score per customer id, None) or ({}, why not) for a shop without the history.
    `alive`, when given, receives the expected number of today's buyers still active
    0, 3, 6 and 12 months on (the sum of their P(alive) then); `params`, the fitted
    BG/NBD and Gamma-Gamma parameters with the BG/NBD's n and log-likelihood (what the
    nightly's result shows, so an operator sees the model without opening a profile)."""
    import numpy as np

    from segmenter.domain import clv

    unit = clv.DAYS_PER_WEEK
    monetary = np.asarray(inputs.monetary, dtype=np.float64)
    summary = clv.Summary(
        index=np.arange(len(inputs.customer_ids), dtype=np.int64),
        x=np.asarray(inputs.x, dtype=np.float64),
        t_x=np.asarray(inputs.t_x_days, dtype=np.float64) / unit,
        T=np.asarray(inputs.t_days, dtype=np.float64) / unit,
        monetary=np.where(monetary > 0, monetary, np.nan),
        first_day=np.asarray(inputs.first_day, dtype=np.int64),
        holdout=None,
        calibration_end=inputs.as_of_day,
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
    if params is not None:
        params.update(fitted_params(model))
    if alive is not None:
        for months in ALIVE_MONTHS:
            t = months * 365.25 / 12 / unit  # average month, in the model's weeks
            p = clv.p_alive_after(model.bgnbd.params, t, summary.x, summary.t_x, summary.T)
            alive[months] = round(float(np.sum(p)), 1)
    waits = np.ceil(clv.median_days_to_next_purchase(model.bgnbd.params, summary.x, summary.T))
    scores = {}
    for i, customer_id in enumerate(inputs.customer_ids):
        value = float(s.predicted_clv_365d[i])
        scores[customer_id] = ClvScore(
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


def fitted_params(model: Any) -> dict[str, float]:
    """A `segmenter.domain.clv.ClvModel`'s parameters as plain floats (JSON in results)."""
    bg, gg = model.bgnbd, model.gamma_gamma
    return {
        "r": float(bg.params.r),
        "alpha": float(bg.params.alpha),
        "a": float(bg.params.a),
        "b": float(bg.params.b),
        "p": float(gg.params.p),
        "q": float(gg.params.q),
        "gamma": float(gg.params.gamma),
        "n": float(bg.n),
        "log_likelihood": float(bg.log_likelihood),
    }


@dataclass
class ClvHook:
    """The CLV fit as a hook of the analytics pass (`Snapshot.run(hooks=…)`): it reads
    the summary from the pass's own tables, fits, and keeps the scores for the pass to
    store on the profiles; its facts entry ``clv`` says how many were scored or why none."""

    now: datetime
    monthly_discount_rate: float | None = None
    scores: dict[str, ClvScore] = field(default_factory=dict)
    refused: str | None = None
    params: dict[str, float] = field(default_factory=dict)

    def __call__(self, con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, Any]]]:
        from segmenter.adapters.duckdb_engine import clv_inputs

        inputs = clv_inputs(con)
        alive: dict[int, float] = {}
        self.scores, self.refused = score_customers(
            inputs, self.now, self.monthly_discount_rate, alive, self.params
        )
        if self.refused:
            _log.info("no clv", extra={"reason": self.refused})
        return {
            "clv": [{"scored": len(self.scores), "refused": self.refused}],
            "clv_alive": [{"months": m, "customers": n} for m, n in sorted(alive.items())],
        }
