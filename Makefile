# Developer entry points. Works on a fresh clone: `make test` creates .venv and installs the package first.

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install kafka-jars test demo bench chaos clean

install: $(STAMP) kafka-jars

# The embedded Apache Kafka broker's jars, from Maven Central into ~/.cache/signal-monitor (once), when Java
# and Maven are here; without them the Tansu broker (no Java) is what make demo, bench and chaos start.
kafka-jars: $(STAMP)
	@if command -v java >/dev/null && command -v mvn >/dev/null; then \
		$(VENV_PYTHON) -m signal_monitor.embedded kafka-jars; \
	else \
		echo "no java/mvn: skipping the Apache Kafka jars (the embedded broker will be Tansu)"; \
	fi

# Re-install only when pyproject.toml is newer than the stamp (or the venv is missing / broken).
$(STAMP): pyproject.toml
	@if [ ! -x $(VENV_PYTHON) ] || ! $(VENV_PYTHON) -m pip --version >/dev/null 2>&1; then \
		echo "creating $(VENV) with $(PYTHON)"; \
		rm -rf $(VENV); \
		$(PYTHON) -m venv $(VENV); \
	fi
	$(VENV_PYTHON) -m pip install --disable-pip-version-check -e '.[test]'
	@touch $@

test: install
	scripts/system-deps
	$(VENV_PYTHON) -m pytest -q $(PYTEST_ARGS)

demo: install
	scripts/system-deps run
	$(VENV)/bin/signal-monitor demo

# The bench's peers (the optional extra `bench`: Quix Streams), once per change of pyproject.toml.
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(VENV_PYTHON) -m pip install --disable-pip-version-check -e '.[test,bench]'
	@touch $@

bench: install $(BENCH_STAMP)
	scripts/system-deps run
	$(VENV_PYTHON) -m bench

chaos: install
	scripts/system-deps run
	$(VENV_PYTHON) -m chaos

clean:
	rm -rf $(VENV) .run .pytest_cache .hypothesis .mypy_cache .ruff_cache build dist *.egg-info
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
