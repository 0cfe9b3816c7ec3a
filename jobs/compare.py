"""`ray job submit` entrypoint for `compare`: parse -> preflight, every arm checked -> connect to Ray -> run_compare.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \\
        python jobs/compare.py --config tiny --policies read,uniform,grid --seeds 1,2 --out /data/compare-tiny

The output folder (default READ_RAY_RUNS_DIR or run.runs_dir, then compare_<run.name>) is made absolute
before Ray starts: a relative path inside a job would land in the job's temporary working directory and
be lost. Submitting the same command again resumes: finished arms are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from read_ray.config import load_config
    from read_ray.experiments.compare import parse_policies, parse_seeds, plan_arms
    from read_ray.runtime.preflight import preflight

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="default", help="preset name or YAML path")
    parser.add_argument("--policies", default="read,uniform,task_static,random,greedy,grid,exp3")
    parser.add_argument("--seeds", default="0,1,2", help="run seeds (the default preset ships references for 0,1,2)")
    parser.add_argument("--out", default="", help="output folder; running again on it resumes")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value")
    args = parser.parse_args(argv)
    try:
        cfg = preflight(load_config(args.config, args.overrides), run_dir=False)
        policies, seeds = parse_policies(args.policies), parse_seeds(args.seeds)
        runs_dir = Path(os.environ.get("READ_RAY_RUNS_DIR", cfg.run.runs_dir)).expanduser()
        out = Path(args.out or runs_dir / f"compare_{cfg.run.name}").expanduser().resolve()
        plan_arms(cfg, policies, seeds, out)
    except ValueError as exc:
        print(f"compare: error: {exc}", file=sys.stderr)
        return 2

    from read_ray.experiments.compare import run_compare
    from read_ray.runtime.cluster import connect

    try:
        with connect(cfg):
            results = run_compare(cfg, policies, seeds, out)
    except ValueError as exc:
        print(f"compare: error: {exc}", file=sys.stderr)
        return 2
    print((out / "results.md").read_text().split("\n## ")[0].rstrip())
    print(json.dumps({"out": str(out), "policies": list(results["policies"]), "seeds": seeds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
