#!/usr/bin/env bash
# `make run`: the newcomer's one command. Installs what is missing, starts the local AWS
# emulator and the Visma sandbox, then the service (`make serve`'s binary), and walks through
# what works, printing where to look. Ctrl-C stops everything this script started.
# With RUN_DEMO_ONLY=1 (CI, smoke tests) it exits after the demo instead of serving on.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/aourly-visma/target}

if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  exec scripts/with-aws.sh "$0" "$@"
fi
. scripts/local-env.sh
mkdir -p .local

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "building the local runner and the Visma sandbox (first time: a few minutes)"
cargo build -q -p local -p visma-sandbox

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

say "starting the Visma sandbox on http://$VISMA_SANDBOX_ADDR"
"$CARGO_TARGET_DIR/debug/visma-sandbox" --addr "$VISMA_SANDBOX_ADDR" \
  --client-id "$VISMA_CLIENT_ID" --client-secret "$VISMA_CLIENT_SECRET" >.local/sandbox.log 2>&1 &
pids+=($!)

say "starting the service on http://$LOCAL_HTTP_ADDR (logs: .local/service.log)"
"$CARGO_TARGET_DIR/debug/local" >.local/service.log 2>&1 &
pids+=($!)

for _ in $(seq 1 100); do
  curl -fsS "http://$LOCAL_HTTP_ADDR/health" >/dev/null 2>&1 && break
  sleep 0.2
done

say "GET /health"
curl -fsS "http://$LOCAL_HTTP_ADDR/health"; echo

say "the Visma sandbox's companies (GET /_sandbox/companies)"
curl -fsS "http://$VISMA_SANDBOX_ADDR/_sandbox/companies" || echo "(sandbox not answering; see .local/sandbox.log)"
echo

cat <<TXT

Where to look:
  service            http://$LOCAL_HTTP_ADDR        (logs: .local/service.log)
  Visma sandbox      http://$VISMA_SANDBOX_ADDR     (logs: .local/sandbox.log; admin API: docs/visma-sandbox.md)
  AWS emulator       $AWS_ENDPOINT_URL          (table $TABLE_NAME, queue $SYNC_QUEUE_URL)
  consent page       http://$VISMA_SANDBOX_ADDR/connect/authorize?client_id=$VISMA_CLIENT_ID&redirect_uri=$VISMA_REDIRECT_URI&response_type=code&scope=ea:api%20offline_access%20ea:sales%20ea:accounting&state=demo
TXT

if [ "${RUN_DEMO_ONLY:-}" = 1 ]; then exit 0; fi
say "running; Ctrl-C stops the service, the sandbox and the emulator"
wait
