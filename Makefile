# One entry point for people and CI. Every target creates the virtual
# environment it needs, so a fresh clone only needs Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint check format docs dist bench bench-scale mutation clean

# __init__.py holds the version: the installed metadata follows a version bump.
$(STAMP): pyproject.toml src/acp_cli/__init__.py
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

# loadgroup: the tests that build and install the wheel (xdist_group "wheel")
# share one worker, so the wheel is built and installed once a run.
test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples tools
	$(BIN)/ruff format --check src tests benchmarks examples tools
	$(BIN)/mypy --strict src tests tools

# What CI runs (.ci/run): the linters, then the tests. Run it before a push.
check: lint test

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks examples tools
	$(BIN)/ruff format src tests benchmarks examples tools

# The shell completions (src/acp_cli/completions/, linked as completions/) and the
# man page (man/acp.1), written from the live command tree; tests/project/test_docs.py fails when the committed ones are stale.
docs: $(STAMP)
	$(BIN)/python -m tools.gen_docs

# The sdist and the wheel in dist/, as released (RELEASING.md). python -m build
# makes the wheel from the sdist, so only what the sdist holds goes in; file
# times in both come from the last commit, so two builds of one commit give the
# same wheel, byte for byte (tests/project/test_packaging.py builds it twice).
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct)

dist: $(STAMP)
	rm -rf dist
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

# Benchmarks print tables of medians and ratios against baselines measured in
# the same run; speed is not asserted in the test suite.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_signature.py
	$(BIN)/python benchmarks/bench_startup.py
	$(BIN)/python benchmarks/bench_plan.py
	$(BIN)/python benchmarks/bench_diff.py

# The warm re-plan of 1,000,000 files (issue 20): the tree is generated once, under
# benchmarks/out/ (about 4 GB, a quarter of an hour).
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/bench_plan.py --scale

# Mutation testing of one module (CONTRIBUTING.md, "Mutation testing"); minutes
# per module, so not part of `test` or CI: make mutation MODULE=settings/urls
MUTATION_STAMP := $(VENV)/.mutation-installed

$(MUTATION_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,mutation]'
	touch $(MUTATION_STAMP)

mutation: $(MUTATION_STAMP)
	$(BIN)/python -m tools.mutation $(MODULE)

clean:
	rm -rf $(VENV) .mutation build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
