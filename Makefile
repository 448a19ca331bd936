# Developer entry points. Everything runs from the project virtualenv in .venv.

VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Python 3.11 is what the stack was verified with; any python3 >= 3.11 also works.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)

.PHONY: venv test up lint bench clean distclean

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency list changed since the last successful install.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	touch $(STAMP)

# The browser tests drive Playwright's synchronous API, which keeps an event loop running for as long as
# its browser lives; the asyncio tests cannot share a process with it, so they run in a second one.
test: venv lint
	$(BIN)/pytest -q -p no:cacheprovider tests/unit tests/integration
	$(BIN)/pytest -q -p no:cacheprovider tests/e2e

up: venv
	$(BIN)/tracker up --demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: venv
	$(BIN)/python bench/pipeline.py

# Build and cache litter only; the virtualenv stays (see distclean).
clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
