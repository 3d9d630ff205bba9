"""A service token is only as good as its shop: signed by the stack, it is still refused
for a shop that does not exist or was disabled, exactly like an API key."""

from __future__ import annotations

from fastapi.testclient import TestClient

from shared.auth.service_tokens import issue_service_token
from tests.conftest import Cloud, ShopKeys


def _token(cloud: Cloud, shop_id: str) -> dict[str, str]:
    secret = cloud.settings.signing_secret.get_secret_value()
    token = issue_service_token(secret, shop_id, frozenset({"segments:read"}))
    return ShopKeys.header(token)


def test_a_service_token_reads_its_own_active_shop(
    cloud: Cloud, shop: ShopKeys, segmenter_client: TestClient
) -> None:
    # Given a token signed for the existing, active shop
    headers = _token(cloud, shop.shop_id)

    # When it lists customers
    response = segmenter_client.get("/v1/customers", headers=headers)

    # Then the segmenter answers
    assert response.status_code == 200, response.text


def test_a_service_token_for_an_unknown_shop_is_refused(
    cloud: Cloud, shop: ShopKeys, segmenter_client: TestClient
) -> None:
    # Given a correctly signed token for a shop that was never created
    headers = _token(cloud, "ghost-shop")

    # When it is used
    response = segmenter_client.get("/v1/customers", headers=headers)

    # Then it is a 401 that says the shop is unknown
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "unknown shop"


def test_a_service_token_for_a_disabled_shop_is_refused(
    cloud: Cloud, shop: ShopKeys, segmenter_client: TestClient
) -> None:
    # Given a token for a shop that works, and the shop is then disabled
    headers = _token(cloud, shop.shop_id)
    assert segmenter_client.get("/v1/customers", headers=headers).status_code == 200
    cloud.dynamodb.update_item(
        TableName=cloud.settings.platform_table,
        Key={"pk": {"S": f"SHOP#{shop.shop_id}"}, "sk": {"S": "SHOP"}},
        UpdateExpression="SET active = :no",
        ExpressionAttributeValues={":no": {"BOOL": False}},
    )

    # When the same token is used again
    response = segmenter_client.get("/v1/customers", headers=headers)

    # Then it is refused like the shop's own API keys
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "unknown shop"
    admin_call = segmenter_client.get("/v1/customers", headers=shop.header(shop.admin))
    assert admin_call.status_code == 401
