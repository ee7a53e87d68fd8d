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
# pytest-xdist workers (each starts its own anvil and PostgreSQL cluster); whole files go to one worker, so a
# module's own chain fixtures stay in one process. 0 runs in-process.
PYTEST_WORKERS ?= 2

.PHONY: help setup run test test-py chromium test-forge slither contracts contracts-check console console-check bench lint fmt clean mutation

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

# ---- web console (console/): dist/ is committed; --check rebuilds in memory, compares, runs its unit tests
console: node_modules/.stamp
	node console/build.mjs

console-check: node_modules/.stamp
	node console/build.mjs --check

# The fuzz/invariant failure caches are dropped first, so a local run is the same run as on a fresh clone (CI).
test-forge: node_modules/.stamp
	rm -rf contracts/cache/fuzz contracts/cache/invariant
	cd contracts && ../$(FORGE) test --offline && ../$(FORGE) snapshot --check --offline --no-match-test 'testFuzz|invariant'

slither: $(TOOLS)/.stamp node_modules/.stamp
	bash tools/slither.sh

# Mutation check of the issue 10 rules: each mutant switches one rule off and names the forge tests that must
# fail (tools/mutations.py). One solc-js compile per mutant: minutes on 2 cores, so NOT part of `make test`.
mutation: node_modules/.stamp
	$(PYTHON) tools/mutations.py

# ---- service -----------------------------------------------------------------------------------
run: setup
	$(VENV)/bin/cloudmarket up

# ---- tests -------------------------------------------------------------------------------------
# Browser tests (tests/browser) drive Debian's chromium through chromium-driver. Installed here when missing
# and we are root on an apt system; otherwise the step says how, and those tests SKIP with the same hint.
chromium:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium + chromium-driver for the browser tests (apt-get)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } \
	    || echo "NOTE: apt-get could not install chromium: the browser tests will be SKIPPED"; \
	else \
	  echo "NOTE: no chromium/chromedriver: the browser tests will be SKIPPED."; \
	  echo "      install them with: sudo apt-get install -y chromium chromium-driver"; \
	fi

test-py: setup chromium
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test: setup $(TOOLS)/.stamp lint contracts-check console-check test-forge slither test-py

# Each prints its own side-by-side table (ours vs naive vs the physical limit). Several minutes in all.
bench: setup node_modules/.stamp
	$(PY) bench/chain_io.py
	$(PY) bench/placement.py
	$(PY) bench/longpoll.py
	$(PY) bench/indexer.py
	$(PY) bench/balance_scan.py
	$(PY) bench/swap_gas.py

lint: setup
	$(VENV)/bin/ruff check api billing chain engine tests bench
	$(VENV)/bin/ruff format --check api billing chain engine tests bench
	$(VENV)/bin/mypy

fmt: setup
	$(VENV)/bin/ruff format api billing chain engine tests bench
	$(VENV)/bin/ruff check --fix api billing chain engine tests bench

clean:
	rm -rf $(VENV) $(TOOLS) node_modules contracts/out contracts/cache .pytest_cache
