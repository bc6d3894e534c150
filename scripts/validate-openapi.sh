#!/usr/bin/env bash
# Validates docs/openapi.yaml:
#  1. against the OpenAPI 3.1 schema (openapi-spec-validator);
#  2. every example in it against its own schema (JSON Schema 2020-12);
#  3. the sample webhook bodies in events/ against the WebhookEvent schema.
# Needs python3; makes a throwaway venv at $OAS_VENV (default /tmp/oas) on first use.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
spec="${1:-$root/docs/openapi.yaml}"
venv="${OAS_VENV:-/tmp/oas}"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import openapi_spec_validator, yaml" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "openapi-spec-validator==0.7.1" pyyaml
fi

"$venv/bin/python" - "$spec" "$root" <<'EOF'
import glob, json, sys

import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

spec_path, root = sys.argv[1], sys.argv[2]
doc = yaml.safe_load(open(spec_path, encoding="utf-8"))
validate(doc)
print(f"{spec_path}: valid OpenAPI {doc['openapi']}")

registry = Registry().with_resource("urn:doc", Resource.from_contents(doc, default_specification=DRAFT202012))

def validator(schema):
    if "$ref" in schema:
        schema = {"$ref": "urn:doc" + schema["$ref"]}
    return Draft202012Validator(schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)

def deref(obj):
    while isinstance(obj, dict) and "$ref" in obj:
        target = doc
        for part in obj["$ref"][2:].split("/"):
            target = target[part]
        obj = target
    return obj

failures, checked = [], 0

def check(where, value, schema):
    global checked
    checked += 1
    errors = list(validator(schema).iter_errors(value))
    if errors:
        failures.append(f"{where}: " + "; ".join(e.message[:200] for e in errors[:3]))

def check_media(where, media):
    schema = media.get("schema")
    if schema is None:
        return
    if "example" in media:
        check(f"{where} example", media["example"], schema)
    for name, ex in (media.get("examples") or {}).items():
        check(f"{where} examples.{name}", deref(ex)["value"], schema)

for section in ("paths", "webhooks"):
    for path, item in (doc.get(section) or {}).items():
        for method, op in item.items():
            if method == "parameters":
                continue
            where = f"{method.upper()} {path}"
            if "requestBody" in op:
                for ct, media in deref(op["requestBody"])["content"].items():
                    check_media(f"{where} request {ct}", media)
            for code, response in op["responses"].items():
                for ct, media in (deref(response).get("content") or {}).items():
                    check_media(f"{where} {code} {ct}", media)

for name, schema in doc["components"]["schemas"].items():
    for i, ex in enumerate(schema.get("examples") or []):
        check(f"schema {name} examples[{i}]", ex, {"$ref": f"#/components/schemas/{name}"})

event = {"$ref": "#/components/schemas/WebhookEvent"}
for path in sorted(glob.glob(f"{root}/events/webhooks/*.json")):
    check(path, json.load(open(path, encoding="utf-8")), event)
for path in sorted(glob.glob(f"{root}/events/webhook-*.json")):
    check(path, json.loads(json.load(open(path, encoding="utf-8"))["body"]), event)

if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(f"{len(failures)} of {checked} examples do not match their schemas")
print(f"{checked} examples and sample events match their schemas")
EOF
