# Scripts to rule them all: `make test` is what CI runs (.ci/run calls it).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: test lint typecheck unit schema bench bench-simulation demo clean bytecode

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,servers]'
	touch $(STAMP)

test: lint typecheck unit

# The workflow sandbox imports the workflow modules afresh for every workflow it starts; with
# no bytecode cache (PYTHONDONTWRITEBYTECODE is common in CI) each start compiles them from
# source (8% of a simulation's CPU in a profile). compileall writes the cache whatever that
# says and only redoes what changed.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q engine workers playbook_cli bench

# lint-imports checks the layers, the no-I/O rule for workflow code and that no package has
# an import circle (the contracts are in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collects no tests; make stops on any non-zero exit,
# so an empty run fails the build instead of passing silently.
unit: $(STAMP) bytecode
	$(BIN)/pytest

# The whole engine on the embedded dev server, driven through demo accounts (under 2 minutes).
demo: $(STAMP) bytecode
	$(BIN)/python -m workers.demo

# Measures, never asserts: each benchmark prints its numbers beside a baseline from the same run.
# py-spy (PyPI) profiles the daily refresh's worker; without it that file says so and goes on.
bench: $(STAMP) bytecode
	$(BIN)/python -m pip install --quiet --disable-pip-version-check py-spy==0.4.3 \
		|| echo "py-spy not installed: bench.daily_refresh runs without its profile"
	$(BIN)/python -m bench.validate
	$(BIN)/python -m bench.reaction
	$(BIN)/python -m bench.scale
	$(BIN)/python -m bench.daily_refresh
	$(BIN)/python -m bench.simulation
	$(BIN)/python -m bench.playbook_tests

# Simulated days per wall second of one account, against a bare timer loop (the floor).
bench-simulation: $(STAMP) bytecode
	$(BIN)/python -m bench.simulation

schema: $(STAMP)
	$(BIN)/playbook schema

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
