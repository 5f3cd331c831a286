# Two commands on a fresh machine with python3 and npm: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
WORKERS ?= 1

PY_STAMP     := $(VENV)/.installed
ASSETS_STAMP := api/explorer/node_modules/.installed
AUDIT_STAMP  := tests/http_audit/node_modules/.installed

.PHONY: install run test lint schema migration clean bench docs

$(PY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# GraphiQL's assets, served by the service itself (works without internet at run time).
$(ASSETS_STAMP): api/explorer/package.json api/explorer/package-lock.json
	npm ci --prefix api/explorer --no-audit --no-fund --loglevel=error
	touch $@

# The official GraphQL-over-HTTP audit (npm graphql-http), run by tests/api/test_http_audit.py.
$(AUDIT_STAMP): tests/http_audit/package.json tests/http_audit/package-lock.json
	npm ci --prefix tests/http_audit --no-audit --no-fund --loglevel=error
	touch $@

install: $(PY_STAMP) $(ASSETS_STAMP) $(AUDIT_STAMP)

run: install
	$(BIN)/onboarding-api migrate
	$(BIN)/onboarding-api serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

# Re-export the committed SDL after a schema change (a test fails while it drifts).
schema: install
	$(BIN)/python -c "from resolvers.schema import schema; open('schema.graphql', 'w').write(schema.as_str() + '\n')"

# A new schema revision from what models/tables.py declares beyond the migrations (review it!).
# The migration test fails while a table or column has no revision.
migration: install
	@test -n "$(m)" || { echo 'usage: make migration m="what changes"'; exit 2; }
	$(BIN)/python -m models.migrations "$(m)"
	$(BIN)/ruff format --quiet models/migrations/versions
	$(BIN)/ruff check --quiet --fix models/migrations/versions

# Benchmarks (bench/README.md). wrk comes from Debian's package; as root it is installed here.
BENCH_DB ?= all
bench: install
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } \
		|| { echo "bench: install wrk first (sudo apt-get install wrk)"; exit 1; }
	$(BIN)/python -m bench.run --db $(BENCH_DB) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) api/explorer/node_modules tests/http_audit/node_modules var .pytest_cache .mypy_cache .ruff_cache

# Re-generate docs/errors.md from the error registry, models/errors.py (a test fails while it drifts).
docs: install
	$(BIN)/python -m api.docs
