#!/usr/bin/env bash
# Lints template.yaml offline and fails on any finding (errors, warnings and informational).
#
#   scripts/lint-template.sh           cfn-lint, `sam validate --lint`, and cfn-lint of the
#                                      SAM-transformed template (needs .venv-sam, made on demand)
#   scripts/lint-template.sh --no-sam  cfn-lint only (no aws-sam-cli install)
#   TEMPLATE=other.yaml scripts/lint-template.sh   lints another file (used to test this script)
#
# The third step exists because the linters check the template before SAM expands it, and
# some mistakes only appear afterwards; notably a circular dependency between the HTTP API and
# a function, which CloudFormation rejects only at deploy time.
#
# No AWS account, credentials or network are needed: a region is set because SAM wants one to
# translate, and SAM's telemetry is turned off.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
template="${TEMPLATE:-$root/template.yaml}"  # TEMPLATE= lints another file
sam=1
for arg in "$@"; do
  case "$arg" in
    --no-sam) sam=0 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "lint-template: unknown argument: $arg (expected --no-sam)" >&2; exit 2 ;;
  esac
done

if [ "$sam" = 1 ]; then
  "$root/scripts/ensure-venv.sh" --sam
else
  "$root/scripts/ensure-venv.sh"
fi

export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-eu-north-1}"
export AWS_REGION="${AWS_REGION:-$AWS_DEFAULT_REGION}"
export SAM_CLI_TELEMETRY=0

echo "== cfn-lint $template" >&2
# --include-checks I: informational findings (e.g. a stateful resource without an explicit
# DeletionPolicy) fail the lint too. cfn-lint exits non-zero on any finding.
"$root/.venv/bin/cfn-lint" --include-checks I -- "$template"

if [ "$sam" = 0 ]; then
  echo "template lint ok (cfn-lint only; SAM checks skipped)" >&2
  exit 0
fi

echo "== sam validate --lint" >&2
(cd "$root" && "$root/.venv-sam/bin/sam" validate --lint --template "$template")

echo "== cfn-lint of the SAM-transformed template" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$root/.venv-sam/bin/python" - "$template" "$work/transformed.json" <<'PY'
import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

source, target = sys.argv[1], sys.argv[2]
with open(source, encoding="utf-8") as f:
    template = yaml_parse(f.read())

# The translator insists on S3 code locations; `sam build`/`sam package` supply the real ones.
for resource in template.get("Resources", {}).values():
    if resource.get("Type") == "AWS::Serverless::Function":
        resource["Properties"]["CodeUri"] = "s3://lint-placeholder/code.zip"


class OfflinePolicies:
    """SAM resolves AWS managed policy names from its bundled map; never ask IAM."""

    def load(self):
        return {}


with open(target, "w", encoding="utf-8") as f:
    json.dump(transform(template, {}, OfflinePolicies()), f, indent=1)
PY
"$root/.venv/bin/cfn-lint" --include-checks I -- "$work/transformed.json"

echo "template lint ok" >&2
