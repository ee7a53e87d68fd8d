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
PYTEST_ARGS ?= --durations=25
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

# `make test`: set-up steps side by side (pip, npm, apt), then the checks before pytest two at a time (each is
# single-threaded: forge's and build.js's solc-js compiles, mypy, slither; 2 cores), then pytest (its own
# workers). The longest check is listed first so it starts first.
CHECKS := test-forge slither lint contracts-check console-check
# contracts-check compiles and compares the artifacts: pytest's copy of that check then skips (one compile)
test: export CLOUDMARKET_ARTIFACTS_CHECKED := 1
test:
	$(MAKE) --no-print-directory -j3 --output-sync=target setup $(TOOLS)/.stamp chromium
	$(MAKE) --no-print-directory -j2 --output-sync=target $(CHECKS)
	$(MAKE) --no-print-directory test-py

# Benchmarks (issue 15 §5): each script measures every side of a comparison on its own fresh state, interleaved,
# 3 rounds, and writes bench/results/<name>.md; tools/bench_report.py joins them into bench/RESULTS.md under a
# header (machine, Python, anvil, date, commit). A script not on disk is skipped with a note, a failing one
# does not stop the others; both are listed as "not measured" in the report. Each < ~3 min, all < 20 min.
# (bench/longpoll.py writes the longpoll_http section too; bench/lease_market.py is the set-up library of
# balance_scan and some tests, not a benchmark.)
BENCH_SCRIPTS := chain_io sender_io longpoll balance_scan swap_gas indexer placement wallet_history load
bench: setup node_modules/.stamp
	@mkdir -p bench/results && rm -f bench/results/*.md
	@started="$$(date -u '+%Y-%m-%d %H:%M UTC')"; \
	for s in $(BENCH_SCRIPTS); do \
	  if [ ! -f bench/$$s.py ]; then echo "NOTE: bench/$$s.py is not on disk: skipped"; continue; fi; \
	  echo "==== bench/$$s.py"; t0=$$(date +%s); \
	  $(PY) bench/$$s.py || echo "NOTE: bench/$$s.py failed (exit $$?): its section is missing"; \
	  echo "==== bench/$$s.py: $$(( $$(date +%s) - t0 )) s"; \
	done; \
	$(PY) tools/bench_report.py --expect "$$(echo $(BENCH_SCRIPTS) | sed 's/longpoll/longpoll longpoll_http/' | tr ' ' ,)" --started "$$started"

lint: setup
	$(VENV)/bin/ruff check api billing chain engine tests bench
	$(VENV)/bin/ruff format --check api billing chain engine tests bench
	$(VENV)/bin/mypy

fmt: setup
	$(VENV)/bin/ruff format api billing chain engine tests bench
	$(VENV)/bin/ruff check --fix api billing chain engine tests bench

clean:
	rm -rf $(VENV) $(TOOLS) node_modules contracts/out contracts/cache .pytest_cache
