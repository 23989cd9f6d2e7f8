# Two commands do all set-up on a fresh machine (Python 3.11+ with venv):
#   make plan   offline plan of every stack in stacks/ (mock engine; no CLI, cloud or cluster)
#   make test   the whole test suite (the command CI runs)
.PHONY: plan test lint

VENV := .venv
PY := $(VENV)/bin/python

$(PY):
	python3 -m venv $(VENV)

# Reinstall when the dependency list changes.
$(VENV)/.deps: pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[infra,serving,test]'
	touch $@

plan: $(VENV)/.deps
	$(VENV)/bin/llz plan --all --json plan-out --manifests plan-out/manifests

lint: $(VENV)/.deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest
