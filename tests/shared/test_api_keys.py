"""API keys: shown once, stored as a hash, one shop each, scoped, revocable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.auth.keys import Shop, authenticate, issue_key, parse_token
from shared.errors import Forbidden, InvalidInput, Unauthenticated

NOW = datetime(2026, 11, 23, tzinfo=UTC)
SHOP = Shop("acme", "Acme", NOW)


def test_token_is_not_stored_and_authenticates() -> None:
    key, token = issue_key("acme", "pos", frozenset({"events:write"}), NOW)
    assert token.split(".")[-1] not in key.secret_hash
    principal = authenticate(parse_token(token), key, SHOP)
    assert principal.shop_id == "acme"
    assert principal.allows("events:write")
    assert not principal.allows("segments:read")
    with pytest.raises(Forbidden, match="segments:read"):
        principal.require("segments:read")


def test_admin_implies_every_scope() -> None:
    key, token = issue_key("acme", "admin", frozenset({"admin"}), NOW)
    assert authenticate(parse_token(token), key, SHOP).allows("messages:send")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("revoked", "revoked"),
        ("wrong secret", "unknown API key"),
        ("other shop", "unknown API key"),
        ("no shop", "unknown shop"),
        ("inactive shop", "unknown shop"),
    ],
)
def test_refusals_say_why(case: str, message: str) -> None:
    key, token = issue_key("acme", "pos", frozenset({"events:write"}), NOW)
    parsed = parse_token(token)
    shop: Shop | None = SHOP
    if case == "revoked":
        key = key.revoke(NOW)
    elif case == "wrong secret":
        parsed = parse_token(token[:-3] + "xyz")
    elif case == "other shop":
        parsed = parse_token(token.replace("kz1.acme.", "kz1.beta."))
    elif case == "no shop":
        shop = None
    else:
        shop = Shop("acme", "Acme", NOW, active=False)
    with pytest.raises(Unauthenticated, match=message):
        authenticate(parsed, key, shop)


def test_bad_scopes_and_shop_ids_are_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        issue_key("acme", "x", frozenset({"root"}), NOW)
    assert err.value.field == "scopes"
    with pytest.raises(InvalidInput) as err:
        issue_key("ACME!", "x", frozenset({"admin"}), NOW)
    assert err.value.field == "shop_id"
    with pytest.raises(Unauthenticated):
        parse_token("kz1.acme.only-three")
