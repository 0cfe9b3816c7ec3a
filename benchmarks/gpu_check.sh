#!/usr/bin/env bash
# GPU check, on a machine with CUDA, in under 8 minutes; prints a short table last.
#
#   make setup && .venv/bin/pip install -e '.[gpu]'    # once (vLLM is optional)
#   bash benchmarks/gpu_check.sh [OUT_DIR]
#
# 1. the GPU test tier (tests/gpu): DeepSpeed ZeRO-3 bf16 student update on every GPU (nccl), and the
#    vLLM teacher engine against the HF engine when vllm is installed;
# 2. a short `gpu-single` distillation in two designs (benchmarks/round_breakdown.py: rounds in sequence
#    and pipelined), which times every stage of a round on the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=$(realpath -m "${1:-runs/gpu_check}")
mkdir -p "$OUT"
export RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: run this on a GPU machine')"
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader | tee "$OUT/gpus.txt"

start=$(date +%s)
timeout 300 "$PY" -m pytest tests/gpu -m gpu -q -rs -p no:cacheprovider | tee "$OUT/gpu_tests.txt" || true
tests_s=$(( $(date +%s) - start ))

timeout 360 "$PY" benchmarks/round_breakdown.py --config gpu-single --designs read_ray,pipelined \
    --out "$OUT/runs" budget.total_tokens=200000 budget.num_rounds=2 probes.items_per_capability=8 \
    > "$OUT/round_breakdown.json" || echo "round_breakdown did not finish (see $OUT)"

"$PY" - "$OUT" "$tests_s" <<'PY'
import json, pathlib, re, sys
out, tests_s = pathlib.Path(sys.argv[1]), sys.argv[2]
summary = (out / "gpu_tests.txt").read_text().strip().splitlines()[-1]
print(f"\n| check | result |\n| --- | --- |\n| GPUs | {'; '.join((out / 'gpus.txt').read_text().split(chr(10))).strip('; ')} |")
print(f"| gpu test tier ({tests_s} s) | {re.sub(r'=+', '', summary).strip()} |")
try:
    result = json.loads((out / "round_breakdown.json").read_text())
except (OSError, ValueError):
    print("| gpu-single run | did not finish |")
    sys.exit(1)
for name, d in result["designs"].items():
    stages = ", ".join(f"{k} {v:.0%}" for k, v in d["stage_frac"].items() if v >= 0.005)
    print(f"| gpu-single, {name} | {d['rounds']} rounds, {d['rounds_s']:.0f} s, {d['spent_tokens']:,} tokens; {stages} |")
for name, ratio in result["ratios"].items():
    print(f"| {name} | {ratio:.2f}x |")
PY
