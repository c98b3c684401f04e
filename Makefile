# The two commands of the README: `make demo` (see it work) and `make test` (run the tests).
# Each sets up what it needs on first use: a virtual environment in .venv with watchbot in it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test bench mutants clean

$(BIN)/watchbot: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("watchbot needs Python 3.11 or newer; set PYTHON=python3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,demo]'
	@touch $@

demo: $(BIN)/watchbot
	$(BIN)/watchbot demo

test: $(BIN)/watchbot
	$(BIN)/pytest

bench: $(BIN)/watchbot
	$(BIN)/python -m bench

# Mutation testing, module by module on the fast tests: a measure, not a gate (docs/mutation.md).
MUTANT_MODULES ?= published policy rooms links digest.build digest.render digest.schedule
$(BIN)/mutmut: $(BIN)/watchbot
	$(BIN)/python -m pip install --quiet -e '.[test,demo,mutants]'
	@touch $@

mutants: $(BIN)/mutmut
	for module in $(MUTANT_MODULES); do \
		echo "== watchbot.$$module"; \
		WATCHBOT_TEST_POSTGRES=skip $(BIN)/mutmut run "watchbot.$$module.*" || exit 1; \
	done
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info mutants
