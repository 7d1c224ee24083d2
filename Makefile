# The two commands of the README: `make demo` (the main job) and `make test`. Each makes .venv on first use;
# .venv/.installed is rebuilt only when pyproject.toml changes, so re-running is cheap.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PRESET ?= fast

.PHONY: demo test lint notebooks-smoke benchmark clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed  ## every notebook, in order, on the synthetic cohort (fast preset)
	$(BIN)/brainclf notebooks --preset $(PRESET) --out runs/notebooks-$(PRESET)

test: $(VENV)/.installed  ## lint, unit tests, and every notebook in its smoke mode
	$(BIN)/ruff check brainclf_lib tests benchmarks notebooks
	$(BIN)/python -m pytest -q

benchmark: $(VENV)/.installed
	$(BIN)/python benchmarks/benchmark.py

clean:
	rm -rf runs .pytest_cache
