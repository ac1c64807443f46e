# Switchyard: the two everyday commands are `make demo` (run the built-in demo fleet) and
# `make test` (the whole suite). Both install what is missing first.

CARGO ?= cargo
CONFIG ?= examples/switchyard.toml

.PHONY: demo run test lint bench check-config fmt image-check

demo:
	scripts/setup.sh test
	$(CARGO) run --release --bin switchyard -- demo

run:
	scripts/setup.sh test
	$(CARGO) run --release --bin switchyard -- serve --config $(CONFIG)

check-config:
	$(CARGO) run --bin switchyard -- check-config $(CONFIG)

test:
	scripts/setup.sh test
	$(CARGO) deny check licenses bans sources
	scripts/check-modules.sh
	$(CARGO) test --workspace --doc
	$(CARGO) nextest run --workspace --no-fail-fast
	CARGO="$(CARGO)" scripts/test-deploy.sh
	CARGO="$(CARGO)" scripts/test-browser.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench:
	scripts/setup.sh bench
	scripts/bench.sh

# The static binary of the container image, built and run (minutes: a release build for musl).
image-check:
	CARGO="$(CARGO)" scripts/test-image.sh
