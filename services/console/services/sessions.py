"""Signing in to the console: a shop API key (or a signed link's token) for a session.

The key is checked like any API call's, then forgotten: the session cookie names the shop
and the key's id, never its secret, and nothing here logs what the form held.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.bootstrap import ConsoleContainer
from shared.auth.keys import Principal
from shared.auth.service import sign_in
from shared.auth.sessions import Session, open_session


@dataclass(frozen=True)
class SignedIn:
    principal: Principal
    session: Session
    cookie: str


def start(c: ConsoleContainer, api_key: str, link: str) -> SignedIn:
    secret = c.settings.signing_secret.get_secret_value()
    now = c.clock()
    principal = sign_in(c.keys, secret, api_key=api_key, link=link, now=now)
    session, cookie = open_session(secret, principal, now)
    return SignedIn(principal, session, cookie)
