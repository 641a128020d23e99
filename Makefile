# Two commands on a fresh machine:  make run  |  make test
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
RUN := $(UV) run --frozen
export UV_LINK_MODE ?= copy

.PHONY: help install run test lint typecheck contracts contracts-check test-unit \
        test-integration test-system infra-up infra-down infra-status bench token

help:
	@echo "make run        install, start Kafka + PostgreSQL + every service (Ctrl-C stops all)"
	@echo "make test       lint, type-check, contract checks, unit, integration and system tests"
	@echo "                (EPS_TEST_NOW=2026-11-29T02:00:00+00:00 make test: the suite at that moment)"
	@echo "make bench      benchmarks (raw Kafka/PostgreSQL baselines and the services)"
	@echo "make contracts  regenerate JSON Schemas and AsyncAPI documents"
	@echo "make infra-up | infra-down | infra-status   local Kafka and PostgreSQL only"
	@echo "make token ROLE=senco [SCHOOL=123456] [LA=leicester-city]   a local bearer token"

$(UV):
	@command -v python3 >/dev/null || { echo "Python 3.11+ is needed: apt-get install python3"; exit 1; }
	python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
	@test -x "$(UV)" || { echo "uv did not install where expected ($(UV))"; exit 1; }

install: $(UV)
	$(UV) sync --frozen

run: install
	$(RUN) python deploy/local/run.py

test: install lint typecheck contracts-check
	$(RUN) pytest -p no:cacheprovider

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: install
	$(RUN) mypy contracts/src services/*/src deploy/local bench tools tests

contracts: install
	$(RUN) python tools/contracts.py

contracts-check: install
	$(RUN) python tools/contracts.py --check

test-unit: install
	$(RUN) pytest -p no:cacheprovider tests/unit

test-integration: install
	$(RUN) pytest -p no:cacheprovider tests/integration

test-system: install
	$(RUN) pytest -p no:cacheprovider tests/system

infra-up: install
	$(RUN) python deploy/local/localinfra.py up

infra-down: install
	$(RUN) python deploy/local/localinfra.py down

infra-status: install
	$(RUN) python deploy/local/localinfra.py status

bench: install
	$(RUN) python bench/run.py
	$(RUN) python bench/fast_track.py
	$(RUN) python bench/billing.py

token: install
	@$(RUN) python -m eps_chassis.auth --keys var/local/auth --role $(ROLE) \
		$(if $(SCHOOL),--school-urn $(SCHOOL)) $(if $(LA),--la $(LA))
