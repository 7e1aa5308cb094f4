# incident-bridge: `make run` serves on http://127.0.0.1:8080, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install install-run run examples test lint typecheck pytest bench clean

# `make run` installs what running needs; the test targets add the test extras.
RUN_STAMP := $(VENV)/.run-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

install: $(STAMP)

install-run: $(RUN_STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	rm -f $(VENV)/.run-*
	touch $@

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-* $(VENV)/.run-*
	touch $@ $(RUN_STAMP)

run: install-run
	$(BIN)/incident-bridge serve --host 127.0.0.1 --port 8080

lint: install
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench

typecheck: install
	$(BIN)/mypy
	$(BIN)/lint-imports

pytest: install
	$(BIN)/pytest -q

test: lint typecheck pytest

# Needs promtool (Debian: prometheus) and amtool (Debian: prometheus-alertmanager).
examples:
	promtool check rules examples/prometheus/*.rules.yml
	promtool test rules examples/prometheus/*.rules.test.yml
	amtool check-config examples/alertmanager/alertmanager.yml

bench: install
	$(BIN)/python bench/webhook_bench.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
