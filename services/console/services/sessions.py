"""Signing in to the console: a shop API key (or a signed link's token) for a session,
and signing out, which ends the session on the platform, not only in the browser.

The key is checked like any API call's, then forgotten: the session cookie names the shop,
the key's id and the session, never the key's secret, and nothing here logs what the form
held.
"""

from __future__ import annotations

from console.bootstrap import ConsoleContainer
from shared.auth.service import SignedIn, sign_in, sign_out


def start(c: ConsoleContainer, api_key: str, link: str) -> SignedIn:
    secret = c.settings.signing_secret.get_secret_value()
    return sign_in(c.keys, secret, api_key=api_key, link=link, now=c.clock())


def end(c: ConsoleContainer, cookie: str | None) -> None:
    if cookie:
        sign_out(c.keys, c.settings.signing_secret.get_secret_value(), cookie, c.clock())
