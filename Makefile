# The two commands a newcomer needs (README.rst):
#   make example   runs the example site at http://127.0.0.1:8000/
#   make test      runs every test: Python (pytest) and Node (node --test)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: example test

$(BIN)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

test: $(BIN)/.installed
	$(BIN)/pytest
	npm test

# Until the development manager starts hosts on demand, the example starts its host itself
# and stops it (by PID) when the server stops.
example: $(BIN)/.installed
	cd example_project && \
	  { node ../django_js_host/js/bin/js-host.js host.config.js & host_pid=$$!; \
	    trap 'kill $$host_pid' EXIT INT TERM; \
	    ../$(BIN)/python manage.py runserver 127.0.0.1:8000; }
