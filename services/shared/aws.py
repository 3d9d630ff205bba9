"""AWS clients for a composition root: never at import time, each only when first used.

A container names every client its adapters might need, but one request uses few of them
(a list reads DynamoDB only; SES, SNS or Secrets Manager wait for a send). Building a
botocore client loads its service model, tens of milliseconds each, so `client()` returns
a stand-in that builds the real client on its first call; the clients of one `session()`
share one botocore session. botocore, not boto3: the clients are the same, and importing
boto3 (s3transfer among it) would add to every cold start.

`AWS_ENDPOINT_URL` (honoured by botocore itself) points every client at moto locally.

In the package the build makes, botocore's data for `SERVICES` comes trimmed
(`shared.aws_data`): their endpoints and undocumented models, a third of a first
request's cost less to parse.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import botocore.session


SERVICES = frozenset({"dynamodb", "events", "s3", "secretsmanager", "sesv2", "sns", "sqs"})
"""Every service the project's clients call (`client` refuses others): the trimmed data
the build writes covers these."""

DATA = Path(__file__).with_name("botocore_data")
"""Where the build writes the trimmed data (absent in a checkout: botocore's own then)."""
ENDPOINTS_FILE = "endpoints.json"
MODELS_FOLDER = "models"
DATA_VERSION_FILE = "botocore-version"

_FROM_BOTO3 = frozenset({"s3"})
"""Clients built through boto3 (on the same botocore session): S3's transfer methods
(`upload_file`, which the analytics snapshot uses) are boto3's. Only the function that
first calls S3 imports boto3."""


class Session:
    """One botocore session for a container's clients, made with the first of them."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._session: botocore.session.Session | None = None
        self._clients: dict[str, Any] = {}
        self._asked: set[str] = set()
        self._lock = threading.Lock()

    def real_client(self, service: str) -> Any:
        """The botocore client of `service`, built once (thread-safe: a botocore session
        must not build two clients at once)."""
        with self._lock:
            if service not in self._clients:
                import botocore.session
                from botocore.config import Config

                if self._session is None:
                    self._session = botocore.session.get_session()
                    _list_only_asked(self._session, self._asked)
                    _use_trimmed_data(self._session, DATA)
                self._asked.add(service)
                config = Config(retries={"max_attempts": 5, "mode": "standard"})
                if service in _FROM_BOTO3:
                    import boto3

                    boto = boto3.session.Session(botocore_session=self._session)
                    client = boto.client(service, region_name=self.region, config=config)  # type: ignore[call-overload]
                else:
                    client = self._session.create_client(
                        service, region_name=self.region, config=config
                    )
                self._clients[service] = client
            return self._clients[service]

    @property
    def built(self) -> frozenset[str]:
        """The services whose clients exist so far."""
        return frozenset(self._clients)


def _list_only_asked(session: botocore.session.Session, asked: set[str]) -> None:
    """Before loading a service's model, botocore checks that the service exists by
    listing every one it knows: some 900 folders read, about half of a first client's
    cost. The services this session was asked for are enough for that check (an unknown
    name still raises botocore's `UnknownServiceError`)."""
    from botocore.exceptions import DataNotFoundError

    loader = session.get_component("data_loader")

    def list_available_services(type_name: str) -> list[str]:
        found = []
        for name in sorted(asked):
            try:
                loader.list_api_versions(name, type_name)
            except DataNotFoundError:
                continue
            found.append(name)
        return found

    loader.list_available_services = list_available_services


def _use_trimmed_data(session: botocore.session.Session, folder: Path) -> bool:
    """Load `SERVICES`' endpoints and models from the build's trimmed data, when it was
    written from this botocore; whether it was."""
    import botocore
    from botocore.regions import EndpointResolver

    try:
        written_by = (folder / DATA_VERSION_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    if written_by.strip() != botocore.__version__:
        return False
    endpoints = json.loads((folder / ENDPOINTS_FILE).read_text(encoding="utf-8"))
    # botocore's own endpoints, cut to SERVICES: resolved as its built-in data is.
    resolver = EndpointResolver(endpoints, uses_builtin_data=True)
    session._register_internal_component("endpoint_resolver", resolver)  # type: ignore[attr-defined]
    loader = session.get_component("data_loader")
    loader.search_paths.insert(0, str(folder / MODELS_FOLDER))
    return True


class LazyClient:
    """Stands in for a botocore client and builds it on the first attribute asked for."""

    __slots__ = ("_client", "_service", "_session")

    def __init__(self, session: Session, service: str) -> None:
        self._session = session
        self._service = service
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        client = self._client
        if client is None:
            client = self._client = self._session.real_client(self._service)
        return getattr(client, name)

    def __repr__(self) -> str:
        return f"LazyClient({self._service!r}, built={self._client is not None})"


def session(region: str) -> Session:
    return Session(region)


def client(sess: Session, service: str) -> Any:
    """A client of `service` in `sess`, built when first used."""
    if service not in SERVICES:
        raise ValueError(f"{service!r} is not in shared.aws.SERVICES")
    return LazyClient(sess, service)
