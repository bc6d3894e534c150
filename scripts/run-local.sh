#!/usr/bin/env bash
# `make run`: the newcomer's one command. Installs what is missing, starts the local AWS
# emulator and the Visma sandbox, then the service (`make serve`'s binary), and walks through
# the narrated demo (scripts/demo.sh), printing where to look. Ctrl-C stops everything this
# script started. With RUN_DEMO_ONLY=1 (CI, smoke tests) it exits after the demo instead of
# serving on: 0 when every demo step worked, non-zero otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/aourly-visma/target}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { printf '\033[1;31mmake run: %s\033[0m\n' "$*" >&2; exit 1; }

# What a fresh machine needs besides this repository: Rust, Python 3 and curl. The Python tools
# (the moto emulator) go into .venv on first use (scripts/ensure-venv.sh, via with-aws.sh).
for tool in cargo python3 curl; do
  command -v "$tool" >/dev/null || die "$tool is missing (Rust: https://rustup.rs; python3 and curl: your package manager)"
done

if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  exec scripts/with-aws.sh "$0" "$@"
fi
. scripts/local-env.sh
mkdir -p .local

# Fixed ports: refuse to start next to something already listening there.
for addr in "$LOCAL_HTTP_ADDR" "$VISMA_SANDBOX_ADDR"; do
  if curl -s -o /dev/null --max-time 1 "http://$addr/"; then
    die "something already listens on $addr (another make run?); stop it or set LOCAL_HTTP_ADDR / VISMA_SANDBOX_ADDR"
  fi
done

say "building the local runner and the Visma sandbox (first time: a few minutes)"
cargo build -q -p local -p visma-sandbox

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_up NAME PID URL LOG: until URL answers; fails with the log's tail if the process died.
wait_up() {
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null --max-time 1 "$3" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { tail -n 20 "$4" >&2; die "$1 exited; see $4"; }
    sleep 0.2
  done
  tail -n 20 "$4" >&2
  die "$1 did not answer $3 within 30 s; see $4"
}

say "starting the Visma sandbox on http://$VISMA_SANDBOX_ADDR (log: .local/sandbox.log)"
"$CARGO_TARGET_DIR/debug/visma-sandbox" --addr "$VISMA_SANDBOX_ADDR" \
  --client-id "$VISMA_CLIENT_ID" --client-secret "$VISMA_CLIENT_SECRET" >.local/sandbox.log 2>&1 &
pids+=($!)
wait_up "the Visma sandbox" "$!" "http://$VISMA_SANDBOX_ADDR/_sandbox/companies" .local/sandbox.log

say "starting the service on http://$LOCAL_HTTP_ADDR (log: .local/service.log)"
"$CARGO_TARGET_DIR/debug/local" >.local/service.log 2>&1 &
pids+=($!)
wait_up "the service" "$!" "http://$LOCAL_HTTP_ADDR/health" .local/service.log
echo "GET /health: $(curl -fsS "http://$LOCAL_HTTP_ADDR/health")"

say "the demo (scripts/demo.sh; again: DEMO_TENANT=demo2 DEMO_COMPANY=2 scripts/demo.sh)"
demo_rc=0
scripts/demo.sh || demo_rc=$?

cat <<TXT

Where to look:
  service            http://$LOCAL_HTTP_ADDR        logs: .local/service.log; API: docs/openapi.yaml
  Visma sandbox      http://$VISMA_SANDBOX_ADDR     logs: .local/sandbox.log; requests: /_sandbox/log;
                                                    admin API: docs/visma-sandbox.md
  AWS emulator       $AWS_ENDPOINT_URL          (moto; table $TABLE_NAME, queue $SYNC_QUEUE_URL)
  scheduled pull     every $LOCAL_SCHEDULE_SECONDS s (LOCAL_SCHEDULE_SECONDS); the worker long-polls the queue
TXT

if [ "${RUN_DEMO_ONLY:-}" = 1 ]; then exit "$demo_rc"; fi
[ "$demo_rc" = 0 ] || say "the demo failed (above); the service keeps running so you can look"
say "running; Ctrl-C stops the service, the sandbox and the emulator"
wait
