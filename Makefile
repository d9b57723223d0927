# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CONFIG ?= config/config.yaml
CORES  ?= 2

.PHONY: run test lint bench example clean help

help:
	@echo "make run    - install into .venv (first time) and run the workflow on the bundled example"
	@echo "make test   - install into .venv (first time) and run the test suite"
	@echo "make lint   - format and lint checks (snakefmt --check, snakemake --lint, ruff check, ruff format --check)"
	@echo "make bench  - benchmarks of the model engine (1,000 to 1,000,000 participants, about 20 min) and validation (1M rows) and sensitivity analyses (jackknife, M = 1000), printed as tables"

# Creates .venv when missing and (re)installs the package when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/prt-outcomes run --config $(CONFIG) --cores $(CORES)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(CORES) --dist loadfile -q

# The checks .ci/run runs before `make test`; snakefmt and ruff come with the test extra.
# snakemake --lint reads the bundled example (config/config.yaml) and writes only its stamps.
lint: $(STAMP)
	$(BIN)/snakefmt --check Snakefile workflow/
	$(BIN)/python -m snakemake --lint --cores 1
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_models.py
	$(BIN)/python benchmarks/bench_validation.py
	$(BIN)/python benchmarks/bench_sensitivity.py
	$(BIN)/python benchmarks/bench_workflow.py

example: $(STAMP)
	$(BIN)/prt-outcomes simulate --seed 20221 --out data/example

clean:
	rm -rf results .snakemake
