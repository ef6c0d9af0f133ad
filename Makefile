# metricdsl: `make demo` and `make test` do all the set-up from a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install demo test lint format typecheck bench clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): setup.cfg setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install metricdsl with its dev tools

demo: install  ## run the example program (events on the console and in demo-events.jsonl)
	$(BIN)/python examples/demo.py

test: install  ## run the whole test suite with branch coverage, then lint and type checks
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report --fail-under=90
	$(MAKE) --no-print-directory lint typecheck

lint: install  ## ruff: lint and formatting
	$(BIN)/ruff check metricdsl tests bench examples
	$(BIN)/ruff format --check metricdsl tests bench examples

format: install  ## ruff: fix what can be fixed and format
	$(BIN)/ruff check --fix metricdsl tests bench examples
	$(BIN)/ruff format metricdsl tests bench examples

typecheck: install  ## mypy --strict over the package
	$(BIN)/mypy --strict metricdsl

BENCH_STAMP := $(VENV)/.bench-stamp

$(BENCH_STAMP): $(STAMP) setup.cfg setup.py
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)  ## benchmarks against peer libraries -> bench/RESULTS.md (not in test)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:  ## remove the virtual environment and build leftovers
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .coverage
