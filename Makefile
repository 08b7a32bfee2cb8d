# The two commands: `make run` (demo clinic on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

# The demo clinic is sealed with the demo's key, the one `serve --demo` verifies with.
run: $(VENV)/.installed
	KETACLINIC_DEMO=1 $(BIN)/ketaclinic db upgrade
	KETACLINIC_DEMO=1 $(BIN)/ketaclinic demo
	$(BIN)/ketaclinic serve --demo --host 127.0.0.1 --port 8000

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n auto

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) ketaclinic.db ketaclinic.db-wal ketaclinic.db-shm
