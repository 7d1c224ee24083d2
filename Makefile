# The two commands of the README: `make demo` (the main job) and `make test`. Each makes .venv on first use;
# .venv/.installed is rebuilt only when pyproject.toml changes, so re-running is cheap. It installs `.[dev]`: the
# core and every extra (course, cluster, skullstrip) and the test tools; `pip install .` alone is the core.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PRESET ?= fast
SEED ?=
# make demo SEED=3 trains another trajectory into its own folder; OMP_NUM_THREADS / ONEDNN_MAX_CPU_ISA change the float path
OUT ?= runs/notebooks-$(PRESET)$(if $(SEED),-seed$(SEED))

.PHONY: demo solutions book nbgrader lab test lint notebooks-smoke benchmark expectations cohorts clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed  ## every notebook, in order, on the synthetic cohort (fast preset)
	$(BIN)/brainclf notebooks --preset $(PRESET) --out $(OUT) $(if $(SEED),--seed $(SEED))

solutions: $(VENV)/.installed  ## the exercises' worked answers, executed (after make demo: they reuse its runs)
	$(BIN)/brainclf notebooks --preset $(PRESET) --out $(OUT) --solutions $(if $(SEED),--seed $(SEED))

book: $(VENV)/.installed  ## the course site from make demo's executed notebooks: runs/book/html/index.html
	$(BIN)/brainclf book --executed $(OUT) --out runs/book

cohorts: $(VENV)/.installed  ## after a generator or preprocessing change: write data/cohorts again from a fresh generation
	$(BIN)/brainclf data --preset fast --ship
	$(BIN)/brainclf data --preset smoke --ship

expectations: $(VENV)/.installed  ## re-measure the expected figures over 11 trajectories (about four hours), rewrite the quoted ranges
	$(BIN)/brainclf expectations --write-prose

nbgrader: $(VENV)/.installed  ## the course for a lecturer: an nbgrader course in runs/nbgrader (README, "For lecturers")
	$(BIN)/brainclf course --nbgrader runs/nbgrader --preset $(PRESET)

lab: $(VENV)/.installed  ## JupyterLab on the checkout, where the course site's "open in JupyterLab" links point
	$(BIN)/jupyter lab --port 8888 --notebook-dir . --KernelManager.transport=ipc

test: $(VENV)/.installed  ## lint, unit tests, and every notebook in its smoke mode
	$(BIN)/ruff check brainclf_lib tests benchmarks notebooks
	$(BIN)/python -m pytest -q --durations=15

benchmark: $(VENV)/.installed
	$(BIN)/python benchmarks/benchmark.py

clean:
	rm -rf runs .pytest_cache
