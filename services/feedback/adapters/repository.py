"""Persistence of the feedback service in its one DynamoDB table (pk/sk, no index).

Key design (``S`` = ``SHOP#<shop>``):
- survey head     ``S#SURVEYS`` / ``<survey id>``: latest version, title (lists surveys)
- survey version  ``S#SURVEY#<id>`` / ``V#<version:06d>``: the questions, never changed
- response id     ``S#RESPONSE#<response id>`` / ``RESPONSE``: fingerprint (idempotency)
- response        ``S#SURVEY#<id>#RESP`` / ``<answered at UTC>#<response id>`` (results by time)
- membership      ``S#CUST#<customer>#SEGS`` / ``<segment id>``: from segment.entered/exited
- sign-up         ``S#SKU#<sku>#SIGNUPS`` / ``<sign-up id>`` (ids hash the address)
- signed-up SKUs  ``S#RESTOCK#SKUS`` / ``<sku>``: sign-ups per status, moved with each
  sign-up's write in its transaction (lists the SKUs with sign-ups, a page at a time)
- stock           ``S#SKU#<sku>`` / ``STOCK``: latest quantity and release of the SKU
- release         ``S#SKU#<sku>`` / ``RELEASE#<release id>``: state and counters
- notification    ``S#RELEASE#<release id>`` / ``N#<sign-up id>``: notified, clicked, bought
- open releases   ``RELEASES#OPEN`` / ``<shop>#<sku>#<release id>`` (what the wave schedule reads)

Every item that names a customer (a response and its marker, a sign-up, a notification)
carries ``person`` = ``S#CUST#<customer>``, the key of the sparse `person` index: a
person's items are one Query away, for disclosure, erasure and `customer.merged`
(`feedback.adapters.rights`), with no Scan of the table.

``<sku>`` in a key is percent-encoded (`_sku_part`): a SKU may hold '#' (``SERUM-30#SIGNUPS``
is a valid SKU), and written as is it would land in another SKU's records.

Each change is one conditional write or one TransactWriteItems, so a retried request or a
duplicated event never counts twice and nothing is half-written.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import quote, unquote

from botocore.exceptions import ClientError

from feedback.domain.records import SaveOutcome, SurveyHead
from feedback.services.ports import RestockStore, SurveyStore
from shared.adapters.dynamodb import (
    Position,
    cancellation_codes,
    from_item,
    is_condition_failure,
    key,
    partition_page,
    query_all,
    scan_all,
    to_item,
)
from shared.errors import Conflict, DependencyFailed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    # The domains' records load with the first request that reads or writes one (a
    # cold start's first request lists survey heads only).
    from feedback.domain.restock import Release, SignUp
    from feedback.domain.restock_records import Notification, SkuSignups, Stock
    from feedback.domain.surveys import AnswerValue, Response, StoredResponse, Survey

OPEN_RELEASES = "RELEASES#OPEN"
PERSON_INDEX = "person"


def person_key(shop_id: str, customer_id: str | None) -> str | None:
    """The `person` index key of a customer's items (None: an anonymous item, not indexed)."""
    return f"{_shop(shop_id)}#CUST#{customer_id}" if customer_id else None


CONDITION_FAILED = "ConditionalCheckFailed"
TRANSACTION_CONFLICT = "TransactionConflict"
TRANSACTION_ATTEMPTS = 4


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def _shop(shop_id: str) -> str:
    return f"SHOP#{shop_id}"


def _sku_part(sku: str) -> str:
    """A SKU as a key part without '#': '%' and '#' (and any non-ASCII) are percent-encoded,
    one-to-one, while the SKUs feedback took before (letters, digits, ``._:/-``) stay as
    they were stored."""
    return quote(sku, safe=":/")


def _sku_pk(shop_id: str, sku: str) -> str:
    return f"{_shop(shop_id)}#SKU#{_sku_part(sku)}"


def _signups_pk(shop_id: str, sku: str) -> str:
    return f"{_sku_pk(shop_id, sku)}#SIGNUPS"


def _signup_skus_pk(shop_id: str) -> str:
    return f"{_shop(shop_id)}#RESTOCK#SKUS"


def signup_count_key(shop_id: str, sku: str) -> dict[str, Any]:
    """The key of the SKU's sign-up counts (an erasure takes its sign-up off them)."""
    return to_item({"pk": _signup_skus_pk(shop_id), "sk": _sku_part(sku)})


def _open_release_sk(shop_id: str, sku: str, release_id: str) -> str:
    return f"{shop_id}#{_sku_part(sku)}#{release_id}"


class FeedbackRepository(SurveyStore, RestockStore):
    """Both ports on the feedback table, for the adapter that implements them."""


def _survey_to(s: Survey) -> dict[str, Any]:
    return {
        "title": s.title,
        "description": s.description,
        "created_at": _iso(s.created_at),
        "questions": json.dumps(
            [
                {
                    "id": q.question_id,
                    "kind": q.kind,
                    "text": q.text,
                    "required": q.required,
                    "options": [
                        {"id": o.option_id, "label": o.label, "preferences": list(o.preferences)}
                        for o in q.options
                    ],
                    "score_ranges": [
                        {"min": r.low, "max": r.high, "preferences": list(r.preferences)}
                        for r in q.score_ranges
                    ],
                }
                for q in s.questions
            ],
            ensure_ascii=False,
        ),
    }


def _survey_from(shop_id: str, survey_id: str, d: dict[str, Any]) -> Survey:
    from feedback.domain.surveys import Option, Question, ScoreRange, Survey

    questions = tuple(
        Question(
            question_id=q["id"],
            kind=q["kind"],
            text=q["text"],
            required=bool(q["required"]),
            options=tuple(
                Option(o["id"], o["label"], tuple((str(k), str(v)) for k, v in o["preferences"]))
                for o in q["options"]
            ),
            score_ranges=tuple(
                ScoreRange(
                    int(r["min"]),
                    int(r["max"]),
                    tuple((str(k), str(v)) for k, v in r["preferences"]),
                )
                for r in q.get("score_ranges", [])
            ),
        )
        for q in json.loads(d["questions"])
    )
    created = _dt(d["created_at"])
    assert created is not None
    return Survey(
        shop_id=shop_id,
        survey_id=survey_id,
        version=int(d["version"]),
        title=d["title"],
        questions=questions,
        created_at=created,
        description=d.get("description", ""),
    )


def _answers_from(raw: str) -> dict[str, AnswerValue]:
    out: dict[str, AnswerValue] = {}
    for k, v in json.loads(raw).items():
        out[k] = tuple(v) if isinstance(v, list) else v
    return out


def _signup_to(s: SignUp) -> dict[str, Any]:
    return {
        "pk": _signups_pk(s.shop_id, s.sku),
        "sk": s.signup_id,
        "sku": s.sku,
        "channel": s.channel,
        "customer_id": s.recipient.customer_id,
        "person": person_key(s.shop_id, s.recipient.customer_id),
        "address": s.recipient.address,
        "status": s.status,
        "created_at": _iso(s.created_at),
        "confirmed_at": _iso(s.confirmed_at),
        "unsubscribed_at": _iso(s.unsubscribed_at),
        "return_url": s.return_url,
        "locale": s.locale,
    }


def _signup_from(shop_id: str, d: dict[str, Any]) -> SignUp:
    from feedback.domain.restock import Recipient, SignUp

    created = _dt(d["created_at"])
    assert created is not None
    return SignUp(
        shop_id=shop_id,
        signup_id=d["sk"],
        sku=d["sku"],
        channel=d["channel"],
        recipient=Recipient(customer_id=d.get("customer_id"), address=d.get("address")),
        status=d["status"],
        created_at=created,
        confirmed_at=_dt(d.get("confirmed_at")),
        unsubscribed_at=_dt(d.get("unsubscribed_at")),
        return_url=d.get("return_url"),
        locale=d.get("locale", "ja"),
    )


def _signup_statuses() -> tuple[str, ...]:
    from feedback.domain.restock import SignUpStatus

    return get_args(SignUpStatus)


def _signup_id_prefix() -> str:
    """The domain's sign-up id prefix (the restock domain loads with restock's first use)."""
    from feedback.domain.restock import SIGNUP_ID_PREFIX

    return SIGNUP_ID_PREFIX


def _release_key(shop_id: str, sku: str, release_id: str) -> dict[str, Any]:
    return key(_sku_pk(shop_id, sku), f"RELEASE#{release_id}")


def _release_from(shop_id: str, d: dict[str, Any]) -> Release:
    from feedback.domain.restock import Release

    started = _dt(d["started_at"])
    until = _dt(d["early_access_until"])
    assert started is not None and until is not None
    return Release(
        shop_id=shop_id,
        release_id=d["release_id"],
        sku=d["sku"],
        started_at=started,
        early_access_until=until,
        stock_at_start=int(d["stock_at_start"]),
        status=d["status"],
        waves=int(d.get("waves", 0)),
        next_wave_at=_dt(d.get("next_wave_at")),
        notified=int(d.get("notified", 0)),
        clicked=int(d.get("clicked", 0)),
        purchased=int(d.get("purchased", 0)),
        ended_at=_dt(d.get("ended_at")),
    )


def _notification_from(d: dict[str, Any]) -> Notification:
    from feedback.domain.restock_records import Notification

    notified = _dt(d["notified_at"])
    assert notified is not None
    return Notification(
        signup_id=d["sk"].removeprefix("N#"),
        notified_at=notified,
        customer_id=d.get("customer_id"),
        clicked_at=_dt(d.get("clicked_at")),
        purchased_order=d.get("purchased_order"),
    )


class DynamoFeedbackRepository(FeedbackRepository):
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self._client.get_item(
            TableName=self._table, Key=key(pk, sk), ConsistentRead=True
        ).get("Item")
        return from_item(item) if item else None

    def _query(self, pk: str, prefix: str | None = None, **extra: Any) -> list[dict[str, Any]]:
        condition = "pk = :pk"
        values: dict[str, Any] = {":pk": {"S": pk}}
        if prefix is not None:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = {"S": prefix}
        return list(
            query_all(
                self._client,
                TableName=self._table,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
                ConsistentRead=True,
                **extra,
            )
        )

    def _transact(self, items: list[dict[str, Any]]) -> list[str | None]:
        """Run a transaction; [] on success, else the per-item cancellation codes, which
        then always include a failed condition (``ConditionalCheckFailed``).

        A transaction cancelled only because another request was writing the same items
        at that moment (``TransactionConflict``) says nothing about the conditions: it is
        run again a few times, then reported as `DependencyFailed` (an event goes back to
        be retried, an HTTP caller gets 503), never as a failed condition."""
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                self._client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
            except ClientError as err:
                codes = cancellation_codes(err)
                if CONDITION_FAILED in codes:
                    return codes
                if TRANSACTION_CONFLICT not in codes:
                    raise
            else:
                return []
            if attempt + 1 < TRANSACTION_ATTEMPTS:
                time.sleep(0.02 * 2**attempt * random.uniform(0.5, 1.5))  # noqa: S311 - jitter
        raise DependencyFailed("concurrent writes kept conflicting; retry")

    # ------------------------------------------------------------------ surveys
    def list_surveys(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[SurveyHead], Position | None]:
        pk = f"{_shop(shop_id)}#SURVEYS"
        items, last = partition_page(
            self._client,
            self._table,
            pk,
            "",
            limit=limit,
            after=after,
            ConsistentRead=True,
        )
        heads = [
            SurveyHead(
                survey_id=d["sk"],
                title=d["title"],
                latest_version=int(d["latest_version"]),
                created_at=_dt(d["created_at"]) or datetime.min,
                updated_at=_dt(d["updated_at"]) or datetime.min,
            )
            for d in items
        ]
        return heads, last

    def get_survey(self, shop_id: str, survey_id: str, version: int | None = None) -> Survey | None:
        if version is None:
            head = self._get(f"{_shop(shop_id)}#SURVEYS", survey_id)
            if head is None:
                return None
            version = int(head["latest_version"])
        d = self._get(f"{_shop(shop_id)}#SURVEY#{survey_id}", f"V#{version:06d}")
        return _survey_from(shop_id, survey_id, d) if d else None

    def survey_versions(self, shop_id: str, survey_id: str) -> list[Survey]:
        items = self._query(f"{_shop(shop_id)}#SURVEY#{survey_id}", "V#")
        return [_survey_from(shop_id, survey_id, d) for d in items]

    def put_survey_version(self, survey: Survey) -> None:
        shop = _shop(survey.shop_id)
        version_item = to_item(
            {
                "pk": f"{shop}#SURVEY#{survey.survey_id}",
                "sk": f"V#{survey.version:06d}",
                "version": survey.version,
                **_survey_to(survey),
            }
        )
        head_update: dict[str, Any] = {
            "TableName": self._table,
            "Key": key(f"{shop}#SURVEYS", survey.survey_id),
            "UpdateExpression": "SET latest_version = :v, title = :t, updated_at = :u, "
            "created_at = if_not_exists(created_at, :u)",
            "ExpressionAttributeValues": {
                ":v": {"N": str(survey.version)},
                ":t": {"S": survey.title},
                ":u": {"S": _iso(survey.created_at)},
            },
        }
        if survey.version == 1:
            head_update["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            head_update["ConditionExpression"] = "latest_version = :prev"
            head_update["ExpressionAttributeValues"][":prev"] = {"N": str(survey.version - 1)}
        codes = self._transact(
            [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": version_item,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {"Update": head_update},
            ]
        )
        if codes:
            if survey.version == 1:
                raise Conflict(f"survey {survey.survey_id} already exists", field="survey_id")
            raise Conflict(
                f"survey {survey.survey_id} changed meanwhile; read it again and retry",
                field="survey_id",
            )

    # ------------------------------------------------------------------ responses
    def save_response(
        self, response: Response, preferences: dict[str, list[str]]
    ) -> tuple[SaveOutcome, StoredResponse | None]:
        shop = _shop(response.shop_id)
        answered = _iso(response.answered_at)
        marker = to_item(
            {
                "pk": f"{shop}#RESPONSE#{response.response_id}",
                "sk": "RESPONSE",
                "fingerprint": response.fingerprint,
                "survey_id": response.survey_id,
                "survey_version": response.survey_version,
                "customer_id": response.customer_id,
                "person": person_key(response.shop_id, response.customer_id),
                "preferences": json.dumps(preferences, ensure_ascii=False),
                "answered_at": answered,
            }
        )
        record = to_item(
            {
                "pk": f"{shop}#SURVEY#{response.survey_id}#RESP",
                "sk": f"{answered}#{response.response_id}",
                "response_id": response.response_id,
                "survey_version": response.survey_version,
                "customer_id": response.customer_id,
                "person": person_key(response.shop_id, response.customer_id),
                "answers": json.dumps(
                    {
                        k: list(v) if isinstance(v, tuple) else v
                        for k, v in response.answers.items()
                    },
                    ensure_ascii=False,
                ),
                "answered_at": answered,
                "source": response.source,
                "segments": list(response.segments),
            }
        )
        codes = self._transact(
            [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": marker,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {"Put": {"TableName": self._table, "Item": record}},
            ]
        )
        if not codes:
            return "created", None
        stored = self.get_response(response.shop_id, response.response_id)
        if stored is not None and stored.fingerprint == response.fingerprint:
            return "duplicate", stored
        return "conflict", stored

    def get_response(self, shop_id: str, response_id: str) -> StoredResponse | None:
        d = self._get(f"{_shop(shop_id)}#RESPONSE#{response_id}", "RESPONSE")
        if d is None:
            return None
        from feedback.domain.surveys import StoredResponse

        return StoredResponse(
            response_id=response_id,
            fingerprint=d["fingerprint"],
            survey_id=d["survey_id"],
            survey_version=int(d["survey_version"]),
            customer_id=d["customer_id"],
            preferences=json.loads(d["preferences"]),
            answered_at=_dt(d["answered_at"]) or datetime.min,
        )

    def responses(
        self,
        shop_id: str,
        survey_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Response]:
        from feedback.domain.surveys import Response

        low = _iso(since) or "0"
        high = (_iso(until) or "9999") + "#~"
        items = query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues={
                ":pk": {"S": f"{_shop(shop_id)}#SURVEY#{survey_id}#RESP"},
                ":low": {"S": low},
                ":high": {"S": high},
            },
        )
        out = []
        for d in items:
            answered = _dt(d["answered_at"])
            assert answered is not None
            if until is not None and answered >= until:
                continue
            out.append(
                Response(
                    shop_id=shop_id,
                    survey_id=survey_id,
                    survey_version=int(d["survey_version"]),
                    response_id=d["response_id"],
                    customer_id=d["customer_id"],
                    answers=_answers_from(d["answers"]),
                    answered_at=answered,
                    source=d.get("source", "api"),
                    segments=tuple(sorted(d.get("segments") or [])),
                )
            )
        return out

    # ------------------------------------------------------------------ membership
    def set_membership(
        self, shop_id: str, customer_id: str, segment_id: str, member: bool, at: datetime
    ) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key(f"{_shop(shop_id)}#CUST#{customer_id}#SEGS", segment_id),
                UpdateExpression="SET in_segment = :m, changed_at = :at",
                ConditionExpression="attribute_not_exists(changed_at) OR changed_at <= :at",
                ExpressionAttributeValues={":m": {"BOOL": member}, ":at": {"S": _iso(at) or ""}},
            )
        except ClientError as err:
            if is_condition_failure(err):
                return False  # an older event arrived after a newer one
            raise
        return True

    def segments_of(self, shop_id: str, customer_id: str) -> tuple[str, ...]:
        items = self._query(f"{_shop(shop_id)}#CUST#{customer_id}#SEGS")
        return tuple(sorted(d["sk"] for d in items if d.get("in_segment")))

    # ------------------------------------------------------------------ sign-ups
    def get_signup(self, shop_id: str, sku: str, signup_id: str) -> SignUp | None:
        d = self._get(_signups_pk(shop_id, sku), signup_id)
        return _signup_from(shop_id, d) if d else None

    def put_signup(self, signup: SignUp, previous: SignUp | None) -> None:
        """The sign-up, if it is still as `previous`, and its SKU's count per status, moved
        from the previous status to the new one, in one transaction."""
        put: dict[str, Any] = {"TableName": self._table, "Item": to_item(_signup_to(signup))}
        if previous is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "#s = :s"
            put["ExpressionAttributeNames"] = {"#s": "status"}
            put["ExpressionAttributeValues"] = {":s": {"S": previous.status}}
        items: list[dict[str, Any]] = [{"Put": put}]
        moves: dict[str, int] = {signup.status: 1}
        if previous is not None:
            moves[previous.status] = moves.get(previous.status, 0) - 1
        moves = {k: v for k, v in moves.items() if v}
        if moves:
            items.append({"Update": self._sku_count(signup, moves)})
        if self._transact(items):
            raise Conflict("the sign-up changed meanwhile; retry", field="sku")

    def _sku_count(self, signup: SignUp, moves: dict[str, int]) -> dict[str, Any]:
        names = {f"#{k}": k for k in moves}
        values = {f":{k}": {"N": str(v)} for k, v in moves.items()}
        return {
            "TableName": self._table,
            "Key": signup_count_key(signup.shop_id, signup.sku),
            "UpdateExpression": "SET sku = :sku ADD " + ", ".join(f"#{k} :{k}" for k in moves),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {":sku": {"S": signup.sku}, **values},
        }

    def signup_skus(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[SkuSignups], Position | None]:
        items, last = partition_page(
            self._client,
            self._table,
            _signup_skus_pk(shop_id),
            "",
            limit=limit,
            after=after,
            ConsistentRead=True,
        )
        from feedback.domain.restock_records import SkuSignups

        statuses = _signup_statuses()
        return [SkuSignups(d["sku"], {k: int(d.get(k, 0)) for k in statuses}) for d in items], last

    def signup_counts(self, shop_id: str) -> dict[str, dict[str, int]]:
        items = self._query(_signup_skus_pk(shop_id))
        statuses = _signup_statuses()
        return {d["sku"]: {k: int(d.get(k, 0)) for k in statuses} for d in items if "sku" in d}

    def scan_signups(self, shop_id: str) -> Iterator[SignUp]:
        for d in scan_all(
            self._client,
            TableName=self._table,
            FilterExpression="begins_with(pk, :pk) AND begins_with(sk, :sk)",
            ExpressionAttributeValues={
                ":pk": {"S": f"{_shop(shop_id)}#SKU#"},
                ":sk": {"S": _signup_id_prefix()},
            },
            ConsistentRead=True,
        ):
            if str(d["pk"]).endswith("#SIGNUPS"):
                yield _signup_from(shop_id, d)

    def set_signup_counts(
        self, shop_id: str, sku: str, counts: dict[str, int], expected: dict[str, int] | None
    ) -> bool:
        names = {f"#{k}": k for k in counts}
        values: dict[str, Any] = {f":{k}": {"N": str(v)} for k, v in counts.items()}
        if expected is None:
            condition = "attribute_not_exists(pk)"
        else:
            checks = []
            for k, v in expected.items():
                names[f"#{k}"] = k
                values[f":was_{k}"] = {"N": str(v)}
                check = f"#{k} = :was_{k}"
                checks.append(f"(attribute_not_exists(#{k}) OR {check})" if v == 0 else check)
            condition = " AND ".join(checks)
        try:
            self._client.update_item(
                TableName=self._table,
                Key=signup_count_key(shop_id, sku),
                UpdateExpression="SET sku = :sku, " + ", ".join(f"#{k} = :{k}" for k in counts),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":sku": {"S": sku}, **values},
            )
        except ClientError as err:
            if is_condition_failure(err):
                return False
            raise
        return True

    def signups_for(self, shop_id: str, sku: str) -> list[SignUp]:
        # Sign-up ids only: records an unencoded '#' SKU once wrote here are passed over.
        items = self._query(_signups_pk(shop_id, sku), _signup_id_prefix())
        return [_signup_from(shop_id, d) for d in items]

    # ------------------------------------------------------------------ stock and releases
    def get_stock(self, shop_id: str, sku: str) -> Stock | None:
        d = self._get(_sku_pk(shop_id, sku), "STOCK")
        if d is None:
            return None
        from feedback.domain.restock_records import Stock

        return Stock(int(d["quantity"]), _dt(d["at"]) or datetime.min, d.get("release_id"))

    def record_stock(
        self, shop_id: str, sku: str, quantity: int, at: datetime, release: Release | None
    ) -> Literal["applied", "stale", "duplicate"]:
        values: dict[str, Any] = {":q": {"N": str(quantity)}, ":at": {"S": _iso(at) or ""}}
        expression = "SET quantity = :q, #at = :at"
        if release is not None:
            expression += ", release_id = :r"
            values[":r"] = {"S": release.release_id}
        stock_update = {
            "Update": {
                "TableName": self._table,
                "Key": key(_sku_pk(shop_id, sku), "STOCK"),
                "UpdateExpression": expression,
                "ConditionExpression": "attribute_not_exists(#at) OR #at <= :at",
                "ExpressionAttributeNames": {"#at": "at"},
                "ExpressionAttributeValues": values,
            }
        }
        items: list[dict[str, Any]] = [stock_update]
        if release is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": to_item(
                            {
                                **_release_key_plain(shop_id, sku, release.release_id),
                                "release_id": release.release_id,
                                "sku": sku,
                                "started_at": _iso(release.started_at),
                                "early_access_until": _iso(release.early_access_until),
                                "stock_at_start": release.stock_at_start,
                                "status": release.status,
                                "waves": release.waves,
                                "next_wave_at": _iso(release.next_wave_at),
                                "notified": 0,
                                "clicked": 0,
                                "purchased": 0,
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": to_item(
                            {
                                "pk": OPEN_RELEASES,
                                "sk": _open_release_sk(shop_id, sku, release.release_id),
                            }
                        ),
                    }
                }
            )
        codes = self._transact(items)
        if not codes:
            return "applied"
        if len(codes) > 1 and codes[1] == CONDITION_FAILED:
            return "duplicate"
        return "stale"  # the stock item holds a later event

    def get_release(self, shop_id: str, sku: str, release_id: str) -> Release | None:
        item = self._client.get_item(
            TableName=self._table, Key=_release_key(shop_id, sku, release_id), ConsistentRead=True
        ).get("Item")
        return _release_from(shop_id, from_item(item)) if item else None

    def list_releases(self, shop_id: str, sku: str) -> list[Release]:
        items = self._query(_sku_pk(shop_id, sku), "RELEASE#")
        return sorted((_release_from(shop_id, d) for d in items), key=lambda r: r.started_at)

    def open_releases(self) -> list[tuple[str, str, str]]:
        out = []
        for d in self._query(OPEN_RELEASES):
            shop_id, rest = d["sk"].split("#", 1)
            sku, release_id = rest.rsplit("#", 1)
            out.append((shop_id, unquote(sku), release_id))
        return out

    def update_release(self, release: Release, read_waves: int) -> bool:
        values: dict[str, Any] = {
            ":st": {"S": release.status},
            ":w": {"N": str(release.waves)},
            ":read": {"N": str(read_waves)},
            ":open": {"S": "open"},
        }
        sets = ["#st = :st", "waves = :w"]
        removes = []
        for name, moment in (
            ("next_wave_at", release.next_wave_at),
            ("ended_at", release.ended_at),
        ):
            if moment is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = {"S": _iso(moment)}
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _release_key(release.shop_id, release.sku, release.release_id),
                    "UpdateExpression": expression,
                    "ConditionExpression": "waves = :read AND #st = :open",
                    "ExpressionAttributeNames": {"#st": "status"},
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        if release.status != "open":
            items.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": key(
                            OPEN_RELEASES,
                            _open_release_sk(release.shop_id, release.sku, release.release_id),
                        ),
                    }
                }
            )
        return not self._transact(items)

    def notifications(self, shop_id: str, release_id: str) -> dict[str, Notification]:
        items = self._query(f"{_shop(shop_id)}#RELEASE#{release_id}", "N#")
        return {n.signup_id: n for n in map(_notification_from, items)}

    def get_notifications(
        self, shop_id: str, release_id: str, signup_ids: Sequence[str]
    ) -> dict[str, Notification]:
        out: dict[str, Notification] = {}
        for signup_id in dict.fromkeys(signup_ids):
            d = self._get(f"{_shop(shop_id)}#RELEASE#{release_id}", f"N#{signup_id}")
            if d is not None:
                out[signup_id] = _notification_from(d)
        return out

    def _counter(self, release: Release, counter: str) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": _release_key(release.shop_id, release.sku, release.release_id),
                "UpdateExpression": f"ADD {counter} :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        }

    def claim_notification(self, release: Release, signup: SignUp, at: datetime) -> bool:
        marker = to_item(
            {
                "pk": f"{_shop(release.shop_id)}#RELEASE#{release.release_id}",
                "sk": f"N#{signup.signup_id}",
                "notified_at": _iso(at),
                "customer_id": signup.recipient.customer_id,
                "person": person_key(release.shop_id, signup.recipient.customer_id),
                "channel": signup.channel,
                "sku": signup.sku,
            }
        )
        codes = self._transact(
            [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": marker,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                self._counter(release, "notified"),
            ]
        )
        return not codes

    def _mark(
        self, release: Release, signup_id: str, name: str, values: dict[str, Any], counter: str
    ) -> bool:
        sets = ", ".join(f"{k[1:]} = {k}" for k in values)
        codes = self._transact(
            [
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": key(
                            f"{_shop(release.shop_id)}#RELEASE#{release.release_id}",
                            f"N#{signup_id}",
                        ),
                        "UpdateExpression": f"SET {sets}",
                        "ConditionExpression": "attribute_exists(pk) AND "
                        f"attribute_not_exists({name})",
                        "ExpressionAttributeValues": values,
                    }
                },
                self._counter(release, counter),
            ]
        )
        return not codes

    def mark_clicked(self, release: Release, signup_id: str, at: datetime) -> bool:
        return self._mark(
            release, signup_id, "clicked_at", {":clicked_at": {"S": _iso(at)}}, "clicked"
        )

    def mark_purchased(self, release: Release, signup_id: str, order_id: str, at: datetime) -> bool:
        return self._mark(
            release,
            signup_id,
            "purchased_order",
            {":purchased_order": {"S": order_id}, ":purchased_at": {"S": _iso(at)}},
            "purchased",
        )


def _release_key_plain(shop_id: str, sku: str, release_id: str) -> dict[str, str]:
    return {"pk": _sku_pk(shop_id, sku), "sk": f"RELEASE#{release_id}"}
