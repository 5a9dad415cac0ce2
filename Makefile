# Two entry points for a fresh machine; each builds its own virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run demo test lint bench soak clean generators dist
GENERATORS := tests/generators/node_modules/.installed

$(BIN)/posdriver: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Install and run the daemon on emulated devices (a printer and a terminal on real
# pseudo-terminals): the API on 127.0.0.1:8470, metrics on 127.0.0.1:8471. Ctrl-C stops it.
run: $(BIN)/posdriver
	$(BIN)/posdriver serve --emulate --state-dir .posdriver-state

# Install, start an emulated printer on a real pseudo-terminal, print a sample receipt, show its status.
demo: $(BIN)/posdriver
	$(BIN)/posdriver demo

# Install and run the whole test suite (lint first: a dirty tree fails like a failing test).
test: $(BIN)/posdriver $(GENERATORS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy posdriver posdriver_emulator
	$(BIN)/python -m pytest

# Third-party ESC/POS generators (receiptline) for the emulator's tests, from the npm registry.
$(GENERATORS): tests/generators/package-lock.json
	@if command -v npm >/dev/null; then \
		cd tests/generators && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the receiptline tests will be skipped"; fi
	@mkdir -p tests/generators/node_modules && touch $@

# Every benchmark but the soak, which takes most of an hour on its own (make soak).
bench: $(BIN)/posdriver
	for b in benchmarks/[!_]*.py; do [ $$b = benchmarks/soak.py ] || $(BIN)/python $$b || exit 1; done

soak: $(BIN)/posdriver
	$(BIN)/python benchmarks/soak.py

# The wheel, the sdist and the Debian package, in dist/ (docs/install.md).
dist: $(BIN)/posdriver
	$(BIN)/python -m build --no-isolation --outdir dist .
	PYTHON=$(BIN)/python packaging/debian/build --out dist

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache .posdriver-state
