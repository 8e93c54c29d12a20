# The two commands of the quick start: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
RUN_ARGS ?=
# The TPM extra (tpm2-pytss) builds against the tss2 libraries: installed when they are (apt-get install -y
# libtss2-dev swtpm, as .ci/run does); without them the TPM tests skip, except under CI where they fail.
TEST_EXTRAS := test$(shell pkg-config --exists tss2-esys 2>/dev/null && echo ,tpm)

.PHONY: run test test-fast lint bench clean schemas

run: $(VENV)/.installed
	$(VENV)/bin/adr-emulator serve $(RUN_ARGS)

test: $(VENV)/.installed-test
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Every test that starts no emulator/CLI process and builds no client venv (about half a minute).
test-fast: $(VENV)/.installed-test
	$(PY) -m pytest -q -m "not process and not slow" $(PYTEST_ARGS)

VULTURE_ARGS := --ignore-decorators "@bp.route,@register,@*.errorhandler,@app.*,@bp.errorhandler,@builtin,@register_schema"

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check provider tests bench
	$(VENV)/bin/vulture provider tests/vulture_whitelist.py $(VULTURE_ARGS)

schemas: $(VENV)/.installed-test
	$(PY) -m provider.schemagen

bench: $(VENV)/.installed-test
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install -q -e '.[$(TEST_EXTRAS)]'
	touch $(VENV)/.installed $@

clean:
	rm -rf $(VENV) .adr-emulator .pytest_cache
