# The two commands a newcomer needs (README.rst):
#   make example   runs the example site at http://127.0.0.1:8000/
#   make test      runs every test: Python (pytest) and Node (node --test)
PYTHON ?= python3
# Another interpreter or Django for the same suite (CI's matrix), each in its own venv:
#   make test PYTHON=~/.pyenv/versions/3.10.13/bin/python VENV=.venv-py310 DJANGO='Django>=4.2,<5'
VENV ?= .venv
DJANGO ?=
BIN := $(VENV)/bin

.PHONY: example example-assets test

$(BIN)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' $(if $(DJANGO),'$(DJANGO)')
	touch $@

# The npm packages of package-lock.json; again only when it changes (npm ci starts afresh).
node_modules/.installed: package.json package-lock.json
	npm ci
	touch $@

# The example's JS (npm run build:example): esbuild bundles example_project/frontend/ for
# the browser and compiles its component for the host, into example_project/dist/. It
# takes a fraction of a second, so it always runs. The example's tests need it too.
example-assets: node_modules/.installed
	npm run --silent build:example

# Static checks first (pyproject.toml configures both): ruff, and mypy --strict with
# django-stubs over the package.
test: $(BIN)/.installed example-assets
	$(BIN)/ruff check django_js_host tests benchmarks
	$(BIN)/mypy django_js_host
	$(BIN)/pytest
	npm test

# No host to start here: under DEBUG the example uses the development manager, which
# starts the host as runserver starts, keeps it warm across reloads, and stops it a few
# seconds after runserver exits.
example: $(BIN)/.installed example-assets
	cd example_project && ../$(BIN)/python manage.py runserver 127.0.0.1:8000
