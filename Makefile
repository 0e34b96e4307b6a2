# auxpol — two commands set everything up on a fresh machine with python3 and make:
#   make run    start the gateway and the three services on SQLite with a demo dataset
#   make test   run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export AUXPOL_DATA_DIR ?= $(CURDIR)/data

.DEFAULT_GOAL := help
.PHONY: help venv run test test-pg fuzz lint format bench load deploy-check clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP) ## build the virtual environment from pyproject.toml

run: $(STAMP) ## start gateway + roster + recruitment + compensation on SQLite, with demo data
	$(BIN)/auxpol run

test: $(STAMP) ## run every test (PostgreSQL too when AUXPOL_TEST_DATABASE_URL is set)
	$(BIN)/pytest $(PYTEST_ARGS)

test-pg: $(STAMP) ## the suite against the local PostgreSQL (127.0.0.1:5432)
	AUXPOL_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres $(BIN)/pytest $(PYTEST_ARGS)

fuzz: $(STAMP) ## a longer API fuzz than make test's (FUZZ_EXAMPLES per operation, default 100)
	AUXPOL_FUZZ_EXAMPLES=$(or $(FUZZ_EXAMPLES),100) AUXPOL_FUZZ_STATEFUL_STEPS=10 \
		$(BIN)/pytest -s tests/test_fuzz_api.py $(PYTEST_ARGS)

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## benchmarks; figures appended to bench/RESULTS.md
	$(BIN)/python -m bench $(BENCH_ARGS)

load: $(STAMP) ## load test through the gateway (LOAD_SECONDS default 60, LOAD_RATE default 50/s)
	$(BIN)/python -m bench.load

deploy-check: $(STAMP) ## validate deploy/ offline: kustomize, kubernetes-validate, compose checks
	$(BIN)/python -m deploy.check

clean: ## remove the virtual environment and local data
	rm -rf $(VENV) data .mypy_cache .ruff_cache *.egg-info
