"""`ray job submit` entrypoint: parse config -> validate -> connect to Ray -> run the controller.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- python jobs/distill.py --config tiny
    python jobs/distill.py --config default --dry-run      # resolved config + resource plan, no work

Run and storage paths are made absolute before Ray starts: a relative path inside a job would land in
the job's temporary copy of the working directory and be lost. The config (`validate`) and the files and
paths it names (`preflight`: templates, task card, model folders, run directory, tokenizers under logit KD,
precision on CPU) are checked before Ray starts, with --dry-run too: an impossible plan exits with status 2 and one line per problem.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from read_ray.config import load_config, replace, to_yaml, validate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="default", help="preset name or YAML path")
    parser.add_argument("--force", action="store_true", help="continue a run directory made with another config")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and resource plan; start nothing")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value")
    args = parser.parse_args(argv)
    from read_ray.runtime.preflight import preflight

    try:
        cfg = validate(load_config(args.config, args.overrides))
        runs_dir = os.environ.get("READ_RAY_RUNS_DIR", cfg.run.runs_dir)
        cfg = replace(cfg, run={"runs_dir": str(Path(runs_dir).expanduser().resolve())})
        preflight(cfg, force=args.force)
    except ValueError as exc:
        print(f"distill: error: {exc}", file=sys.stderr)
        return 2

    from read_ray.runtime.cluster import check_resources, connect, resource_plan

    if args.dry_run:
        print(to_yaml(cfg), end="")
        plan = resource_plan(cfg)
        available = {}
        if os.environ.get("RAY_ADDRESS"):
            import ray

            ray.init(log_to_driver=False)
            available = ray.cluster_resources()
        print("# resource plan (per role, totals)")
        print(json.dumps({"roles": plan, "cluster": available or "not connected (set RAY_ADDRESS to compare)"},
                         indent=2))
        if available:
            try:
                check_resources(cfg, available)
            except ValueError as exc:
                print(f"distill: error: {exc}", file=sys.stderr)
                return 2
        return 0

    from read_ray.experiments.report import write_report
    from read_ray.runtime.controller import run_distillation

    try:
        with connect(cfg):
            run = run_distillation(cfg, force=args.force)
    except ValueError as exc:
        print(f"distill: error: {exc}", file=sys.stderr)
        return 2
    print(write_report(run.root))
    print(json.dumps({"run_dir": str(run.root), "config": dataclasses.asdict(cfg.run)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
