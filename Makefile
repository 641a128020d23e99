# Two commands on a fresh machine:  make run  |  make test
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
RUN := $(UV) run --frozen
export UV_LINK_MODE ?= copy

.PHONY: help install run test lint typecheck contracts contracts-check test-unit \
        test-integration test-system infra-up infra-down infra-status bench token demo \
        asyncapi-tools asyncapi-check compose-tools openapi-tools openapi-lint fuzz

help:
	@echo "make run        install, start Kafka + PostgreSQL + every service and load the demo LA"
	@echo "                (DEMO=0: empty; LIVE=1: the demo LA kept living; Ctrl-C stops all)"
	@echo "make demo       load the demo LA into the running services (LIVE=1: keep it living)"
	@echo "make test       lint, type-check, contract checks, unit, integration and system tests"
	@echo "                (EPS_TEST_NOW=2026-11-29T02:00:00+00:00 make test: the suite at that moment)"
	@echo "make bench      benchmarks (raw Kafka/PostgreSQL baselines and the services)"
	@echo "make simulate   capacity planner: a year under each booking rule, report in var/simulate"
	@echo "                (what-ifs: EPS=13 VACANCIES=0 DEMAND=1.2 SHARE=40 ABSENCE=0.04 SEEDS=10)"
	@echo "make contracts  regenerate JSON Schemas, AsyncAPI documents and the guide's examples"
	@echo "make asyncapi-check   parse the AsyncAPI documents, validate a sample of every event"
	@echo "make openapi-lint     lint the OpenAPI documents (Redocly CLI, recommended rules)"
	@echo "make fuzz       fuzz every operation of every service's OpenAPI (schemathesis, many examples)"
	@echo "make infra-up | infra-down | infra-status   local Kafka and PostgreSQL only"
	@echo "make replay SERVICE=billing SCHEMA=billing_rebuilt   rebuild a service's state from the log"
	@echo "make token ROLE=senco [SCHOOL=123456] [SUB=<id>] [LA=leicester-city]   a local bearer token"

$(UV):
	@command -v python3 >/dev/null || { echo "Python 3.11+ is needed: apt-get install python3"; exit 1; }
	python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
	@test -x "$(UV)" || { echo "uv did not install where expected ($(UV))"; exit 1; }

install: $(UV)
	$(UV) sync --frozen

# Node tools, each an npm package of its own installed from its lock file: the AsyncAPI
# project's parser and ajv (tools/asyncapi) and Redocly CLI (tools/openapi), which the contract
# tests run, and dclint (deploy/docker/compose-check), which validates docker-compose.yml.
ASYNCAPI_TOOLS := tools/asyncapi
OPENAPI_TOOLS := tools/openapi
COMPOSE_TOOLS := deploy/docker/compose-check
%/node_modules/.package-lock.json: %/package.json %/package-lock.json
	@command -v npm >/dev/null || { echo "Node 20+ and npm are needed: apt-get install nodejs npm"; exit 1; }
	cd $* && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

asyncapi-tools: $(ASYNCAPI_TOOLS)/node_modules/.package-lock.json
openapi-tools: $(OPENAPI_TOOLS)/node_modules/.package-lock.json
compose-tools: $(COMPOSE_TOOLS)/node_modules/.package-lock.json

# The console's pages load GOV.UK Frontend, htmx and its SSE extension as their npm packages
# publish them (no bundler); its browser tests inject axe-core from the same install.
.PHONY: console-frontend chromium
CONSOLE_FRONTEND := services/console/frontend
$(CONSOLE_FRONTEND)/node_modules/.package-lock.json: $(CONSOLE_FRONTEND)/package.json $(CONSOLE_FRONTEND)/package-lock.json
	@command -v npm >/dev/null || { echo "Node 20+ and npm are needed: apt-get install nodejs npm"; exit 1; }
	cd $(CONSOLE_FRONTEND) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

console-frontend: $(CONSOLE_FRONTEND)/node_modules/.package-lock.json

# Headless Chromium for the console's browser tests: Debian's package (Playwright drives it;
# it never downloads a browser of its own).
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends chromium; }

# make run DEMO=0: an empty system; make run LIVE=1: the demo LA kept living (see README)
run: install console-frontend
	$(RUN) python deploy/local/run.py $(if $(filter 0,$(DEMO)),--no-demo) $(if $(filter 1,$(LIVE)),--live)

# the demo LA loaded into services already running (make run DEMO=0, or another terminal)
demo: install
	PYTHONPATH=deploy/local $(RUN) python -m demo $(if $(filter 1,$(LIVE)),--live)

test: install console-frontend chromium asyncapi-tools compose-tools openapi-tools lint typecheck contracts-check
	$(RUN) pytest -p no:cacheprovider

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: install
	$(RUN) mypy contracts/src services/*/src deploy/local bench tools tests

contracts: install
	$(RUN) python tools/contracts.py
	$(RUN) cog -r -I . docs/integrating.md

contracts-check: install
	$(RUN) python tools/contracts.py --check

asyncapi-check: install asyncapi-tools
	@mkdir -p var
	$(RUN) python tools/contracts.py --samples var/contract-samples.json
	node $(ASYNCAPI_TOOLS)/check.mjs --schemas contracts/schemas \
		--samples var/contract-samples.json contracts/asyncapi/*.yaml

test-unit: install asyncapi-tools compose-tools openapi-tools
	$(RUN) pytest -p no:cacheprovider tests/unit

openapi-lint: install openapi-tools
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(OPENAPI_TOOLS)/node_modules/.bin/redocly \
		lint --config $(OPENAPI_TOOLS)/redocly.yaml contracts/openapi/*.json

# The fuzz run of make test, with many more examples per operation (EPS_FUZZ_EXAMPLES).
fuzz: install
	EPS_FUZZ_EXAMPLES=$${EPS_FUZZ_EXAMPLES:-100} $(RUN) pytest -p no:cacheprovider --timeout 1800 -s tests/integration/test_fuzz.py

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

bench: install console-frontend chromium
	$(RUN) python bench/run.py
	$(RUN) python bench/fast_track.py
	$(RUN) python bench/billing.py
	$(RUN) python bench/event_to_billable.py
	$(RUN) python bench/sealing.py
	$(RUN) python bench/console.py

# Rebuild a service's state from the log into an empty schema (eps_chassis.replay), with the
# environment's KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL: make replay SERVICE=billing SCHEMA=billing_rebuilt
.PHONY: replay
replay: install
	@test -n "$(SERVICE)" -a -n "$(SCHEMA)" || { echo "usage: make replay SERVICE=<name> SCHEMA=<empty schema>"; exit 2; }
	$(RUN) python -m eps_chassis.replay $(SERVICE) --schema $(SCHEMA)

# The capacity planner (tools/capacity): the LA's year simulated day by day with the services'
# domain code, under first come first served and the deadline-aware rule, on the same seeds.
# Each variable is a what-if and may be left out: EPS (posts), VACANCIES, DEMAND (multiplier),
# SHARE (% of each EP's week kept for statutory work), ABSENCE (share of days), SEEDS.
.PHONY: simulate
SIMULATE_ARGS = $(if $(EPS),--eps $(EPS)) $(if $(VACANCIES),--vacancies $(VACANCIES)) \
	$(if $(DEMAND),--demand $(DEMAND)) $(if $(SHARE),--statutory-share $(SHARE)) \
	$(if $(ABSENCE),--absence $(ABSENCE)) $(if $(SEEDS),--seeds $(SEEDS))
simulate: install
	$(RUN) python -m tools.capacity $(strip $(SIMULATE_ARGS)) --out var/simulate

token: install
	@$(RUN) python -m eps_chassis.auth --keys var/local/auth --role $(ROLE) \
		$(if $(SCHOOL),--school-urn $(SCHOOL)) $(if $(SUB),--sub $(SUB)) $(if $(LA),--la $(LA))
