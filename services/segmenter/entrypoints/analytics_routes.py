"""Analytics routes of the segmenter API. They read what the analytics function stored
(never DuckDB), apply the period and today's inputs, and answer JSON or CSV."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ConfigDict, Field, ValidationError

from segmenter.entrypoints.deps import Container
from segmenter.entrypoints.segment_schemas import SegmentPublic
from shared.errors import InvalidInput
from shared.http.deferred import deferred_router
from shared.http.paging import (
    PAGED_LIST,
    Page,
    decode_cursor,
    encode_cursor,
)
from shared.http.security import SegmentsReader, SegmentsWriter
from shared.http.types import Schema

if TYPE_CHECKING:  # the use cases are imported by the routes that call them, not at cold start
    from segmenter.bootstrap import AnalyticsPorts, SegmenterContainer
    from segmenter.domain.analytics.cells import Cell
    from segmenter.domain.analytics.views import AdSpend, Period
    from segmenter.services import analytics

MAX_AD_SPEND_ROWS = 10_000
"""`analytics.MAX_AD_SPEND_ROWS`, written out so the schema needs no use case (a test
keeps them equal)."""
Month = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-04"])]
ReportName = Literal[
    "ltv",
    "repeat",
    "second-purchase",
    "retention",
    "channels",
    "campaigns",
    "revenue",
    "list-analysis",
    "calendar",
    "lifecycle",
    "forecast",
]
"""`views.REPORTS`, written out for the path's schema (a test keeps them equal)."""
CellReport = Literal[
    "list-analysis",
    "calendar",
    "lifecycle",
    "retention",
    "repeat",
    "second-purchase",
    "ltv",
]


def _ports(c: SegmenterContainer) -> AnalyticsPorts:
    return c.analytics


router = deferred_router(prefix="/v1/analytics", tags=["analytics"])


class RefreshPublic(Schema):
    status: str
    requested_at: str


class AdSpendIn(Schema):
    model_config = ConfigDict(extra="forbid")
    channel: str = Field(min_length=1, max_length=64, examples=["google_ads"])
    month: Month
    amount: Decimal = Field(ge=0, le=Decimal("1e13"), examples=["350000"])


class AdSpendPut(Schema):
    model_config = ConfigDict(extra="forbid")
    entries: list[AdSpendIn] = Field(min_length=1, max_length=MAX_AD_SPEND_ROWS)


class AdSpendPublic(Schema):
    channel: str
    month: str
    amount: float


class AdSpendStored(Schema):
    stored: int


class MessageCostsPut(Schema):
    """Cost of one message per channel, in the shop's currency (e.g. SMS 8, LINE 3)."""

    model_config = ConfigDict(extra="forbid")
    email: Decimal | None = Field(default=None, ge=0, le=10_000)
    line: Decimal | None = Field(default=None, ge=0, le=10_000)
    sms: Decimal | None = Field(default=None, ge=0, le=10_000)


class ClvSettingsPut(Schema):
    """The shop's predictive CLV settings."""

    model_config = ConfigDict(extra="forbid")
    monthly_discount_rate: Decimal = Field(
        ge=0,
        le=1,
        examples=["0.01"],
        description="Discount rate per month for the 365-day predicted CLV (0.01 = 1 %).",
    )


class ClvSettingsPublic(Schema):
    monthly_discount_rate: float
    default: bool
    """True while the shop has set no rate and the default (1 % a month) applies."""


class ReportPendingPublic(Schema):
    report: str
    status: str
    message: str
    requested_at: str | None = None


class ReportPublic(Schema):
    report: str
    as_of: str
    computed_at: str
    period: dict[str, str | None]
    rows: list[dict[str, Any]]


class CellIn(Schema):
    """A cell of a report, as the last analytics pass counted it.

    - list diagnosis at `month`'s end: `state` (list-analysis; `active` = new, repeat
      and loyal, `all` = every state: the overview's tiles), `from_state` and
      `to_state` (lifecycle; from `none` = the customer's first month) or `recency` and
      `frequency` (calendar: months since the last order 0, 1, 2, 3-5, 6-11, 12+ × orders
      so far 1-4, 5+);
    - retention: the cohort `month` (first purchase) and `month_offset` (k of m<k>);
    - over the cohorts first buying in `from`..`to` (both optional): `stage` (repeat:
      reached n orders, 1-10), `bucket` (second-purchase) or `dimension` (cohort, channel,
      first_product, first_offer) and `key` (ltv: the row's key)."""

    model_config = ConfigDict(populate_by_name=True)
    month: Month | None = None
    state: str | None = Field(default=None, max_length=16, examples=["loyal"])
    from_state: str | None = Field(default=None, max_length=16, examples=["repeat"])
    to_state: str | None = Field(default=None, max_length=16, examples=["dormant"])
    recency: str | None = Field(default=None, max_length=8, examples=["3-5"])
    frequency: str | None = Field(default=None, max_length=4, examples=["2"])
    month_offset: int | None = Field(default=None, examples=[5])
    stage: int | None = Field(default=None, examples=[2])
    bucket: str | None = Field(default=None, max_length=16, examples=["31-60"])
    dimension: str | None = Field(default=None, max_length=16, examples=["channel"])
    key: str | None = Field(default=None, max_length=200, examples=["instagram"])
    start: Month | None = Field(default=None, alias="from")
    end: Month | None = Field(default=None, alias="to")

    def cell(self, report: str) -> Cell:
        from segmenter.domain.analytics.cells import cell_of
        from segmenter.domain.analytics.views import Period

        return cell_of(
            report,
            self.month,
            state=self.state,
            from_state=self.from_state,
            to_state=self.to_state,
            recency=self.recency,
            frequency=self.frequency,
            month_offset=self.month_offset,
            stage=self.stage,
            bucket=self.bucket,
            dimension=self.dimension,
            key=self.key,
            period=Period(self.start, self.end),
        )


class CellSegmentCreate(CellIn):
    model_config = ConfigDict(extra="forbid")
    segment_id: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)


class CellCustomersPublic(Schema):
    report: str
    as_of: str
    month: str | None
    period: dict[str, str | None]
    cell: dict[str, str]
    count: int
    customer_ids: list[str]
    next_cursor: str | None


def _cell_query(report: Annotated[CellReport, Path()], q: Annotated[CellIn, Query()]) -> Cell:
    return q.cell(report)


if TYPE_CHECKING:
    CellParam = Annotated[Cell, Depends(_cell_query)]
else:  # the analytics domain is imported with the first cell asked for, not at cold start
    CellParam = Annotated[Any, Depends(_cell_query)]


@router.post("/refresh", status_code=202)
def post_refresh(principal: SegmentsWriter, c: Container) -> RefreshPublic:
    from segmenter.services import analytics

    status = analytics.request_refresh(_ports(c), c.publisher, principal.shop_id, c.clock())
    return RefreshPublic(status=status["status"], requested_at=status["requested_at"])


@router.put(
    "/ad-spend",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/AdSpendPut"}},
                "text/csv": {"schema": {"type": "string"}, "example": "channel,month,amount\n"},
            },
            "required": True,
        }
    },
)
async def put_ad_spend(request: Request, principal: SegmentsWriter, c: Container) -> AdSpendStored:
    """Ad spend per channel and month: JSON `{"entries": [...]}` or a CSV body
    (`Content-Type: text/csv`, header `channel,month,amount`). A (channel, month) sent
    again replaces its amount."""
    from segmenter.services import analytics

    entries = ad_spend_entries(await request.body(), request.headers.get("content-type", ""))
    return AdSpendStored(stored=analytics.put_ad_spend(_ports(c), principal.shop_id, entries))


def ad_spend_entries(raw: bytes, content_type: str) -> list[AdSpend]:
    """The entries of an ad spend body, CSV or JSON by its content type (a 422 naming the
    field otherwise)."""
    from segmenter.domain.analytics.views import AdSpend
    from segmenter.services import analytics

    if content_type.split(";", maxsplit=1)[0].strip() == "text/csv":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("the CSV must be UTF-8", field="body") from None
        return analytics.parse_ad_spend_csv(text)
    try:
        body = AdSpendPut.model_validate_json(raw or b"{}")
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidInput(f"{where}: {first['msg']}", field=where) from None
    return [AdSpend(e.channel, e.month, float(e.amount)) for e in body.entries]


@router.get("/ad-spend", responses=PAGED_LIST)
def get_ad_spend(
    principal: SegmentsReader,
    c: Container,
    page: Page,
) -> list[AdSpendPublic]:
    """The entered ad spend by channel then month, one page at a time (`X-Next-Cursor` →
    `cursor`)."""
    from segmenter.services import analytics

    found, after = analytics.ad_spend_page(_ports(c), principal.shop_id, page.limit, page.position)
    page.next(after)
    return [AdSpendPublic(channel=e.channel, month=e.month, amount=e.amount) for e in found]


@router.put("/message-costs")
def put_message_costs(
    body: MessageCostsPut, principal: SegmentsWriter, c: Container
) -> dict[str, float]:
    from segmenter.services import analytics

    costs = {k: v for k, v in body.model_dump().items() if v is not None}
    return analytics.set_message_costs(c.profiles, principal.shop_id, costs)


@router.get("/message-costs")
def get_message_costs(principal: SegmentsReader, c: Container) -> dict[str, float]:
    from segmenter.services import analytics

    return analytics.get_message_costs(c.profiles, principal.shop_id)


@router.put("/clv-settings")
def put_clv_settings(
    body: ClvSettingsPut, principal: SegmentsWriter, c: Container
) -> ClvSettingsPublic:
    """The discount rate the next analytics pass uses for every customer's predicted CLV."""
    from segmenter.services import clv

    stored = clv.set_settings(c.profiles, principal.shop_id, body.monthly_discount_rate)
    return ClvSettingsPublic(**stored)


@router.get("/clv-settings")
def get_clv_settings(principal: SegmentsReader, c: Container) -> ClvSettingsPublic:
    from segmenter.services import clv

    return ClvSettingsPublic(**clv.get_settings(c.profiles, principal.shop_id))


@router.get(
    "/{report}/customers",
    responses={202: {"model": ReportPendingPublic, "description": "Not computed yet"}},
)
def get_cell_customers(
    cell: CellParam,
    principal: SegmentsReader,
    c: Container,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> Any:
    """The customers behind one cell of a report, as the last pass counted them, a page at
    a time: the list analysis, the calendar diagnosis or the lifecycle flows at `month`'s
    end; a retention cell; a funnel stage, a second-purchase bucket or an LTV row over
    the cohorts of `from`..`to`."""
    from segmenter.services import analytics

    after = decode_cursor(cursor)
    found = analytics.cell_customers(_ports(c), principal.shop_id, cell, limit, after)
    return cell_response(cell, found)


@router.post(
    "/{report}/customers/segment",
    status_code=201,
    responses={202: {"model": ReportPendingPublic, "description": "Not computed yet"}},
)
def post_cell_segment(
    report: Annotated[CellReport, Path()],
    body: CellSegmentCreate,
    principal: SegmentsWriter,
    c: Container,
) -> Any:
    """Save a cell's customers (any cell the GET lists) as a segment of those customers."""
    from segmenter.services import analytics

    saved = analytics.save_cell_segment(
        _ports(c),
        c.segments,
        principal.shop_id,
        body.cell(report),
        body.segment_id,
        body.name,
        body.description,
    )
    if isinstance(saved, analytics.ReportPending):
        return pending_response(report, saved)
    return SegmentPublic.model_validate(saved)


def cell_response(cell: Cell, found: analytics.CellCustomers | analytics.ReportPending) -> Any:
    from segmenter.services import analytics

    if isinstance(found, analytics.ReportPending):
        return pending_response(cell.report, found)
    return CellCustomersPublic(
        report=found.cell.report,
        as_of=found.as_of,
        month=found.cell.month,
        period={"from": found.cell.period.start, "to": found.cell.period.end},
        cell=found.cell.public(),
        count=found.count,
        customer_ids=found.customer_ids,
        next_cursor=encode_cursor(found.next_after) if found.next_after else None,
    )


def pending_response(report: str, result: object) -> JSONResponse | None:
    """202 with why a report is not there yet; None when it is."""
    from segmenter.services import analytics

    if not isinstance(result, analytics.ReportPending):
        return None
    body = ReportPendingPublic(
        report=report,
        status=result.status,
        message=result.message,
        requested_at=result.requested_at,
    )
    return JSONResponse(body.model_dump(), status_code=202)


@router.get(
    "/{report}",
    responses={
        202: {"model": ReportPendingPublic, "description": "Not computed yet"},
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    },
)
def get_report(
    report: Annotated[ReportName, Path()],
    principal: SegmentsReader,
    c: Container,
    start: Annotated[Month | None, Query(alias="from")] = None,
    end: Annotated[Month | None, Query(alias="to")] = None,
    fmt: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
    basis: Literal["revenue", "gross_profit"] = "revenue",
    target_roi: Annotated[float, Query(ge=0, le=100)] = 1.0,
) -> Any:
    """A report over the months `from`..`to` (YYYY-MM, by cohort or calendar month), from
    the last analytics pass. 202 while it has not been computed."""
    from segmenter.domain.analytics.views import Period
    from segmenter.services import analytics

    if start and end and start > end:
        raise InvalidInput("'from' must not be after 'to'", field="from")
    result = analytics.report(
        _ports(c), c.profiles, principal.shop_id, report, Period(start, end), basis, target_roi
    )
    return report_response(report, result, Period(start, end), fmt)


def report_response(
    report: str,
    result: analytics.ReportResult | analytics.ReportPending,
    period: Period,
    fmt: Literal["json", "csv"],
) -> Any:
    """A report as the client asked for it (JSON or CSV), or 202 while it is pending."""
    from segmenter.services import analytics

    if isinstance(result, analytics.ReportPending):
        return pending_response(report, result)
    if fmt == "csv":
        return Response(
            to_csv(result.rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{report}.csv"'},
        )
    return ReportPublic(
        report=report,
        as_of=result.as_of,
        computed_at=result.computed_at,
        period={"from": period.start, "to": period.end},
        rows=result.rows,
    )


def to_csv(rows: list[dict[str, Any]]) -> str:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
