"""Each shop's LINE channel credentials, in AWS Secrets Manager (encrypted at rest).

One secret per shop, ``kizuna/<messenger table>/line-channel/<shop>``, holding the
channel id, secret, access token and when it was connected as JSON. Naming secrets
after the messenger table keeps two stacks in one account apart and lets the template
grant the functions exactly these secrets. A disconnect deletes the secret without a
recovery window: the shop asked for its credentials to be gone, and an older version
kept for recovery would still hold them.

Reads are cached in the warm container (misses too), so sending costs a Secrets
Manager call per shop at most once per `ttl`; a change made through this container is
seen at once, one made through another container after at most `ttl` seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from messenger.domain.line_account import LineCredentials
from messenger.services.ports import LineCredentialStore
from shared.errors import DependencyFailed
from shared.log import get_logger
from shared.ttl_cache import TtlCache

_log = get_logger("kizuna.messenger.adapters.line_credentials")
_GONE = frozenset({"ResourceNotFoundException"})
_MARKED_DELETED = "InvalidRequestException"
"""Secrets Manager's answer for a secret scheduled for deletion (someone deleted it with
a recovery window outside Kizuna): for reading, it is not there."""


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _failed(action: str, shop_id: str, err: Exception) -> DependencyFailed:
    code = _code(err) if isinstance(err, ClientError) else type(err).__name__
    _log.error(
        "line credentials unavailable", extra={"shop": shop_id, "action": action, "error": code}
    )
    return DependencyFailed("the LINE channel's credentials store is not available; retry later")


def _to_json(c: LineCredentials) -> str:
    return json.dumps(
        {
            "channel_id": c.channel_id,
            "channel_secret": c.channel_secret,
            "channel_access_token": c.channel_access_token,
            "connected_at": c.connected_at.isoformat() if c.connected_at else None,
        }
    )


def _from_json(text: str) -> LineCredentials:
    d = json.loads(text)
    return LineCredentials(
        channel_id=str(d["channel_id"]),
        channel_secret=str(d["channel_secret"]),
        channel_access_token=str(d["channel_access_token"]),
        connected_at=datetime.fromisoformat(d["connected_at"]) if d.get("connected_at") else None,
    )


class SecretsManagerLineCredentials(LineCredentialStore):
    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def _name(self, shop_id: str) -> str:
        return f"{self._prefix}{shop_id}"

    def get(self, shop_id: str) -> LineCredentials | None:
        try:
            response = self._client.get_secret_value(SecretId=self._name(shop_id))
        except ClientError as err:
            if _code(err) in _GONE or _code(err) == _MARKED_DELETED:
                return None
            raise _failed("get", shop_id, err) from None
        except BotoCoreError as err:
            raise _failed("get", shop_id, err) from None
        return _from_json(str(response["SecretString"]))

    def put(self, shop_id: str, credentials: LineCredentials) -> None:
        name, value = self._name(shop_id), _to_json(credentials)
        try:
            try:
                self._client.create_secret(
                    Name=name,
                    SecretString=value,
                    Description=f"LINE Messaging API channel of Kizuna shop {shop_id}",
                )
            except ClientError as err:
                if _code(err) not in ("ResourceExistsException", _MARKED_DELETED):
                    raise
                self._overwrite(name, value)
        except (ClientError, BotoCoreError) as err:
            raise _failed("put", shop_id, err) from None

    def _overwrite(self, name: str, value: str) -> None:
        """A new current version; one scheduled for deletion is restored first."""
        try:
            self._client.put_secret_value(SecretId=name, SecretString=value)
        except ClientError as err:
            if _code(err) != _MARKED_DELETED:
                raise
            self._client.restore_secret(SecretId=name)
            self._client.put_secret_value(SecretId=name, SecretString=value)

    def delete(self, shop_id: str) -> bool:
        try:
            self._client.delete_secret(
                SecretId=self._name(shop_id), ForceDeleteWithoutRecovery=True
            )
        except ClientError as err:
            if _code(err) in _GONE:
                return False
            raise _failed("delete", shop_id, err) from None
        except BotoCoreError as err:
            raise _failed("delete", shop_id, err) from None
        return True


class CachedLineCredentials(LineCredentialStore):
    """Credentials (and their absence) reused for `ttl` seconds in a warm container. When
    a refresh fails, the last value read keeps serving rather than sending through the
    wrong account or not at all."""

    def __init__(
        self,
        inner: LineCredentialStore,
        ttl: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._cache: TtlCache[str, LineCredentials | None] = TtlCache(ttl, monotonic)

    def get(self, shop_id: str) -> LineCredentials | None:
        hit = self._cache.fresh(shop_id)
        if hit is not None:
            return hit.value
        try:
            found = self._inner.get(shop_id)
        except DependencyFailed:
            last = self._cache.last(shop_id)
            if last is None:
                raise
            return last.value
        self._cache.put(shop_id, found)
        return found

    def put(self, shop_id: str, credentials: LineCredentials) -> None:
        self._inner.put(shop_id, credentials)
        self._cache.put(shop_id, credentials)

    def delete(self, shop_id: str) -> bool:
        deleted = self._inner.delete(shop_id)
        self._cache.put(shop_id, None)
        return deleted
