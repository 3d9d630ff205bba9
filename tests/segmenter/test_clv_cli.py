"""`kizuna analytics clv`, run as the installed command on the CDNOW sample."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.segmenter.cdnow import write_cdnow_csv

KIZUNA = Path(sys.executable).with_name("kizuna")


def kizuna(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KIZUNA), "analytics", "clv", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cdnow_through_the_command_reproduces_the_paper(tmp_path: Path) -> None:
    # Given the CDNOW sample as customer_id,date,amount
    transactions = write_cdnow_csv(tmp_path / "cdnow.csv")
    out = tmp_path / "predictions.csv"
    # When an analyst runs the command with the paper's calibration and holdout
    result = kizuna(
        "--transactions", str(transactions), "--calibration-end", "1997-09-30",
        "--holdout-end", "1998-06-30", "--out", str(out),
    )  # fmt: skip
    # Then it prints the published parameters and log-likelihood as JSON
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert (report["customers"], report["repeaters"], report["transactions"]) == (2357, 946, 6919)
    bg = report["bg_nbd"]
    assert bg["converged"] and bg["n"] == 2357
    assert "did not converge" not in result.stderr
    for name, published in (("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)):
        assert bg[name] == pytest.approx(published, abs=5e-4), name
    assert bg["log_likelihood"] == pytest.approx(-9582.43, abs=0.05)
    gg = report["gamma_gamma"]
    assert gg["n"] == 946
    for name, published in (("p", 6.25), ("q", 3.74), ("gamma", 15.44)):
        assert gg[name] == pytest.approx(published, abs=1e-2), name
    # And the holdout check compares predicted with actual repeat purchases, overall and by x
    holdout = report["holdout"]
    assert holdout["actual"] == 1882
    assert holdout["predicted"] == pytest.approx(sum(
        row["predicted_mean"] * row["customers"] for row in holdout["by_x"]
    ))  # fmt: skip
    assert [row["x"] for row in holdout["by_x"]] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert holdout["by_x"][0]["customers"] == 1411
    # And the per-customer CSV holds every customer, the paper's example among them
    with out.open(encoding="utf-8") as handle:
        rows = {row["customer_id"]: row for row in csv.DictReader(handle)}
    assert len(rows) == 2357
    example = rows["00004"]  # x = 2, t_x = 30.43, T = 38.86
    assert (example["x"], example["t_x"], example["T"]) == ("2", "30.4286", "38.8571")
    assert float(example["holdout_predicted"]) == pytest.approx(1.226, abs=1e-3)
    assert 0 < float(example["p_alive"]) < 1
    assert float(example["predicted_clv_365d"]) > 0
    assert example["expected_next_order_date"] > "1997-09-30"


def test_a_file_with_too_few_customers_is_told_which_threshold_it_misses(tmp_path: Path) -> None:
    # Given the first 300 lines of the sample (about a hundred customers)
    full = write_cdnow_csv(tmp_path / "cdnow.csv").read_text(encoding="utf-8").splitlines()
    small = tmp_path / "small.csv"
    small.write_text("\n".join(full[:300]) + "\n", encoding="utf-8")
    # When the command runs on it
    result = kizuna("--transactions", str(small), "--calibration-end", "1997-09-30")
    # Then it answers "not enough history", naming the threshold, instead of a fit
    assert result.returncode == 1
    refusal = json.loads(result.stdout)
    assert refusal["error"] == "not_enough_history"
    assert refusal["threshold"] == "min_customers"
    assert refusal["required"] == 500 and refusal["actual"] < 500
    assert "not enough history" in result.stderr


def test_a_bad_row_is_refused_with_its_line_and_column(tmp_path: Path) -> None:
    # Given a file whose third line has a date the command cannot read
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "customer_id,date,amount\nc1,2024-01-05,10\nc1,05/02/2024,12\n", encoding="utf-8"
    )
    # When the command runs on it
    result = kizuna("--transactions", str(bad), "--calibration-end", "2024-06-30")
    # Then the line and the column are named, and nothing is printed as a report
    assert result.returncode == 2
    assert "line 3: date" in result.stderr
    assert "[red]" not in result.stderr  # the words, not Rich's markup
    assert result.stdout == ""


@pytest.mark.usefixtures("aws_credentials")
def test_a_fit_that_does_not_converge_is_flagged_not_reported_as_a_plain_success(
    tmp_path: Path,
) -> None:
    # Given 600 customers whose every order is ¥5,000 (no spread of spend to fit)
    draw = random.Random(1)
    lines = ["customer_id,date,amount"]
    for c in range(600):
        for _ in range(draw.choice([1, 1, 2, 3, 4])):
            day = date(2024, 1, 1) + timedelta(days=draw.randint(0, 500))
            lines.append(f"c{c},{day},5000")
    flat = tmp_path / "flat.csv"
    flat.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # When the analyst fits it
    result = kizuna("--transactions", str(flat), "--calibration-end", "2025-06-30")
    # Then the report still comes, saying Gamma-Gamma did not converge, and the terminal
    # says so in one line of words
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["gamma_gamma"]["converged"] is False
    assert "warning: the Gamma-Gamma fit did not converge" in result.stderr.splitlines()[0]
