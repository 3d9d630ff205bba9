"""Creates boto3 clients for a composition root (never at import time).

`AWS_ENDPOINT_URL` (honoured by boto3 itself) points every client at moto locally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3


def session(region: str) -> boto3.session.Session:
    import boto3

    return boto3.session.Session(region_name=region)


def client(sess: boto3.session.Session, service: str) -> Any:
    from botocore.config import Config

    return sess.client(service, config=Config(retries={"max_attempts": 5, "mode": "standard"}))  # type: ignore[call-overload]
