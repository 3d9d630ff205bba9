"""LINE's OpenAPI spec (tests/data/line/messaging-api.yml, Apache-2.0) as JSON Schema.

OpenAPI 3.0 `discriminator` is not JSON Schema, so the spec's discriminated unions
(Message, FlexContainer, FlexComponent, Action…) are rewritten: the base schema
dispatches on the property to the mapped subtype (an unknown value fails), and subtypes
refer to a copy of the base without the dispatch (no infinite loop).

`compact_schema()` is what the messenger vendors as
`services/messenger/channels/line_schema.json`: only the schemas a push, a multicast and
a message object need, without prose, so the Lambda never parses YAML.
Regenerate it with `make line-schema` after updating the spec; a test compares.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "tests" / "data" / "line" / "messaging-api.yml"
VENDORED = ROOT / "services" / "messenger" / "channels" / "line_schema.json"
BASE = "#/components/schemas/"
ROOTS = ("Message", "PushMessageRequest", "MulticastRequest")
_PROSE = frozenset({"description", "externalDocs", "example", "examples", "default", "format"})
"""Dropped: documentation, and `format` (int32, uri…), which Draft 7 does not assert."""


def load_spec() -> dict[str, Any]:
    import yaml

    spec: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return spec


def rewrite_discriminators(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    schemas: dict[str, Any] = spec["components"]["schemas"]
    bases = {name: s for name, s in schemas.items() if "discriminator" in s}
    for name, schema in bases.items():
        disc = schema.pop("discriminator")
        prop, mapping = disc["propertyName"], disc.get("mapping", {})
        schemas[f"{name}__base"] = copy.deepcopy(schema)
        # Subtypes extend the base through allOf: point them at the copy.
        for target in mapping.values():
            sub = schemas[target.removeprefix(BASE)]
            for part in sub.get("allOf", []):
                if part.get("$ref") == f"{BASE}{name}":
                    part["$ref"] = f"{BASE}{name}__base"
        schemas[name] = {
            "allOf": [
                {"$ref": f"{BASE}{name}__base"},
                {"required": [prop], "properties": {prop: {"enum": sorted(mapping)}}},
                *(
                    {
                        "if": {"properties": {prop: {"const": value}}},
                        "then": {"$ref": target},
                    }
                    for value, target in mapping.items()
                ),
            ]
        }
    return spec


def _strip(value: Any, refs: set[str]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "$ref":
                name = str(item).removeprefix(BASE)
                refs.add(name)
                out[key] = f"#/definitions/{name}"
            elif key == "properties":
                out[key] = {p: _strip(s, refs) for p, s in item.items()}
            elif key not in _PROSE:
                out[key] = _strip(item, refs)
        return out
    if isinstance(value, list):
        return [_strip(v, refs) for v in value]
    return value


def compact_schema(spec: dict[str, Any] | None = None) -> dict[str, Any]:
    schemas = rewrite_discriminators(spec or load_spec())["components"]["schemas"]
    definitions: dict[str, Any] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in definitions:
            continue
        refs: set[str] = set()
        definitions[name] = _strip(schemas[name], refs)
        todo.extend(sorted(refs - definitions.keys()))
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$comment": (
            "Generated from tests/data/line/messaging-api.yml (LINE Messaging API, "
            "Apache-2.0) by tests/messenger/line_spec.py: `make line-schema`. Do not edit."
        ),
        "definitions": dict(sorted(definitions.items())),
    }


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    VENDORED.write_text(dumps(compact_schema()), encoding="utf-8")
    print(f"wrote {VENDORED.relative_to(ROOT)}")
