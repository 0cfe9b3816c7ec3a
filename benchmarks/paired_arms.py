"""Paired differences between arms that `read-ray compare` wrote into different folders (e.g. one folder
per seed when each seed has its own bank), by seed.

    python benchmarks/paired_arms.py REF_ARM_JSON... --against ARM_JSON... [--metric test_utility_change]
    python benchmarks/paired_arms.py --table STAGE_FOLDER [--bars task_static grid] [--decide ARM]

Each ARM_JSON is an `OUT/arms/<policy>_seed<s>.json`; both sides must hold one policy and the same seeds.
Prints, per seed, the reference's and the arm's value of the metric, the arm's final dev utility change (its
last round record), and their difference; then the mean difference with its Student-t 95% CI half-width
(core.comparison.mean_ci95).

`--table` reads a stage folder as `benchmarks/protocol.sh` lays it out (one `compare` output folder per arm,
named by the arm; `<arm>_seed<s>` folders, as the selection's per-seed banks make, count as one arm) and prints
one row per arm: the metric's mean and CI, the mean final dev change, the test gap closure per task (multi-task
arms), and the paired difference against each bar on the seeds both have. `--decide ARM` applies PROTOCOL.md's
rule to that arm: it wins if every paired CI against the bars lies above 0, loses if one lies below 0, and
ties otherwise, and says on how many seeds. Reads only JSON.
"""

from __future__ import annotations

import argparse
import json
import re
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


ARM_JSON = re.compile(r"(?!initial_).+_seed\d+\.json")   # an arm's JSON; not initial_*, not grid's *.pilots.json


def stage_arms(folder: Path) -> dict[str, dict[int, dict]]:
    """{arm name: {seed: arm}} for every `compare` output folder under a stage folder. An arm is named by its
    folder less a trailing `_seed<s>` (protocol.sh gives an arm with a per-seed bank one folder per seed)."""
    if not folder.is_dir():
        raise SystemExit(f"{folder}: not a folder")
    groups: dict[str, list[str]] = {}
    for out in sorted(p for p in folder.iterdir() if (p / "arms").is_dir()):
        paths = [str(p) for p in sorted((out / "arms").iterdir()) if ARM_JSON.fullmatch(p.name)]
        if paths:
            groups.setdefault(re.sub(r"_seed\d+$", "", out.name), []).extend(paths)
    if not groups:
        raise SystemExit(f"{folder}: no arm folders (`compare` outputs with arms/<policy>_seed<s>.json) in it")
    arms = {name: load_arms(paths) for name, paths in groups.items()}
    for name, seeds in arms.items():
        if len(policies := {a["policy"] for a in seeds.values()}) > 1:
            raise SystemExit(f"{folder}: arm {name} holds several policies {sorted(policies)}")
    return arms


def metric_value(arm: dict, metric: str) -> float:
    value = arm["metrics"].get(metric)
    if not isinstance(value, (int, float)):
        raise SystemExit(f"{arm['policy']} seed {arm['seed']}: no number for metric {metric!r} "
                         f"(its metrics: {', '.join(sorted(arm['metrics']))})")
    return float(value)


def _mean_ci(values: list[float], of: int | None = None) -> str:
    """'mean ± half' (mean alone for one value), with '(n = k)' when only k of `of` seeds have a value."""
    mean, half = mean_ci95(values)
    text = f"{mean:+.3f}" if len(values) < 2 else f"{mean:+.3f} ± {half:.3f}"
    return text if of is None or len(values) == of else f"{text} (n = {len(values)})"


def paired(ref: dict[int, dict], other: dict[int, dict], metric: str) -> tuple[list[int], list[float]]:
    """The seeds both sides have and the differences other - ref on them."""
    seeds = sorted(set(ref) & set(other))
    return seeds, [metric_value(other[s], metric) - metric_value(ref[s], metric) for s in seeds]


def decision(diffs_by_bar: dict[str, list[float]]) -> str:
    """PROTOCOL.md's rule: wins if every paired 95% CI lies above 0, loses if one lies below 0, else ties."""
    if any(len(d) < 2 for d in diffs_by_bar.values()):
        return "undecided (fewer than 2 paired seeds against a bar)"
    bounds = [mean_ci95(d) for d in diffs_by_bar.values()]
    if any(m + h < 0 for m, h in bounds):
        return "loses"
    return "wins" if all(m - h > 0 for m, h in bounds) else "ties"


def print_table(folder: Path, bars: list[str], decide: str | None, metric: str) -> None:
    arms = stage_arms(folder)
    missing = [name for name in [*bars, *([decide] if decide else [])] if name not in arms]
    if missing:
        raise SystemExit(f"{folder}: no arm folder named {missing}; it has {sorted(arms)}")
    if decide and (decide in bars or not bars):
        raise SystemExit(f"--decide {decide}: name an arm that is not a bar, and at least one bar (--bars)")
    tasks = sorted({t for seeds in arms.values() for a in seeds.values()
                    for t, sub in (a.get("test_subtasks") or {}).items() if "gap_closure" in sub})
    print(f"metric: {metric}; mean ± Student-t 95% CI half-width over seeds; an arm minus a bar is paired on "
          "the seeds both have (n)")
    head = ["arm", "seeds", metric, "final dev Δ", *[f"test {t} gap closure" for t in tasks],
            *[f"− {bar} (n)" for bar in bars]]
    print("| " + " | ".join(head) + " |\n|" + " --- |" * 2 + " ---: |" * (len(head) - 2))
    for name, seeds in arms.items():
        devs = [a["final_dev_change"] for a in seeds.values() if a["final_dev_change"] is not None]
        row = [name, ",".join(map(str, sorted(seeds))), _mean_ci([metric_value(a, metric) for a in seeds.values()]),
               _mean_ci(devs, of=len(seeds)) if devs else "n/a"]
        for t in tasks:
            closure = [a["test_subtasks"][t]["gap_closure"] for a in seeds.values()
                       if "gap_closure" in (a.get("test_subtasks") or {}).get(t, {})]
            row.append(_mean_ci(closure, of=len(seeds)).lstrip("+") if closure else "n/a")
        for bar in bars:
            common, diffs = paired(arms[bar], seeds, metric)
            row.append("" if name == bar else f"{_mean_ci(diffs)} ({len(common)})" if diffs else "no common seed")
        print("| " + " | ".join(row) + " |")
    if decide:
        pairs = {bar: paired(arms[bar], arms[decide], metric) for bar in bars}
        counts = ", ".join(f"n = {len(common)} against {bar}" for bar, (common, _) in pairs.items())
        every_seed = set().union(*arms.values())
        absent = sorted(every_seed - set.intersection(*(set(common) for common, _ in pairs.values())))
        note = f"; provisional: seeds {absent} of this folder are missing from a pair" if absent else ""
        verdict = decision({bar: diffs for bar, (_, diffs) in pairs.items()})
        print(f"\n{decide} against {', '.join(bars)} by PROTOCOL.md's rule ({metric}; {counts}): {verdict}{note}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference", nargs="*", help="the reference arms (arms/<policy>_seed<s>.json)")
    parser.add_argument("--against", nargs="+", help="the arms compared with the reference")
    parser.add_argument("--metric", default="test_utility_change", help="a metric of the arm JSON's `metrics`")
    parser.add_argument("--table", type=Path, metavar="STAGE_FOLDER", help="a table of every arm folder in it")
    parser.add_argument("--bars", nargs="*", metavar="ARM", help="with --table: the references "
                        "(default: task_static grid; `--bars` alone: none, e.g. for the selection stage)")
    parser.add_argument("--decide", metavar="ARM", help="with --table: apply the decision rule to this arm")
    args = parser.parse_args(argv)
    if args.table:
        if args.reference or args.against:
            parser.error("give either --table or REF_ARM_JSON... --against ARM_JSON..., not both")
        bars = ["task_static", "grid"] if args.bars is None else args.bars
        return print_table(args.table, bars, args.decide, args.metric)
    if args.bars is not None or args.decide:
        parser.error("--bars and --decide go with --table")
    if not (args.reference and args.against):
        parser.error("give REF_ARM_JSON... --against ARM_JSON... (or --table STAGE_FOLDER)")
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
        a, b = metric_value(ref[s], args.metric), metric_value(other[s], args.metric)
        diffs.append(b - a)
        dev = [x["final_dev_change"] for x in (ref[s], other[s])]
        print(f"| {s} | {a:+.4f} | {b:+.4f} | {b - a:+.4f} | " + " | ".join(
            "n/a" if d is None else f"{d:+.4f}" for d in dev) + " |")
    mean, half = mean_ci95(diffs)
    ci = "" if len(diffs) < 2 else f" ± {half:.4f} (95% CI, Student t, n = {len(diffs)})"
    print(f"\nmean difference (arm - reference) in {args.metric}: {mean:+.4f}{ci}")


if __name__ == "__main__":
    main()
