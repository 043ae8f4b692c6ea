# The two commands a newcomer runs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-lambda test lint typecheck unit schema bench soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("cis needs Python 3.11 or newer" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The example CSV has one invalid row on purpose: `cis send` reports it and exits 1.
demo: $(STAMP)
	rm -rf outbox cis.db
	$(BIN)/cis send examples/event.json examples/attendees.csv || [ $$? -eq 1 ]
	$(BIN)/cis stats launch-2026@example.org
	$(BIN)/cis send examples/event.json examples/attendees.csv || [ $$? -eq 1 ]
	$(BIN)/cis update examples/event-update.json
	$(BIN)/cis update examples/event-update.json
	$(BIN)/cis cancel examples/event-cancel.json
	$(BIN)/cis stats launch-2026@example.org

demo-lambda: $(STAMP)
	rm -rf outbox
	$(BIN)/python examples/run_batch.py --outbox outbox

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts examples bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit tests/contract -k "not dynamodb"

# Each bench prints its own table of figures as ratios against a baseline run in the same
# process, then bench/all.py prints every verdict in one table; about ten minutes on 2 cores.
bench: $(STAMP)
	$(BIN)/python bench/all.py

# The fault-injection soak at full size (make test runs it with 2,000 requests).
soak: $(STAMP)
	$(BIN)/python -m tests.reliability.soak --n 100000 --repository memory
	$(BIN)/python -m tests.reliability.soak --n 100000 --repository sqlite

schema: $(STAMP)
	$(BIN)/python scripts/export_schema.py

clean:
	rm -rf $(VENV) outbox cis.db .pytest_cache .mypy_cache .ruff_cache .hypothesis
