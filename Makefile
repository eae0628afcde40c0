# The two set-up commands (see README): `make demo` and `make test`.
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export RAGAS_DO_NOT_TRACK ?= true

VENV ?= .venv

.PHONY: install demo test test-fast bench
install:
	scripts/bootstrap.sh

demo: install
	$(VENV)/bin/ragkit demo

test: install
	$(VENV)/bin/python -m pytest

test-fast: install
	$(VENV)/bin/python -m pytest -m "not slow and not integration"
