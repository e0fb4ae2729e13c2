# make repro: set up .venv if needed, install signlang, run the DVC pipeline.
# make test:  set up .venv if needed, install signlang with the dev extra, run every test (slow ones too).
# make plots: dvc plots show, whose page works offline (web/plots_template.html, set in .dvc/config).
# make demo:  the demo page, demo/index.html, one file that works offline (open it, or run `signlang demo`).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
RAW := data/raw
export PATH := $(abspath $(BIN)):$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: repro test test-fast check-data plots demo

repro: check-data $(VENV)/.installed
	dvc repro

test: $(VENV)/.installed-dev
	python -m pytest --runslow

test-fast: $(VENV)/.installed-dev
	python -m pytest

# the plots page, readable offline: .dvc/config sets plots.html_template to web/plots_template.html,
# which inlines vega; writes dvc_plots/index.html
plots: $(VENV)/.installed
	dvc plots show

# the demo page: the export stage writes models/model.onnx (checked against PyTorch), then web/build_demo.py
# inlines it with onnxruntime-web (npm ci of web/demo/package-lock.json: needs node and npm).
demo: check-data $(VENV)/.installed
	dvc repro export
	python web/build_demo.py --onnx models/model.onnx --out demo/index.html

check-data:
	@missing=0; for name in sign_mnist_train sign_mnist_test; do \
	  if [ ! -f $(RAW)/$$name.csv ] && [ ! -f $(RAW)/$$name.csv.gz ]; then \
	    echo "missing $(RAW)/$$name.csv (or $$name.csv.gz)" >&2; missing=1; fi; \
	done; \
	if [ $$missing = 1 ]; then \
	  echo "Put the two Kaggle CSVs in $(RAW)/: kaggle datasets download -d datamunge/sign-language-mnist -p $(RAW) --unzip (see README, 'Get the data')" >&2; \
	  exit 1; fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@ $(VENV)/.installed
