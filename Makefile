# The two commands a newcomer needs are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PROTO_OUT := swarmpy/api

.PHONY: deps venv proto proto-check lint demo test test-unit bench clean

deps:
	bash scripts/install-deps.sh

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

# Generated gRPC/protobuf code: one command, never hand-edited.
proto: venv
	bash scripts/gen-protos.sh

proto-check: venv
	bash scripts/gen-protos.sh --check

lint: venv
	$(VENV)/bin/ruff check swarmpy tests bench
	$(VENV)/bin/mypy swarmpy

demo: deps venv
	$(VENV)/bin/swarmpy lab demo

test: deps venv proto-check
	$(VENV)/bin/pytest -q -p no:cacheprovider tests

test-unit: venv
	$(VENV)/bin/pytest -q tests/unit

bench: deps venv
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
