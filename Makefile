# rcm-gateway: `make run` starts the gateway on embedded defaults, `make test` runs the whole suite.
# Both create the virtualenv (.venv) and install the project into it on first use.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck check bench clean venv chaos

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --only-binary=xmlsec,lxml -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/rcmgw serve

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

# issue 11: long fuzzing (atheris FUZZ_SECONDS per target, hypothesis and schemathesis with
# FUZZ_EXAMPLES examples); under 30 minutes with the defaults (docs/fuzzing.md).
FUZZ_SECONDS  ?= 180
FUZZ_EXAMPLES ?= 2000
.PHONY: fuzz bench-quick
fuzz: $(STAMP)
	$(BIN)/python tests/fuzz/run_fuzz.py --seconds $(FUZZ_SECONDS) --examples $(FUZZ_EXAMPLES)

# issue 11: every bench/ script, summary written at the top of docs/PERFORMANCE.md (~15-25 min on
# 2 cores); bench-quick: tiny sizes into a copy under var/bench/ (the regular suite runs the same).
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

bench-quick: $(STAMP)
	@mkdir -p var/bench && cp docs/PERFORMANCE.md var/bench/PERFORMANCE-quick.md
	$(BIN)/python bench/run_all.py --quick --doc var/bench/PERFORMANCE-quick.md

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# The full crash and fault battery (docs/chaos.md): 20 SIGKILL cycles under mixed load, larger fault
# runs. `make test` runs the reduced version. Replay a run with RCMGW_CHAOS_SEED=<seed it printed>.
chaos: $(STAMP)
	RCMGW_CHAOS_FULL=1 $(BIN)/python -m pytest tests/chaos -q -s $(PYTEST_ARGS)
