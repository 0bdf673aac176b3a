# Two commands for a fresh machine: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system-packages test test-all demo benchmark clean

# The stamp depends on pyproject.toml: a second run installs nothing new.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) system-packages

# bubblewrap isolates student code (the sandbox); chromium renders the feedback pages in a test.
# Installed here when we may (root with apt-get), explained when we may not.
SYSTEM_PACKAGES := bwrap:bubblewrap chromium:chromium

system-packages:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
		command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing$$missing with apt-get"; \
		(apt-get install -y -qq $$missing >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null && apt-get install -y -qq $$missing >/dev/null)) || \
		echo "warning: could not install$$missing; run: sudo apt-get install$$missing"; \
	else \
		echo "note: missing$$missing. Install with: sudo apt-get install$$missing"; \
	fi

# The layer contracts first (pyproject.toml, [tool.importlinter]): a second or so, and an upward import fails here.
test: setup
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -n 2 tests

demo: setup
	$(BIN)/python -m autograder.demo demo-output

benchmark: setup
	$(BIN)/python benchmarks/train_reference.py
	$(BIN)/python benchmarks/grading_suites.py

clean:
	rm -rf $(VENV) .pytest_cache demo-output
