#!/usr/bin/env bash
# GPU check on one CUDA machine, in under 8 minutes; prints JSON figures and a short table last, and exits
# non-zero if any step failed (a GPU test that fails, an import that is missing, vLLM requested but absent).
#
# On a bare GPU node (Python 3.12 with CUDA torch and transformers; no Ray, no DeepSpeed, no network):
#   on a machine with a package index:   python benchmarks/gpu_bundle.py build      (-> build/gpu_bundle/*.tar.gz)
#   copy read_ray_gpu_bundle.tar.gz to the node, then there:
#     tar xzf read_ray_gpu_bundle.tar.gz && cd read_ray_gpu_bundle/project
#     bash benchmarks/gpu_check.sh --bundle .. [OUT_DIR]
#   It makes a venv with --system-site-packages in OUT_DIR (the node's torch and transformers stay in use),
#   installs the bundle's wheels there with `pip install --no-index --no-deps`, and builds a teacher of the
#   bundled teacher's architecture with random weights and its real tokenizer.
# On a machine with the project's own environment (`make setup`; `pip install -c constraints-gpu.txt -e '.[gpu]'`
# for vLLM):
#   bash benchmarks/gpu_check.sh [OUT_DIR]                   # PYTHON=... to pick another interpreter
#
# Steps: 1. the GPU test tier (tests/gpu: DeepSpeed ZeRO-3 bf16 student update on every GPU, the HF engine
# on CUDA, the vLLM engine; READ_RAY_REQUIRE_VLLM=1 turns a missing vLLM into a failure instead of a skip);
# 2. benchmarks/gpu_throughput.py: training tokens/s and MFU of random ~0.5B and ~1.5B Llama students
# (ZeRO-2 bf16) and HF-engine generation tokens/s at batch 1/16/64.
# Environment: READ_RAY_REQUIRE_VLLM=1 (vLLM must import and pass), GPU_CHECK_SIZES (default 0.5b,1.5b),
# GPU_CHECK_ROUNDS=1 (also a short `gpu-single` distillation per design via round_breakdown.py; needs the
# bundled teacher, so not from the bundle, and ~6 minutes more).
set -uo pipefail
cd "$(dirname "$0")/.."
BUNDLE=""
if [[ "${1:-}" == "--bundle" ]]; then BUNDLE=$(realpath "$2"); shift 2; fi
OUT=$(realpath -m "${1:-runs/gpu_check}")
mkdir -p "$OUT"
export RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
status=0
fail() { echo "gpu_check: FAILED: $*" >&2; status=1; }
begin=$(date +%s)

if [[ -n "$BUNDLE" ]]; then
    BASE=${PYTHON:-python3}
    "$BASE" -m venv --system-site-packages "$OUT/venv" || { echo "gpu_check: cannot make a venv with $BASE" >&2; exit 1; }
    PY="$OUT/venv/bin/python"
    "$PY" -m pip install --quiet --no-index --no-deps "$BUNDLE"/wheels/*.whl \
        || { echo "gpu_check: installing the bundle's wheels failed" >&2; exit 1; }
    export READ_RAY_TEACHER_DIR="$OUT/teacher"
    [[ -f "$READ_RAY_TEACHER_DIR/config.json" ]] \
        || "$PY" benchmarks/gpu_bundle.py teacher "$BUNDLE/teacher_config" "$READ_RAY_TEACHER_DIR" >/dev/null \
        || { echo "gpu_check: building the random-weight teacher failed" >&2; exit 1; }
else
    PY=${PYTHON:-.venv/bin/python}
fi
export TORCH_EXTENSIONS_DIR=${TORCH_EXTENSIONS_DIR:-$OUT/torch_extensions}

"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: run this on a GPU machine')" \
    || exit 1
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader | tee "$OUT/gpus.txt"

# every import the GPU path needs, each named when missing (a bundle that lacks a package fails here)
"$PY" - <<'PY' || { echo "gpu_check: a required import failed (above)" >&2; exit 1; }
import importlib, sys
missing = []
for name in ["ray", "ray.serve", "ray.train.torch", "ray.tune", "deepspeed", "transformers", "read_ray.runtime.student",
             "read_ray.runtime.teacher", "pytest", "pytest_timeout"]:
    try:
        importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001
        missing.append(f"{name}: {type(exc).__name__}: {exc}")
print("\n".join(missing), file=sys.stderr)
sys.exit(1 if missing else 0)
PY
if [[ "${READ_RAY_REQUIRE_VLLM:-0}" == "1" ]]; then
    "$PY" -c "import vllm; print('vllm', vllm.__version__)" \
        || fail "READ_RAY_REQUIRE_VLLM=1 but vLLM does not import (pip install -c constraints-gpu.txt -e '.[gpu]')"
fi

start=$(date +%s)
timeout 300 "$PY" -m pytest tests/gpu -m gpu -q -rs -p no:cacheprovider > "$OUT/gpu_tests.txt" 2>&1
rc=$?
tests_s=$(( $(date +%s) - start ))
tail -n 15 "$OUT/gpu_tests.txt"
[[ $rc == 0 ]] || fail "tests/gpu exited $rc ($OUT/gpu_tests.txt)"
grep -q " passed" "$OUT/gpu_tests.txt" || fail "tests/gpu passed nothing"

timeout 240 "$PY" benchmarks/gpu_throughput.py --sizes "${GPU_CHECK_SIZES:-0.5b,1.5b}" \
    > "$OUT/gpu_throughput.json" 2> "$OUT/gpu_throughput.err" || fail "gpu_throughput.py ($OUT/gpu_throughput.err)"
cat "$OUT/gpu_throughput.json"

if [[ "${GPU_CHECK_ROUNDS:-0}" == "1" ]]; then     # needs the bundled teacher (make setup), ~6 more minutes
    timeout 360 "$PY" benchmarks/round_breakdown.py --config gpu-single --designs read_ray,pipelined \
        --out "$OUT/runs" budget.total_tokens=200000 budget.num_rounds=2 probes.items_per_capability=8 \
        > "$OUT/round_breakdown.json" || fail "round_breakdown.py ($OUT)"
fi

"$PY" - "$OUT" "$tests_s" "$(( $(date +%s) - begin ))" <<'PY'
import json, pathlib, re, sys
out, tests_s, total_s = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
lines = (out / "gpu_tests.txt").read_text().strip().splitlines()
print(f"\n| check | result |\n| --- | --- |\n| GPUs | {'; '.join((out / 'gpus.txt').read_text().split(chr(10))).strip('; ')} |")
print(f"| gpu test tier ({tests_s} s) | {re.sub(r'=+', '', lines[-1] if lines else 'no output').strip()} |")
try:
    result = json.loads((out / "gpu_throughput.json").read_text())
except (OSError, ValueError):
    print("| throughput | did not finish |")
    sys.exit(0)
for r in result["train"]:
    print(f"| train {r['size']} ZeRO-2 bf16 | " + (r["error"] if "error" in r else
          f"{r['params'] / 1e9:.2f} B params, {r['tokens_per_s']:,.0f} tokens/s, "
          f"{r['model_tflops_per_s']} TFLOP/s, MFU {r.get('mfu', 'n/a')}") + " |")
for r in result["generation"]:
    print(f"| generate {r['size']} batch {r.get('batch', '?')} | " + (r["error"] if "error" in r else
          f"{r['completion_tokens_per_s']:,.0f} tokens/s, {r['ms_per_decode_step']} ms/step") + " |")
print(f"| total | {total_s} s |")
PY
exit $status
