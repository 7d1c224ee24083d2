# The two commands of the README: `make demo` (the main job) and `make test`. Each makes .venv on first use;
# .venv/.installed is rebuilt only when pyproject.toml changes, so re-running is cheap.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PRESET ?= fast

.PHONY: demo solutions book lab test lint notebooks-smoke benchmark clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed  ## every notebook, in order, on the synthetic cohort (fast preset)
	$(BIN)/brainclf notebooks --preset $(PRESET) --out runs/notebooks-$(PRESET)

solutions: $(VENV)/.installed  ## the exercises' worked answers, executed (after make demo: they reuse its runs)
	$(BIN)/brainclf notebooks --preset $(PRESET) --out runs/notebooks-$(PRESET) --solutions

book: $(VENV)/.installed  ## the course site from make demo's executed notebooks: runs/book/html/index.html
	$(BIN)/brainclf book --executed runs/notebooks-$(PRESET) --out runs/book

lab: $(VENV)/.installed  ## JupyterLab on the checkout, where the course site's "open in JupyterLab" links point
	$(BIN)/jupyter lab --port 8888 --notebook-dir .

test: $(VENV)/.installed  ## lint, unit tests, and every notebook in its smoke mode
	$(BIN)/ruff check brainclf_lib tests benchmarks notebooks
	$(BIN)/python -m pytest -q

benchmark: $(VENV)/.installed
	$(BIN)/python benchmarks/benchmark.py

clean:
	rm -rf runs .pytest_cache
