# The two commands a newcomer needs are `make demo` and `make test` (see README.md); both run
# as root on a fresh Debian 12 machine and install what they need first.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
# deps (apt, root) must finish before the venv is built: never run these targets in parallel.
.NOTPARALLEL:

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# What `make test` runs, and extra pytest arguments:
# e.g. `make test TESTS=tests/integration PYTEST_ARGS='-k overlay -x'`.
TESTS ?= tests
PYTEST_ARGS ?=

.PHONY: deps venv proto proto-check lint demo test test-unit bench clean

deps:
	bash scripts/install-deps.sh

# The stamp is rebuilt when pyproject.toml changes (new or changed dependencies).
venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check --upgrade pip
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

# Generated gRPC/protobuf code: one command, never hand-edited.
proto: venv
	bash scripts/gen-protos.sh

proto-check: venv
	bash scripts/gen-protos.sh --check

lint: venv
	$(VENV)/bin/ruff check swarmpy tests bench
	$(VENV)/bin/ruff format --check swarmpy tests bench
	$(VENV)/bin/mypy swarmpy tests bench

demo: deps venv
	$(VENV)/bin/swarmpy lab demo

# The whole suite: unit tests and the root tier (real runc, namespaces, daemons). pytest's exit
# status is make's: any failure, error or an empty collection (status 5) fails the target.
# -rfEs lists failures, errors and skip reasons above the summary line.
test: deps venv proto-check
	$(VENV)/bin/pytest -q -p no:cacheprovider -rfEs --durations=15 $(PYTEST_ARGS) $(TESTS)

# The tiers that need no root: pure unit tests and in-process fake servers.
test-unit: venv
	$(VENV)/bin/pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests/unit tests/fakeserver

bench: deps venv
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
