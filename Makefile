# The two commands of README.md:  `make serve`  and  `make test`.
VENV := .venv
BIN := $(VENV)/bin
PYTEST_WORKERS ?= 2

.PHONY: setup system-deps serve test lint bench contract test-calendar date-free

setup:
	@scripts/setup.sh

system-deps:
	@scripts/system-deps.sh

## Run the service on the embedded SQLite default (initialises a demo region on first start).
serve: setup
	$(BIN)/trustledger serve

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## The whole test suite: lint, types, then pytest on SQLite and PostgreSQL.
test: setup system-deps lint test-calendar
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

## The calendar-sensitive tests (`-m calendar`) with the clock of every process moved to each calendar edge (~45 s).
test-calendar: setup
	@scripts/date-free.sh -- -q -m calendar

## Proof that the suite is date-free: the whole suite once per calendar edge (about 3x the time of pytest in `test`).
date-free: setup
	@PYTEST_WORKERS=$(PYTEST_WORKERS) scripts/date-free.sh

bench: setup
	$(BIN)/python -m bench

## The cross-implementation contract checker lives outside this repository; without it the target is skipped.
CONTRACT_CHECKER ?= ../shared/checks/contract.py
contract: setup
	@if [ -f "$(CONTRACT_CHECKER)" ]; then \
		echo "PATH=$(CURDIR)/$(BIN):\$$PATH $(BIN)/python $(CONTRACT_CHECKER)"; \
		PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python "$(CONTRACT_CHECKER)"; \
	else \
		echo "contract: checker $(CONTRACT_CHECKER) is absent, skipped (set CONTRACT_CHECKER=/path/to/contract.py to run it)"; \
	fi
