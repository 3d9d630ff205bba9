"""Hosted pages reached from a message, without a login: the signed token in the path is
the credential. A survey form, and restock confirmation, unsubscribe and early access.

GET only shows a page; every change is a POST from the page's button (mail scanners
prefetch links, and must not confirm or unsubscribe anybody). These routes answer HTML,
also for errors, and are left out of the OpenAPI schema.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from feedback.entrypoints import html
from feedback.entrypoints.deps import Container
from shared.errors import Conflict, InvalidInput, KizunaError, NotFound
from shared.http.deferred import deferred_router
from shared.http.errors import status_for

if TYPE_CHECKING:  # the survey definitions and the tokens load with the first page
    from feedback.domain.surveys import Survey

router = deferred_router(prefix="/f", include_in_schema=False)
JST = ZoneInfo("Asia/Tokyo")


async def _form(request: Request) -> list[tuple[str, str]]:
    """The posted form (application/x-www-form-urlencoded), in order, blanks kept."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return parse_qsl(body, keep_blank_values=True, max_num_fields=500)


Form = Annotated[list[tuple[str, str]], Depends(_form)]


def _page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _error_page(err: KizunaError) -> HTMLResponse:
    from feedback.domain.tokens import TokenExpired, TokenInvalid

    if isinstance(err, TokenExpired):
        return _page(
            html.notice("expired", "有効期限切れ", "このリンクの有効期限が切れています。"), 410
        )
    if isinstance(err, TokenInvalid):
        return _page(html.notice("invalid", "無効なリンク", "このリンクは無効です。"), 400)
    status = status_for(err)  # the one mapping of errors to statuses
    if isinstance(err, NotFound):
        return _page(
            html.notice("missing", "見つかりません", "このページは見つかりません。"), status
        )
    if isinstance(err, Conflict):
        return _page(
            html.notice("conflict", "受付済み", "すでにご回答・お手続き済みです。"), status
        )
    return _page(html.notice("invalid", "エラー", err.message), status)


def _survey_form(
    survey: Survey,
    values: dict[str, list[str]] | None = None,
    errors: dict[str, str] | None = None,
    form_error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    body = html.render(
        "survey.html",
        title=survey.title,
        survey=survey,
        values=values or {},
        errors=errors or {},
        form_error=form_error,
    )
    return _page(body, status)


@cache
def _thanks() -> str:
    """The thank-you page, rendered on first use (Jinja2 loads then, not at cold start)."""
    return html.notice(
        "answered",
        "ご回答ありがとうございました",
        "いただいた内容は今後の商品とご案内に活かします。",
    )


@router.get("/s/{token}")
def survey_page(token: str, c: Container) -> HTMLResponse:
    try:
        state = c.surveys.open_page(token)
    except KizunaError as err:
        return _error_page(err)
    if state.answered:
        return _page(_thanks())
    return _survey_form(state.survey)


@router.post("/s/{token}")
def survey_submit(token: str, form: Form, c: Container) -> HTMLResponse:
    from feedback.domain.surveys import answers_from_form

    version = next((v for k, v in form if k == "version"), "")
    try:
        survey = c.surveys.page_version(token, version)
        answers = answers_from_form(survey, form)
    except KizunaError as err:
        return _error_page(err)
    try:
        c.surveys.submit_page(token, survey.version, answers)
    except InvalidInput as err:
        return _refused_form(survey, form, err)
    except KizunaError as err:
        return _error_page(err)
    return _page(_thanks())


def _refused_form(survey: Survey, form: list[tuple[str, str]], err: InvalidInput) -> HTMLResponse:
    """The form again with the refused answer marked (422), or the error page when the
    refusal is not about an answer (the link, the survey)."""
    from feedback.domain.tokens import TokenExpired, TokenInvalid

    if isinstance(err, TokenInvalid | TokenExpired) or not (err.field or "").startswith("answers"):
        return _error_page(err)
    values: dict[str, list[str]] = {}
    for k, v in form:
        if k.startswith("q."):
            values.setdefault(k[2:], []).append(v)
    question = (err.field or "").removeprefix("answers").lstrip(".")
    message = "この質問にお答えください。" if "must be answered" in err.message else err.message
    return _survey_form(
        survey,
        values,
        {question: message} if question else {},
        form_error="入力内容をご確認ください。",
        status=422,
    )


@router.get("/restock/confirm/{token}")
def confirm_page(token: str, c: Container) -> HTMLResponse:
    try:
        c.restock.read_confirmation(token)
    except KizunaError as err:
        return _error_page(err)
    return _page(
        html.notice(
            "confirm",
            "再入荷のお知らせ登録",
            "下のボタンを押すと登録が完了します。",
            action="登録を完了する",
        )
    )


@router.post("/restock/confirm/{token}")
def confirm_submit(token: str, c: Container) -> HTMLResponse:
    try:
        c.restock.confirm(token)
    except KizunaError as err:
        return _error_page(err)
    return _page(
        html.notice("confirmed", "登録が完了しました", "入荷しましたら、いち早くお知らせします。")
    )


@router.get("/restock/unsubscribe/{token}")
def unsubscribe_page(token: str, c: Container) -> HTMLResponse:
    try:
        c.restock.read_unsubscribe(token)
    except KizunaError as err:
        return _error_page(err)
    return _page(
        html.notice(
            "unsubscribe",
            "再入荷のお知らせ解除",
            "この商品の再入荷のお知らせを停止します。",
            action="お知らせを停止する",
        )
    )


@router.post("/restock/unsubscribe/{token}")
def unsubscribe_submit(token: str, c: Container) -> HTMLResponse:
    """Also the RFC 8058 one-click target (`List-Unsubscribe=One-Click` in the body)."""
    try:
        c.restock.unsubscribe(token)
    except KizunaError as err:
        return _error_page(err)
    return _page(
        html.notice("unsubscribed", "停止しました", "今後この商品のお知らせは届きません。")
    )


@router.get("/restock/access/{token}")
def early_access(token: str, c: Container) -> Response:
    """The early-access link of a message: counts the click and leads to the product page."""
    try:
        access, target = c.restock.access_redirect(token)
    except KizunaError as err:
        return _error_page(err)
    if target:
        return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
    until = access.valid_until.astimezone(JST).strftime("%m月%d日 %H:%M")
    return _page(
        html.notice("access", "先行販売のご案内", f"{until}まで先行してご購入いただけます。")
    )
