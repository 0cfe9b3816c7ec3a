"""A round's wall-clock by stage, and three designs at equal budget: read_ray, pipelined, the reference.

    python benchmarks/round_breakdown.py [--config default] [--designs read_ray,pipelined,reference]
                                         [--out DIR] [key=value ...]

Each design is a whole `run_distillation` on the same preset, seed and budget, one after another on one
local Ray (each in its own run directory under --out). Per design it reports the sum of the rounds'
wall-clock and each stage's share: generate (time blocked waiting for the teacher), train, probe,
bandit (selection, planning, update, dev checkpoints), teacher restart, and orchestration (everything
else: committing the round folder, copying the checkpoint, Ray calls), plus the tokens spent.

The reference design is ReAD's public code expressed as configuration, not copied code: the teacher is
rebuilt every round (`teacher.keep_warm=false`), generation in batches of 4, training micro-batch 1,
one probe actor, no overlap of rounds. Prints one JSON object; ratios are measured in this one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

DESIGNS = {
    "read_ray": {},
    "pipelined": {"run": {"pipeline": True}},
    "reference": {"run": {"pipeline": False}, "teacher": {"keep_warm": False, "max_batch_size": 4},
                  "train": {"micro_batch_size": 1, "grad_accum_steps": 1}, "probes": {"num_actors": 1}},
}
STAGES = ("generate_wait", "train", "probe", "bandit", "teacher_restart", "orchestration")


def summarise(run) -> dict:
    records = run.records()
    rounds_s = [r["seconds"]["round"] for r in records]
    stage_s = {k: sum(r["seconds"].get(k, 0.0) for r in records) for k in STAGES}
    total_s = sum(rounds_s)
    ledger = records[-1]["ledger"]
    return {
        "rounds": len(records), "rounds_s": total_s, "round_s_median": statistics.median(rounds_s),
        "stage_s": stage_s, "stage_frac": {k: v / total_s for k, v in stage_s.items()},
        "overhead_frac": stage_s["orchestration"] / total_s,
        "generate_overlapped_s": sum(r["seconds"]["generate"] - r["seconds"]["generate_wait"] for r in records),
        "spent_tokens": ledger["generation_tokens"] + ledger["training_tokens"],
        "allocations": [r["allocation"] for r in records],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="default")
    parser.add_argument("--designs", default="read_ray,pipelined,reference")
    parser.add_argument("--out", default="runs/bench_round_breakdown")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    from read_ray.config import load_config, replace, validate
    from read_ray.runtime.cluster import connect
    from read_ray.runtime.controller import run_distillation

    base = validate(load_config(args.config, args.overrides))
    results, out = {}, Path(args.out).resolve()
    with connect(base):
        for design in args.designs.split(","):
            changes = {section: dict(values) for section, values in DESIGNS[design].items()}
            changes["run"] = {**changes.get("run", {}), "name": design, "runs_dir": str(out)}
            cfg = validate(replace(base, **changes))
            start = time.perf_counter()
            run = run_distillation(cfg, log=lambda line: None)
            results[design] = {**summarise(run), "total_s": time.perf_counter() - start}
    ratios = {}
    if "reference" in results and "read_ray" in results:
        ratios["reference_over_read_ray"] = results["reference"]["rounds_s"] / results["read_ray"]["rounds_s"]
    if "pipelined" in results and "read_ray" in results:
        ratios["read_ray_over_pipelined"] = results["read_ray"]["rounds_s"] / results["pipelined"]["rounds_s"]
    print(json.dumps({"benchmark": "round_breakdown", "config": args.config, "overrides": args.overrides,
                      "load_avg_1m_at_end": os.getloadavg()[0], "designs": results, "ratios": ratios}, indent=1))


if __name__ == "__main__":
    main()
