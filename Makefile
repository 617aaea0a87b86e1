# k8s-from-scratch: `make up` builds the local lab cluster (Pulumi.dev.yaml), `make test` runs
# the test suite. See README.md.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: help deps lint test unit up down e2e bench docs

help:
	@echo "make test   - lint, type-check and run the tests (installs what they need)"
	@echo "make up     - build the toolchain and the lab, then pulumi up the dev stack"
	@echo "make down   - pulumi destroy the dev stack and remove the lab hosts"
	@echo "make e2e    - end-to-end tests against the lab with the real Pulumi CLI"
	@echo "make bench  - benchmarks (bench/results/latest.json)"

deps:
	./scripts/install-test-deps.sh

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

unit: deps
	$(PY) -m pytest -m "not lab"

test: lint unit

docs: deps
	$(PY) scripts/config_reference.py

# up, down, e2e and the lab's own targets live with the lab; bench with the benchmarks.
-include lab/lab.mk
-include bench/bench.mk
