"""Generate `schemas/`: one JSON Schema document per resource type and api-version.

The documents are derived from the marshmallow schemas the emulator validates request bodies
with (converted by apispec's marshmallow plugin), so `schemas/` can never drift from what the
server accepts: `tests/resources/test_schemas.py` regenerates them and fails when the files are stale.
Run `make schemas` (or `python -m provider.schemagen`) after changing a resource schema.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provider.arm.resource_type import REGISTRY

if TYPE_CHECKING:
    from apispec.ext.marshmallow.openapi import OpenAPIConverter

SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "schemas"


def _converter() -> OpenAPIConverter:
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin
    from apispec.ext.marshmallow.openapi import OpenAPIConverter

    spec = APISpec("adr-emulator", "1", "3.0.2", plugins=[MarshmallowPlugin(schema_name_resolver=lambda _s: None)])
    return OpenAPIConverter(openapi_version="3.0.2", schema_name_resolver=lambda _s: None, spec=spec)


def _file_name(full_type: str, api_version: str) -> str:
    return f"{full_type.replace('/', '.')}.{api_version}.json"


def generate() -> dict[str, dict[str, Any]]:
    """{file name: JSON Schema document} for every registered type and api-version."""
    converter = _converter()
    out: dict[str, dict[str, Any]] = {}
    for rtype in sorted(REGISTRY.types.values(), key=lambda t: t.key):
        for version, methods in rtype.schema_versions().items():
            if not methods:
                continue
            doc: dict[str, Any] = {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "title": f"{rtype.full_type} ({version})",
                "description": rtype.description or f"Request bodies of {rtype.full_type}.",
                "x-resource-type": rtype.full_type,
                "x-api-version": version,
                "definitions": {},
            }
            for method, schema in methods.items():
                doc["definitions"][f"{method.lower()}Body"] = converter.schema2jsonschema(schema)
            out[_file_name(rtype.full_type, version)] = doc
    return out


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def write(directory: Path = SCHEMAS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    docs = generate()
    for stale in directory.glob("*.json"):
        if stale.name not in docs:
            stale.unlink()
    written = []
    for name, doc in docs.items():
        path = directory / name
        path.write_text(render(doc))
        written.append(path)
    return written


if __name__ == "__main__":
    paths = write()
    print(f"wrote {len(paths)} schema documents to {SCHEMAS_DIR}", file=sys.stderr)
