"""The `kizuna` command: shops and keys, the local stack, and the demo.

Commands talk to whatever AWS the environment points at. `--local` points them at a
running `kizuna local up` (it writes its endpoints to `.kizuna/local/endpoints.json`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table


class _Kizuna(typer.Typer):
    """The CLI, which answers a stack configured wrongly (e.g. the public signing secret
    outside a sandbox) in one line naming the setting, not a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as err:
            from shared.settings import ConfigurationError

            if not isinstance(err, ConfigurationError):
                raise
            console.print(f"configuration: {err}", style="red", markup=False, soft_wrap=True)
            raise SystemExit(2) from None


app = _Kizuna(help="Kizuna: CRM and marketing automation for D2C shops.", no_args_is_help=True)
shop_app = typer.Typer(help="Shops and their API keys.", no_args_is_help=True)
local_app = typer.Typer(
    help="The local stack: moto, the template's rules and schedules, one HTTP API.",
    no_args_is_help=True,
)
import_app = typer.Typer(help="Load historical data from files.", no_args_is_help=True)
dashboard_app = typer.Typer(help="The marketer's console in a browser.", no_args_is_help=True)
app.add_typer(shop_app, name="shop")
app.add_typer(dashboard_app, name="dashboard")
app.add_typer(local_app, name="local")
app.add_typer(import_app, name="import")
# `kizuna analytics clv` (predictive CLV on a file): operator tooling like the rest of this
# module; importing it loads typer and rich only (numpy and scipy when the command runs).
from ops.clv_cli import analytics_app  # noqa: E402

app.add_typer(analytics_app, name="analytics")
console = Console()

DEFAULT_STATE_DIR = Path(".kizuna/local")
ENDPOINTS_FILE = "endpoints.json"

LocalFlag = Annotated[bool, typer.Option("--local", help="Use the running `kizuna local up`.")]
StateDir = Annotated[Path, typer.Option(help="Where the local stack keeps its state.")]


def _use_local(state_dir: Path) -> dict[str, Any]:
    """The running stack's endpoints, with this process's AWS clients pointed at it."""
    endpoints = _local_endpoints(state_dir)
    os.environ.update(endpoints["environment"])
    from shared.settings import get_settings

    get_settings.cache_clear()
    return endpoints


def _local_endpoints(state_dir: Path) -> dict[str, Any]:
    path = state_dir / ENDPOINTS_FILE
    if not path.exists():
        console.print(
            f"[red]No local stack found ({path}). Start one with `kizuna local up`.[/red]"
        )
        raise typer.Exit(2)
    endpoints: dict[str, Any] = json.loads(path.read_text())
    return endpoints


@shop_app.command("create")
def shop_create(
    shop_id: Annotated[str, typer.Argument(help="Lowercase id, e.g. my-shop.")],
    name: Annotated[str, typer.Option(help="Display name of the shop.")],
    local: LocalFlag = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Create a shop and its first API key (scope `admin`). The key is shown once. The
    messenger reads the new shop's week tiles from their partitions from this week on."""
    if local:
        _use_local(state_dir)
    from ops.shops import open_shop
    from shared.errors import KizunaError
    from shared.settings import get_settings

    try:
        issued = open_shop(get_settings(), shop_id, name)
    except KizunaError as err:
        console.print(f"[red]{err.field or 'error'}: {err.message}[/red]")
        raise typer.Exit(1) from None
    console.print(f"Shop [bold]{shop_id}[/bold] created.")
    console.print("Its admin API key (shown once, store it now):")
    typer.echo(issued.token)


def _backup(local: bool, state_dir: Path, spool: Path | None = None) -> Any:
    """The shop backup on the tables the environment (or `--local`) points at; an export
    sorts in a temporary folder under `spool`."""
    if local:
        _use_local(state_dir)
    from ops.backup import TABLES, ShopBackup
    from shared import aws
    from shared.settings import get_settings

    settings = get_settings()
    client = aws.client(aws.session(settings.aws_region), "dynamodb")
    return ShopBackup(client, {t: getattr(settings, f"{t}_table") for t in TABLES}, spool=spool)


def _backup_file(path: Path, shop: str) -> Path:
    """A directory holds the shop's file as `<shop>.jsonl`."""
    return path / f"{shop}.jsonl" if path.is_dir() else path


def _export_file(out: str, shop: str) -> Path:
    """`--out` as given: a directory (existing, or written with a trailing slash) gets
    `<shop>.jsonl` (the caller creates it with its parents); anything else is the file
    itself."""
    path = Path(out)
    target = _backup_file(path, shop)
    if out.endswith(("/", os.sep)):
        target = path / f"{shop}.jsonl"
    return target


def _read_lines(path: Path) -> Iterator[str]:
    """The file's lines, read as they are asked for (the import reads it twice)."""
    with path.open(encoding="utf-8") as handle:
        yield from handle


def _counts_table(title: str, counts: dict[str, int]) -> Table:
    table = Table("table", "items", title=title)
    table.columns[1].justify = "right"
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    table.add_row("[bold]total[/bold]", f"[bold]{sum(counts.values()):,}[/bold]")
    return table


@shop_app.command("export")
def shop_export(
    shop: Annotated[str, typer.Option("--shop", help="The shop to export.")],
    out: Annotated[
        str,
        typer.Option(
            "--out", help="A JSONL file, or a directory (ends in '/' or exists: <shop>.jsonl)."
        ),
    ],
    local: LocalFlag = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Write the shop's whole state (every table of every service) as JSONL: DynamoDB's
    typed JSON per item, sorted, so the same state is the same bytes. Written to a
    temporary file first: an interrupted export leaves no partial file. Sorted on disk
    beside it, a Scan page at a time: memory does not grow with the shop."""
    from ops.backup import UnknownLayout

    target = _export_file(out, shop)
    backup = _backup(local, state_dir, spool=target.parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as handle:
            counts = backup.export(shop, handle)
    except UnknownLayout as err:
        partial.unlink(missing_ok=True)
        console.print(f"[red]export: {err}[/red]")
        raise typer.Exit(1) from None
    if not counts["platform"]:
        partial.unlink(missing_ok=True)
        console.print(f"[red]shop: no shop {shop!r} in this stack[/red]")
        raise typer.Exit(1)
    partial.replace(target)
    console.print(_counts_table(f"Exported {shop}", counts))
    typer.echo(str(target))


@shop_app.command("import")
def shop_import(
    shop: Annotated[str, typer.Option("--shop", help="The shop the file holds.")],
    source: Annotated[
        Path,
        typer.Option(
            "--in", exists=True, help="A file `kizuna shop export` wrote, or its directory."
        ),
    ],
    local: LocalFlag = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Write an export into a stack where the shop has nothing yet (a target holding any
    item of the shop is refused). The whole file is checked before anything is written
    (a first pass over it), then written a batch at a time: memory does not grow with it."""
    from ops.backup import Refused

    path = _backup_file(source, shop)
    if not path.is_file():
        console.print(f"[red]in: no file {path}[/red]")
        raise typer.Exit(2)
    backup = _backup(local, state_dir)
    try:
        counts = backup.import_(shop, lambda: _read_lines(path))
    except Refused as err:
        console.print(f"[red]{err.field}: {err.message}[/red]")
        raise typer.Exit(1) from None
    console.print(_counts_table(f"Imported {shop}", counts))


class Language(StrEnum):
    JA = "ja"
    EN = "en"


MARKETER_SCOPES = ("segments:read", "segments:write", "messages:read", "messages:send")
READ_SCOPES = ("segments:read", "messages:read", "feedback:read")


@dashboard_app.command("link")
def dashboard_link(
    shop: Annotated[str, typer.Option("--shop", help="The shop to open the console for.")],
    read_only: Annotated[bool, typer.Option(help="Look only: no segment can be saved.")] = False,
    local: LocalFlag = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Print a console sign-in link for the shop: one sign-in within 15 minutes, no API key.
    The token sits after `#`, so the browser never sends it to a server log; the page
    exchanges it for a session cookie and drops it from the address bar."""
    base = _use_local(state_dir)["api"] if local else None
    from shared import aws, clock
    from shared.auth.keys import require_active_shop
    from shared.auth.sessions import sign_link
    from shared.auth.store import DynamoKeyStore
    from shared.errors import KizunaError
    from shared.settings import get_settings

    settings = get_settings()
    store = DynamoKeyStore(
        aws.client(aws.session(settings.aws_region), "dynamodb"), settings.platform_table
    )
    scopes = frozenset(READ_SCOPES if read_only else (*MARKETER_SCOPES, "feedback:read"))
    try:
        require_active_shop(store.get_shop(shop))
        token = sign_link(settings.signing_secret.get_secret_value(), shop, scopes, clock.now())
    except KizunaError as err:
        console.print(f"[red]{shop}: {err.message}[/red]")
        raise typer.Exit(1) from None
    typer.echo(f"{(base or settings.public_base_url).rstrip('/')}/console/#link={token}")


@app.command("report")
def report(
    shop: Annotated[str, typer.Option("--shop", help="The shop to report on.")],
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    lang: Annotated[Language, typer.Option(help="Language of the report.")] = Language.JA,
    api: Annotated[
        str | None, typer.Option(help="Base URL of the platform's API (default: public URL).")
    ] = None,
    local: LocalFlag = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Write the console's overview, RFM, repeat, LTV and list diagnosis as one HTML file
    that needs no script, no sign-in and no network: to mail to someone who will not log
    in. The figures are read from the console's routes with a read-only signed link."""
    base = _use_local(state_dir)["api"] if local else api
    from ops import report as static_report
    from shared import aws, clock
    from shared.auth.keys import require_active_shop
    from shared.auth.sessions import sign_link
    from shared.auth.store import DynamoKeyStore
    from shared.errors import KizunaError
    from shared.settings import get_settings

    settings = get_settings()
    store = DynamoKeyStore(
        aws.client(aws.session(settings.aws_region), "dynamodb"), settings.platform_table
    )
    try:
        require_active_shop(store.get_shop(shop))
        token = sign_link(
            settings.signing_secret.get_secret_value(), shop, frozenset(READ_SCOPES), clock.now()
        )
        with static_report.console_session(base or settings.public_base_url, token) as get:
            data = static_report.collect(shop, get)
    except (KizunaError, static_report.ReportUnavailable) as err:
        console.print(f"[red]{shop}: {getattr(err, 'message', err)}[/red]")
        raise typer.Exit(1) from None
    html = static_report.render(data, lang.value, clock.now())
    typer.echo(str(static_report.write(out, html)))


@local_app.command("up")
def local_up(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    port: Annotated[int, typer.Option(help="Port of the local HTTP API.")] = 8000,
    moto_port: Annotated[int, typer.Option(help="Port of the moto server.")] = 5000,
    schedules: Annotated[bool, typer.Option(help="Fire the template's schedules.")] = True,
) -> None:
    """Run the local stack until Ctrl-C. State survives a restart (moto's recorder)."""
    import signal
    import threading

    from ops.local.stack import LocalStack, find_template

    stack = LocalStack(
        find_template(),
        state_dir=state_dir,
        moto_port=moto_port,
        api_port=port,
        auto_schedule=schedules,
    )
    stack.start()
    endpoints = {
        "api": stack.api_base_url,
        "aws": stack.aws_endpoint_url,
        "environment": stack.environment,
    }
    (state_dir / ENDPOINTS_FILE).write_text(json.dumps(endpoints, indent=2))
    console.print(f"Kizuna local API: [bold]{stack.api_base_url}[/bold]")
    console.print(f"moto (AWS):       {stack.aws_endpoint_url}")
    console.print(f"Console:          {stack.api_base_url}/console/")
    console.print(f"Sandbox:          {stack.api_base_url}/_local/sandbox")
    console.print("Schedules: " + ", ".join(stack.schedules()))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        console.print("Stopping (draining queues)...")
        stack.stop()
        (state_dir / ENDPOINTS_FILE).unlink(missing_ok=True)


@local_app.command("fire")
def local_fire(
    schedule: Annotated[
        str, typer.Argument(help="Schedule name from the template, e.g. JourneyDispatcher.")
    ],
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Fire one of the template's schedules now on the running local stack."""
    import httpx

    endpoints = _use_local(state_dir)
    response = httpx.post(f"{endpoints['api']}/_local/schedules/{schedule}", timeout=120)
    typer.echo(response.text)
    if response.status_code >= 400:
        raise typer.Exit(1)


clock_app = typer.Typer(help="The local stack's clock.", no_args_is_help=True)
local_app.add_typer(clock_app, name="clock")


@clock_app.command("advance")
def local_clock_advance(
    by: Annotated[str, typer.Argument(help="How far: 30d, 12h or 90m.")],
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Move the running local stack's clock forward, firing the schedules due on the way
    (the journey dispatcher every simulated hour), so a 30-day journey runs in seconds."""
    import httpx

    endpoints = _use_local(state_dir)
    response = httpx.post(f"{endpoints['api']}/_local/clock", json={"advance": by}, timeout=1800)
    typer.echo(response.text)
    if response.status_code >= 400:
        raise typer.Exit(1)


@local_app.command("sandbox")
def local_sandbox(state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """List every mail, LINE and SMS message the local stack would have sent."""
    import httpx

    endpoints = _use_local(state_dir)
    messages = httpx.get(f"{endpoints['api']}/_local/sandbox", timeout=30).json()
    table = Table("channel", "to", "subject / text")
    for m in messages:
        table.add_row(m["channel"], m["to"], (m.get("subject") or m.get("body") or "")[:80])
    console.print(table)


class ImportFormat(StrEnum):
    shopify = "shopify"
    generic = "generic"


@import_app.command("orders")
def import_orders(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file.")
    ],
    shop: Annotated[str, typer.Option(help="The shop the orders belong to.")],
    fmt: Annotated[
        ImportFormat, typer.Option("--format", help="Shopify's orders export, or generic.")
    ] = ImportFormat.shopify,
    encoding: Annotated[
        str, typer.Option(help="Text encoding of the file, e.g. cp932 for Excel in Japan.")
    ] = "utf-8-sig",
    show_errors: Annotated[int, typer.Option(help="How many errors to print.")] = 20,
    local: LocalFlag = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Import historical orders (no mails are triggered). Safe to run again.

    Exit code: 0 when every order of the file is in Kizuna (imported now or earlier,
    or skipped as cancelled); 1 when some orders were rejected or conflict with stored
    ones (they are listed); 2 when the file or shop cannot be used at all."""
    if local:
        endpoints = _local_endpoints(state_dir)
        result = _import_into_stack(endpoints["api"], file, fmt.value, shop, encoding, show_errors)
    else:
        result = _import_here(file, fmt.value, shop, encoding, show_errors)
    _print_import_summary(result)


def _import_progress() -> Any:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        console=console,
    )


def _refuse_import(field: str, message: str) -> None:
    console.print(f"[red]{field}: {message}[/red]")
    raise typer.Exit(2)


def _import_here(
    file: Path, fmt: str, shop: str, encoding: str, show_errors: int
) -> dict[str, Any]:
    """The import in this process, against whatever AWS the environment points at."""
    from ops.importing import ImportRefused
    from ops.importing import import_orders as run_import

    size = file.stat().st_size
    progress = _import_progress()
    with file.open("rb") as raw, progress:
        task = progress.add_task(f"Importing {file.name}", total=size, rows=0)

        def report(p: dict[str, Any]) -> None:
            progress.update(task, completed=p["bytes"], rows=p["rows"])

        try:
            return run_import(
                raw, fmt, shop, encoding=encoding, max_errors=show_errors, progress=report
            )
        except ImportRefused as err:
            progress.stop()
            _refuse_import(err.field, err.message)
            raise  # unreachable: _refuse_import exits


def _import_into_stack(
    api: str, file: Path, fmt: str, shop: str, encoding: str, show_errors: int
) -> dict[str, Any]:
    """`--local`: the file is streamed to the running stack, which imports it beside
    moto (`ops.importing`: no HTTP or validation per DynamoDB request), answering
    progress and the summary as JSON lines."""
    import httpx

    size = file.stat().st_size
    params = {"shop": shop, "format": fmt, "encoding": encoding, "max_errors": str(show_errors)}
    progress = _import_progress()

    def chunks() -> Any:
        with file.open("rb") as raw:
            while chunk := raw.read(1 << 16):
                yield chunk

    timeout = httpx.Timeout(30, read=None)
    with progress:
        task = progress.add_task(f"Importing {file.name}", total=size, rows=0)
        with httpx.stream(
            "POST", f"{api}/_local/import/orders", params=params, content=chunks(), timeout=timeout
        ) as response:
            if response.status_code >= 400:
                response.read()
                progress.stop()
                error = response.json().get("error", {})
                fields = error.get("fields") or [{"field": "file"}]
                _refuse_import(fields[0]["field"], error.get("message", response.text))
            for text in response.iter_lines():
                if not text.strip():
                    continue
                line = json.loads(text)
                if "progress" in line:
                    p = line["progress"]
                    progress.update(task, completed=p["bytes"], rows=p["rows"])
                elif "summary" in line:
                    summary: dict[str, Any] = line["summary"]
                    return summary
                else:
                    progress.stop()
                    error = line.get("error", {})
                    fields = error.get("fields") or [{"field": "import"}]
                    _refuse_import(fields[0]["field"], error.get("message", text))
    _refuse_import("import", "the local stack closed the connection before the summary")
    raise AssertionError("unreachable")


def _print_import_summary(summary: dict[str, Any]) -> None:
    """The summary table, the first errors, and the exit code (0, 1 or 2)."""
    table = Table("", "count", title="Import summary")
    table.columns[1].justify = "right"
    for label, key in (
        ("rows read", "rows_read"),
        ("orders imported", "orders_imported"),
        ("duplicates skipped", "duplicates_skipped"),
        ("orders rejected", "orders_rejected"),
        ("orders conflicting", "orders_conflicting"),
        ("cancelled/refunded skipped", "orders_skipped"),
    ):
        table.add_row(label, f"{summary[key]:,}")
    console.print(table)
    errors: list[str] = summary["errors"]
    if errors:
        more = summary["error_count"] - len(errors)
        console.print(f"[yellow]{summary['error_count']} error(s):[/yellow]")
        for error in errors:
            console.print(f"  {error}", markup=False, highlight=False)
        if more > 0:
            console.print(f"  … and {more} more")
    if not summary["completed"]:
        console.print("[red]The file could not be read to the end; fix it and run again.[/red]")
        raise typer.Exit(2)
    if summary["orders_rejected"] or summary["orders_conflicting"]:
        raise typer.Exit(1)


@app.command("backfill")
def backfill(
    shop: Annotated[str, typer.Option(help="The shop to backfill.")],
    local: LocalFlag = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Fill what data stored before a field existed lacks: each buyer's first product
    (from their orders), the restock SKU list's counts (from the sign-ups) and the
    feedback table's person index (which erasure, disclosure and merges read), and the
    messenger's week index (campaigns by week; the first week whose partition is whole,
    next Monday: the week tiles' drill-down reads earlier weeks the slow way), and the
    messenger's copy of orders imported before `order.imported` was published (every
    active order published as it: the messenger keeps only those it lacks). Safe to run
    again: a second run changes nothing."""
    if local:
        _use_local(state_dir)
    from ops.backfill import UnknownShop, run_backfill

    try:
        result = run_backfill(shop)
    except UnknownShop:
        console.print(f"shop: no shop {shop!r} in this stack", style="red", markup=False)
        raise typer.Exit(1) from None
    for part, figures in result.items():
        console.print(f"{part}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))


@app.command("demo")
def demo(
    customers: Annotated[int, typer.Option(help="Synthetic customers to load.")] = 40,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic shop.")] = 7,
) -> None:
    """Start the local stack, load a synthetic shop through the public API, print what
    was stored and sent, and stop."""
    from ops.demo import run_demo

    run_demo(console, customers=customers, seed=seed)


if __name__ == "__main__":  # pragma: no cover
    app()


@analytics_app.command("ad-spend")
def analytics_ad_spend(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="channel,month,amount"),
    ],
    shop: Annotated[str, typer.Option(help="The shop the ad spend belongs to.")],
    local: LocalFlag = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Load ad spend per channel and month from a CSV (header `channel,month,amount`,
    month YYYY-MM). A (channel, month) loaded again replaces its amount; a bad row stops
    the load before anything is stored (exit 2)."""
    if local:
        _use_local(state_dir)
    from segmenter.bootstrap import build
    from segmenter.services import analytics
    from shared.errors import InvalidInput

    container = build()
    _, known = container.keys.get_key_and_shop(shop, "-")
    if known is None or container.analytics is None:
        console.print(f"[red]shop: no shop '{shop}' (create it with `kizuna shop create`).[/red]")
        raise typer.Exit(2)
    try:
        entries = analytics.parse_ad_spend_csv(file.read_text(encoding="utf-8-sig"))
    except InvalidInput as err:
        console.print(f"[red]{err.message}[/red]")
        raise typer.Exit(2) from None
    stored = analytics.put_ad_spend(container.analytics, shop, entries)
    typer.echo(f"stored {stored} ad spend figure(s) for {shop}")


def _quantity(value: float) -> str:
    """Counts as whole numbers (9,000,000); small fractional amounts (GB-months) to two
    places, so a small shop's snapshot does not read as 0.0."""
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2f}"


@app.command("cost")
def cost(
    customers: Annotated[int, typer.Option(min=0, help="Profiles the shop holds.")],
    orders_per_month: Annotated[int, typer.Option(min=0, help="Orders a month.")],
    messages_per_month: Annotated[int, typer.Option(min=0, help="Messages delivered a month.")],
    other_events_per_month: Annotated[
        int, typer.Option(min=0, help="Storefront events besides orders (views, carts).")
    ] = 0,
    sms_share: Annotated[float, typer.Option(min=0, max=1, help="Share sent by SMS.")] = 0.0,
    line_share: Annotated[
        float, typer.Option(min=0, max=1, help="Share sent on LINE (billed by LINE).")
    ] = 0.0,
    sources: Annotated[bool, typer.Option(help="Print where each count and price comes from.")] = (
        False
    ),
) -> None:
    """The monthly AWS bill of one shop, from the per-operation counts `bench/` measures
    and the list prices in services/ops/prices/aws-ap-northeast-1.json (USD, Tokyo)."""
    from ops.cost import COUNTS, Workload, load_hosted_tools, load_prices, monthly_cost, total

    if sms_share + line_share > 1:
        console.print("[red]sms-share: SMS and LINE shares add up to more than 1.[/red]")
        raise typer.Exit(2)
    workload = Workload(
        customers,
        orders_per_month,
        messages_per_month,
        other_events_per_month,
        sms_share,
        line_share,
    )
    prices = load_prices()
    lines = monthly_cost(workload, prices)
    table = Table(title=f"Kizuna on AWS, ap-northeast-1: {customers:,} customers, a month")
    for column in ("service", "what", "quantity", "USD"):
        table.add_column(column, justify="right" if column in ("quantity", "USD") else "left")
    for line in lines:
        usd = f"{line.usd:,.2f}" if line.in_total else f"({line.usd:,.2f})"
        table.add_row(line.service, line.what, _quantity(line.quantity), usd)
    console.print(table)
    typer.echo(f"total: {total(lines):,.2f} USD a month")
    for tool in load_hosted_tools():
        list_price, basis = tool.monthly(customers)
        figure = (
            "no list price" if list_price is None else f"{list_price:,.0f} {tool.currency} a month"
        )
        typer.echo(f"beside it, {tool.name}: {figure} ({basis}; {tool.basis})")
    if sources:
        for name, count in COUNTS.items():
            typer.echo(f"count {name} = {count.value:g}: {count.source}")
        for name, price in prices.items():
            typer.echo(
                f"price {name} = {price.usd:g} USD per {price.per:,} {price.unit}: "
                f"{price.source} (recorded {price.recorded}; checked {price.checked})"
            )
        for tool in load_hosted_tools():
            typer.echo(f"hosted {tool.name}: {tool.source} (checked {tool.checked})")
