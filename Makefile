# cloudmarket — every target does its own set-up on a fresh machine and is quick when already done.
#   make run    set up, then start the service on its embedded default (SQLite + local anvil + contracts)
#   make test   set up, then run every check: lint (ruff + mypy), artifact freshness, forge, slither, pytest

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON   ?= python3
VENV     := .venv
TOOLS    := .venv-tools
PY       := $(VENV)/bin/python
FORGE    := node_modules/@foundry-rs/forge-linux-amd64/bin/forge
PYTEST_ARGS ?=

.PHONY: help setup run test test-py test-forge slither contracts contracts-check bench lint fmt clean

help:
	@echo "make run | make test | make contracts | make bench | make lint | make clean"

# ---- set-up (stamp files make re-runs a no-op) -------------------------------------------------
$(VENV)/.stamp: pyproject.toml requirements/constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ required"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt -e '.[dev]'
	touch $@

$(TOOLS)/.stamp: requirements/tools-constraints.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/tools-constraints.txt
	touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.stamp node_modules/.stamp

# ---- contracts ---------------------------------------------------------------------------------
contracts: node_modules/.stamp
	node contracts/build.js

contracts-check: node_modules/.stamp
	node contracts/build.js --check

test-forge: node_modules/.stamp
	cd contracts && ../$(FORGE) test --offline && ../$(FORGE) snapshot --check --offline --no-match-test 'testFuzz|invariant'

slither: $(TOOLS)/.stamp node_modules/.stamp
	bash tools/slither.sh

# ---- service -----------------------------------------------------------------------------------
run: setup
	$(VENV)/bin/cloudmarket up

# ---- tests -------------------------------------------------------------------------------------
test-py: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test: setup $(TOOLS)/.stamp lint contracts-check test-forge slither test-py

# Each prints its own side-by-side table (ours vs naive vs the physical limit). Several minutes in all.
bench: setup node_modules/.stamp
	$(PY) bench/chain_io.py
	$(PY) bench/placement.py
	$(PY) bench/longpoll.py
	$(PY) bench/indexer.py
	$(PY) bench/balance_scan.py

lint: setup
	$(VENV)/bin/ruff check api billing chain engine tests bench
	$(VENV)/bin/ruff format --check api billing chain engine tests bench
	$(VENV)/bin/mypy

fmt: setup
	$(VENV)/bin/ruff format api billing chain engine tests bench
	$(VENV)/bin/ruff check --fix api billing chain engine tests bench

clean:
	rm -rf $(VENV) $(TOOLS) node_modules contracts/out contracts/cache .pytest_cache
