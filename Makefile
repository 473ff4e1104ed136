# The README's two commands: `make run` (the main job) and `make test` (the whole suite).
# Each does its own set-up on a fresh machine and is quick when already set up.

VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: run test typecheck bench fuzz keras-suite keras-suite-update setup system-deps clean

setup: $(STAMP)

system-deps:
	@command -v dot >/dev/null 2>&1 || { \
	  echo "installing graphviz (for diagrams)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq >/dev/null && $$SUDO apt-get install -y -qq graphviz >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (headless browser tests of the interactive diagram)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq >/dev/null && $$SUDO apt-get install -y -qq chromium >/dev/null; }

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m netform.demo

test: $(STAMP)
	$(PY) -m ruff check netform
	$(PY) -m ruff format --check netform
	@$(MAKE) --no-print-directory typecheck
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -n 2 -q --durations=20

# mypy (with the Pydantic plugin) on netform/ less the modules pyproject.toml's [tool.mypy] exclude still lists.
typecheck: $(STAMP)
	$(PY) -m mypy

bench: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/run_all.py

fuzz: $(STAMP)
	$(PY) bench/fuzz_specs.py --cases 10000

# Keras's own model/trainer/callback/saving tests, on plain Keras and on netform (tests/keras_suite/README.md).
keras-suite: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) tests/keras_suite/run_suite.py

keras-suite-update: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) tests/keras_suite/run_suite.py --update

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
