#!/usr/bin/env bash
# Creates the project-local Python virtualenv (.venv) with moto and cfn-lint when it is missing or
# out of date. aws-sam-cli pins its own boto3, so it gets a venv of its own (.venv-sam), made only
# when asked for with `--sam`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}

ensure() { # venv-dir stamp-value pip-args...
  local dir=$1 want=$2; shift 2
  local stamp="$dir/.requirements"
  if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  echo "setting up $dir ($want)" >&2
  "$py" -m venv --clear "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
  echo "$want" > "$stamp"
}

ensure "$root/.venv" "$(sha256sum "$root/scripts/requirements.txt" | cut -c1-16)" -r "$root/scripts/requirements.txt"
if [ "${1:-}" = "--sam" ]; then
  ensure "$root/.venv-sam" "aws-sam-cli==1.170.0" "aws-sam-cli==1.170.0"
fi
