"""A container builds no AWS client until one is used, and imports no boto3 at all.

Building a botocore client loads its service model (tens of milliseconds each), and a
request uses few of the clients its container names: a list reads DynamoDB, SES and SNS
wait for a send. So the first request of a cold Lambda builds only what it calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore
import botocore.session
import pytest

from shared import aws, aws_data
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


REGIONS = ("ap-northeast-1", "us-east-1", "us-gov-west-1", "cn-north-1", "us-iso-east-1")
"""A region of each partition the clients might be built in."""


def _clients_as_built(data: Path | None, region: str) -> dict[str, object]:
    """What botocore makes of each of `SERVICES` in `region`: endpoint, signing, model."""
    session = botocore.session.get_session()
    if data is not None:
        assert aws._use_trimmed_data(session, data)
    built: dict[str, object] = {}
    for service in sorted(aws.SERVICES):
        client = session.create_client(
            service, region_name=region, aws_access_key_id="k", aws_secret_access_key="s"
        )
        signer = client._request_signer  # type: ignore[attr-defined]
        model = client.meta.service_model
        built[service] = (
            client.meta.endpoint_url,
            client.meta.partition,
            signer._signing_name,
            signer._region_name,
            signer._signature_version,
            model.metadata,
            {op: _shape(model.operation_model(op).input_shape) for op in model.operation_names},
        )
    return built


def _shape(shape: Any) -> object:
    """A model shape as comparable data: its type and its members' names and types."""
    if shape is None:
        return None
    members = getattr(shape, "members", {})
    return (shape.type_name, {name: m.type_name for name, m in members.items()})


def test_the_trimmed_botocore_data_builds_the_same_clients(tmp_path: Path) -> None:
    """Given botocore's data for SERVICES written trimmed (what the build does)
    When every service's client is built from it in a region of each partition
    Then endpoint, partition, signing name, region and version, the model's metadata and
    every operation's input shape are botocore's own; and it is a tenth of the bytes."""
    aws_data.write(tmp_path)
    for region in REGIONS:
        assert _clients_as_built(tmp_path, region) == _clients_as_built(None, region), region
    written = sum(p.stat().st_size for p in tmp_path.rglob("*.json"))
    assert written < (Path(botocore.__file__).parent / "data" / "endpoints.json").stat().st_size


def test_trimmed_data_from_another_botocore_is_not_used(tmp_path: Path) -> None:
    """Given trimmed data written by another botocore version
    When a session would load it
    Then it does not (botocore's own data is read), and a session without it neither."""
    aws_data.write(tmp_path)
    (tmp_path / aws.DATA_VERSION_FILE).write_text("0.0.1", encoding="utf-8")
    assert not aws._use_trimmed_data(botocore.session.get_session(), tmp_path)
    assert not aws._use_trimmed_data(botocore.session.get_session(), tmp_path / "absent")


def test_a_client_of_a_service_outside_the_trimmed_set_is_refused() -> None:
    """Given a session
    When a client of a service not in SERVICES is asked for
    Then it is refused up front, naming the service (the trimmed data lacks it)."""
    with pytest.raises(ValueError, match="'ec2'"):
        aws.client(aws.session("ap-northeast-1"), "ec2")
