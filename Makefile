# MutualSense developer entry points. `make demo` and `make test` work on a fresh clone:
# they create .venv, install the package (editable) with its extras, and the system packages it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# nvidia-modelopt (the INT8 quantiser) pins its own onnx and onnxruntime-gpu: it gets a venv of its own.
MODELOPT_VENV := .venv-modelopt
# Exact versions of every package, used as pip constraints: the same install on every machine.
# `make lock` refreshes it (the newest versions pyproject.toml allows, resolved in a fresh venv).
LOCK := requirements/lock.txt
CONSTRAIN := $(if $(wildcard $(LOCK)),-c $(LOCK))
# Re-install only when pyproject.toml or the lock changes.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(wildcard $(LOCK)) 2>/dev/null | sha256sum | cut -c1-16)
PYTEST_FLAGS ?=
ifeq ($(CI),true)
PYTEST_FLAGS += --color=no -p no:cacheprovider
endif

.PHONY: demo test test-fast lint typecheck bench bench-gpu sysdeps testdeps venv modelopt lock clean

venv: $(STAMP)

$(STAMP): pyproject.toml $(wildcard $(LOCK))
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "error: Python >= 3.10 is needed (found $$($(PYTHON) --version))"; exit 2; }
	@rm -f $(VENV)/.installed-*
	$(PYTHON) -m venv $(VENV)
	$(call install,$(BIN),$(CONSTRAIN))
	@touch $@

# install(BIN, PIP_OPTIONS): the packages of a development venv.
# torch first and pinned: this machine's pip finds the CPU wheel; an unpinned torch pulls a multi-GB CUDA build.
# pysodmetrics pins numpy<2.3.5 but gives identical results on newer numpy: the metrics tests' cross-check.
define install
	$(1)/pip install -q $(2) torch==2.13.0
	$(1)/pip install -q $(2) "setuptools>=77" wheel
	$(1)/pip install -q $(2) -e ".[cpu,export,realsense,profile,zenoh,dev]"
	$(1)/pip install -q --no-deps pysodmetrics==1.6.2
endef

# Refresh the lock: resolve pyproject.toml's ranges afresh in a scratch venv and record every version.
lock:
	@rm -rf build/lock-venv
	$(PYTHON) -m venv build/lock-venv
	$(call install,build/lock-venv/bin,)
	@mkdir -p $(dir $(LOCK))
	{ echo "# Exact versions installed by \`make venv\` (pip constraints). Refresh with \`make lock\`; do not edit."; \
	  build/lock-venv/bin/pip freeze --all --exclude-editable | grep -v '^pip==' | sed 's/+cpu$$//'; } > $(LOCK)
	@rm -rf build/lock-venv
	@echo "wrote $(LOCK); run make venv to install it"

# Made by the SDK's own code (as `mutualsense export --precision int8` would on first use); a no-op when ready.
modelopt: venv
	$(BIN)/mutualsense setup-modelopt --path $(MODELOPT_VENV)

# System packages: pyrealsense2 needs libusb-1.0.
sysdeps:
	@if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing libusb-1.0-0 (needed by pyrealsense2)"; \
	    (apt-get install -y -q libusb-1.0-0 >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q libusb-1.0-0 >/dev/null; }) \
	      || { echo "error: could not apt-get install libusb-1.0-0; install it by hand (sudo apt-get install libusb-1.0-0)"; exit 2; }; \
	  else \
	    echo "error: libusb-1.0 is missing and cannot be installed here (needs root and apt-get)."; \
	    echo "       Install it with: sudo apt-get install libusb-1.0-0"; exit 2; \
	  fi; \
	fi

# The web viewer's browser test (tests/outputs/test_viewer.py) drives Debian's chromium through chromedriver;
# browsers downloaded from elsewhere (Playwright, Chrome for Testing) cannot be fetched here.
testdeps:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium and chromium-driver (for the web viewer's browser test)"; \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; }) \
	      || { echo "error: could not apt-get install chromium chromium-driver; install them by hand (sudo apt-get install chromium chromium-driver)"; exit 2; }; \
	  else \
	    echo "warning: chromium/chromedriver are missing and cannot be installed here (needs root and apt-get):"; \
	    echo "         the web viewer's browser test will be skipped. Install them with: sudo apt-get install chromium chromium-driver"; \
	  fi; \
	fi

demo: venv sysdeps
	$(BIN)/python examples/demo.py
	$(BIN)/mutualsense stream --bundle out/demo-fp32 --source "examples/data/sample.db3?real_time=1" --save-overlay out/overlays
	@echo "overlays of the sample recording: out/overlays/ (colour | depth | saliency)"

lint: venv
	$(BIN)/ruff check sdk export calibration tests benchmarks examples

# mypy cannot follow the editable finder (package-dir mapping): check a plain installed copy,
# which also proves the package data ships.
typecheck: venv
	@rm -rf build/typecheck build/lib  # a stale build/lib would ship deleted modules into the checked copy
	$(BIN)/pip install -q --no-deps --no-build-isolation --target build/typecheck . >/dev/null
	cd build/typecheck && ../../$(BIN)/mypy -p mutualsense --config-file ../../pyproject.toml

test: venv sysdeps testdeps modelopt lint typecheck
	$(BIN)/python -m pytest $(PYTEST_FLAGS)

test-fast: venv sysdeps
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_FLAGS)

bench: venv modelopt
	$(BIN)/python benchmarks/bench_cda.py
	MUTUALSENSE_MODELOPT_VENV=$(CURDIR)/$(MODELOPT_VENV) $(BIN)/python benchmarks/bench_int8.py
	$(BIN)/python benchmarks/bench_export.py
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python benchmarks/bench_host_stages.py

bench-gpu: venv
	$(BIN)/python benchmarks/bench_cda_gpu.py

clean:
	rm -rf $(VENV) $(MODELOPT_VENV) $(MODELOPT_VENV).log build *.egg-info .pytest_cache .mypy_cache .ruff_cache
