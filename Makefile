# Two commands for a fresh machine (Python 3 and make):
#   make quickstart   virtual environment in .venv + the whole main job on the sample data
#   make test         dev requirements + the test suite (.ci/run calls it)
# PYTHON=python3 (or any interpreter) skips the virtual environment and installs into that
# interpreter's environment instead, as CI does.
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
# Extra pip options for torch on a machine without CUDA, e.g. --index-url of PyTorch's CPU
# wheels (PyPI's default Linux wheel is the CUDA build). Ignored when nvidia-smi is present.
TORCH_CPU_PIP_OPTS ?=
PIP_OPTS ?= --quiet --disable-pip-version-check

ifeq ($(origin PYTHON),undefined)
PYTHON := $(VENV)/bin/python
# Stamps in the venv record what was installed, so a second `make` skips pip; a changed
# requirements file re-installs.
INSTALL := $(VENV)/.installed
INSTALL_DEV := $(VENV)/.installed-dev
else
# Another interpreter (CI: PYTHON=python3): pip runs every time (quick when satisfied).
INSTALL := install-runtime
INSTALL_DEV := install-dev-requirements
endif
PIP := $(PYTHON) -m pip
HAS_CUDA := $(shell command -v nvidia-smi >/dev/null 2>&1 && echo yes)

define install_runtime
	@echo "Installing torch $(TORCH_VERSION) ($(if $(HAS_CUDA),default wheel: CUDA present,CPU build)) and requirements.txt into $$($(PYTHON) -c 'import sys; print(sys.prefix)')"
	$(PIP) install $(PIP_OPTS) torch==$(TORCH_VERSION) $(if $(HAS_CUDA),,$(TORCH_CPU_PIP_OPTS))
	$(PIP) install $(PIP_OPTS) -r requirements.txt
endef

.PHONY: help quickstart test bench scorecard clean install install-dev install-runtime install-dev-requirements

help:
	@echo "make quickstart   install into $(VENV) and run the sample pipeline (about 2 minutes)"
	@echo "make test         install the dev requirements and run the test suite"
	@echo "make bench        run the CPU benchmarks of bench/ (prints tables)"
	@echo "make scorecard    pre-train MINUTES (60), fine-tune every task from it and from random init"
	@echo "                  (SEEDS=3, TASKS=..., DIR=scorecard-out); writes DIR/scorecard.md"
	@echo "make clean        remove $(VENV), build/ and the outputs of the README quickstart"
	@echo "PYTHON=python3    use that interpreter instead of $(VENV)"

$(VENV)/bin/python:
	python3 -m venv $(VENV) || { echo "error: python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 1; }

$(VENV)/.installed: requirements.txt $(VENV)/bin/python
	$(install_runtime)
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PIP) install $(PIP_OPTS) -r requirements-dev.txt
	@touch $@

install-runtime:
	$(install_runtime)

install-dev-requirements: install-runtime
	$(PIP) install $(PIP_OPTS) -r requirements-dev.txt

install: $(INSTALL)
install-dev: $(INSTALL_DEV)

quickstart: install
	$(PYTHON) scripts/quickstart.py

test: install-dev
	$(PYTHON) -m pytest -q

bench: install-dev
	$(PYTHON) bench/tokenizer_bench.py
	$(PYTHON) bench/preprocess_bench.py
	$(PYTHON) bench/pretrain_bench.py
	$(PYTHON) bench/finetune_bench.py

# bench/scorecard.py: pre-training for MINUTES, then every task fine-tuned from that model and
# from random init, SEEDS seeds each (2 x SEEDS runs per task); DIR/scorecard.md and .json.
MINUTES ?= 60
DIR ?= scorecard-out
SEEDS ?= 3
TASKS ?= book_review chnsenticorp msra_ner cmrc2018 c3
scorecard: install
	$(PYTHON) bench/scorecard.py --pretrain_minutes $(MINUTES) --output_dir $(DIR) \
		--seeds $(SEEDS) --tasks $(TASKS)

# Only what `make` and the README quickstart write: models you put in models/ stay.
clean:
	rm -rf $(VENV) build .pytest_cache *.egg-info dataset.pt prediction.tsv
	rm -f models/sample_model.bin models/sample_model.bin-* models/sample_model.bin.json \
		models/classifier_model.bin models/classifier_model.bin.json
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +
