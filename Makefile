# k8s-from-scratch: `make up` builds the local lab cluster (Pulumi.dev.yaml), `make test` runs
# the test suite. See README.md.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: help deps lint test unit up down e2e bench docs repair

help:
	@echo "make up          - install what the lab needs, build the engine and binaries, pulumi up the dev stack"
	@echo "make down        - pulumi destroy the dev stack and remove any lab host, mirror or bridge left"
	@echo "make repair      - find and repair host drift on the dev stack (works while its API is down)"
	@echo "make test        - lint, type-check and run the tests (installs what they need)"
	@echo "make e2e         - the lab tier: the real pulumi against lab hosts (dev and HA stacks)"
	@echo "make bench       - benchmarks (bench/results/latest.json)"
	@echo "make docs        - regenerate docs/configuration.md"
	@echo "make lab-hosts   - only the dev stack's hosts, without Pulumi"
	@echo "make lab-status  - what the lab runs"
	@echo "make lab-clean   - remove everything the lab made, its base rootfs and the local state"

deps:
	./scripts/install-test-deps.sh

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

unit: deps
	$(PY) -m pytest -m "not lab"

test: lint unit

docs: deps
	$(PY) scripts/config_reference.py

# up, down, e2e and the lab's own targets live with the lab; bench with the benchmarks.
-include lab/lab.mk
-include bench/bench.mk
