# The two set-up commands (see README): `make demo` and `make test`.
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export RAGAS_DO_NOT_TRACK ?= true

VENV ?= .venv

.PHONY: install browser demo test test-fast llama
install:
	scripts/bootstrap.sh

demo: install
	$(VENV)/bin/ragkit demo

# The browser test needs Debian's chromium + chromedriver: installed when we can (root + apt-get);
# elsewhere the test is skipped with the install command, except under CI, where it must run.
browser:
	scripts/install-browser.sh || [ -z "$$CI" ]

test: install browser
	$(VENV)/bin/python -m pytest

test-fast: install
	$(VENV)/bin/python -m pytest -m "not slow and not integration"

# Optional: the llama.cpp generation backend (ragkit[llama]), compiled here; AMX kernels off (they crash on
# VMs that report AMX without granting it). Not part of `make test`: its tests skip when it is absent.
llama: install
	CMAKE_ARGS="-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" UV_LINK_MODE=copy \
	  uv pip install --python $(VENV)/bin/python --reinstall-package llama-cpp-python 'llama-cpp-python>=0.3.36'
