# The two commands a newcomer needs: `make demo` and `make test`.
# Each creates .venv when missing, installs torch==2.13.0 first (an unpinned torch pulls a CUDA build
# of several GB), then the package.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ventgen-installed
DEVSTAMP := $(VENV)/.ventgen-dev-installed
# `make test` runs the suite in one process per core (pytest-xdist), at most 8, one file per process at a time
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1)))")

.PHONY: demo test lint bench clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEVSTAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ventgen demo -o runs/demo --overwrite

test: $(DEVSTAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: $(DEVSTAMP)
	$(BIN)/ruff check ventgen tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
