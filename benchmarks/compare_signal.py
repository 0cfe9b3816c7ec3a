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

And per arm, the share of its budget (mean over rounds) on the task's top capability (argmax of the
requirement in OUT/results.json) next to its test utility change, with their Pearson correlation
over arms: how much of the outcome the allocation to that one capability explains (for `grid`, the
share of its final run; its pilots are not counted).

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
    for arm in _arms(out):
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


def _arms(out: Path):
    for arm_path in sorted((out / "arms").glob("*_seed*.json")):
        arm = json.loads(arm_path.read_text())
        if "policy" in arm:              # not initial_seed*.json or grid pilots
            yield arm


def top_share_rows(out: Path) -> dict:
    """Per arm: mean allocation share on the top capability of r, and the test utility change."""
    results = json.loads((out / "results.json").read_text())
    top = int(np.argmax(results["requirement"]))
    arms = list(_arms(out))
    x = [float(np.mean([a[top] for a in arm["allocations"]])) for arm in arms]
    y = [arm["metrics"]["test_utility_change"] for arm in arms]
    r = float(np.corrcoef(x, y)[0, 1]) if len(arms) > 2 and np.std(x) > 0 and np.std(y) > 0 else None
    rows = [{"arm": f"{arm['policy']}_seed{arm['seed']}", "policy": arm["policy"], "top_share": round(share, 3),
             "utility_change": round(change, 3)} for arm, share, change in zip(arms, x, y, strict=True)]
    return {"top_capability": results["capabilities"][top], "arms": rows,
            "pearson_r": None if r is None else round(r, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="a `read-ray compare` output folder")
    parser.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    if not (args.out / "arms").is_dir():
        parser.error(f"{args.out} has no arms/ folder: give the OUT folder of `read-ray compare`")
    machine = _record.machine_note()
    table = by_policy_round(round_rows(args.out))
    outcome = top_share_rows(args.out) if (args.out / "results.json").is_file() else None
    print(json.dumps({"rows": table, "top_share": outcome}, indent=1))
    if args.record:
        keys = ("policy", "round", "seeds", "targeting_pts", "shared_pts", "probe_ci_pts", "reward", "sigma",
                "model_error")
        tables = [_record.markdown_table(keys, [[row[k] for k in keys] for row in table])]
        if outcome is not None:
            keys = ("arm", "top_share", "utility_change")
            tables += [f"Budget share on {outcome['top_capability']} against test utility change, Pearson r = "
                       f"{outcome['pearson_r']} over {len(outcome['arms'])} arms:",
                       _record.markdown_table(keys, [[row[k] for k in keys] for row in outcome["arms"]])]
        _record.append_section("probe signal per round in a `compare` run", tables, "",
                               machine_before=machine, machine_after=_record.machine_note())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
