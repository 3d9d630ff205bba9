"""A narrow, read-only view of the messenger's campaign results (messenger table) for the
analytics pass: who each campaign reached (channel, rank, when) and which orders it was
credited with. Nothing else of the messenger's table is read, and nothing is written.

Layout (owned by the messenger, see messenger/adapters/campaigns.py):
``SHOP#<shop>`` / ``CAMPAIGN#<id>`` (definition, JSON in ``body``),
``CAMPAIGN#<shop>#<id>`` / ``R#<customer>`` (one per person reached) and
``/ ORDER#<order>`` (an attributed order).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from segmenter.domain.analytics.snapshot import CampaignColumns, shop_date
from shared.adapters.dynamodb import query_all, query_prefix

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class CampaignResults:
    """Port. Test fakes subclass it."""

    def read(self, shop_id: str) -> CampaignColumns:
        raise NotImplementedError


class DynamoCampaignResults(CampaignResults):
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def read(self, shop_id: str) -> CampaignColumns:
        out = CampaignColumns()
        definitions = query_prefix(self._client, self._table, f"SHOP#{shop_id}", "CAMPAIGN#")
        for item in definitions:
            campaign_id = str(item["sk"]).removeprefix("CAMPAIGN#")
            name = _name(item.get("body"), campaign_id)
            for r in query_all(
                self._client,
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"CAMPAIGN#{shop_id}#{campaign_id}"}},
            ):
                sk = str(r["sk"])
                if sk.startswith("R#") and r.get("sent_at"):
                    rec = out.records
                    rec["source"].append("campaign")
                    rec["source_id"].append(campaign_id)
                    rec["name"].append(name)
                    rec["customer_id"].append(sk.removeprefix("R#"))
                    rec["channel"].append(r.get("channel"))
                    rec["rank"].append(r.get("rank"))
                    rec["sent_date"].append(shop_date(datetime.fromisoformat(str(r["sent_at"]))))
                elif sk.startswith("ORDER#"):
                    out.attributed["source_id"].append(campaign_id)
                    out.attributed["order_id"].append(sk.removeprefix("ORDER#"))
        return out


def _name(data: object, default: str) -> str:
    if isinstance(data, str):
        try:
            parsed = json.loads(data)
        except ValueError:
            return default
        if isinstance(parsed, dict) and parsed.get("name"):
            return str(parsed["name"])
    return default
