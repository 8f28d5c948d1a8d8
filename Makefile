# One verb each. Every target does its own setup (creates .venv on first use).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SERVERS := $(PYTHON) scripts/realserver.py

.PHONY: demo test unit integration lint type notebooks bench bench-smoke servers stop-servers clean upgrade record test-live

# constraints.txt pins every tool and framework version CI last passed with (Python 3.11, CI's), so
# a new upstream release cannot fail a landing unannounced; `make upgrade` moves the pins on
# purpose. Other Pythons resolve freely.
CONSTRAINTS = $(shell $(PYTHON) -c 'import sys; print("-c constraints.txt" if sys.version_info[:2] == (3, 11) else "")')

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(CONSTRAINTS) -e '.[dev]'
	@touch $(STAMP)

## upgrade: move every pin in constraints.txt to the newest release, then run `make test`
upgrade: $(STAMP)
	$(BIN)/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[dev,bench]'
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^hfbridge' > constraints.txt
	@touch $(STAMP)

## demo: the main job: LangChain + LlamaIndex through hfbridge (local real servers unless HF_TOKEN is set)
demo: $(STAMP)
	@if [ -n "$$HF_TOKEN" ]; then \
		$(BIN)/python -m hfbridge.demo; \
	else \
		echo "[hfbridge] no HF_TOKEN: starting the local real servers (first run builds them)"; \
		eval "$$($(SERVERS) start)" && $(BIN)/python -m hfbridge.demo; \
		echo "[hfbridge] the local servers keep running for the next run: 'make stop-servers' stops them"; \
	fi

## test: everything CI runs: lint, types, unit tests, integration tests against the real servers
test: lint type unit bench-smoke integration notebooks

lint: $(STAMP)
	$(BIN)/ruff check src tests integration_tests benchmarks scripts
	$(BIN)/ruff format --check src
	$(BIN)/lint-imports

type: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests -p no:cacheprovider --disable-socket --allow-unix-socket

integration: $(STAMP)
	$(SERVERS) install
	$(BIN)/pytest integration_tests -p no:cacheprovider

# With HF_TOKEN the notebooks use the router; without it, the local servers, started once here for
# all notebooks (and stopped after, unless they were already running or named by HFBRIDGE_TEST_*).
# Offline, the router is a closed loopback port: a request that escapes the recordings fails at
# once on every machine (as it does on CI's, which has no DNS), instead of hanging on some.
notebooks: $(STAMP)
	@if [ -n "$$HF_TOKEN" ] || [ -n "$$HFBRIDGE_TEST_CHAT_URL" ]; then \
		$(BIN)/pytest --nbmake notebooks -p no:cacheprovider; \
	else \
		running=no; $(SERVERS) status >/dev/null 2>&1 && running=yes; \
		exports=$$($(SERVERS) start) || exit 1; eval "$$exports"; \
		HFBRIDGE_ROUTER_URL=$${HFBRIDGE_ROUTER_URL:-http://127.0.0.1:9} \
			$(BIN)/pytest --nbmake notebooks -p no:cacheprovider; status=$$?; \
		if [ $$running = no ]; then $(SERVERS) stop; fi; \
		exit $$status; \
	fi

## record: with HF_TOKEN, record live router exchanges into the replay corpus (tests/replay); not in CI
record: $(STAMP)
	@test -n "$$HF_TOKEN" || { echo "make record needs HF_TOKEN (a token allowed to call Inference Providers)"; exit 2; }
	$(BIN)/python scripts/record.py

## test-live: with HF_TOKEN, the integration suites against the live router instead of the local servers; not in CI
test-live: $(STAMP)
	@test -n "$$HF_TOKEN" || { echo "make test-live needs HF_TOKEN (a token allowed to call Inference Providers)"; exit 2; }
	@exports=$$($(BIN)/python scripts/live.py env) || exit 1; eval "$$exports"; \
	echo "[hfbridge] chat: $$HFBRIDGE_TEST_CHAT_MODEL at $$HFBRIDGE_TEST_CHAT_URL; embeddings: $$HFBRIDGE_TEST_EMBED_MODEL at $$HFBRIDGE_TEST_EMBED_URL"; \
	$(BIN)/pytest integration_tests -p no:cacheprovider --ignore=integration_tests/faults \
		--ignore=integration_tests/test_realserver_smoke.py --ignore=integration_tests/test_rerank_loopback.py

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet $(CONSTRAINTS) -e '.[bench]'
	$(BIN)/python -m benchmarks.run

bench-smoke: $(STAMP)
	@if test -f benchmarks/run.py; then \
		$(BIN)/python -m pip install --quiet $(CONSTRAINTS) -e '.[bench]' && $(BIN)/python -m benchmarks.run --smoke; fi

servers:
	$(SERVERS) start

stop-servers:
	$(SERVERS) stop

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
