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

# Optional: the llama.cpp generation backend (ragkit[llama]), compiled for AVX2 rather than -march=native: native
# builds take the AMX kernels on CPUs that report AMX, and those crash on this VM. Not part of `make test`: its tests skip when it is absent.
llama: install
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" UV_LINK_MODE=copy \
	  uv pip install --python $(VENV)/bin/python --reinstall-package llama-cpp-python 'llama-cpp-python>=0.3.36'
