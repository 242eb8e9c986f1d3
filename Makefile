# Every target creates the virtual environment itself when it is missing.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
ENV    ?= dev
SUFFIX ?=

.PHONY: plan test lint mypy snapshots matrix diff bench bench-app cost config-docs services lock clean venv

REQUIREMENTS := requirements.txt requirements-dev.txt app/requirements.txt app/requirements-test.txt

$(BIN)/activate: $(REQUIREMENTS) requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c requirements.lock
	touch $(BIN)/activate

venv: $(BIN)/activate

## plan: synthesise one environment offline (make plan ENV=prod [SUFFIX=pr-142])
plan: $(BIN)/activate
	$(BIN)/python -m offline plan --env $(ENV) $(if $(SUFFIX),--suffix $(SUFFIX))

## test: the whole suite (system servers for the app tests, lint, types, pytest); the tests run
## in two pytest-xdist workers per core, each with its own servers (TEST_WORKERS=0: one process).
## Two per core because the service tests wait on real servers, deadlines and killed processes:
## on 2 cores, 4 workers took 146 s where 2 took 200 s (6 took 156 s).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) * 2 )))
test: services $(BIN)/activate lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

## lint: ruff, mypy, import-layer contracts, Dockerfile and secret checks (as .pre-commit-config.yaml),
## the GitHub workflows' schema and security checks (check-jsonschema, zizmor, both offline)
lint: $(BIN)/activate
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory mypy
	PYTHONPATH=app $(BIN)/lint-imports --no-cache
	$(BIN)/hadolint app/Dockerfile
	$(BIN)/python scripts/check_secrets.py
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/zizmor --offline --quiet .github/workflows

mypy: $(BIN)/activate
	$(BIN)/mypy conventions resource_graph config offline payment_platform account guardrails policy scripts app/payment_app tests __main__.py

services:
	bash scripts/install-services.sh

matrix: $(BIN)/activate
	$(BIN)/python -m offline matrix $(if $(SUFFIX),--suffix $(SUFFIX))

## diff: what the working tree changes per environment against BASE (default HEAD; CI passes
## BASE=origin/main), FORMAT=markdown for a pull-request comment, ENV="staging prod" to narrow
diff: $(BIN)/activate
	$(BIN)/python -m offline diff --base $(or $(BASE),HEAD) $(if $(FORMAT),--format $(FORMAT)) $(if $(filter command line,$(origin ENV)),$(foreach e,$(ENV),--env $(e)))

## bench: plan, matrix and a plain reference program side by side (SUITE=1: time pytest too)
bench: $(BIN)/activate
	$(BIN)/python -m offline bench $(if $(SUITE),--suite)

## cost: monthly estimate at list prices, every environment or ENV=... (docs/cost.md)
cost: $(BIN)/activate
	$(BIN)/python -m offline cost $(if $(filter command line,$(origin ENV)),--env $(ENV))

bench-app: services $(BIN)/activate
	$(BIN)/python scripts/bench_app.py

## snapshots: regenerate every generated artifact after a deliberate change (environment
## snapshots, docs/configuration.md, the architecture diagram, docs/cost.md's estimate, the API's
## docs/openapi.json);
## read the diff before committing
snapshots: $(BIN)/activate
	@# Validate every environment first: a config error must not let syrupy drop snapshots.
	$(BIN)/python -m offline matrix > /dev/null || [ $$? -eq 3 ]
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/environments/test_matrix.py tests/account/test_graph.py --snapshot-update
	$(BIN)/python -m offline config-docs
	$(BIN)/python -m offline diagram
	$(BIN)/python -m offline cost --docs
	PYTHONPATH=app $(BIN)/python -m payment_app.api.openapi --write docs/openapi.json

config-docs: $(BIN)/activate
	$(BIN)/python -m offline config-docs

## lock: re-resolve requirements-dev.txt into requirements.lock (after changing a pin)
lock:
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/python -m pip install --quiet -r requirements-dev.txt
	{ sed -n '1,2p' requirements.lock; build/lock-venv/bin/python -m pip freeze --exclude-editable; } > build/requirements.lock
	mv build/requirements.lock requirements.lock && rm -rf build/lock-venv

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
