# Two entry points for a fresh machine; each builds its own virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/posdriver: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Install, start an emulated printer on a real pseudo-terminal, print a sample receipt, show its status.
demo: $(BIN)/posdriver
	$(BIN)/posdriver demo

# Install and run the whole test suite (lint first: a dirty tree fails like a failing test).
test: $(BIN)/posdriver
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy posdriver emulator
	$(BIN)/python -m pytest

bench: $(BIN)/posdriver
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache
