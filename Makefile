# Two entry points for a fresh machine: `make demo` and `make test`.
# `make samples` fetches real sample videos and photographs (Debian's opencv-doc) into
# data/opencv-samples and data/opencv-photos.
# Each creates .venv, installs torch==2.13.0 first (the CPU build on local disk), then vstm.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.vstm-installed

.PHONY: demo test lint format venv clean samples

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/vstm demo --out runs/demo

samples: $(STAMP)
	$(VENV)/bin/vstm data fetch opencv-samples data/opencv-samples
	$(VENV)/bin/vstm data fetch opencv-photos data/opencv-photos

test: $(STAMP)
	$(PY) -m ruff check src tests benchmarks tools
	$(PY) -m ruff format --check src tests benchmarks tools
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks tools

format: $(STAMP)
	$(PY) -m ruff format src tests benchmarks tools
	$(PY) -m ruff check --fix src tests benchmarks tools

clean:
	rm -rf $(VENV) build dist src/*.egg-info
