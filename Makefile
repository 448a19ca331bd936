# Developer entry points. Everything runs from the project virtualenv in .venv.

VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Python 3.11 is what the stack was verified with; any python3 >= 3.11 also works.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)

.PHONY: venv test up lint bench docs-assets clean distclean

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency list changed since the last successful install.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	touch $(STAMP)

# The browser tests drive Playwright's synchronous API, which keeps an event loop running for as long as
# its browser lives; the asyncio tests cannot share a process with it, so they run in a second one.
# The unit and integration tests run in WORKERS processes (pytest-xdist); each has its own PostgreSQL server,
# nats-servers, ports and folders. `worksteal` hands a worker that runs out of tests some of a busy one's.
WORKERS ?= 3
test: venv lint
	$(BIN)/pytest -q -p no:cacheprovider -n $(WORKERS) --dist worksteal tests/unit tests/integration
	$(BIN)/pytest -q -p no:cacheprovider tests/e2e

up: venv
	$(BIN)/tracker up --demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

bench: venv
	$(BIN)/python bench/pipeline.py

# Swagger UI and ReDoc for /docs and /redoc, kept in tracker/web/static/docs (no CDN): taken, unchanged, from
# the wheel that repackages their release builds. Change the version here and run it to update them.
DOCS_WHEEL := drf-spectacular-sidecar==2026.10.1
DOCS_FROM  := build/docs-assets/drf_spectacular_sidecar/static/drf_spectacular_sidecar
docs-assets: venv
	rm -rf build/docs-assets
	$(BIN)/python -m pip download --no-deps --dest build/docs-assets $(DOCS_WHEEL)
	$(BIN)/python -m zipfile -e build/docs-assets/*.whl build/docs-assets
	cp $(DOCS_FROM)/swagger-ui-dist/swagger-ui-bundle.js $(DOCS_FROM)/swagger-ui-dist/swagger-ui.css tracker/web/static/docs/
	cp $(DOCS_FROM)/swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt tracker/web/static/docs/
	cp $(DOCS_FROM)/redoc/bundles/redoc.standalone.js $(DOCS_FROM)/redoc/bundles/redoc.standalone.js.LICENSE.txt tracker/web/static/docs/
	cp $(DOCS_FROM)/redoc/LICENSE tracker/web/static/docs/redoc.LICENSE.txt
	# ReDoc's sidebar shows Redocly's logo from their CDN: it hides itself when it cannot load, so it loads nothing.
	sed -i 's#"https://cdn.redoc.ly/redoc/logo-mini.svg"#"data:,"#' tracker/web/static/docs/redoc.standalone.js

# Build and cache litter only; the virtualenv stays (see distclean).
clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
