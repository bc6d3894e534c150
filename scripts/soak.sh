#!/usr/bin/env bash
# `make soak`: the local service under a steady signed webhook load with random Visma sandbox
# faults (tests/integration/tests/soak.rs, an #[ignore]d test), inside the local AWS emulator.
# SOAK_SECONDS (default 180) sets the load's length; the other knobs are listed in that file
# and in docs/hardening.md. A drain of up to SOAK_DRAIN_SECONDS follows the load.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/aourly-visma/target}
# The service runs as its own process (the `local` binary), so its memory is measured alone.
cargo build --quiet -p local
exec scripts/with-aws.sh cargo test -p integration-tests --test soak -- --ignored --nocapture "$@"
