PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench bench-10m clean chromium

$(BIN)/activate:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/campaign-sync demo

test: $(VENV)/.installed-test chromium
	$(BIN)/python -m pytest -q

# headless Chromium and its WebDriver for the report page tests (installed with apt
# when run as root): the page is loaded, clicked and downloaded from in a real browser
chromium:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver; \
		else echo "chromium or chromedriver not found; install them (apt-get install chromium chromium-driver) to run the browser tests"; fi; \
	fi

# ruff for the code; pip-audit for known vulnerabilities in the installed dependencies,
# failing also when some could not be audited (AUDIT_OPTIONAL=1 lets that pass)
lint: $(VENV)/.installed-test
	$(BIN)/pip install -q ruff pip-audit
	$(BIN)/ruff check connector tests benchmarks tools
	$(BIN)/python tools/audit_dependencies.py --skip-editable

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run_all.py

# ten million contacts: a plan of 10M rows against 10M contacts and a first sync of
# 10M rows into an empty campaign, each with its peak memory (about 15 minutes and
# more; needs the free memory of the sandbox holding 10M contacts too)
bench-10m: $(VENV)/.installed-test
	$(BIN)/python benchmarks/scale.py --rows 10000000

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
