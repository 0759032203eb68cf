# The two commands of README.md:  `make serve`  and  `make test`.
VENV := .venv
BIN := $(VENV)/bin
PYTEST_WORKERS ?= 2

.PHONY: setup system-deps serve test lint bench contract

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
test: setup system-deps lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

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
