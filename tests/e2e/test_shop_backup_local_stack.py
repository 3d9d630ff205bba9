"""`kizuna shop export --local` and `kizuna shop import --local` as a person runs them:
from one running `kizuna local up` into another, over the moto server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ops.local.process import LocalUpProcess
from tests.conftest import order_payload

pytestmark = pytest.mark.e2e


def test_a_shop_exported_from_one_local_stack_runs_in_another(tmp_path: Path) -> None:
    """Given a local stack with a shop that took an order over HTTP
    When the shop is exported from it, imported into a second, empty local stack, and
    exported from that one
    Then both exports are the same bytes; the shop's key reads its customer and order on
    the second stack; importing again there is refused (exit 1) and changes nothing."""
    repo = Path(__file__).resolve().parents[2]
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    with LocalUpProcess(tmp_path / "a", repo) as a:
        created = a.kizuna("shop", "create", "moving-shop", "--name", "Moving")
        assert created.returncode == 0, created.stdout + created.stderr
        auth = {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}
        placed = httpx.post(f"{a.api}/v1/orders", json=order_payload(1), headers=auth, timeout=60)
        assert placed.status_code == 201, placed.text
        exported = a.kizuna("shop", "export", "--shop", "moving-shop", "--out", str(first))
        assert exported.returncode == 0, exported.stdout + exported.stderr
        assert a.stop() == 0

    with LocalUpProcess(tmp_path / "b", repo) as b:
        imported = b.kizuna("shop", "import", "--shop", "moving-shop", "--in", str(first))
        assert imported.returncode == 0, imported.stdout + imported.stderr
        again = b.kizuna("shop", "export", "--shop", "moving-shop", "--out", str(second))
        assert again.returncode == 0, again.stdout + again.stderr
        customer = httpx.get(f"{b.api}/v1/customers/c-1", headers=auth, timeout=60)
        order = httpx.get(f"{b.api}/v1/orders/ord-c-1-1", headers=auth, timeout=60)
        twice = b.kizuna("shop", "import", "--shop", "moving-shop", "--in", str(first))
        assert b.stop() == 0

    assert second.read_bytes() == first.read_bytes()
    assert customer.status_code == 200 and customer.json()["customer_id"] == "c-1"
    assert order.status_code == 200 and order.json()["order_id"] == "ord-c-1-1"
    assert twice.returncode == 1
    assert "already holds shop 'moving-shop'" in " ".join(twice.stdout.split())
