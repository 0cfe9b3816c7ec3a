"""Paired differences between arms that `read-ray compare` wrote into different folders (e.g. one folder
per seed when each seed has its own bank), by seed.

    python benchmarks/paired_arms.py REF_ARM_JSON... --against ARM_JSON... [--metric test_utility_change]

Each ARM_JSON is an `OUT/arms/<policy>_seed<s>.json`; both sides must hold one policy and the same seeds. Prints, per seed, the reference's and the arm's value
of the metric, the arm's final dev utility change (its last round record), and their difference; then the
mean difference with its Student-t 95% CI half-width (core.comparison.mean_ci95). Reads only JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from read_ray.core.comparison import mean_ci95


def load_arms(paths: list[str]) -> dict[int, dict]:
    """{seed: arm} with the arm's final dev utility change (None if its last round had no dev checkpoint)."""
    arms = {}
    for path in map(Path, paths):
        arm = json.loads(path.read_text())
        run = path.parent.parent / arm["run_dir"]
        records = sorted(run.glob("rounds/round_*/record.json"))
        arm["final_dev_change"] = json.loads(records[-1].read_text()).get("dev_utility_change") if records else None
        if arm["seed"] in arms:
            raise SystemExit(f"{path}: a second arm for seed {arm['seed']}")
        arms[arm["seed"]] = arm
    return arms


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference", nargs="+", help="the reference arms (arms/<policy>_seed<s>.json)")
    parser.add_argument("--against", nargs="+", required=True, help="the arms compared with the reference")
    parser.add_argument("--metric", default="test_utility_change", help="a metric of the arm JSON's `metrics`")
    args = parser.parse_args(argv)
    ref, other = load_arms(args.reference), load_arms(args.against)
    for side, arms in (("reference", ref), ("--against", other)):
        if len({arm["policy"] for arm in arms.values()}) > 1:
            raise SystemExit(f"{side}: arms of several policies ({sorted({a['policy'] for a in arms.values()})}); "
                             "give one policy per side")
    if set(ref) != set(other):
        raise SystemExit(f"unpaired seeds: reference has {sorted(ref)}, --against has {sorted(other)}; "
                         "give the same seeds on both sides")
    seeds = sorted(ref)
    print(f"metric: {args.metric}; reference {ref[seeds[0]]['policy']}, arm {other[seeds[0]]['policy']}")
    print("| seed | reference | arm | arm - reference | reference final dev Δ | arm final dev Δ |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    diffs = []
    for s in seeds:
        a, b = ref[s]["metrics"][args.metric], other[s]["metrics"][args.metric]
        diffs.append(b - a)
        dev = [x["final_dev_change"] for x in (ref[s], other[s])]
        print(f"| {s} | {a:+.4f} | {b:+.4f} | {b - a:+.4f} | " + " | ".join(
            "n/a" if d is None else f"{d:+.4f}" for d in dev) + " |")
    mean, half = mean_ci95(diffs)
    ci = "" if len(diffs) < 2 else f" ± {half:.4f} (95% CI, Student t, n = {len(diffs)})"
    print(f"\nmean difference (arm - reference) in {args.metric}: {mean:+.4f}{ci}")


if __name__ == "__main__":
    main()
