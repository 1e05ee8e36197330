# One command to set up and open the dashboard (`make run`), one to set up and run the tests (`make test`).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The dashboard's address: this machine only unless you pass HOST=0.0.0.0 (see README).
HOST ?= 127.0.0.1

.PHONY: setup run test test-fast test-browser lint prepare prepare-quiet bench clean

$(STAMP): requirements.txt requirements-nodeps.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

setup: $(STAMP)

prepare: setup
	$(BIN)/python -m rrs.embedded prepare --variant embedded
	$(BIN)/python -m rrs.embedded prepare --variant embedded-small

run: prepare
	RRS_AUTOLOAD=embedded $(BIN)/streamlit run dashboard/app.py --server.headless true --server.address $(HOST)

test: setup prepare-quiet
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/bandit -q -r rrs dashboard pages -ll 2>/dev/null
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not browser"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python tools/import_layers.py

bench: prepare
	$(BIN)/python bench/embedded_bench.py

clean:
	rm -rf $(VENV)

prepare-quiet: setup
	$(BIN)/python -m rrs.embedded prepare --variant embedded > /dev/null
	$(BIN)/python -m rrs.embedded prepare --variant embedded-small > /dev/null

test-browser: prepare
	$(BIN)/python -m pytest -q -m browser
