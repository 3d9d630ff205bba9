"""`kizuna analytics clv`: the analytics pass's BG/NBD + Gamma-Gamma fit on a transactions file,
for analysts (a model check with a holdout, a one-off scoring).

Input: a CSV with the columns `customer_id,date,amount` (any order, more columns ignored;
dates as YYYY-MM-DD, amounts as decimal numbers). Output: a JSON report on stdout, the
per-customer predictions as CSV with `--out`. numpy and scipy are imported only when the
command runs.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from segmenter.domain import clv

analytics_app = typer.Typer(help="Analytics: inputs and reports.", no_args_is_help=True)
_err = Console(stderr=True)
_EPOCH = date(1970, 1, 1)
REQUIRED_COLUMNS = ("customer_id", "date", "amount")
BY_X_TOP = 7
"""Holdout rows by calibration x: 0 .. 6 one by one, then 7+ (as in the paper's figure)."""


class TransactionsError(ValueError):
    def __init__(self, line: int, field: str, message: str) -> None:
        super().__init__(f"line {line}: {field}: {message}")


@dataclass(frozen=True)
class TransactionFile:
    customer_ids: list[str]
    """code → customer id"""
    codes: list[int]
    days: list[int]
    amounts: list[float]


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise TransactionsError(1, missing[0], "column missing from the header")
        for row in reader:
            yield reader.line_num, row


def read_transactions(path: Path) -> TransactionFile:
    """Every row checked; the first bad one is refused with its line and column."""
    index: dict[str, int] = {}
    codes: list[int] = []
    days: list[int] = []
    amounts: list[float] = []
    for line, row in _rows(path):
        customer = (row.get("customer_id") or "").strip()
        if not customer:
            raise TransactionsError(line, "customer_id", "empty")
        text = (row.get("date") or "").strip()
        try:
            day = date.fromisoformat(text[:10])
        except ValueError:
            raise TransactionsError(line, "date", f"{text!r} is not YYYY-MM-DD") from None
        raw = (row.get("amount") or "").strip()
        try:
            amount = float(raw)
        except ValueError:
            raise TransactionsError(line, "amount", f"{raw!r} is not a number") from None
        if not math.isfinite(amount) or amount < 0:
            raise TransactionsError(line, "amount", f"{raw!r} is not a non-negative amount")
        codes.append(index.setdefault(customer, len(index)))
        days.append((day - _EPOCH).days)
        amounts.append(amount)
    return TransactionFile(list(index), codes, days, amounts)


def _day(epoch_day: int) -> date:
    return _EPOCH + timedelta(days=int(epoch_day))


def _number(value: float, spec: str) -> str:
    """Blank for unknown (a customer without repeats has no mean spend)."""
    return format(value, spec) if math.isfinite(value) else ""


def report(model: clv.ClvModel, transactions: int) -> dict[str, Any]:
    """The JSON the command prints: parameters, likelihoods, sizes, the holdout check."""
    import numpy as np

    s, bg, gg = model.summary, model.bgnbd, model.gamma_gamma
    out: dict[str, Any] = {
        "calibration_end": _day(s.calibration_end).isoformat(),
        "holdout_end": None if s.holdout_end is None else _day(s.holdout_end).isoformat(),
        "time_unit_days": s.unit_days,
        "transactions": transactions,
        "customers": s.size,
        "repeaters": int(np.count_nonzero(s.x > 0)),
        "bg_nbd": {
            "r": bg.params.r,
            "alpha": bg.params.alpha,
            "a": bg.params.a,
            "b": bg.params.b,
            "log_likelihood": bg.log_likelihood,
            "n": bg.n,
            "converged": bg.converged,
            "optimiser": bg.method,
        },
        "gamma_gamma": {
            "p": gg.params.p,
            "q": gg.params.q,
            "gamma": gg.params.gamma,
            "log_likelihood": gg.log_likelihood,
            "n": gg.n,
            "converged": gg.converged,
            "optimiser": gg.method,
        },
        "monthly_discount_rate": model.settings.monthly_discount_rate,
    }
    predicted = model.predictions.holdout_expected
    if s.holdout is not None and predicted is not None:
        bucket = np.minimum(s.x, BY_X_TOP).astype(np.int64)
        by_x = []
        for x in range(BY_X_TOP + 1):
            rows = bucket == x
            count = int(np.count_nonzero(rows))
            if not count:
                continue
            by_x.append(
                {
                    "x": f"{x}+" if x == BY_X_TOP else str(x),
                    "customers": count,
                    "predicted_mean": float(predicted[rows].mean()),
                    "actual_mean": float(s.holdout[rows].mean()),
                }
            )
        out["holdout"] = {
            "length_days": s.holdout_end - s.calibration_end if s.holdout_end else 0,
            "predicted": float(predicted.sum()),
            "actual": float(s.holdout.sum()),
            "by_x": by_x,
        }
    return out


def write_predictions(model: clv.ClvModel, customer_ids: list[str], path: Path) -> None:
    s, p = model.summary, model.predictions
    header = [
        "customer_id", "x", "t_x", "T", "monetary", "p_alive", "expected_purchases_90d",
        "expected_purchases_365d", "expected_spend", "predicted_clv_365d",
        "expected_next_order_date",
    ]  # fmt: skip
    if s.holdout is not None and p.holdout_expected is not None:
        header += ["holdout_actual", "holdout_predicted"]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for i in range(s.size):
            row: list[object] = [
                customer_ids[int(s.index[i])],
                int(s.x[i]),
                f"{s.t_x[i]:.6g}",
                f"{s.T[i]:.6g}",
                _number(s.monetary[i], ".6g"),
                f"{p.p_alive[i]:.6g}",
                f"{p.expected_purchases_90d[i]:.6g}",
                f"{p.expected_purchases_365d[i]:.6g}",
                _number(p.expected_spend[i], ".6g"),
                _number(p.predicted_clv_365d[i], ".2f"),
                _day(int(p.next_order_day[i])).isoformat(),
            ]  # fmt: skip
            if s.holdout is not None and p.holdout_expected is not None:
                row += [int(s.holdout[i]), f"{p.holdout_expected[i]:.6g}"]
            writer.writerow(row)


@analytics_app.command("clv")
def clv_command(
    transactions: Annotated[
        Path,
        typer.Option(
            exists=True, dir_okay=False, readable=True, help="CSV: customer_id,date,amount."
        ),
    ],
    calibration_end: Annotated[
        str, typer.Option(help="Last day (YYYY-MM-DD) of the data the models are fitted on.")
    ],
    holdout_end: Annotated[
        str | None,
        typer.Option(help="Last day of a holdout period: predicted vs actual repeat purchases."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Write per-customer predictions here.")
    ] = None,
    monthly_discount_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Discount rate per month of the CLV.")
    ] = 0.01,
) -> None:
    """Fit BG/NBD + Gamma-Gamma (the analytics pass's code) and print a JSON report.

    Exit code: 0 fitted; 1 the data has not enough history (the JSON names the threshold);
    2 the file or an option cannot be used."""
    from segmenter.domain import clv

    days: dict[str, int] = {}
    for name, text in (("calibration-end", calibration_end), ("holdout-end", holdout_end)):
        if text is None:
            continue
        try:
            days[name] = (date.fromisoformat(text) - _EPOCH).days
        except ValueError:
            _err.print(f"[red]--{name}: {text!r} is not YYYY-MM-DD[/red]")
            raise typer.Exit(2) from None
    if "holdout-end" in days and days["holdout-end"] <= days["calibration-end"]:
        _err.print("[red]--holdout-end: must be after --calibration-end[/red]")
        raise typer.Exit(2)
    try:
        data = read_transactions(transactions)
    except TransactionsError as err:
        _err.print(f"{transactions.name}: {err}", style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    import numpy as np

    summary = clv.summarise(
        np.asarray(data.codes, dtype=np.int64),
        np.asarray(data.days, dtype=np.int64),
        np.asarray(data.amounts, dtype=np.float64),
        days["calibration-end"],
        days.get("holdout-end"),
    )
    settings = clv.ClvSettings(monthly_discount_rate=monthly_discount_rate)
    try:
        model = clv.fit_and_score(summary, settings)
    except clv.NotEnoughHistory as err:
        _err.print(f"[red]{err}[/red]")
        refusal = {
            "error": "not_enough_history",
            "threshold": err.threshold,
            "required": err.required,
            "actual": err.actual,
            "message": str(err),
        }
        sys.stdout.write(json.dumps(refusal, indent=2) + "\n")
        raise typer.Exit(1) from None
    for name, part, example in (
        ("BG/NBD", model.bgnbd, "purchase rates that hardly vary between customers"),
        ("Gamma-Gamma", model.gamma_gamma, "spend that hardly varies between customers"),
    ):
        if not part.converged:
            _err.print(
                f"warning: the {name} fit did not converge (its parameters may sit at a "
                f"boundary, e.g. {example}); read its predictions with care",
                style="yellow",
                markup=False,
                soft_wrap=True,
            )
    if out is not None:
        write_predictions(model, data.customer_ids, out)
        _err.print(f"Predictions for {summary.size:,} customers written to {out}")
    sys.stdout.write(json.dumps(report(model, len(data.codes)), indent=2) + "\n")
