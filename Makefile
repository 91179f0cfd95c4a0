# bars-zoo: the two commands a newcomer runs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.bars-zoo-installed

.PHONY: demo test lint typecheck pytest bench clean

# Create (or reuse) the virtual environment.  torch comes from the wheels pinned below
# (pip takes them from the local wheel cache when the machine has one).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m bars_zoo demo

test: lint typecheck pytest

lint: $(STAMP)
	$(PY) -m ruff format --check bars_zoo tests benchmarks
	$(PY) -m ruff check bars_zoo tests benchmarks

typecheck: $(STAMP)
	$(PY) -m mypy

pytest: $(STAMP)
	$(PY) -m pytest

# the CPU benchmarks that take minutes; bench_search, bench_fmnist_epoch and bench_train_step
# (hours on a CPU, or a GPU: --device cuda) are run by hand, see benchmarks/results/*.md
bench: $(STAMP)
	$(PY) -m benchmarks.bench_dsl
	$(PY) -m benchmarks.bench_load
	$(PY) -m benchmarks.bench_deploy

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
