"""The vendored CDNOW sample (tests/data/cdnow), as transactions."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

CDNOW = Path(__file__).resolve().parents[1] / "data" / "cdnow" / "CDNOW_sample.txt"
CALIBRATION_END = date(1997, 9, 30)
HOLDOUT_END = date(1998, 6, 30)
_EPOCH = date(1970, 1, 1).toordinal()


def epoch_day(day: date) -> int:
    return day.toordinal() - _EPOCH


@dataclass(frozen=True)
class Transactions:
    customer_ids: list[str]
    dates: list[date]
    amounts: list[float]

    @property
    def codes(self) -> NDArray[np.int64]:
        return np.asarray([int(c) for c in self.customer_ids], dtype=np.int64)

    @property
    def days(self) -> NDArray[np.int64]:
        return np.asarray([epoch_day(d) for d in self.dates], dtype=np.int64)

    @property
    def values(self) -> NDArray[np.float64]:
        return np.asarray(self.amounts, dtype=np.float64)


def load_cdnow() -> Transactions:
    ids: list[str] = []
    dates: list[date] = []
    amounts: list[float] = []
    for line in CDNOW.read_text(encoding="ascii").splitlines():
        master, _sample, day, _cds, dollars = line.split()
        ids.append(master)
        dates.append(date(int(day[:4]), int(day[4:6]), int(day[6:])))
        amounts.append(float(dollars))
    return Transactions(ids, dates, amounts)


def write_cdnow_csv(path: Path) -> Path:
    """The sample in the format `kizuna analytics clv` reads: customer_id,date,amount."""
    data = load_cdnow()
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["customer_id", "date", "amount"])
        for row in zip(data.customer_ids, data.dates, data.amounts, strict=True):
            writer.writerow([row[0], row[1].isoformat(), f"{row[2]:.2f}"])
    return path
