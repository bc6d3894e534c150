# The two commands a newcomer needs: `make run` (the service and a demo) and `make test`.
# Everything else is a building block of those two.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/aourly-visma/target
CARGO ?= cargo

.PHONY: run test serve sandbox lint fmt clippy lint-template build invoke-events venv clean-local

## make run: emulator + Visma sandbox + service, then a narrated demo (Ctrl-C stops all).
run:
	scripts/run-local.sh

## make test: every test, against the local AWS emulator (started and stopped here).
test:
	scripts/with-aws.sh $(CARGO) test --workspace --no-fail-fast

## make serve: the service in one process (integration guide "Running locally") on LOCAL_HTTP_ADDR.
serve:
	scripts/with-aws.sh bash -c '. scripts/local-env.sh && exec $(CARGO) run -p local'

## make sandbox: the Visma sandbox alone, on VISMA_SANDBOX_ADDR (default 127.0.0.1:4010).
sandbox:
	$(CARGO) run -p visma-sandbox -- --addr $${VISMA_SANDBOX_ADDR:-127.0.0.1:4010}

## make lint: formatting, clippy, and the template linters (cfn-lint, sam validate --lint).
lint: fmt clippy lint-template

fmt:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

lint-template:
	scripts/lint-template.sh

## make build: every function for Lambda (arm64, release) with cargo-lambda.
build:
	scripts/build-lambdas.sh

## make invoke-events: every events/ sample through its real binary with cargo lambda invoke.
invoke-events:
	scripts/invoke-events.sh

venv:
	scripts/ensure-venv.sh

## make bench: the performance figures side by side in one run (docs/benchmarks.md); not part of `make test`.
.PHONY: bench
bench:
	scripts/bench.sh

## make schemathesis: property-based API tests of `make serve` against docs/openapi.yaml (docs/hardening.md).
.PHONY: schemathesis fuzz soak
schemathesis:
	scripts/schemathesis.sh

## make fuzz: each cargo-fuzz target (fuzz/) for FUZZ_SECONDS (default 60); needs nightly or RUSTC_BOOTSTRAP=1.
FUZZ_SECONDS ?= 60
FUZZ_TOOLCHAIN ?= +nightly
fuzz:
	for t in webhook_parse signature; do \
	  CARGO_TARGET_DIR=$(HOME)/.cache/aourly-visma/fuzz-target $(CARGO) $(FUZZ_TOOLCHAIN) fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

## make soak: the local service under a steady webhook load with sandbox faults (SOAK_SECONDS, default 180).
soak:
	scripts/soak.sh
