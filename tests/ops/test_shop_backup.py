"""`kizuna shop export` / `kizuna shop import`: a shop's whole state as JSONL, back into
an empty stack exactly (moto, the template's tables), other shops left out, a target that
already holds the shop refused."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from messenger.adapters.repository import DynamoDeliveryRepository
from ops.backup import (
    SHARED,
    TABLES,
    Line,
    Refused,
    Runs,
    ShopBackup,
    UnknownLayout,
    encode_line,
    owner,
    read_export,
    suppression_key,
)
from ops.cli import app
from shared.adapters.dynamodb import from_item
from shared.clock import FixedClock
from shared.settings import LOCAL_SIGNING_SECRET
from tests.conftest import Cloud, ShopKeys, open_cloud
from tests.ops.shop_world import clients, load_shop

PROBE: dict[str, Any] = {
    "pk": {"S": "SHOP#acme#SETTINGS"},
    "sk": {"S": "types-probe"},
    "decimal": {"N": "1234567890.12345678901234567890123456"},
    "tiny": {"N": "-1E-120"},
    "strings": {"SS": ["b", "a", "ç"]},
    "numbers": {"NS": ["10", "9.5", "-1"]},
    "blob": {"B": b"\x00\xffkizuna"},
    "blobs": {"BS": [b"\x02", b"\x01"]},
    "flag": {"BOOL": False},
    "nothing": {"NULL": True},
    "nested": {"M": {"l": {"L": [{"N": "1.50"}, {"S": "x"}, {"SS": ["z", "y"]}]}}},
}
"""An item of acme holding every DynamoDB type (the services' items use few of them)."""


def _raw(cloud: Cloud) -> dict[str, list[dict[str, Any]]]:
    """Every item of every table, as the low-level client answers."""
    out = {}
    for table in TABLES:
        name = getattr(cloud.settings, f"{table}_table")
        out[table] = list(_scan(cloud, name))
    return out


def _scan(cloud: Cloud, table: str) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = cloud.dynamodb.scan(**kwargs)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _values(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items as Python values (Decimals, sets, bytes), in key order: equal when every
    attribute is equal in type and value."""
    return sorted((from_item(i) for i in items), key=lambda d: (d["pk"], d["sk"]))


def _mentions(item: dict[str, Any], shop: str) -> bool:
    """Whether the shop's name is anywhere in the item but its provider message id (moto's
    SES ids are 60 random lowercase letters: "acme" turns up in one now and then)."""
    rest = {k: v for k, v in item.items() if k != "provider_message_id"}
    return shop in json.dumps(rest, default=str)


def _is_suppression(item: dict[str, Any]) -> bool:
    return str(item["pk"]["S"]).startswith("SUPPRESS#")


def _export(tmp: Path, name: str) -> Path:
    result = CliRunner().invoke(app, ["shop", "export", "--shop", "acme", "--out", str(tmp)])
    assert result.exit_code == 0, result.output
    written = Path(result.output.strip().splitlines()[-1])
    assert written == tmp / "acme.jsonl"
    return written.rename(tmp / name)


Loaded = tuple[Cloud, ShopKeys]


@contextmanager
def _loaded(monkeypatch: pytest.MonkeyPatch, clock: FixedClock) -> Iterator[Loaded]:
    """Given acme and beta, each loaded through the services' APIs and event handlers
    (orders, segments, a sent campaign, journeys with enrolments, a survey answered, a
    restock sign-up, ad spend), an acme item of every DynamoDB type, and two address
    suppressions (acme's c-1 bounced, and a beta address)."""
    with open_cloud(monkeypatch) as cloud:
        cloud.route_rules_to_queues()
        acme = load_shop(cloud, "acme", clock)
        load_shop(cloud, "beta", clock, people=2)
        cloud.dynamodb.put_item(TableName=cloud.settings.segmenter_table, Item=PROBE)
        deliveries = DynamoDeliveryRepository(
            cloud.dynamodb, cloud.settings.messenger_table, cloud.settings.journeys_table
        )
        at = datetime(2026, 11, 20, tzinfo=UTC)
        deliveries.suppress("email", "c-1@acme.jp", "bounce", at)
        deliveries.suppress("email", "c-1@beta.jp", "complaint", at)
        yield cloud, acme


@pytest.mark.usefixtures("aws_credentials")
def test_export_then_import_into_an_empty_stack_is_exact(
    monkeypatch: pytest.MonkeyPatch, clock: FixedClock, tmp_path: Path
) -> None:
    """When acme is exported, imported into a new empty stack, and exported again
    Then both files are the same bytes; the new stack's tables hold exactly acme's items
    of the old one (every attribute, type and value) and acme's address suppression,
    nothing of beta; and acme's admin key reads its customer there."""
    with _loaded(monkeypatch, clock) as (cloud, acme):
        before = _raw(cloud)
        first = _export(tmp_path, "first.jsonl")
    header = json.loads(first.read_text().splitlines()[0])
    assert header["shop"] == "acme" and header["format"] == "kizuna-shop-export"
    assert all(header["counts"][t] > 0 for t in TABLES), header["counts"]

    with open_cloud(monkeypatch) as fresh:
        assert not any(_raw(fresh).values())
        imported = CliRunner().invoke(app, ["shop", "import", "--shop", "acme", "--in", str(first)])
        assert imported.exit_code == 0, imported.output
        after = _raw(fresh)
        second = _export(tmp_path, "second.jsonl")
        reads = clients()["segmenter"].get("/v1/customers/c-1", headers=acme.header(acme.admin))

    assert second.read_bytes() == first.read_bytes()
    for table in TABLES:
        of_acme = [i for i in before[table] if _mentions(i, "acme")]
        restored = [i for i in after[table] if not _is_suppression(i)]
        assert _values(restored) == _values(of_acme), table
        assert not [i for i in after[table] if _mentions(i, "beta")], table
    [probe] = [from_item(i) for i in after["segmenter"] if i["sk"]["S"] == "types-probe"]
    assert probe == from_item(PROBE)
    assert isinstance(probe["decimal"], Decimal) and probe["blobs"] == {b"\x01", b"\x02"}
    suppressed = [from_item(i) for i in after["messenger"] if _is_suppression(i)]
    assert [s["reason"] for s in suppressed] == ["bounce"]
    assert reads.status_code == 200, reads.text
    assert reads.json()["customer_id"] == "c-1"


@pytest.mark.usefixtures("aws_credentials")
def test_import_refuses_a_target_holding_the_shop_and_a_bad_file_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, clock: FixedClock, tmp_path: Path
) -> None:
    """Given acme's export
    When it is imported where acme already is, under another shop's name, or edited to
    carry a beta item, cut short, given a line twice, or not JSON
    Then each is refused (exit 1) with a message naming the cause, and no table changes;
    and exporting a shop the stack does not have fails without writing a file."""
    with _loaded(monkeypatch, clock) as (cloud, _):
        good = _export(tmp_path, "acme.jsonl")
        lines = good.read_text().splitlines()
        held = _raw(cloud)
        again = CliRunner().invoke(app, ["shop", "import", "--shop", "acme", "--in", str(good)])
        assert again.exit_code == 1
        assert "already holds shop 'acme'" in " ".join(again.output.split())
        assert _raw(cloud) == held
        beta_line = next(
            json.dumps({"table": "segmenter", "item": i})
            for i in held["segmenter"]
            if i["pk"]["S"].startswith("SHOP#beta#ORDER#")
        )

    header = json.loads(lines[0])
    foreign = tmp_path / "foreign.jsonl"
    header["counts"]["segmenter"] += 1
    foreign.write_text("\n".join([json.dumps(header), *lines[1:], beta_line]) + "\n")
    short = tmp_path / "short.jsonl"
    short.write_text("\n".join(lines[:-1]) + "\n")
    twice = tmp_path / "twice.jsonl"
    doubled = json.loads(lines[0])
    doubled["counts"]["platform"] += 1
    twice.write_text("\n".join([json.dumps(doubled), lines[1], *lines[1:]]) + "\n")
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("order_id,total\n1,2\n")
    cases = [
        (good, "beta", "holds shop 'acme', not 'beta'"),
        (foreign, "acme", "an item of another shop ('beta')"),
        (short, "acme", "the file is incomplete"),
        (twice, "acme", "line 3: a second item with the key of an earlier one"),
        (garbage, "acme", "not a `kizuna shop export` file"),
    ]
    with open_cloud(monkeypatch) as fresh:
        for path, shop, message in cases:
            refused = CliRunner().invoke(app, ["shop", "import", "--shop", shop, "--in", str(path)])
            assert refused.exit_code == 1, (path.name, refused.output)
            assert message in " ".join(refused.output.split()), refused.output
        assert not any(_raw(fresh).values())
        nothing = tmp_path / "nothing"
        nothing.mkdir()
        absent = CliRunner().invoke(
            app, ["shop", "export", "--shop", "acme", "--out", str(nothing)]
        )
    assert absent.exit_code == 1 and "no shop 'acme'" in absent.output
    assert list(nothing.iterdir()) == []


def _item(pk: str, sk: str, **more: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **{k: {"S": v} for k, v in more.items()}}


def test_every_key_layout_has_its_owner_and_an_unknown_one_is_refused(
    tmp_path: Path, cloud: Cloud
) -> None:
    """Given items of the layouts a loaded shop may not have at that moment (a due send,
    an open restock release, a tracked delivery, a wish list, a campaign being sent, a
    week's share, totals (before and since they named their journey), first whole
    weeks of the journeys, of the campaigns' figures and of the people counts, a week's
    people counts and a person's week mark), the
    shared suppression and the operational lease and scan claim
    Then each has its shop (or is shared, or nobody's); an unknown layout raises, and
    an export meeting one fails (exit 1) without leaving a file."""
    cases = {
        ("DUE", "2026-11-24T01:00:00+00:00#d-1", "acme"): "acme",
        ("RELEASES#OPEN", "acme#SERUM-30#rel-1", ""): "acme",
        ("TRACK#acme#d-1", "TRACK", ""): "acme",
        ("WANT#acme#SERUM-30", "C#c-1", ""): "acme",
        ("CAMPAIGNS#ACTIVE", "acme#autumn", ""): "acme",
        ("CAL#11-24", "acme#c-1", ""): "acme",
        ("WEEK#acme#2026-11-23", "P#c-1|drill|e-1", ""): "acme",
        ("WEEK#acme#2026-11-23", "T#003", ""): "acme",
        ("WEEK#acme#2026-11-23", "T#drill#003", ""): "acme",
        ("WEEKS#acme", "SINCE", ""): "acme",
        ("WEEKS#acme", "CAMPAIGNS", ""): "acme",
        ("WEEKS#acme", "PEOPLE", ""): "acme",
        ("WEEKPEOPLE#acme#2026-11-23", "opened#003", ""): "acme",
        ("CUST#acme#c-1", "WEEK#2026-11-23#opened", ""): "acme",
        ("LINEUSER#U1", "SHOP#acme#CUST#c-1", ""): "acme",
        ("SHOP#acme#COUPON#ABC", "COUPON", ""): "acme",
        ("SUPPRESS#email#ab12", "SUPPRESS", ""): SHARED,
        ("LEASE#DUE#003", "LEASE", ""): None,
        ("CALSCAN", "2026-11-24", ""): None,
    }
    for (pk, sk, shop_id), expected in cases.items():
        extra = {"shop_id": shop_id} if shop_id else {}
        assert owner(_item(pk, sk, **extra)) == expected, pk
    with pytest.raises(UnknownLayout):
        owner(_item("NEWTHING#acme", "X"))

    cloud.dynamodb.put_item(
        TableName=cloud.settings.feedback_table, Item=_item("NEWTHING#acme", "X")
    )
    failed = CliRunner().invoke(app, ["shop", "export", "--shop", "acme", "--out", str(tmp_path)])
    assert failed.exit_code == 1 and "NEWTHING#acme" in failed.output
    assert list(tmp_path.iterdir()) == []


def test_an_export_to_a_new_folder_named_with_a_slash_lands_inside_it(
    cloud: Cloud, shop: ShopKeys, tmp_path: Path
) -> None:
    """Given acme, and folders that do not exist yet
    When `kizuna shop export --out backups/` runs (as the README writes it), and once more
    into a nested new folder
    Then each writes `<folder>/acme.jsonl`, the path the README's import reads, creating
    the folders, and prints that path."""
    for folder in (tmp_path / "backups", tmp_path / "nested" / "deeper"):
        result = CliRunner().invoke(
            app, ["shop", "export", "--shop", "acme", "--out", f"{folder}/"]
        )
        assert result.exit_code == 0, result.output
        assert result.output.strip().splitlines()[-1] == str(folder / "acme.jsonl")
        assert (folder / "acme.jsonl").read_text(encoding="utf-8").startswith("{")


def test_a_stack_configured_wrongly_is_told_in_one_line_naming_the_setting(
    tmp_path: Path,
) -> None:
    """Given an environment outside a sandbox with the public local signing secret
    When the installed `kizuna shop export` runs in it
    Then it exits 2 with one line naming KIZUNA_SIGNING_SECRET, no traceback, no file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIZUNA_", "AWS_"))}
    env |= {"KIZUNA_SANDBOX": "false", "KIZUNA_SIGNING_SECRET": LOCAL_SIGNING_SECRET}
    kizuna = Path(sys.executable).with_name("kizuna")
    done = subprocess.run(
        [str(kizuna), "shop", "export", "--shop", "acme", "--out", f"{tmp_path}/"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    said = (done.stdout + done.stderr).strip()
    assert said.startswith("configuration: KIZUNA_SIGNING_SECRET is the public local default")
    assert "Traceback" not in said and len(said.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


class _CountingRuns(Runs):
    """The export's runs, counting what it hands them: the lines of each run it adds, and
    how many runs each merge reads at once."""

    def __init__(self, directory: Path, fan_in: int) -> None:
        super().__init__(directory, fan_in)
        self.added: list[int] = []
        self.merges: list[int] = []

    def add(self, run: Sequence[Line]) -> int:
        self.added.append(len(run))
        return super().add(run)

    def _merge(self, paths: list[Path]) -> Iterator[Line]:
        self.merges.append(len(paths))
        return super()._merge(paths)


def _put_all(cloud: Cloud, table: str, items: list[dict[str, Any]]) -> None:
    name = getattr(cloud.settings, f"{table}_table")
    for start in range(0, len(items), 25):
        request: dict[str, Any] = {
            name: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]
        }
        assert not cloud.dynamodb.batch_write_item(RequestItems=request)["UnprocessedItems"]


def _many(shop: str, people: int) -> dict[str, list[dict[str, Any]]]:
    """Items of `shop` in every table: its record, people with orders, profiles with an
    address (c-000 and c-100 share one, far apart in the Scan: so do c-001 and c-101, ...),
    enrolments and survey answers."""
    return {
        "platform": [_item(f"SHOP#{shop}", "SHOP", name=f"{shop} store")],
        "segmenter": [
            _item(f"SHOP#{shop}#CUST#c-{n:03d}", sk, total=str(n))
            for n in range(people)
            for sk in ("PROFILE", f"ORDER#o-{n}")
        ],
        "messenger": [
            _item(
                f"SHOP#{shop}#CUST#c-{n:03d}",
                "PROFILE",
                email=f"c-{n % 100}@{shop}.jp",
                name="花子",
            )
            for n in range(people)
        ],
        "journeys": [_item(f"SHOP#{shop}#ENROL#welcome", f"c-{n:03d}") for n in range(people)],
        "feedback": [_item(f"SHOP#{shop}#SURVEY#s-1", f"R#c-{n:03d}") for n in range(people)],
    }


def test_a_large_export_streams_a_page_at_a_time_and_equals_the_shops_items(
    cloud: Cloud, tmp_path: Path
) -> None:
    """Given acme with 120 people (over 600 items across the five tables, suppressions for
    three of its addresses, two of them each the address of two people far apart in the
    Scan), beta beside it with 40, and the workers' leases
    When acme is exported with a Scan page of 7 items and runs merged 3 at a time
    Then every Scan asked for 7 items, the export never handed its runs more than one
    page's lines, and no merge read more than 3 runs; the file is a version 1 export that
    reads back (as the import checks it) to exactly acme's items and its suppressions, once
    each, in the order and bytes an in-memory sort gives, with nothing of beta; and the
    temporary runs are gone."""
    acme, beta = _many("acme", 120), _many("beta", 40)
    for table in TABLES:
        _put_all(cloud, table, acme[table] + beta[table])
    _put_all(cloud, "journeys", [_item(f"LEASE#DUE#{n:03d}", "LEASE") for n in range(5)])
    deliveries = DynamoDeliveryRepository(
        cloud.dynamodb, cloud.settings.messenger_table, cloud.settings.journeys_table
    )
    at = datetime(2026, 11, 20, tzinfo=UTC)
    for address in ("c-1@acme.jp", "c-7@acme.jp", "c-99@acme.jp", "c-2@beta.jp"):
        deliveries.suppress("email", address, "bounce", at)
    scans: list[int] = []
    cloud.dynamodb.meta.events.register(
        "before-parameter-build.dynamodb.Scan", lambda params, **_: scans.append(params["Limit"])
    )
    made: list[_CountingRuns] = []

    def runs(directory: Path) -> Runs:
        made.append(_CountingRuns(directory, fan_in=3))
        return made[-1]

    tables = {t: getattr(cloud.settings, f"{t}_table") for t in TABLES}
    spool = tmp_path / "spool"
    spool.mkdir()
    backup = ShopBackup(cloud.dynamodb, tables, page=7, runs=runs, spool=spool)
    out = io.StringIO()
    counts = backup.export("acme", out)

    everything = sum(len(acme[t]) + len(beta[t]) for t in TABLES) + 5 + 4
    assert set(scans) == {7} and len(scans) >= everything // 7
    added = [n for r in made for n in r.added]
    assert max(added) <= 7 and sum(n > 0 for n in added) > 50
    assert max(m for r in made for m in r.merges) <= 3
    assert any(len(r.merges) > 1 for r in made)  # runs merged into runs before the file
    assert list(spool.iterdir()) == []

    text = out.getvalue()
    found = read_export("acme", text.splitlines())
    suppressions = [
        suppression_key("email", a) for a in ("c-1@acme.jp", "c-7@acme.jp", "c-99@acme.jp")
    ]
    for table in TABLES:
        own = [i for i in found[table] if owner(i) == "acme"]
        assert _values(own) == _values(acme[table]), table
    shared = [{k: i[k] for k in ("pk", "sk")} for i in found["messenger"] if _is_suppression(i)]
    assert sorted(shared, key=json.dumps) == sorted(suppressions, key=json.dumps)
    assert counts == {t: len(found[t]) for t in TABLES}
    assert counts["messenger"] == 120 + 3
    assert "beta" not in text

    header, *lines = text.splitlines()
    assert json.loads(header)["version"] == 1
    expected = sorted(
        (TABLES.index(t), i["pk"]["S"], i["sk"]["S"], encode_line(t, i))
        for t in TABLES
        for i in found[t]
    )
    assert lines == [e[3] for e in expected]


def test_an_export_meeting_an_unknown_layout_stops_and_leaves_no_runs(
    cloud: Cloud, tmp_path: Path
) -> None:
    """Given acme's items over several Scan pages and, among them, an item of a key
    layout `owner` does not know
    When acme is exported a page of 5 at a time
    Then it raises UnknownLayout naming the key, and its temporary runs are gone."""
    acme = _many("acme", 30)
    for table in TABLES:
        _put_all(cloud, table, acme[table])
    _put_all(cloud, "feedback", [_item("NEWTHING#acme", "X")])
    tables = {t: getattr(cloud.settings, f"{t}_table") for t in TABLES}
    spool = tmp_path / "spool"
    spool.mkdir()
    backup = ShopBackup(cloud.dynamodb, tables, page=5, spool=spool)
    with pytest.raises(UnknownLayout, match="NEWTHING#acme"):
        backup.export("acme", io.StringIO())
    assert list(spool.iterdir()) == []


class _CountedFile:
    """An export file opened afresh for each pass of the import, counting the lines it
    hands out per pass."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        self.read: list[int] = []

    def __call__(self) -> Iterator[str]:
        self.read.append(0)
        for line in self._lines:
            self.read[-1] += 1
            yield line


def _tables(cloud: Cloud) -> dict[str, str]:
    return {t: getattr(cloud.settings, f"{t}_table") for t in TABLES}


def _large_export(monkeypatch: pytest.MonkeyPatch, people: int) -> list[str]:
    """acme with `people` people (five items each across the tables, suppressions of two
    of its addresses) beside beta, exported: the file's lines."""
    with open_cloud(monkeypatch) as cloud:
        acme, beta = _many("acme", people), _many("beta", 20)
        for table in TABLES:
            _put_all(cloud, table, acme[table] + beta[table])
        deliveries = DynamoDeliveryRepository(
            cloud.dynamodb, cloud.settings.messenger_table, cloud.settings.journeys_table
        )
        at = datetime(2026, 11, 20, tzinfo=UTC)
        for address in ("c-1@acme.jp", "c-7@acme.jp", "c-2@beta.jp"):
            deliveries.suppress("email", address, "bounce", at)
        out = io.StringIO()
        ShopBackup(cloud.dynamodb, _tables(cloud), page=500).export("acme", out)
    return out.getvalue().splitlines(keepends=True)


@pytest.mark.usefixtures("aws_credentials")
def test_a_large_import_holds_one_batch_and_round_trips_exactly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given acme's export of over 4,000 lines
    When it is imported into an empty stack holding at most 7 items before writing them,
    and exported from there again
    Then the file was read twice (checked whole, then written); whenever DynamoDB was
    asked to write, the items read in the second pass but not yet sent to it were at most
    7 (one batch held, never the file), no request carried more than 7 items; and the
    second export is the same bytes as the first."""
    lines = _large_export(monkeypatch, people=800)
    assert len(lines) > 4000
    source = _CountedFile(lines)
    sent = 0
    held: list[int] = []
    sizes: list[int] = []

    def before_write(params: dict[str, Any], **_: Any) -> None:
        nonlocal sent
        if len(source.read) == 2:  # the second pass: lines read but the header
            held.append(source.read[1] - 1 - sent)
        if "RequestItems" in params:
            [requests] = params["RequestItems"].values()
            sizes.append(len(requests))
            sent += len(requests)
        else:
            sent += 1  # a suppression, put where the target has none

    with open_cloud(monkeypatch) as fresh:
        for op in ("BatchWriteItem", "PutItem"):
            fresh.dynamodb.meta.events.register(
                f"before-parameter-build.dynamodb.{op}", before_write
            )
        backup = ShopBackup(fresh.dynamodb, _tables(fresh), batch=7, page=500)
        counts = backup.import_("acme", source)
        fresh.dynamodb.meta.events.unregister(
            "before-parameter-build.dynamodb.BatchWriteItem", before_write
        )
        fresh.dynamodb.meta.events.unregister(
            "before-parameter-build.dynamodb.PutItem", before_write
        )
        again = io.StringIO()
        backup.export("acme", again)

    assert source.read == [len(lines), len(lines)]
    assert sum(counts.values()) == len(lines) - 1 == sent
    assert len(held) == len(sizes) + 2 and max(held) <= 7 and max(sizes) <= 7
    assert again.getvalue() == "".join(lines)


@pytest.mark.usefixtures("aws_credentials")
def test_a_bad_line_near_the_end_of_a_large_file_writes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given acme's export of over 4,000 lines, and copies of it whose end is wrong: the
    last line a beta item (the header counting it), the last two lines swapped, the last
    line given twice (counted), the last line cut off
    When each is imported into an empty stack a batch of 7 items at a time
    Then each is refused naming the line (or the counts), and every table stays empty."""
    lines = _large_export(monkeypatch, people=800)
    header = json.loads(lines[0])
    counted = dict(header, counts=dict(header["counts"], feedback=header["counts"]["feedback"] + 1))
    beta = {"table": "feedback", "item": {"pk": {"S": "SHOP#beta#SURVEY#s-1"}, "sk": {"S": "R#z"}}}
    n = len(lines)
    cases = [
        (
            [json.dumps(counted) + "\n", *lines[1:], json.dumps(beta) + "\n"],
            f"line {n + 1}: an item of another shop ('beta')",
        ),
        ([*lines[:-2], lines[-1], lines[-2]], f"line {n}: out of order"),
        (
            [json.dumps(counted) + "\n", *lines[1:], lines[-1]],
            f"line {n + 1}: a second item with the key",
        ),
        (lines[:-1], "the file is incomplete"),
    ]
    with open_cloud(monkeypatch) as fresh:
        backup = ShopBackup(fresh.dynamodb, _tables(fresh), batch=7)
        for bad, message in cases:
            with pytest.raises(Refused) as refused:
                backup.import_("acme", _CountedFile(bad))
            assert message in refused.value.message, refused.value.message
        assert not any(_raw(fresh).values())
