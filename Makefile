# Scripts to rule them all: `make test` is what CI runs (.ci/run calls it).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

PIP    := $(BIN)/python -m pip --disable-pip-version-check
LOCK   := requirements/lock.txt
# The whole set (runtime, dev tools, embedded servers) for one Python and every platform;
# the image's runtime.txt is the runtime part of the same resolution (-c the lock).
COMPILE := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" --quiet

.PHONY: test lint typecheck unit schema bench bench-simulation demo clean bytecode lock \
	test-packages

# Exactly the locked versions (checked by hash), then this project on top, editable and
# without resolving anything again: pyproject.toml keeps the ranges, the lock what is installed.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes -r $(LOCK)
	$(PIP) install --quiet --no-deps -e .
	touch $(STAMP)

# After changing a dependency in pyproject.toml; versions already locked stay unless
# LOCK_FLAGS=--upgrade (or --upgrade-package NAME).
lock: $(STAMP)
	$(COMPILE) --all-extras $(LOCK_FLAGS) -o $(LOCK)
	$(COMPILE) -c $(LOCK) -o requirements/runtime.txt

# postgresql and chromium for the tests: installed as root, else one line says what to install.
test-packages:
	sh scripts/test-packages.sh

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
# Test files run in TEST_WORKERS processes (pytest-xdist), a file's tests in one process, so a
# module fixture (the corpus runs all its cases at once) is built once. Most tests wait on
# Temporal, so two processes take about two thirds of the time of one on two cores.
TEST_WORKERS ?= 2
unit: $(STAMP) bytecode test-packages
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

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
