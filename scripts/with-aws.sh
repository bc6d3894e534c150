#!/usr/bin/env bash
# Runs a command with the local AWS emulator (moto in server mode) available through
# AWS_ENDPOINT_URL. When AWS_ENDPOINT_URL is already set, that endpoint is used and nothing is
# started. Otherwise moto starts on a free loopback port and is stopped when the command ends
# (only the process this script started).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

export AWS_REGION=${AWS_REGION:-eu-north-1}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}

if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
  exec "$@"
fi

"$root/scripts/ensure-venv.sh"
port=$("$root/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=${MOTO_LOG:-$root/.local/moto.log}
mkdir -p "$(dirname "$log")"
# moto, with DynamoDB requests applied one at a time as real DynamoDB does (see the script).
"$root/.venv/bin/python" "$root/scripts/moto_server_atomic.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
stop_moto() {
  kill "$moto_pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$moto_pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$moto_pid" 2>/dev/null || true
}
trap stop_moto EXIT INT TERM
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null; then break; fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then echo "moto failed to start; see $log" >&2; exit 1; fi
  sleep 0.1
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
echo "local AWS emulator (moto) on $AWS_ENDPOINT_URL, pid $moto_pid" >&2
"$@"
