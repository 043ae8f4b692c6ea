# The two commands a newcomer runs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit schema clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("cis needs Python 3.11 or newer" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf outbox
	$(BIN)/python examples/run_batch.py --outbox outbox

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts examples

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit tests/contract -k "not dynamodb"

schema: $(STAMP)
	$(BIN)/python scripts/export_schema.py

clean:
	rm -rf $(VENV) outbox .pytest_cache .mypy_cache .ruff_cache .hypothesis
