"""`ray job submit` entrypoint of a Ray Tune sweep: parse config and search space -> preflight -> connect -> sweep.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- python jobs/sweep.py --mode sim --num-samples 64
    ray job submit ... -- python jobs/sweep.py --mode real --config tiny --num-samples 2 --out /abs/sweeps/tiny

The output folder (default: <run.runs_dir>/sweep-<mode>-<time>, or READ_RAY_RUNS_DIR) and the runs of a
real sweep are made absolute before Ray starts: a relative path inside a job would land in the job's
temporary copy of the working directory and be lost.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from read_ray.config import load_config, replace
    from read_ray.experiments.sweep import load_search_space
    from read_ray.runtime.preflight import preflight

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("sim", "real"), required=True)
    parser.add_argument("--config", default="default", help="preset name or YAML path")
    parser.add_argument("--num-samples", type=int, default=16)
    parser.add_argument("--search-space", default=None, help="YAML search space (default: the packaged one)")
    parser.add_argument("--out", default=None, help="output folder")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value")
    args = parser.parse_args(argv)
    try:
        cfg = preflight(load_config(args.config, args.overrides), run_dir=False)
        space = load_search_space(args.search_space, cfg)
    except ValueError as exc:
        print(f"sweep: error: {exc}", file=sys.stderr)
        return 2
    runs_dir = Path(os.environ.get("READ_RAY_RUNS_DIR", cfg.run.runs_dir)).expanduser().resolve()
    cfg = replace(cfg, run={"runs_dir": str(runs_dir)})
    out = Path(args.out or runs_dir / f"sweep-{args.mode}-{time.strftime('%Y%m%d-%H%M%S')}").expanduser().resolve()

    from read_ray.experiments.sweep import run_sweep
    from read_ray.runtime.cluster import connect

    try:
        with connect(cfg):
            result = run_sweep(cfg, mode=args.mode, num_samples=args.num_samples, space=space, out_dir=out)
    except ValueError as exc:
        print(f"sweep: error: {exc}", file=sys.stderr)
        return 2
    print((result.out_dir / "trials.md").read_text())
    print(json.dumps({"out_dir": str(result.out_dir), "best_preset": str(result.best_preset),
                      "best_objective": result.best_objective, "best_params": result.best_params,
                      "seconds": result.seconds}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
