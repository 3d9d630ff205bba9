"""Signing in to the console: a shop API key, posted in a form, becomes an HttpOnly,
Secure, SameSite=Strict session cookie that every service's `/v1` routes accept in place
of the key, with a CSRF token on every change. Over the template's routes (the local
stack's dispatcher), on in-process moto."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ops.local.router import Dispatcher, build_routes
from ops.local.template import functions, load_template
from shared.auth.service import authenticate_token, create_key, revoke_key
from shared.auth.sessions import CSRF_COOKIE, SESSION_COOKIE, sign_link
from shared.clock import FixedClock as Clock
from tests.conftest import TEMPLATE, Cloud, ShopKeys, make_shop, order_payload

BASE = "https://kizuna.test"
SECRET = "test-secret-test-secret-test-secret-1234"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def browser(cloud: Cloud) -> Iterator[TestClient]:
    """A client that keeps cookies, like a browser, against every function's routes."""
    dispatcher = Dispatcher(build_routes(functions(load_template(TEMPLATE))))
    with TestClient(dispatcher, base_url=BASE) as client:
        yield client


@pytest.fixture
def acme(cloud: Cloud, segmenter_client: TestClient) -> ShopKeys:
    keys = make_shop(cloud, "acme")
    r = segmenter_client.post("/v1/orders", json=order_payload(), headers=keys.header(keys.events))
    assert r.status_code == 201, r.text
    return keys


def sign_in(client: TestClient, token: str) -> Any:
    return client.post("/console/session", content=f"api_key={token}", headers=FORM)


def set_cookie_headers(response: Any) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def test_a_key_signs_in_to_a_cookie_the_v1_routes_accept(
    browser: TestClient, acme: ShopKeys, caplog: pytest.LogCaptureFixture
) -> None:
    """Given a shop's read key
    When it is posted in the sign-in form
    Then the answer sets an HttpOnly, Secure, SameSite=Strict session cookie and a
    readable CSRF cookie, names the shop and scopes, and never echoes the key
    And the cookie alone reads the shop's customers from the segmenter's own route."""
    caplog.set_level(logging.DEBUG)
    response = sign_in(browser, acme.reader)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "shop_id": "acme",
        "scopes": ["messages:read", "segments:read"],
        "from_link": False,
        "now": "2026-11-23T03:00:00Z",
    }
    cookies = set_cookie_headers(response)
    session = cookies[SESSION_COOKIE].lower()
    assert "httponly" in session and "secure" in session and "samesite=strict" in session
    assert "path=/" in session and "max-age=28800" in session
    csrf = cookies[CSRF_COOKIE].lower()
    assert "httponly" not in csrf and "secure" in csrf and "samesite=strict" in csrf
    secret = acme.reader.rsplit(".", 1)[1]
    assert secret not in response.text and secret not in str(response.headers)
    assert secret not in caplog.text
    assert response.headers["content-security-policy"].startswith("default-src 'self'")

    customers = browser.get("/v1/customers")
    assert customers.status_code == 200, customers.text
    assert [c["customer_id"] for c in customers.json()["customers"]] == ["c-1"]
    assert browser.get("/console/session").json()["shop_id"] == "acme"


def test_the_key_travels_only_in_a_form_body(browser: TestClient, acme: ShopKeys) -> None:
    """Given the sign-in route
    When a key is sent in the query string, as JSON, or as a form from another site (or
    a form stuffed with fields)
    Then none signs in, and no session cookie is set."""
    in_url = browser.post(f"/console/session?api_key={acme.reader}")
    assert in_url.status_code == 422
    assert in_url.json()["error"]["fields"][0]["field"] == "body"
    as_json = browser.post("/console/session", json={"api_key": acme.reader})
    assert as_json.status_code == 422
    cross_site = browser.post(
        "/console/session",
        content=f"api_key={acme.reader}",
        headers={**FORM, "Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    empty = browser.post("/console/session", content="api_key=", headers=FORM)
    assert empty.status_code == 422 and empty.json()["error"]["fields"][0]["field"] == "api_key"
    stuffed = browser.post("/console/session", content="a=1&b=2&c=3&d=4&e=5", headers=FORM)
    assert stuffed.status_code == 422 and stuffed.json()["error"]["fields"][0]["field"] == "body"
    for form in ("&" * 5, "api_key=x&link=y&api_key=z&link=w&x=1"):
        many = browser.post("/console/session", content=form, headers=FORM)
        assert many.status_code == 422, (form, many.text)
    odd = browser.post(
        "/console/session", content=f"api_key={acme.reader}&role=admin", headers=FORM
    )
    assert odd.status_code == 422 and odd.json()["error"]["fields"][0]["field"] == "role"
    wrong = sign_in(browser, acme.reader[:-3] + "xyz")
    assert wrong.status_code == 401
    assert not browser.cookies
    assert browser.get("/v1/customers").status_code == 401


def test_a_change_with_the_cookie_needs_the_csrf_token(browser: TestClient, acme: ShopKeys) -> None:
    """Given a marketer signed in with a key that may write segments
    When they save a segment with the cookie but without the CSRF token, or with another
    token, or from another origin
    Then each is refused with 403 and nothing is saved; with the token it is saved."""
    admin = authenticate_token(_keys(), acme.admin)
    marketer = create_key(_keys(), admin, "marketer", ["segments:read", "segments:write"])
    assert sign_in(browser, marketer.token).status_code == 200
    body = {
        "segment_id": "f1",
        "name": "F1",
        "rule": {"field": "order_count", "op": "eq", "value": 1},
    }
    token = browser.cookies[CSRF_COOKIE]

    assert browser.post("/v1/segments", json=body).status_code == 403
    wrong = browser.post("/v1/segments", json=body, headers={"X-CSRF-Token": "x" + token})
    assert wrong.status_code == 403
    other_site = browser.post(
        "/v1/segments", json=body, headers={"X-CSRF-Token": token, "Origin": "https://evil.example"}
    )
    assert other_site.status_code == 403
    assert browser.get("/v1/segments/f1").status_code == 404

    saved = browser.post("/v1/segments", json=body, headers={"X-CSRF-Token": token})
    assert saved.status_code == 201, saved.text
    assert saved.json()["status"] == "computing"


def test_a_read_only_session_cannot_change_anything(browser: TestClient, acme: ShopKeys) -> None:
    """Given a session opened with a read key
    When it tries a change, CSRF token and all
    Then the key's scopes decide: 403 naming the scope."""
    sign_in(browser, acme.reader)
    token = browser.cookies[CSRF_COOKIE]
    body = {
        "segment_id": "f1",
        "name": "F1",
        "rule": {"field": "order_count", "op": "eq", "value": 1},
    }
    refused = browser.post("/v1/segments", json=body, headers={"X-CSRF-Token": token})
    assert refused.status_code == 403
    assert "segments:write" in refused.json()["error"]["message"]
    assert browser.post("/v1/analytics/refresh", headers={"X-CSRF-Token": token}).status_code == 403


def test_a_session_ends_with_its_key_its_time_or_a_sign_out(
    browser: TestClient, acme: ShopKeys, clock: Clock
) -> None:
    """Given a session opened with a key
    Then it ends when the key is revoked, and a new one after 8 hours, and at sign-out."""
    admin = authenticate_token(_keys(), acme.admin)
    key = create_key(_keys(), admin, "temp", ["segments:read"])
    sign_in(browser, key.token)
    assert browser.get("/v1/customers").status_code == 200
    revoke_key(_keys(), admin, key.key.key_id)
    assert browser.get("/v1/customers").status_code == 401

    sign_in(browser, acme.reader)
    clock.advance(hours=7, minutes=59)
    assert browser.get("/v1/customers").status_code == 200
    clock.advance(minutes=2)
    expired = browser.get("/v1/customers")
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]

    sign_in(browser, acme.reader)
    kept = browser.cookies[SESSION_COOKIE]  # copied before the sign-out, or left on a disk
    assert browser.delete("/console/session").status_code == 403  # a change: needs the token
    out = browser.delete("/console/session", headers={"X-CSRF-Token": browser.cookies[CSRF_COOKIE]})
    assert out.status_code == 204
    assert browser.get("/v1/customers").status_code == 401
    browser.cookies.set(SESSION_COOKIE, kept)
    replayed = browser.get("/v1/customers")
    assert replayed.status_code == 401, replayed.text
    assert "ended" in replayed.json()["error"]["message"]


def test_an_admin_lists_the_shops_sessions_and_revokes_one(
    browser: TestClient, acme: ShopKeys, cloud: Cloud
) -> None:
    """Given a marketer signed in to the console, and another shop's admin
    When acme's admin lists acme's console sessions and revokes the marketer's
    Then the list shows it open, with its key and expiry and nothing that opens it; the
    marketer's next request is refused; the list shows it ended; and the other shop's
    admin can neither see nor revoke it."""
    assert sign_in(browser, acme.reader).status_code == 200
    assert browser.get("/v1/customers").status_code == 200
    admin = {"Authorization": f"Bearer {acme.admin}"}
    with TestClient(browser.app, base_url=BASE) as api:
        listed = api.get("/v1/admin/sessions", headers=admin)
        assert listed.status_code == 200, listed.text
        (session,) = listed.json()
        reader_key = acme.reader.split(".")[2]
        assert session["key_id"] == reader_key and session["ended_at"] is None
        assert session["expires_at"] == "2026-11-23T11:00:00Z"
        assert browser.cookies[CSRF_COOKIE] not in listed.text

        other = make_shop(cloud, "other")
        other_admin = {"Authorization": f"Bearer {other.admin}"}
        assert api.get("/v1/admin/sessions", headers=other_admin).json() == []
        path = f"/v1/admin/sessions/{session['session_id']}"
        refused = api.delete(path, headers=other_admin)
        assert refused.status_code == 404
        assert browser.get("/v1/customers").status_code == 200
        reader = {"Authorization": f"Bearer {acme.reader}"}
        assert api.delete(path, headers=reader).status_code == 403

        revoked = api.delete(path, headers=admin)
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["ended_at"] == "2026-11-23T03:00:00Z"
        assert browser.get("/v1/customers").status_code == 401
        assert api.get("/v1/admin/sessions", headers=admin).json()[0]["ended_at"] is not None


def test_an_altered_cookie_or_another_shops_session_reads_nothing(
    browser: TestClient, acme: ShopKeys, cloud: Cloud
) -> None:
    """Given a session of shop `other`
    Then it sees none of acme's customers; and an altered cookie is refused."""
    other = make_shop(cloud, "other")
    sign_in(browser, other.reader)
    assert browser.get("/v1/customers").json()["customers"] == []
    assert browser.get("/v1/customers/c-1").status_code == 404
    value = browser.cookies[SESSION_COOKIE]
    browser.cookies.set(SESSION_COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert browser.get("/v1/customers").status_code == 401


def test_a_signed_link_opens_one_session_within_fifteen_minutes(
    browser: TestClient, acme: ShopKeys, cloud: Cloud, clock: Clock
) -> None:
    """Given `kizuna dashboard link --shop acme`
    Then it prints a console URL whose token sits after `#`, and that token signs in with
    the marketer's scopes (never admin), once, within 15 minutes: a second sign-in with
    it (a forwarded mail, a browser history) is refused; an altered one is refused."""
    from ops.cli import app

    printed = CliRunner().invoke(app, ["dashboard", "link", "--shop", "acme"])
    assert printed.exit_code == 0, printed.output
    url = printed.output.strip()
    assert url.startswith("https://kizuna.test/console/#link=")
    token = url.split("#link=", 1)[1]
    signed_in = browser.post("/console/session", content=f"link={token}", headers=FORM)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["from_link"] is True
    assert "admin" not in signed_in.json()["scopes"]
    assert "segments:write" in signed_in.json()["scopes"]
    assert browser.get("/v1/customers").status_code == 200
    assert browser.get("/v1/admin/keys").status_code == 403

    again = TestClient(browser.app, base_url=BASE).post(
        "/console/session", content=f"link={token}", headers=FORM
    )
    assert again.status_code == 401, again.text
    assert "already used" in again.json()["error"]["message"]
    assert "set-cookie" not in again.headers

    unknown = CliRunner().invoke(app, ["dashboard", "link", "--shop", "nope"])
    assert unknown.exit_code == 1
    altered = browser.post("/console/session", content=f"link={token[:-2]}xx", headers=FORM)
    assert altered.status_code == 401
    late = sign_link(SECRET, "acme", frozenset({"segments:read"}), clock())
    clock.advance(minutes=16)
    expired = browser.post("/console/session", content=f"link={late}", headers=FORM)
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]


def _keys() -> Any:
    from shared import aws
    from shared.auth.store import DynamoKeyStore
    from shared.settings import get_settings

    settings = get_settings()
    return DynamoKeyStore(
        aws.client(aws.session(settings.aws_region), "dynamodb"), settings.platform_table
    )


NO_CONTEXT: Any = None
"""Mangum reads nothing of the Lambda context here."""


def _lambda_event(method: str, path: str, body: str = "", **headers: str) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) request: cookies come apart from headers."""
    cookie = headers.pop("cookie", "")
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "cookies": cookie.split("; ") if cookie else [],
        "headers": {"host": "abc.execute-api.ap-northeast-1.amazonaws.com", **headers},
        "requestContext": {
            "http": {"method": method, "path": path, "sourceIp": "1.2.3.4", "protocol": "HTTP/1.1"},
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def test_the_session_works_through_api_gateway_and_mangum(acme: ShopKeys) -> None:
    """Given the console and segmenter Lambda handlers, as API Gateway calls them
    When the sign-in's `cookies` come back and are sent to the segmenter's function
    Then the cookie reads the shop's customers there, and a change without the token is
    refused."""
    from console.entrypoints.api import handler as console_handler
    from segmenter.entrypoints.api import handler as segmenter_handler

    signed_in = console_handler(
        _lambda_event(
            "POST",
            "/console/session",
            f"api_key={acme.reader}",
            **{"content-type": "application/x-www-form-urlencoded"},
        ),
        NO_CONTEXT,
    )
    assert signed_in["statusCode"] == 200, signed_in["body"]
    pairs = [c.split(";", 1)[0] for c in signed_in["cookies"]]
    assert {p.split("=", 1)[0] for p in pairs} == {SESSION_COOKIE, CSRF_COOKIE}
    cookie = "; ".join(pairs)
    read = segmenter_handler(_lambda_event("GET", "/v1/customers", cookie=cookie), NO_CONTEXT)
    assert read["statusCode"] == 200, read["body"]
    assert '"c-1"' in read["body"]
    change = segmenter_handler(
        _lambda_event("POST", "/v1/segments/recompute", cookie=cookie), NO_CONTEXT
    )
    assert change["statusCode"] == 403
