#!/usr/bin/env bash
# `make build`: every function as a Lambda bootstrap for arm64 (provided.al2023), with
# cargo-lambda from PyPI (it brings zig for cross-linking). Output: target/lambda/<name>/bootstrap.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/ensure-venv.sh"
if [ ! -x "$root/.venv/bin/cargo-lambda" ]; then
  "$root/.venv/bin/pip" install --quiet --disable-pip-version-check "cargo-lambda==1.9.2"
fi
export PATH="$root/.venv/bin:$PATH"
cargo lambda build --release --arm64 \
  -p api -p oauth-callback -p webhook -p sync-worker -p scheduled-pull
