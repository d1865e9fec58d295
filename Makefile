# fedbench: set-up and the project's commands.
# Every target that needs Python depends on `.venv/.stamp`, which is rebuilt only
# when requirements.lock or pyproject.toml change (content hash, not mtime).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp
DEPS_HASH := $(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
# Python 3.11 exactly: TensorFlow Federated 0.87 needs >=3.9,<3.12 and the lock is built for 3.11.
PYTHON311 := $(shell for p in python3.11 python3 python; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null && { command -v $$p; break; }; done)
PYTEST_ARGS ?=

.PHONY: setup bench-setup run findings test test-fast test-all test-slurm bench figures lint format clean-venv
.DEFAULT_GOAL := run

setup:
	@if [ -z "$(PYTHON311)" ]; then \
		echo "fedbench: no Python 3.11 interpreter found on PATH (TensorFlow Federated 0.87 needs 3.11); install python3.11 and re-run make." >&2; exit 1; fi
	@if [ -f $(STAMP) ] && [ "$$(cat $(STAMP))" = "$(DEPS_HASH)" ]; then \
		echo "fedbench: environment up to date ($(VENV), deps $(DEPS_HASH))"; \
	else \
		set -e; echo "fedbench: installing the pinned stack into $(VENV) (deps $(DEPS_HASH))"; \
		[ -x $(PY) ] || $(PYTHON311) -m venv $(VENV); \
		$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==24.3.1; \
		$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock; \
		$(PY) -m pip uninstall --quiet --disable-pip-version-check -y fedbench 2>/dev/null || true; \
		$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .; \
		echo "$(DEPS_HASH)" > $(STAMP); \
	fi

SWEEP ?= default

REPORT_ARGS ?=

# The default sweep (sweeps/default.yaml), its centralized reference when the sweep has one
# (sweeps/<sweep>_centralized.yaml), its partition reports, every figure (listed), then the
# report: mean ± std over seeds of every setting in results/.
run: setup
	$(VENV)/bin/fedbench -m -cd sweeps -cn $(SWEEP)
	@if [ -f sweeps/$(SWEEP)_centralized.yaml ]; then \
		echo "$(VENV)/bin/fedbench -m -cd sweeps -cn $(SWEEP)_centralized"; \
		$(VENV)/bin/fedbench -m -cd sweeps -cn $(SWEEP)_centralized; fi
	$(VENV)/bin/fedbench-partition -m -cd sweeps -cn $(SWEEP) plot=true
	$(PY) -m analysis.figures --results results
	$(PY) -m analysis.report results $(REPORT_ARGS)

FINDINGS_DIR ?= results/findings
FINDINGS_ARGS ?=

# What fedbench finds: run (or resume: finished runs are skipped) every study sweep of
# analysis/findings/studies.py into $(FINDINGS_DIR)/<study>/, then write docs/findings.md
# and its figures (docs/findings/) from that Parquet alone. FINDINGS_ARGS="--only
# which_heterogeneity" runs one study; without --run the page is rewritten, nothing trains.
findings: setup
	$(PY) -m analysis.findings --run --results $(FINDINGS_DIR) --out docs/findings.md $(FINDINGS_ARGS)

# Two pytest workers (pytest-xdist): a test spends much of its time waiting on child
# processes and TFF's worker, so two share the 2-core machines this is sized for; about
# half the wall time of one worker. Each test's processes and ports are its own.
test: setup
	$(PY) -m pytest -n 2 --dist worksteal -m "not slow and not benchmark" $(PYTEST_ARGS)

# The edit loop: no TFF training but one smoke run, no child processes, one pytest worker per
# core (pytest-xdist; worksteal evens out the long sweep checks).
test-fast: setup
	$(PY) -m pytest -n auto --dist worksteal -m "smoke or not (slow or benchmark or tff or subprocess)" $(PYTEST_ARGS)

test-all: setup
	$(PY) -m pytest -m "not benchmark" $(PYTEST_ARGS)

# Sweeps on a real Slurm cluster (start a single-node one with .ci/slurm-up); skipped where
# sinfo does not answer.
test-slurm: setup
	$(PY) -m pytest -m slurm $(PYTEST_ARGS)

BENCH_STAMP := $(VENV)/.stamp-bench
BENCH_HASH := $(shell cat requirements-bench.lock | sha256sum | cut -c1-16)

# flwr-datasets (the comparison library) goes into .venv only for the benchmarks.
bench-setup: setup
	@if [ -f $(BENCH_STAMP) ] && [ "$$(cat $(BENCH_STAMP))" = "$(BENCH_HASH)" ]; then :; else \
		set -e; echo "fedbench: installing benchmark extras (requirements-bench.lock)"; \
		$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-bench.lock; \
		echo "$(BENCH_HASH)" > $(BENCH_STAMP); \
	fi

bench: bench-setup
	mkdir -p results/benchmarks
	$(PY) -m pytest tests/benchmarks -m benchmark --benchmark-only \
		--benchmark-json=results/benchmarks/bench-$$(date -u +%Y%m%dT%H%M%SZ).json $(PYTEST_ARGS)

# Every registered figure (listed: drawn or skipped, with the reason);
# e.g. make figures FIGURE_ARGS="--only convergence --only heatmap".
FIGURE_ARGS ?=

figures: setup
	$(PY) -m analysis.figures --results results $(FIGURE_ARGS)

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

clean-venv:
	rm -rf $(VENV)
