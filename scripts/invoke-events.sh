#!/usr/bin/env bash
# Runs every sample in events/ through its real Lambda binary with cargo-lambda: `cargo lambda
# watch` emulates the Lambda runtime locally, `cargo lambda invoke --data-file` sends the event.
# Uses the local AWS emulator (scripts/with-aws.sh) and the local defaults (scripts/local-env.sh).
# Prints each function's answer; exits non-zero if an invocation fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then exec scripts/with-aws.sh "$0" "$@"; fi
. scripts/local-env.sh
scripts/ensure-venv.sh
[ -x .venv/bin/cargo-lambda ] || .venv/bin/pip install --quiet --disable-pip-version-check "cargo-lambda==1.9.2"
export PATH="$root/.venv/bin:$PATH"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/aourly-visma/target}
# The table and queues the functions expect (make serve creates them; so does a short run of it).
cargo build -q -p local -p api -p oauth-callback -p webhook -p sync-worker -p scheduled-pull
LOCAL_HTTP_ADDR=127.0.0.1:0 timeout 5 "$CARGO_TARGET_DIR/debug/local" >/dev/null 2>&1 || true

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p .local
cargo lambda watch --ignore-changes -q -A 127.0.0.1 -P "$port" >.local/cargo-lambda-watch.log 2>&1 &
watch_pid=$!
trap 'kill "$watch_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done

invoke() { # function event-file
  printf '%-16s %-36s ' "$1" "$2"
  cargo lambda invoke "$1" --data-file "events/$2" -A 127.0.0.1 -P "$port" --output-format json \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r.get("statusCode", ""), (r.get("body") or json.dumps(r))[:100])'
}
for f in events/api-*.json; do invoke api "$(basename "$f")"; done
for f in events/oauth-callback*.json; do invoke oauth-callback "$(basename "$f")"; done
invoke webhook webhook-invoice-created.json
invoke sync-worker sqs-batch.json
invoke scheduled-pull schedule.json
