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

# bubblewrap isolates student code (the sandbox). Installed here when we may, explained when we may not.
system-packages:
	@if command -v bwrap >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing bubblewrap (bwrap) with apt-get"; \
		(apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null && apt-get install -y -qq bubblewrap >/dev/null)) || \
		echo "warning: could not install bubblewrap; run: sudo apt-get install bubblewrap"; \
	else \
		echo "note: bwrap not found. Install it for sandboxed grading: sudo apt-get install bubblewrap"; \
	fi

test: setup
	$(BIN)/python -m pytest -n 2 tests

demo: setup
	$(BIN)/python -m autograder.demo demo-output

benchmark: setup
	$(BIN)/python benchmarks/train_reference.py
	$(BIN)/python benchmarks/grading_suites.py

clean:
	rm -rf $(VENV) .pytest_cache demo-output
