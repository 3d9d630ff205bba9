"""A container builds no AWS client until one is used, and imports no boto3 at all.

Building a botocore client loads its service model (tens of milliseconds each), and a
request uses few of the clients its container names: a list reads DynamoDB, SES and SNS
wait for a send. So the first request of a cold Lambda builds only what it calls.
"""

from __future__ import annotations

from shared import aws
from tests.shared.fresh import run_fresh

BUILD_EVERY_CONTAINER = """
import sys
import feedback.bootstrap, messenger.bootstrap, segmenter.bootstrap
for service in (feedback, messenger, segmenter):
    service.bootstrap.build()
loaded = sorted(m for m in ("boto3", "botocore.session", "botocore.client") if m in sys.modules)
print(",".join(loaded) or "none")
"""


def test_building_every_container_builds_no_client_and_imports_no_boto3() -> None:
    """Given a fresh interpreter
    When the three services' containers are built (what a cold Lambda's first request does)
    Then no botocore client or session exists yet, and boto3 was never imported."""
    assert run_fresh(BUILD_EVERY_CONTAINER).strip() == "none"


def test_a_client_is_built_on_first_use_once_per_session() -> None:
    """Given a session and two stand-ins for DynamoDB and one for SNS
    When the DynamoDB ones are used
    Then one DynamoDB client exists, shared, and SNS's is still not built."""
    session = aws.session("ap-northeast-1")
    first, second = aws.client(session, "dynamodb"), aws.client(session, "dynamodb")
    aws.client(session, "sns")
    assert session.built == frozenset()
    assert first.meta.region_name == "ap-northeast-1"
    assert second.meta.service_model.service_name == "dynamodb"
    assert session.built == {"dynamodb"}
    assert session.real_client("dynamodb") is session.real_client("dynamodb")
