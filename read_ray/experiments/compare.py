"""`read-ray compare`: every policy at the same budget, teacher, student, probes and evaluation, over seeds.

    OUT/
      runs/<policy>_seed<s>/            one run directory per (policy, seed) (the controller resumes it)
      runs/grid_seed<s>_pilot<i>/       the grid baseline's pilot runs
      arms/<policy>_seed<s>.json        a finished arm: its metrics (written last: present = skipped on resume)
      arms/grid_seed<s>.pilots.json     the grid's pilot results and chosen mix
      arms/initial_seed<s>.json         test utility of the initial student
      results.json  results.md  plots/paired_utility.png plots/utility_vs_tokens.png plots/utility.png
      plots/read_allocation.png plots/profile.png     (report.write_compare_plots; `read-ray report OUT` draws them again)

Evaluation. Every arm is scored on the task's TEST split (`task.utility`), which nothing else reads: the
bandit's dev checkpoints (kappa decay, the refitted reward) and the grid's pilot selection use the DEV split.

Grid baseline. Static mixes (`core.comparison.grid_mixes`, keys `compare.grid_*`) each get a pilot run of
`compare.grid_pilot_frac * B / M` tokens (policy `static`); the mix with the best dev utility then gets a
run whose ledger total is B minus what the pilots' ledgers spent (generation + training, + probes when
charged), so pilots + final run spend at most B. The grid's tokens and seconds in the table include its pilots.
A pilot whose round cannot pay one prompt of each capability of its mix trains a narrower mix than it names;
the pilots' JSON records what each was taught, and the log and the table flag such pilots.

Parallelism. `runtime.cluster.runs_that_fit` divides the cluster's resources (`ray.cluster_resources()`)
by one run's resource plan (all roles alive together plus one evaluation task); that many arms run at
once, each in a driver thread with its own Serve teacher app. On 2 CPUs one run needs most of the cluster,
so arms run one after another. An HTTP-enabled teacher forces one at a time (one route).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from read_ray.config import ABLATIONS, POLICIES, ReadConfig, replace
from read_ray.core.budget import Ledger
from read_ray.core.comparison import (
    STAGES,
    grid_mixes,
    paired_differences,
    pilot_budget_tokens,
    profile_change_metrics,
    spend_totals,
    summarize_seeds,
)
from read_ray.runtime.preflight import check_config

COMPARE_POLICIES = (*(p for p in POLICIES if p != "static"), "grid", *ABLATIONS)
# Δ utility is paired by seed against each of these that ran (task_static = w = r_tau, the paper's bar)
PAIRED_REFERENCES = ("task_static", "grid", "uniform")
HEADLINE = ("test_utility", "test_utility_change", "on_target_gain", "off_target_change", "spillover",
            "tokens/total", "seconds/round")


def parse_policies(text: str) -> list[str]:
    policies = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in policies if p not in COMPARE_POLICIES]
    if unknown or not policies:
        raise ValueError(f"--policies: unknown {', '.join(unknown) or '(none given)'}; choose from "
                         f"{', '.join(COMPARE_POLICIES)}")
    if len(set(policies)) != len(policies):
        raise ValueError(f"--policies: duplicates in {text!r}")
    return policies


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds: give comma-separated integers, e.g. 1,2,3 (got {text!r})") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds: give distinct integers >= 0, e.g. 1,2,3 (got {text!r})")
    return seeds


@dataclass(frozen=True)
class Arm:
    """One (policy, seed) of the comparison; `pilots` only for grid."""
    policy: str
    seed: int
    cfg: ReadConfig                          # for grid: the final run before its budget is known
    pilots: tuple[ReadConfig, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.policy}_seed{self.seed}"


def plan_arms(cfg: ReadConfig, policies: Sequence[str], seeds: Sequence[int], out: Path) -> list[Arm]:
    """Every arm's run config(s), validated before any cluster resource is taken."""
    from read_ray.content.tasks.cards import load_task
    from read_ray.runtime.downstream import task_requirement

    runs_dir = str((out / "runs").resolve())
    caps = cfg.capabilities.names
    arms = []
    for seed in seeds:
        for policy in policies:
            base = replace(cfg, run={"name": f"{policy}_seed{seed}", "runs_dir": runs_dir, "seed": seed},
                           bandit={"policy": "read" if policy in ABLATIONS else "uniform" if policy == "grid"
                                   else policy})
            base = replace(base, **ABLATIONS.get(policy, {}))
            if policy != "grid":
                arms.append(Arm(policy, seed, _checked(base, f"{policy} seed {seed}")))
                continue
            card = load_task(cfg.task.name, dev_size=cfg.task.dev_size, test_size=cfg.task.test_size, seed=seed)
            mixes = grid_mixes(task_requirement(base, card), cfg.compare.grid_top_k, cfg.compare.grid_weights)
            each = pilot_budget_tokens(cfg.budget.total_tokens, cfg.compare.grid_pilot_frac, len(mixes))
            pilots = tuple(_checked(replace(
                base, run={"name": f"grid_seed{seed}_pilot{i}"}, bandit={"policy": "static", "static_mix": _mix(caps, w)},
                budget={"total_tokens": each, "num_rounds": cfg.compare.grid_pilot_rounds}),
                f"grid pilot {i} (seed {seed}, {each} tokens)") for i, w in enumerate(mixes))
            # the final run gets at least B - all pilot allowances: check that it still affords its rounds
            floor_tokens = cfg.budget.total_tokens - each * len(mixes)
            final = replace(base, bandit={"policy": "static", "static_mix": _mix(caps, mixes[0])})
            _checked(replace(final, budget={"total_tokens": floor_tokens}), f"grid final run (seed {seed})")
            arms.append(Arm(policy, seed, final, pilots))
    return arms


def _checked(cfg: ReadConfig, what: str) -> ReadConfig:
    try:
        return check_config(cfg)              # the values, and the round-budget plan of a pilot's share
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


def _mix(caps: Sequence[str], w: np.ndarray) -> dict[str, float]:
    return {c: float(x) for c, x in zip(caps, w, strict=True) if x > 0}


def run_compare(cfg: ReadConfig, policies: Sequence[str], seeds: Sequence[int], out: str | Path,
                log=print) -> dict:
    """Run (or resume) every arm, then write results.json, results.md and plots; Ray must be initialised."""
    import ray

    from read_ray.runtime.cluster import runs_that_fit

    out = Path(out).resolve()
    arms = plan_arms(cfg, policies, seeds, out)
    (out / "arms").mkdir(parents=True, exist_ok=True)
    at_once = 1 if cfg.teacher.http_enabled else runs_that_fit(cfg, ray.cluster_resources())
    log(f"compare: {len(arms)} arms ({', '.join(policies)} x seeds {', '.join(map(str, seeds))}); "
        f"{at_once} at a time (cluster {ray.cluster_resources().get('CPU', 0):g} CPU / "
        f"{ray.cluster_resources().get('GPU', 0):g} GPU)")
    start = time.perf_counter()
    todo = [a for a in arms if not (out / "arms" / f"{a.name}.json").is_file()]
    if len(todo) < len(arms):
        log(f"compare: {len(arms) - len(todo)} arms already finished, skipped")
    if at_once == 1:
        for arm in todo:
            run_arm(arm, out, log)
    else:
        with ThreadPoolExecutor(max_workers=at_once) as pool:
            for future in [pool.submit(run_arm, arm, out, log) for arm in todo]:
                future.result()
    results = summarize(cfg, arms, out)
    results["parallel_runs"] = at_once
    results["wall_clock_s_this_call"] = time.perf_counter() - start
    write_results(out, results)
    return results


def initial_test_utility(cfg: ReadConfig, run_root: Path, out: Path) -> float:
    """Test utility of the initial student (the same for every policy of a seed); cached in arms/."""
    from read_ray.core.files import atomic_write
    from read_ray.model.loading import resolve_model_dir
    from read_ray.runtime.downstream import task_utility

    path = out / "arms" / f"initial_seed{cfg.run.seed}.json"
    if path.is_file():
        return json.loads(path.read_text())["test_utility"]
    student = str(run_root / "student_init") if cfg.student.init == "prune" else resolve_model_dir(cfg.student.model)
    value = task_utility(cfg, _card(cfg), student, "test")
    atomic_write(path, json.dumps({"test_utility": value, "student": _relative(Path(student), out)}))
    return value


def _relative(path: Path, out: Path) -> str:
    """`path` relative to the comparison folder when it lies inside it: arms/*.json stay valid when OUT moves."""
    return str(path.relative_to(out)) if path.is_relative_to(out) else str(path)


def _card(cfg: ReadConfig):
    from read_ray.content.tasks.cards import load_task

    return load_task(cfg.task.name, dev_size=cfg.task.dev_size, test_size=cfg.task.test_size, seed=cfg.run.seed)


def _finished_run(cfg: ReadConfig, log):
    """Run (or resume) one distillation; return its run directory, its records and its final student."""
    from read_ray.runtime.controller import run_distillation

    run = run_distillation(cfg, log=lambda m: log(f"[{cfg.run.name}] {m}"))
    records = run.records()
    if not records:
        raise ValueError(f"run {run.root} finished without a complete round: raise budget.total_tokens")
    return run, records, str(run.round_dir(records[-1]["round_index"]) / "student")


def run_arm(arm: Arm, out: Path, log) -> dict:
    """Run one arm to the end, score it on the test split, and write arms/<name>.json last."""
    from read_ray.core.files import atomic_write
    from read_ray.experiments.report import write_report
    from read_ray.runtime.downstream import task_report, task_requirement

    cfg, spent_records, grid = arm.cfg, [], None
    if arm.pilots:
        grid = run_grid_pilots(arm, out, log)
        cfg = replace(cfg, budget={"total_tokens": grid["final_total_tokens"]},
                      bandit={"static_mix": grid["mixes"][grid["best"]]})
        spent_records += [r for p in arm.pilots for r in _records_of(p)]
    run, records, student = _finished_run(cfg, log)
    write_report(run.root)
    spent_records += records
    card = _card(cfg)
    caps = cfg.capabilities.names
    test = task_report(cfg, card, student, "test")      # and each (sub)task's raw scores
    test_utility = test["utility"]
    test_utility_0 = initial_test_utility(cfg, run.root, out)
    profile = np.asarray(records[-1]["profile_after"])
    delta_s = profile - np.asarray(records[0]["profile_before"])
    metrics = {"test_utility": test_utility, "test_utility_change": test_utility - test_utility_0,
               **profile_change_metrics(task_requirement(cfg, card), delta_s, cfg.allocation.top_k),
               **{f"profile/{c}": float(x) for c, x in zip(caps, profile, strict=True)},
               **spend_totals(caps, spent_records)}
    result = {"policy": arm.policy, "seed": arm.seed, "run_dir": _relative(run.root, out), "metrics": metrics,
              "allocations": [r["allocation"] for r in records], "ledger": records[-1]["ledger"], "grid": grid,
              "test_subtasks": test["subtasks"]}
    atomic_write(out / "arms" / f"{arm.name}.json", json.dumps(result, indent=1))
    log(f"compare: {arm.name}: test utility {test_utility:.4f} ({metrics['test_utility_change']:+.4f}), "
        f"{metrics['tokens/total']:,.0f} tokens")
    return result


def _records_of(cfg: ReadConfig) -> list[dict]:
    from read_ray.runtime.rundir import RunDirectory

    return RunDirectory(Path(cfg.run.runs_dir) / cfg.run.name).records()


def run_grid_pilots(arm: Arm, out: Path, log) -> dict:
    """Pilot every grid mix on its share of the budget, pick the best by DEV utility; cached in arms/."""
    from read_ray.core.files import atomic_write
    from read_ray.runtime.downstream import task_utility

    path = out / "arms" / f"{arm.name}.pilots.json"
    if path.is_file():
        return json.loads(path.read_text())
    mixes, spent, dev, taught = [], [], [], []
    for pilot in arm.pilots:
        run, records, student = _finished_run(pilot, log)
        mixes.append(dict(pilot.bandit.static_mix))
        spent.append(Ledger.from_dict(records[-1]["ledger"]).spent_tokens)
        dev.append(task_utility(pilot, _card(pilot), student, "dev"))
        taught.append(_taught_capabilities(run, records))
        log(f"compare: {pilot.run.name} {mixes[-1]}: dev utility {dev[-1]:.4f}, {spent[-1]:,} tokens")
        if _narrower(taught[-1], mixes[-1]):
            log(f"compare: warning: {pilot.run.name}'s teacher batches held only {taught[-1]} of its mix "
                f"{sorted(mixes[-1])}: a round's generation cap did not pay one prompt of each, so its dev utility "
                "measures a narrower mix; raise compare.grid_pilot_frac or lower compare.grid_top_k")
    best = int(np.argmax(dev))
    grid = {"mixes": mixes, "pilot_budget_tokens": arm.pilots[0].budget.total_tokens, "pilot_spent_tokens": spent,
            "pilot_taught_capabilities": taught, "dev_utility": dev, "best": best,
            "total_tokens": arm.cfg.budget.total_tokens, "final_total_tokens": arm.cfg.budget.total_tokens - sum(spent)}
    atomic_write(path, json.dumps(grid, indent=1))
    log(f"compare: {arm.name}: best mix {mixes[best]}; final run gets {grid['final_total_tokens']:,} of "
        f"{grid['total_tokens']:,} tokens")
    return grid


def _taught_capabilities(run, records: Sequence[dict]) -> list[str]:
    """The capabilities the teacher answered prompts of in a run's complete rounds (their batch.jsonl), sorted:
    what a pilot actually trained on, which a small generation cap can make narrower than its mix."""
    return sorted({json.loads(line)["capability"]
                   for r in records for line in (run.round_dir(r["round_index"]) / "batch.jsonl").open()})


def _narrower(taught: Sequence[str], mix: dict) -> bool:
    """Whether a pilot was taught fewer capabilities than its mix names."""
    return set(taught) != set(mix)


def summarize(cfg: ReadConfig, arms: Sequence[Arm], out: Path) -> dict:
    """The table: every policy's metrics as mean and 95% CI over seeds (from arms/*.json)."""
    from read_ray.runtime.downstream import task_requirement

    done = {a.name: json.loads((out / "arms" / f"{a.name}.json").read_text()) for a in arms}
    policies = list(dict.fromkeys(a.policy for a in arms))
    seeds = list(dict.fromkeys(a.seed for a in arms))
    table, per_seed = {}, {}
    for policy in policies:
        rows = [done[f"{policy}_seed{s}"] for s in seeds]
        per_seed[policy] = [r["metrics"] for r in rows]
        table[policy] = {"metrics": summarize_seeds(per_seed[policy]),
                         "allocations": {str(r["seed"]): r["allocations"] for r in rows}}
        if policy == "grid":
            table[policy]["grid"] = {str(r["seed"]): r["grid"] for r in rows}
    references = [p for p in PAIRED_REFERENCES if p in policies]
    for reference in references:
        for policy, diff in paired_differences(per_seed, reference, "test_utility_change").items():
            table[policy].setdefault("paired_utility_change", {})[reference] = diff
    card = _card(cfg)
    utility = cfg.task.utility if not card.subtasks else (
        f"mean gap closure over {', '.join(s.name for s in card.subtasks)} on {cfg.task.utility} "
        "(0 = initial student, 100 = teacher)")
    return {"task": cfg.task.name, "utility": utility, "evaluation_split": "test",
            "total_tokens": cfg.budget.total_tokens, "num_rounds": cfg.budget.num_rounds, "seeds": seeds,
            "capabilities": list(cfg.capabilities.names),
            "requirement": task_requirement(cfg, card).tolist(), "policies": table,
            "paired_references": references,
            "ci": "Student-t 95% half-width over seeds; null with one seed"}


def _cell(m: dict, fmt: str) -> str:
    return format(m["mean"], fmt) + ("" if m["ci95"] is None else " ± " + format(m["ci95"], fmt.lstrip("+")))


def write_results(out: Path, results: dict) -> None:
    """results.json, results.md and the plots."""
    from read_ray.core.files import atomic_write

    atomic_write(out / "results.json", json.dumps(results, indent=1))
    caps, table = results["capabilities"], results["policies"]
    lines = [f"# Policy comparison on `{results['task']}`", "",
             f"Budget {results['total_tokens']:,} tokens per policy, {results['num_rounds']} rounds, seeds "
             f"{', '.join(map(str, results['seeds']))}. Utility = `{results['utility']}` on the TEST split "
             f"(never used for any choice). Cells: mean ± 95% CI half-width over seeds "
             f"(Student t; mean only with one seed). Profile points: 0 = initial student, 100 = teacher.", "",
             "| policy | test utility | Δ utility | on-target gain | off-target change | spillover | tokens | "
             "seconds |", "| --- |" + " ---: |" * 7]
    fmts = (".4f", "+.4f", "+.2f", "+.2f", ".2f", ",.0f", ".0f")
    for policy, row in table.items():
        lines.append(f"| {policy} | " + " | ".join(_cell(row["metrics"][k], f) for k, f in zip(HEADLINE, fmts,
                                                                                               strict=True)) + " |")
    for reference in results.get("paired_references", []):
        lines += ["", f"## Δ utility against `{reference}`, paired by seed", "",
                  f"Per seed, the policy's Δ utility minus `{reference}`'s (same initial student, probes and test "
                  "split): a CI that excludes 0 separates the two.", "",
                  "| policy | mean ± 95% CI | per seed |", "| --- | ---: | --- |"]
        for policy, row in table.items():
            if policy == reference:
                continue
            diff = row["paired_utility_change"][reference]
            lines.append(f"| {policy} | {_cell(diff, '+.4f')} | {', '.join(format(v, '+.4f') for v in diff['values'])} |")
    for title, keys, fmt in (("Tokens per capability (teacher + training)", [f"tokens/{c}" for c in caps], ",.0f"),
                             ("Final capability profile", [f"profile/{c}" for c in caps], "+.1f"),
                             ("Wall-clock per stage (s)", [f"seconds/{s}" for s in STAGES], ".1f")):
        names = [k.split("/", 1)[1] for k in keys]
        lines += ["", f"## {title}", "", "| policy | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(keys)]
        for policy, row in table.items():
            lines.append(f"| {policy} | " + " | ".join(_cell(row["metrics"][k], fmt) for k in keys) + " |")
    if "grid" in table:
        lines += ["", "## Grid baseline", "", "| seed | chosen mix (best dev utility) | pilots' tokens | final run's budget "
                  "| pilots taught a narrower mix than they name |", "| ---: | --- | ---: | ---: | ---: |"]
        for seed, g in table["grid"]["grid"].items():
            taught = g.get("pilot_taught_capabilities")   # absent from pilots of earlier code
            narrower = "not recorded" if taught is None else (
                f"{sum(map(_narrower, taught, g['mixes']))} of {len(g['mixes'])}")
            lines.append(f"| {seed} | {g['mixes'][g['best']]} | {sum(g['pilot_spent_tokens']):,} | "
                         f"{g['final_total_tokens']:,} | {narrower} |")
    from read_ray.experiments.report import write_compare_plots

    plots = write_compare_plots(out, results)
    lines += ["", "## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots] + [""]
    (out / "results.md").write_text("\n".join(lines))

