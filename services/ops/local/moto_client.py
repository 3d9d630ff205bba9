"""A DynamoDB client for code that runs in the local stack's process, beside moto.

A botocore client in this process is already answered by moto's botocore hook, without
a socket, but each call still walks the operation's shapes three times: to serialise
the request, to parse the answer, and (in the hook) moto's dispatch. For an import of
thousands of items that was a third of the time. `MotoDynamoDB` hands the item
operations' parameters to the same hook as JSON (`json.dumps`, blobs base64-encoded as
botocore does) and reads the answer with `json.loads` (blobs decoded back to bytes), so
moto serves exactly what it serves a botocore client: the same handler, the same lock
and journal (`ops.local.moto_dynamodb`). Errors are raised as the botocore client raises
them (`client.exceptions.<Code>`, a `ClientError` with `Error`, `CancellationReasons`,
`Item`). Every other operation, and parameters that are not plain JSON (a Python set, a
Decimal), go to the wrapped botocore client.

`serve_dynamodb_directly(True)` has every DynamoDB client the services build in this
process (`shared.aws.Session.real_client`) wrapped so: the local stack turns it on while
its handlers are served in process.

moto internal touched: `moto.core.botocore_stubber.BotocoreStubber.process_request`
(takes an `AWSPreparedRequest`, answers `(status, headers, body)` or None), the object
botocore's `before-send` hook calls; `check_compatible` in `ops.local.moto_dynamodb`
fails if it goes.
"""

from __future__ import annotations

import base64
import json
from typing import Any

__all__ = ["ITEM_OPERATIONS", "MotoDynamoDB", "serve_dynamodb_directly"]

ITEM_OPERATIONS = {
    "get_item": "GetItem",
    "batch_get_item": "BatchGetItem",
    "query": "Query",
    "scan": "Scan",
    "put_item": "PutItem",
    "update_item": "UpdateItem",
    "delete_item": "DeleteItem",
    "batch_write_item": "BatchWriteItem",
    "transact_get_items": "TransactGetItems",
    "transact_write_items": "TransactWriteItems",
}
"""Client methods sent straight to moto; their parameters and answers are plain JSON
except blobs."""


def _blob(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON")


def _decode_blobs(value: Any) -> Any:
    """Attribute values `{"B": base64}` / `{"BS": [base64…]}` as bytes, as botocore
    gives them. A one-key dict `B` with a string can only be a binary value: a map's
    members are attribute values (dicts), never strings."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key == "B" and isinstance(inner, str):
                return {"B": base64.b64decode(inner)}
            if key == "BS" and isinstance(inner, list) and all(isinstance(v, str) for v in inner):
                return {"BS": [base64.b64decode(v) for v in inner]}
        return {k: _decode_blobs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_blobs(v) for v in value]
    return value


class MotoDynamoDB:
    """A botocore DynamoDB client whose item operations skip botocore's shape walks."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.meta = client.meta
        self.exceptions = client.exceptions
        region = client.meta.region_name
        self._url = f"https://dynamodb.{region}.amazonaws.com/"
        self._authorization = (
            f"AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/dynamodb/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-target, Signature=local"
        )

    def __getattr__(self, name: str) -> Any:
        action = ITEM_OPERATIONS.get(name)
        if action is None:
            return getattr(self._client, name)
        return lambda **params: self._call(action, params)

    def _call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        from botocore.awsrequest import AWSPreparedRequest
        from botocore.compat import HTTPHeaders
        from moto.core.models import botocore_stubber

        model = self._client.meta.service_model.operation_model(action)
        try:
            body = json.dumps(params, default=_blob).encode()
            self.meta.events.emit(
                f"provide-client-params.dynamodb.{action}", params=params, model=model, context={}
            )
        except (TypeError, ValueError):  # not plain JSON (a set, a Decimal): botocore's way
            result: dict[str, Any] = getattr(self._client, _method(action))(**params)
            return result
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.0"
        headers["X-Amz-Target"] = f"DynamoDB_20120810.{action}"
        headers["Authorization"] = self._authorization
        request = AWSPreparedRequest("POST", self._url, headers, body, stream_output=False)
        answer = botocore_stubber.process_request(request)
        if answer is None:  # not served here: the botocore client does it
            served: dict[str, Any] = getattr(self._client, _method(action))(**params)
            return served
        status, response_headers, raw = answer
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        parsed: dict[str, Any] = json.loads(text) if text else {}
        if '"B' in text:
            parsed = _decode_blobs(parsed)
        metadata = {"HTTPStatusCode": status, "HTTPHeaders": dict(response_headers)}
        if status >= 400:
            self._raise(action, parsed, metadata)
        members = model.output_shape.members if model.output_shape is not None else {}
        kept = {k: v for k, v in parsed.items() if k in members}  # as botocore's parser
        kept["ResponseMetadata"] = metadata
        return kept

    def _raise(self, action: str, body: dict[str, Any], metadata: dict[str, Any]) -> None:
        """The error as botocore's JSON parser gives it: code after the `#` of `__type`,
        message, and the modelled members (`CancellationReasons`, `Item`)."""
        code = str(body.get("__type", "")).rpartition("#")[2] or "InternalFailure"
        message = body.get("message", body.get("Message", ""))
        response: dict[str, Any] = {k: v for k, v in body.items() if k != "__type"}
        response["Error"] = {"Code": code, "Message": message}
        response["ResponseMetadata"] = metadata
        raise self._client.exceptions.from_code(code)(response, action)


def _method(action: str) -> str:
    return next(m for m, a in ITEM_OPERATIONS.items() if a == action)


_plain_real_client: Any = None
"""`shared.aws.Session.real_client` as it was, while the stack wraps it."""


def serve_dynamodb_directly(on: bool) -> None:
    """Wrap (or stop wrapping) the services' DynamoDB clients in this process."""
    global _plain_real_client  # noqa: PLW0603 - one process-wide switch, as moto's hook
    from shared import aws

    if on and _plain_real_client is None:
        plain = _plain_real_client = aws.Session.real_client

        def real_client(self: aws.Session, service: str) -> Any:
            client = plain(self, service)
            return MotoDynamoDB(client) if service == "dynamodb" else client

        aws.Session.real_client = real_client  # type: ignore[method-assign]
    elif not on and _plain_real_client is not None:
        aws.Session.real_client = _plain_real_client  # type: ignore[method-assign]
        _plain_real_client = None
