"""botocore's data for the services the project's clients use, trimmed, for the package.

Building a botocore client parses botocore's `endpoints.json` (1.2 MB: every service in
every partition) and the service's model, documentation and all (DynamoDB's is 0.5 MB):
a third of a cold start's first request. The build (`services/Makefile`, `code`) writes
here, next to the code, the same data cut to `aws.SERVICES`: their entries of
`endpoints.json` and their models without the documentation strings (which only
`help()` reads). `shared.aws` loads it when it was written from the botocore it runs
with, and botocore's own files otherwise.

    python -m shared.aws_data <folder>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared.aws import DATA_VERSION_FILE, ENDPOINTS_FILE, MODELS_FOLDER, SERVICES

_MODELS = ("service-2", "endpoint-rule-set-1")
"""The model files a client loads when it is built (paginators and waiters wait)."""


def trimmed_endpoints(endpoints: dict[str, Any], services: frozenset[str]) -> dict[str, Any]:
    """`endpoints.json` with each partition's services cut to `services`."""
    partitions = [
        {**p, "services": {k: v for k, v in p["services"].items() if k in services}}
        for p in endpoints["partitions"]
    ]
    return {**endpoints, "partitions": partitions}


def without_documentation(model: dict[str, Any]) -> dict[str, Any]:
    """A service model without its documentation strings: the service's, each
    operation's, shape's and member's (never a member that is named so)."""
    trimmed = {k: v for k, v in model.items() if k != "documentation"}
    trimmed["operations"] = {
        name: _undocumented(op) for name, op in model.get("operations", {}).items()
    }
    shapes = {}
    for name, documented in model.get("shapes", {}).items():
        shape = _undocumented(documented)
        if "members" in shape:
            shape["members"] = {k: _undocumented(m) for k, m in shape["members"].items()}
        for key in ("member", "key", "value"):
            if isinstance(shape.get(key), dict):
                shape[key] = _undocumented(shape[key])
        shapes[name] = shape
    trimmed["shapes"] = shapes
    return trimmed


def _undocumented(part: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in part.items() if k != "documentation"}


def write(folder: Path) -> None:
    """Write the trimmed data for `SERVICES` from the botocore this runs with."""
    import botocore.session

    loader = botocore.session.get_session().get_component("data_loader")
    folder.mkdir(parents=True, exist_ok=True)
    names = set(SERVICES)
    for service in sorted(SERVICES):
        version = loader.determine_latest_version(service, "service-2")
        for kind in _MODELS:
            model = loader.load_service_model(service, kind, version)
            if kind == "service-2":
                # endpoints.json files a service under its endpoint prefix (sesv2: email)
                names.add(model["metadata"]["endpointPrefix"])
                model = without_documentation(model)
            _dump(folder / MODELS_FOLDER / service / version / f"{kind}.json", model)
    endpoints = trimmed_endpoints(loader.load_data("endpoints"), frozenset(names))
    _dump(folder / ENDPOINTS_FILE, endpoints)
    (folder / DATA_VERSION_FILE).write_text(botocore.__version__, encoding="utf-8")


def _dump(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1]))
