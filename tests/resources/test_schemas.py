"""`schemas/` is generated from the marshmallow schemas; this fails when it is stale."""

from __future__ import annotations

import json

import jsonschema

from provider import schemagen


def test_schemas_directory_is_current():
    expected = schemagen.generate()
    on_disk = {p.name: p.read_text() for p in schemagen.SCHEMAS_DIR.glob("*.json")}
    missing = sorted(set(expected) - set(on_disk))
    extra = sorted(set(on_disk) - set(expected))
    stale = sorted(name for name, doc in expected.items() if on_disk.get(name) not in (None, schemagen.render(doc)))
    assert not (missing or extra or stale), (
        f"schemas/ is stale (run `make schemas`): missing={missing} extra={extra} changed={stale}")


def test_generated_schema_accepts_the_spec_example_and_rejects_bad_bodies():
    doc = json.loads((schemagen.SCHEMAS_DIR /
                      "Microsoft.DeviceRegistry.namespaces.credentials.policies.2026-03-01-preview.json").read_text())
    put = {"$ref": "#/definitions/putBody", "definitions": doc["definitions"]}
    good = {"properties": {"certificate": {"certificateAuthorityConfiguration": {"keyType": "ECC"},
                                           "leafCertificateConfiguration": {"validityPeriodInDays": 10}}}}
    jsonschema.validate(good, put)
    bad = json.loads(json.dumps(good))
    bad["properties"]["certificate"]["leafCertificateConfiguration"]["validityPeriodInDays"] = 200
    try:
        jsonschema.validate(bad, put)
    except jsonschema.ValidationError as exc:
        assert "200" in exc.message
    else:
        raise AssertionError("a validity of 200 days must be rejected")
