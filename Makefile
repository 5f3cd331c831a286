# Two commands on a fresh machine with python3 and npm: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
WORKERS ?= 1

PY_STAMP := $(VENV)/.installed

# npm package directories (each a package.json + committed package-lock.json), installed with
# `npm ci` into its own node_modules. Serving needs only the first list; tests add the second.
#   api/explorer       GraphiQL, the explorer's sign-in and Swagger UI (/docs), served offline
#   tests/http_audit   the official GraphQL-over-HTTP audit (npm graphql-http)
#   tests/browser      Playwright (playwright-core + viem) driving Debian's chromium
#   examples/frontend  the TypeScript example (viem, graphql-request, GraphQL Code Generator)
#   tests/chain        the contract-wallet tests' chain: anvil (binary in the npm package), Safe
#                      contracts' artifacts and solc-js
SERVE_NPM := api/explorer
TEST_NPM  := tests/http_audit tests/browser examples/frontend tests/chain
npm_stamp  = $(addsuffix /node_modules/.installed,$(1))

.PHONY: install install-test run test lint schema migration clean bench docs

$(PY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Nothing downloads a browser: tests drive Debian's chromium (installed below).
%/node_modules/.installed: %/package.json %/package-lock.json
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix $* --no-audit --no-fund --loglevel=error
	touch $@

# What serving needs: the virtualenv and the assets the service serves itself (no CDN).
install: $(PY_STAMP) $(call npm_stamp,$(SERVE_NPM))

# What the tests need beyond that: their npm packages and a headless browser. chromium comes
# from Debian's package; as root it is installed here (like wrk for `make bench`).
install-test: install $(call npm_stamp,$(TEST_NPM))
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] \
		&& { apt-get install -y -qq chromium >/dev/null 2>&1 \
			|| { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; }; } \
		|| { echo "test: install chromium first (sudo apt-get install chromium)"; exit 1; }

run: install
	$(BIN)/onboarding-api migrate
	$(BIN)/onboarding-api serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy examples/market_maker.py
	$(BIN)/lint-imports

test: lint install-test
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
bench: install $(call npm_stamp,tests/chain)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } \
		|| { echo "bench: install wrk first (sudo apt-get install wrk)"; exit 1; }
	$(BIN)/python -m bench.run --db $(BENCH_DB) $(BENCH_ARGS)
	$(BIN)/python -m bench.contract_wallets

clean:
	rm -rf $(VENV) $(addsuffix /node_modules,$(SERVE_NPM) $(TEST_NPM)) var .pytest_cache .mypy_cache .ruff_cache

# Re-generate docs/errors.md from the error registry, models/errors.py (a test fails while it drifts).
docs: install
	$(BIN)/python -m api.docs
