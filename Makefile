# tinyml developer entry points. `make demo` and `make test` work on a fresh Debian machine:
# they install the system packages that are missing (with apt), create .venv, install tinyml.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
TINYML := $(VENV)/bin/tinyml
APT_PACKAGES := gcc make gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm openocd stlink-tools
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO := examples/digits/build
BOARD ?= mps2-an500

.PHONY: demo test report setup system-packages lint clean

setup: system-packages $(VENV)/.installed

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

$(DEMO)/digits_int8.tflite: examples/digits/make_model.py | setup
	$(PY) examples/digits/make_model.py --out $(DEMO)

demo: setup $(DEMO)/digits_int8.tflite
	$(TINYML) report $(DEMO)/digits_int8.tflite --board $(BOARD)
	$(TINYML) deploy $(DEMO)/digits_int8.tflite --board $(BOARD)
	$(TINYML) run $(DEMO)/digits_int8.tflite --board $(BOARD) --input $(DEMO)/test_inputs.bin --output $(DEMO)/test_outputs.bin
	$(PY) examples/digits/check.py $(DEMO)/digits_int8.tflite $(DEMO)/test_inputs.bin $(DEMO)/test_labels.bin $(DEMO)/test_outputs.bin

# CMSIS pack files to install before the tests (offline, as `cpackget add`), so the CMSIS-NN tests run, not skip.
TINYML_PACK_FILES ?= ../shared/packs
# pytest workers (pytest-xdist): one per core; the tests mostly wait on gcc, QEMU and TensorFlow, one process each.
TEST_WORKERS ?= auto
test: setup
	@if ls $(TINYML_PACK_FILES)/*.pack >/dev/null 2>&1; then $(TINYML) packs install $(TINYML_PACK_FILES)/*.pack; fi
	TINYML_PACK_FILES=$(TINYML_PACK_FILES) $(PY) -m pytest -q -n $(TEST_WORKERS)

# The memory report of every model in $(TINYML_MODELS), as Markdown: what CI prints after the tests.
# It fails (after printing every report) when a model does not fit $(REPORT_BOARD).
TINYML_MODELS ?= ../shared/models/mlperf-tiny
REPORT_BOARD ?= nucleo-l4r5zi
report: setup
	@status=0; found=0; \
	for m in $(TINYML_MODELS)/*.tflite; do \
	  [ -f "$$m" ] || continue; found=1; \
	  $(TINYML) report "$$m" --board $(REPORT_BOARD) --kernels portable --markdown || status=$$?; echo; \
	done; \
	if [ $$found = 0 ]; then echo "make report: no .tflite models in $(TINYML_MODELS); set TINYML_MODELS" >&2; exit 2; fi; \
	exit $$status

lint: setup
	$(VENV)/bin/ruff check tinyml tests examples benchmarks
	$(VENV)/bin/ruff format --check tinyml tests examples benchmarks

clean:
	rm -rf $(DEMO) .pytest_cache
