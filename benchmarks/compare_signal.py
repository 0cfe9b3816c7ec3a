"""How much a `compare` run's probe signal can tell allocations apart, round by round.

    python benchmarks/compare_signal.py OUT [--record]

OUT is a `read-ray compare` folder. For every finished arm (arms/*.json) it reads the round records of
its run and prints, per policy and round index, the mean over seeds of:

- `targeting_pts`: mean delta_s on the capabilities the round trained on, minus the mean on the others
  (profile points; none for a uniform round). This is what the bandit has to learn from: how much
  training on c moves c more than the rest.
- `shared_pts`: mean delta_s on the capabilities the round did NOT train on (the gain every capability
  gets whatever the mix).
- `probe_ci_pts`: mean 95% CI half-width of the profile after the round (probe noise per capability).
- `reward`, and for `read` / `greedy` the ensemble's spread `sigma` at selection and its error
  |reward - mu| on the round it chose.

Reads only JSON: no Ray, no model.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _record  # noqa: E402


def round_rows(out: Path) -> list[dict]:
    rows = []
    for arm_path in sorted((out / "arms").glob("*_seed*.json")):
        arm = json.loads(arm_path.read_text())
        if "policy" not in arm:          # initial_seed*.json, grid pilots
            continue
        for record_path in sorted((out / arm["run_dir"] / "rounds").glob("round_*/record.json")):
            r = json.loads(record_path.read_text())
            a, d = np.asarray(r["allocation"]), np.asarray(r["reward"]["delta_s"])
            on, off = a > 0, a == 0
            scores = r.get("bandit_scores") or {}
            rows.append({
                "policy": arm["policy"], "seed": arm["seed"], "round": r["round_index"],
                "targeting_pts": float(d[on].mean() - d[off].mean()) if off.any() else None,
                "shared_pts": float(d[off].mean()) if off.any() else float(d.mean()),
                "probe_ci_pts": float(np.mean(r["profile_ci"])), "reward": r["reward"]["reward"],
                "sigma": scores.get("sigma"),
                "model_error": abs(r["reward"]["reward"] - scores["mu"]) if "mu" in scores else None})
    return rows


def by_policy_round(rows: list[dict]) -> list[dict]:
    groups = defaultdict(list)
    for row in rows:
        groups[(row["policy"], row["round"])].append(row)
    table = []
    for (policy, index), group in groups.items():
        entry = {"policy": policy, "round": index, "seeds": len(group)}
        for key in ("targeting_pts", "shared_pts", "probe_ci_pts", "reward", "sigma", "model_error"):
            values = [g[key] for g in group if g[key] is not None]
            entry[key] = round(float(np.mean(values)), 2) if values else None
        table.append(entry)
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="a `read-ray compare` output folder")
    parser.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    if not (args.out / "arms").is_dir():
        parser.error(f"{args.out} has no arms/ folder: give the OUT folder of `read-ray compare`")
    machine = _record.machine_note()
    table = by_policy_round(round_rows(args.out))
    print(json.dumps({"rows": table}, indent=1))
    if args.record:
        keys = ("policy", "round", "seeds", "targeting_pts", "shared_pts", "probe_ci_pts", "reward", "sigma",
                "model_error")
        _record.append_section("probe signal per round in a `compare` run",
                               [_record.markdown_table(keys, [[row[k] for k in keys] for row in table])], "",
                               machine_before=machine, machine_after=_record.machine_note())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
