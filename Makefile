# One entry point for people and CI. Every target creates the virtual
# environment it needs, so a fresh clone only needs Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint format docs bench mutation clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

# Four workers on two cores: most tests wait (on sockets, child processes, real
# shells, bounded sleeps) rather than compute, so twice the cores keeps both busy:
# 54-62 s for the suite instead of 85 s with one worker a core.
PYTEST_WORKERS ?= 4

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples tools
	$(BIN)/ruff format --check src tests benchmarks examples tools
	$(BIN)/mypy --strict src

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks examples tools
	$(BIN)/ruff format src tests benchmarks examples tools

# The shell completions (completions/) and the man page (man/acp.1), written from
# the live command tree; tests/test_docs.py fails when the committed ones are stale.
docs: $(STAMP)
	$(BIN)/python -m tools.gen_docs

# Benchmarks print tables of medians and ratios against baselines measured in
# the same run; speed is not asserted in the test suite.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_signature.py
	$(BIN)/python benchmarks/bench_startup.py
	$(BIN)/python benchmarks/bench_plan.py

# Mutation testing of one module (CONTRIBUTING.md, "Mutation testing"); minutes
# per module, so not part of `test` or CI: make mutation MODULE=settings
MUTATION_STAMP := $(VENV)/.mutation-installed

$(MUTATION_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,mutation]'
	touch $(MUTATION_STAMP)

mutation: $(MUTATION_STAMP)
	$(BIN)/python -m tools.mutation $(MODULE)

clean:
	rm -rf $(VENV) .mutation build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
