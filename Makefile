# The two commands of README: `make run` and `make test`. Every target is idempotent.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(VENV)/bin
# The venv is rebuilt when pyproject.toml changes.
INSTALLED := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: help install up down run status logs lint test unit integration faults

help:
	@echo "make run   start Kafka, PostgreSQL and the services, then follow their logs"
	@echo "make test  install what is missing, start the stack, lint, run every test"
	@echo "make up | down | status | logs | lint | unit | integration | faults"

$(INSTALLED): pyproject.toml
	@command -v python3 >/dev/null || { echo "python3 (>= 3.11) is required"; exit 1; }
	@python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "python3 >= 3.11 is required"; exit 1; }
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(INSTALLED)

up: install
	@deploy/local/stack.sh up

down:
	@deploy/local/stack.sh down

status:
	@deploy/local/stack.sh status

logs:
	@deploy/local/stack.sh logs

run: up
	@deploy/local/stack.sh logs

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy events projections services/writer/state.py services/writer/decide.py

unit: install
	$(BIN)/pytest tests/unit -q

integration: up
	$(BIN)/pytest tests/integration tests/e2e -q

# The fault suite last, in a run of its own: it kills and restarts the stack's servers.
test: lint up
	$(BIN)/pytest -q -p no:cacheprovider
	$(BIN)/pytest -q -p no:cacheprovider tests/faults

faults: up
	$(BIN)/pytest -q -p no:cacheprovider tests/faults
