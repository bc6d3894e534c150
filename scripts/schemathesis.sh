#!/usr/bin/env bash
# `make schemathesis` (and CI): property-based API testing of the running service against
# docs/openapi.yaml with Schemathesis (PyPI).
#
# Starts, on free loopback ports: the local AWS emulator (moto, through scripts/with-aws.sh),
# the Visma sandbox (auto-approving consent) and `make serve`'s binary (`local`) with the
# defaults of scripts/local-env.sh; connects tenant `acme` to the sandbox through the real
# Connect flow (POST /connect → consent → GET /oauth/visma/callback), then runs Schemathesis
# with an owner JWT for `acme` and a hook that signs every webhook body
# (scripts/schemathesis_hooks.py). Checks: not_a_server_error, status_code_conformance,
# content_type_conformance, response_schema_conformance. Stops only what it started.
#
# Knobs: ST_MAX_EXAMPLES (default 30 per operation), ST_SEED (default 1; `random` for none),
# ST_PHASES (default examples,coverage,fuzzing,stateful), ST_ARGS (extra arguments).
# Schemathesis lives in its own venv (.venv-schemathesis): its pins (jsonschema, hypothesis,
# requests, ...) are kept away from moto's venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/aourly-visma/target}

if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  exec scripts/with-aws.sh "$0" "$@"
fi

# --- Schemathesis venv -------------------------------------------------------------------
venv="$root/.venv-schemathesis"
want="schemathesis==4.32.5 PyJWT==2.10.1"
if ! "$venv/bin/python" -c 'import schemathesis, jwt' 2>/dev/null \
  || [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$want" ]; then
  echo "setting up $venv ($want)" >&2
  "${PYTHON:-python3}" -m venv --clear "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $want
  echo "$want" >"$venv/.requirements"
  echo '*' >"$venv/.gitignore"
fi

free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- the service, as `make serve` runs it, on free ports -------------------------------------
export VISMA_SANDBOX_ADDR=127.0.0.1:$(free_port)
export LOCAL_HTTP_ADDR=127.0.0.1:$(free_port)
# Fresh names, so a shared emulator (AWS_ENDPOINT_URL set by the caller) is never reused.
run_id=st$(date +%s)$$
export TABLE_NAME=aourly-visma-$run_id
export SYNC_QUEUE_URL=$AWS_ENDPOINT_URL/123456789012/aourly-visma-sync-$run_id
export SYNC_DLQ_URL=$SYNC_QUEUE_URL-dlq
. scripts/local-env.sh
export LOCAL_SCHEDULE_SECONDS=${LOCAL_SCHEDULE_SECONDS:-3600}
logs="$root/.local/schemathesis"
mkdir -p "$logs"

cargo build -q -p local -p visma-sandbox

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

"$CARGO_TARGET_DIR/debug/visma-sandbox" --addr "$VISMA_SANDBOX_ADDR" --auto-approve \
  --client-id "$VISMA_CLIENT_ID" --client-secret "$VISMA_CLIENT_SECRET" >"$logs/sandbox.log" 2>&1 &
pids+=($!)
"$CARGO_TARGET_DIR/debug/local" >"$logs/service.log" 2>&1 &
service_pid=$!
pids+=("$service_pid")

base="http://$LOCAL_HTTP_ADDR"
for _ in $(seq 1 150); do
  curl -fsS -o /dev/null "$base/health" 2>/dev/null && break
  kill -0 "$service_pid" 2>/dev/null || { echo "the service stopped; see $logs/service.log" >&2; tail -5 "$logs/service.log" >&2; exit 1; }
  sleep 0.2
done
curl -fsS -o /dev/null "$base/health" || { echo "the service never answered /health" >&2; exit 1; }
for _ in $(seq 1 50); do
  curl -fsS -o /dev/null "http://$VISMA_SANDBOX_ADDR/_sandbox/companies" 2>/dev/null && break
  sleep 0.2
done

# --- an owner token for `acme`, and the tenant connected through the real Connect flow --------
token=$("$venv/bin/python" - <<'PY'
import os, time, jwt
now = int(time.time())
claims = {"iss": "aourly", "aud": "aourly-visma", "sub": "schemathesis", "tenant": "acme",
          "role": "owner", "iat": now, "exp": now + 4 * 3600}
print(jwt.encode(claims, os.environ["AOURLY_JWT_SECRET"], algorithm="HS256"))
PY
)
authorize_url=$(curl -fsS -X POST "$base/tenants/acme/visma/connect" \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d "{\"return_url\": \"$base/settings/integrations\"}" |
  "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["authorize_url"])')
callback=$(curl -sS -o /dev/null -w '%{redirect_url}' "$authorize_url")
final=$(curl -sS -o /dev/null -w '%{redirect_url}' "$callback")
case "$final" in
  *visma=connected*) echo "tenant acme connected to the Visma sandbox" >&2 ;;
  *) echo "connecting acme failed: callback answered a redirect to '$final'" >&2; exit 1 ;;
esac

# --- Schemathesis ---------------------------------------------------------------------------
seed_args=()
if [ "${ST_SEED:-1}" != random ]; then seed_args=(--seed "${ST_SEED:-1}"); fi
export SCHEMATHESIS_HOOKS=schemathesis_hooks
export PYTHONPATH="$root/scripts${PYTHONPATH:+:$PYTHONPATH}"
status=0
# Run from .local/schemathesis: Schemathesis keeps a `.schemathesis/` cache in its working
# directory, which must not land in the clone (nor be replayed from an earlier run's tree).
cd "$logs"
rm -rf .schemathesis
# shellcheck disable=SC2086
"$venv/bin/schemathesis" run "$root/docs/openapi.yaml" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${ST_MAX_EXAMPLES:-30}" \
  --phases "${ST_PHASES:-examples,coverage,fuzzing,stateful}" \
  --max-redirects 0 \
  --request-timeout 30 \
  --workers 1 \
  --report junit --report-dir "$logs/report" \
  "${seed_args[@]}" ${ST_ARGS:-} || status=$?

if ! kill -0 "$service_pid" 2>/dev/null; then
  echo "the service died during the run; see $logs/service.log" >&2
  status=1
fi
echo "schemathesis exit status $status (logs and junit report: $logs)" >&2
exit "$status"
