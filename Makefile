# The two commands of README: `make run` and `make test`. Every target is idempotent.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(VENV)/bin
# The venv is rebuilt when pyproject.toml changes.
INSTALLED := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
# The web app's npm assets are reinstalled when the lockfile changes.
WEB_INSTALLED := web/node_modules/.installed-$(shell sha1sum web/package-lock.json | cut -c1-12)
# The OpenID provider the tests sign in through (deploy/local/oidc), likewise.
OIDC_INSTALLED := deploy/local/oidc/node_modules/.installed-$(shell sha1sum deploy/local/oidc/package-lock.json | cut -c1-12)

.PHONY: help install kustomize up down run status logs lint test unit integration faults faults-cluster screenshots

help:
	@echo "make run   start Kafka, PostgreSQL and the services, then follow their logs"
	@echo "make test  install what is missing, start the stack, lint, run every test"
	@echo "make up | down | status | logs | lint | unit | integration | faults | faults-cluster | screenshots"

$(INSTALLED): pyproject.toml
	@command -v python3 >/dev/null || { echo "python3 (>= 3.11) is required"; exit 1; }
	@python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "python3 >= 3.11 is required"; exit 1; }
	python3 -m venv $(VENV)
	@# uv (from PyPI, into the venv) installs what pip would, the same versions, downloading in
	@# parallel: about 12 s on a clean machine against pip's 31 s. pip if uv cannot be had.
	@# Compiled to bytecode at install, as pip does: where PYTHONDONTWRITEBYTECODE is set (CI)
	@# nothing else writes it, and every process the tests start compiled its imports anew
	@# (4 more minutes of CPU in make test, the parallel phase 500 s instead of ~330).
	$(BIN)/pip install -q --disable-pip-version-check uv \
	  && $(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -e '.[dev]' \
	  || $(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

$(WEB_INSTALLED): web/package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js >= 18) is required for the web app's assets"; exit 1; }
	npm ci --prefix web --no-audit --no-fund --loglevel=error
	rm -f web/node_modules/.installed-*
	touch $@

$(OIDC_INSTALLED): deploy/local/oidc/package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js >= 20) is required for the test OpenID provider"; exit 1; }
	npm ci --prefix deploy/local/oidc --no-audit --no-fund --loglevel=error
	rm -f deploy/local/oidc/node_modules/.installed-*
	touch $@

/usr/bin/chromium:
	@deploy/local/chromium.sh

# The alert-routing tests' Alertmanager (tests/support/alert_channels.py).
/usr/bin/prometheus-alertmanager:
	@deploy/local/alertmanager.sh

# The Kubernetes manifests (deploy/k8s) are rendered by kustomize in the unit tests
# (tests/unit/test_k8s_manifests.py): `kubectl kustomize` where kubectl is installed, else a
# kustomize built from the Go module proxy into `go env GOPATH`/bin (a few minutes, once).
KUSTOMIZE := sigs.k8s.io/kustomize/kustomize/v5@v5.5.0
kustomize:
	@command -v kubectl >/dev/null || command -v kustomize >/dev/null \
	  || [ -x "$$(go env GOPATH 2>/dev/null)/bin/kustomize" ] \
	  || { command -v go >/dev/null || { echo "kubectl, kustomize or Go (to build kustomize) is required"; exit 1; }; \
	       echo "building kustomize: go install $(KUSTOMIZE)"; go install $(KUSTOMIZE); }

install: $(INSTALLED) $(WEB_INSTALLED) $(OIDC_INSTALLED) /usr/bin/chromium /usr/bin/prometheus-alertmanager kustomize

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
	$(BIN)/mypy

# Three workers, each test file on one of them (its module fixtures shared): the tests wait on
# Kafka and their own processes far more than they compute, and use topics, schemas and ids of
# their own. The fault suite stays one at a time.
PARALLEL := -n 3 --dist loadfile
# The tests that time a service against a fault (marked serial) run after the others, two files
# at a time: two sets of processes recovering at once, not the parallel run's load.
SERIAL := -m serial -n 2 --dist loadfile

unit: install
	$(BIN)/pytest tests/unit -q $(PARALLEL)

integration: up
	$(BIN)/pytest tests/integration tests/browser tests/e2e -q $(PARALLEL) -m "not serial"
	$(BIN)/pytest tests/integration -q $(SERIAL)

# The fault suite last, in a run of its own: it kills and restarts the local stack's processes
# and servers, so it runs only when the servers are this machine's (KAFKA_BOOTSTRAP_SERVERS and
# DATABASE_URL unset). Its three-broker faults start a cluster and a stack of their own
# (tests/support/cluster.py, var/cluster) and stop them, so they run on a second worker beside
# the local stack's faults, which one worker runs one at a time (the xdist groups "cluster" and
# "local-stack": tests/support/fault_groups.py); the longest of them is left to `make faults-cluster`,
# which runs all four (docs/faults.md).
NO_SERVERS_OF_OUR_OWN := [ -n "$$KAFKA_BOOTSTRAP_SERVERS$$DATABASE_URL" ]
FAULTS := if $(NO_SERVERS_OF_OUR_OWN); then \
	  echo "fault suite not run: it kills servers, and these are not the local stack's"; \
	else $(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadgroup -m "not faults_cluster_only" tests/faults; fi

# Lint while the stack starts (both need only what `install` installed); either failing stops
# the run before any test.
test: install
	@$(MAKE) --no-print-directory -j2 lint up
	$(BIN)/pytest -q -p no:cacheprovider $(PARALLEL) -m "not serial"
	$(BIN)/pytest -q -p no:cacheprovider $(SERIAL)
	@$(FAULTS)

faults: up
	@$(FAULTS)

faults-cluster: install
	@if $(NO_SERVERS_OF_OUR_OWN); then \
	  echo "three-broker faults not run: KAFKA_BOOTSTRAP_SERVERS or DATABASE_URL is set"; \
	else $(BIN)/pytest -q -p no:cacheprovider tests/faults/test_cluster_faults.py; fi

# The two screenshots README shows, from the last browser-test run (var/screenshots/).
screenshots: up
	$(BIN)/pytest -q -p no:cacheprovider tests/browser
	mkdir -p docs/screenshots
	cp var/screenshots/portfolio.png var/screenshots/assignment.png var/screenshots/client.png var/screenshots/sign-in-single-sign-on.png var/screenshots/alert-routing.png var/screenshots/import.png docs/screenshots/
