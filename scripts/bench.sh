#!/usr/bin/env bash
# `make bench`: the performance figures, measured side by side in one run (docs/benchmarks.md).
# Builds the five functions and an empty lambda_runtime function in release (a separate
# target dir, at low priority: a cold build takes minutes), builds the harness
# (benches/harness), and runs it against the local AWS emulator (scripts/with-aws.sh) and
# the in-process Visma sandbox. The output is also kept in .local/bench-latest.txt.
#
# Settings (environment; defaults are the issue's numbers):
#   BENCH_INVOICES=5000 BENCH_TENANTS=50 BENCH_CUSTOMERS=5 BENCH_POLLERS=5
#   BENCH_RATE=22 BENCH_WINDOW=5   limit per route during the bulk run (sandbox and pacer)
#   BENCH_WEBHOOK_N=500 BENCH_COLD_RUNS=30
#   BENCH_ONLY=calls,pull,webhook,bulk,status,cold   a subset of the figures
#   BENCH_STATUS_ITEMS=5000                   the status page figure's tenant history
#   BENCH_PROFILE=dev|release                 how the harness itself is built (default dev)
# Not part of `make test` or .ci/run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
CARGO=${CARGO:-cargo}
debug_dir=${CARGO_TARGET_DIR:-$HOME/.cache/aourly-visma/target}
release_dir=${BENCH_RELEASE_TARGET_DIR:-$HOME/.cache/aourly-visma/target-release}
only=${BENCH_ONLY:-calls,pull,webhook,bulk,status,cold}

if [[ ",$only," == *",cold,"* ]]; then
  echo "building the functions and the empty function in release ($release_dir)…" >&2
  CARGO_TARGET_DIR=$release_dir nice -n 19 "$CARGO" build --release --locked --quiet \
    -p api -p oauth-callback -p webhook -p sync-worker -p scheduled-pull -p empty-lambda -p sdk-floor-lambda
fi
export BENCH_RELEASE_DIR=$release_dir/release

if [ "${BENCH_PROFILE:-dev}" = release ]; then
  CARGO_TARGET_DIR=$release_dir nice -n 19 "$CARGO" build --release --locked --quiet -p bench-harness
  harness=$release_dir/release/bench-harness
else
  CARGO_TARGET_DIR=$debug_dir "$CARGO" build --locked --quiet -p bench-harness
  harness=$debug_dir/debug/bench-harness
fi

mkdir -p "$root/.local"
"$root/scripts/with-aws.sh" "$harness" 2>&1 | tee "$root/.local/bench-latest.txt"
exit "${PIPESTATUS[0]}"
