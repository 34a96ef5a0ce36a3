# The two commands a new machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test install
run: $(INSTALLED)
	$(BIN)/mops run examples/sir/run.yaml --local

test: $(INSTALLED) services-deps checkov optuna-storage-tests
	$(BIN)/pytest

# Optuna's own storage tests for the installed Optuna, against the runner's journal (tests/optuna_suite.py).
# Its wheel has no tests: the module comes from its source distribution, fetched once per version from PyPI.
OPTUNA_TESTS := .cache/optuna-tests
.PHONY: optuna-storage-tests
optuna-storage-tests: $(INSTALLED) services-deps
	@v=$$($(BIN)/python -c 'import optuna; print(optuna.__version__)'); d=$(OPTUNA_TESTS)/$$v; \
	test -f $$d/test_storages.py || { mkdir -p $$d && \
	  $(BIN)/python -m pip download --quiet --no-deps --no-binary :all: "optuna==$$v" -d $$d && \
	  tar -xzf $$d/optuna-$$v.tar.gz -C $$d --strip-components=3 optuna-$$v/tests/storages_tests/test_storages.py; }; \
	$(BIN)/python -m pytest -q -p tests.optuna_suite --import-mode=importlib $$d/test_storages.py

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[runner,functions,dev]'
	touch $@

# services-deps: what the tests/services.py fixtures need (Azurite, PostgreSQL) and the report's browser test
# (Chromium), as root on Debian.
# Idempotent: installs only what is missing, and says nothing when all is there.
.PHONY: services-deps
services-deps:
	@command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	@test -x node_modules/.bin/azurite || { if [ -f package-lock.json ]; then npm ci --loglevel=error --no-audit --no-fund >/dev/null; else npm install --loglevel=error --no-audit --no-fund >/dev/null; fi; }
	@test -x /usr/lib/postgresql/15/bin/postgres || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { \
	  apt-get update -qq && export DEBIAN_FRONTEND=noninteractive && \
	  { apt-get install -y -qq postgresql-15 >/dev/null 2>&1 || apt-get install -y -qq postgresql >/dev/null; }; }
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# checkov (tests/test_bicep.py scans bicep_bootstrap/ with it) lives in a venv of its own: its
# pins (pycep-parser among them) conflict with the project's. A version bump reinstalls it.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_INSTALLED := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
.PHONY: checkov
checkov: $(CHECKOV_INSTALLED)

$(CHECKOV_INSTALLED):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@
