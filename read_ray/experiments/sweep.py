"""Hyper-parameter sweeps of the bandit, reward and allocation sections with Ray Tune.

    read-ray sweep --mode sim|real [--config PRESET_OR_PATH] [--num-samples N] [--search-space FILE] [--out DIR]

The search space is a YAML file mapping config keys (`bandit.kappa`, `allocation.weight_grid`, ...) to one
distribution each (`read_ray/data/search_space.yaml` is the default and documents the format). It is checked
against the config schema and `validate` (every end point and option) before Ray is touched.

- `sim`: each trial runs the core simulator (`run_policy`) and reports the noise-free simulated utility
  after every round, so ASHA stops bad trials early; trials take one CPU each and run side by side.
- `real`: each trial is a whole distillation (`run_distillation`) in its own run directory, one trial at
  a time. The trial holds only a token of memory (PLATFORM.md) and runs the distillation as a Ray task
  with an explicit default scheduling strategy, so the run's learner, probe actors, Serve app and Train
  workers are placed on the cluster as in `read-ray run` instead of being captured by the trial's
  placement group (where they would not fit, and Serve's controller cannot be placed at all). The
  objective is the downstream utility change on the task's *dev* split; the test split is never used.

The output folder holds trials.csv and trials.md (best first), best.yaml (the best configuration as a
full preset for `read-ray run --config`), search_space.yaml (the space used), sweep.json, and tune/ (Ray's
own experiment folder).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import time
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from read_ray.config import (
    ReadConfig,
    config_from_dict,
    config_to_dict,
    read_yaml_file,
    replace,
    to_yaml,
    validate,
)

DEFAULT_SEARCH_SPACE = Path(__file__).resolve().parent.parent / "data" / "search_space.yaml"
SWEEPABLE_SECTIONS = ("bandit", "reward", "allocation")
DISTRIBUTIONS = ("uniform", "loguniform", "randint", "choice")
OBJECTIVE = {"sim": "utility", "real": "dev_utility_change"}
OBJECTIVE_HELP = {
    "sim": "final noise-free utility U = r . s of the simulated world (higher is better)",
    "real": "change of the downstream task utility on the dev split, final student vs initial (higher is better)",
}
TRIAL_MEMORY_BYTES = 64 * 2**20
"""The real-mode trial's own reservation: a token, so the run's actors, replicas and workers fit beside it."""


# ----------------------------------------------------------------------------- search space


def apply_params(base: ReadConfig, params: Mapping[str, Any]) -> ReadConfig:
    """`base` with dotted keys replaced (`{"bandit.kappa": 0.5}`), converted to the declared types."""
    data = config_to_dict(base)
    for key, value in params.items():
        section, field = key.split(".", 1)
        data[section][field] = value
    return config_from_dict(data)


def _space_problem(key: str, spec: Any) -> str | None:
    """What is wrong with one entry's shape (not its values), or None."""
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        return f"{key}: give exactly one distribution, one of {', '.join(DISTRIBUTIONS)} (e.g. {{uniform: [0.1, 1.0]}})"
    kind, args = next(iter(spec.items()))
    if not isinstance(args, list) or not args:
        return f"{key}: {kind} needs a list of values"
    if kind == "choice":
        return None
    if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        return f"{key}: {kind} needs [low, high] numbers, got {args!r}"
    low, high = args
    if not low < high:
        return f"{key}: {kind} needs low < high, got {args!r}"
    if kind == "loguniform" and low <= 0:
        return f"{key}: loguniform needs low > 0, got {low}"
    if kind == "randint" and not (float(low).is_integer() and float(high).is_integer()):
        return f"{key}: randint needs integer bounds, got {args!r}"
    return None


def load_search_space(path: str | Path | None, base: ReadConfig) -> dict[str, dict[str, list]]:
    """Read and check a search-space YAML; every problem is named with its key, before any trial starts."""
    path = Path(path) if path else DEFAULT_SEARCH_SPACE
    if not path.is_file():
        raise ValueError(f"--search-space: file {path} does not exist")
    space = read_yaml_file(path)
    if not space:
        raise ValueError(f"search space {path}: no keys; map config keys to distributions (see {DEFAULT_SEARCH_SPACE.name})")
    problems = []
    for key, spec in space.items():
        section, _, field = str(key).partition(".")
        fields = [f.name for f in dataclasses.fields(typing.get_type_hints(ReadConfig)[section])] \
            if section in SWEEPABLE_SECTIONS else []
        if field not in fields:
            where = (f"{section} has no '{field}'; its keys: {', '.join(fields)}" if fields
                     else f"only keys of the sections {', '.join(SWEEPABLE_SECTIONS)} can be swept")
            problems.append(f"unknown key '{key}': {where}")
            continue
        shape = _space_problem(str(key), spec)
        if shape:
            problems.append(shape)
            continue
        kind, args = next(iter(spec.items()))
        for value in args:    # every option, or both ends of a range, must give a valid config
            try:
                validate(apply_params(base, {key: value}))
            except ValueError as exc:
                detail = str(exc).removeprefix("invalid config:\n  - ").replace("\n  - ", "; ")
                problems.append(f"{key}: {kind} value {value!r} is not valid here: {detail}")
    if problems:
        raise ValueError(f"search space {path}:\n  - " + "\n  - ".join(problems))
    return space


def tune_param_space(space: Mapping[str, Mapping[str, list]]) -> dict[str, Any]:
    """The checked space as Ray Tune domains, keyed by dotted config key."""
    from ray import tune

    domains = {}
    for key, spec in space.items():
        kind, args = next(iter(spec.items()))
        if kind == "choice":
            domains[key] = tune.choice(list(args))
        elif kind == "randint":
            domains[key] = tune.randint(int(args[0]), int(args[1]) + 1)      # tune's upper end is exclusive
        else:
            domains[key] = getattr(tune, kind)(float(args[0]), float(args[1]))
    return domains


# ----------------------------------------------------------------------------- trials (run in Tune actors)


def _sim_trial(params: dict, base: dict) -> None:
    import torch
    from ray import tune

    from read_ray.core.simulator import run_policy

    torch.set_num_threads(1)
    cfg = apply_params(config_from_dict(base), params)
    run_policy(cfg, cfg.bandit.policy, cfg.run.seed,
               on_round=lambda rounds, utility: tune.report({"utility": utility, "rounds": rounds}))


def _real_trial(params: dict, base: dict, trials_dir: str) -> None:
    import ray
    from ray import tune

    name = tune.get_context().get_trial_name()
    # an explicit "DEFAULT" strategy keeps the run (and the actors, Serve app and Train workers it starts)
    # out of the trial's placement group, which holds only a token of memory
    run = ray.remote(_distill_run).options(num_cpus=0, max_retries=0, scheduling_strategy="DEFAULT")
    tune.report(ray.get(run.remote(params, base, trials_dir, name)))


def _distill_run(params: dict, base: dict, trials_dir: str, name: str) -> dict:
    """One whole distillation in its own run directory; returns the trial's result."""
    from read_ray.runtime.controller import run_distillation

    cfg = replace(apply_params(config_from_dict(base), params), run={"name": name, "runs_dir": trials_dir})
    run = run_distillation(validate(cfg), log=lambda line: print(f"[{name}] {line}", flush=True))
    return {"dev_utility_change": final_dev_change(cfg, run), "rounds": len(run.complete_rounds()),
            "run_dir": str(run.root)}


def final_dev_change(cfg: ReadConfig, run) -> float:
    """Dev-split utility change of the run's final student: the last round's dev checkpoint when it had
    one, else one evaluation of the final student on the dev split (never the test split)."""
    from read_ray.content.tasks.cards import load_task
    from read_ray.runtime.downstream import task_utility

    records = run.records()
    if records and records[-1].get("dev_utility_change") is not None:
        return float(records[-1]["dev_utility_change"])
    dev0 = json.loads((run.root / "normaliser.json").read_text())["dev_utility_0"]
    card = load_task(cfg.task.name, dev_size=cfg.task.dev_size, test_size=cfg.task.test_size, seed=cfg.run.seed)
    final = run.round_dir(run.complete_rounds()[-1]) / "student" if records else run.root / "student_init"
    return task_utility(cfg, card, str(final), "dev") - dev0


# ----------------------------------------------------------------------------- the sweep


@dataclasses.dataclass(frozen=True)
class SweepResult:
    out_dir: Path
    best_preset: Path
    best_params: dict
    best_objective: float
    trials: list[dict]
    seconds: float


def run_sweep(cfg: ReadConfig, *, mode: str, num_samples: int, space: Mapping[str, Mapping[str, list]],
              out_dir: str | Path, verbose: int = 1) -> SweepResult:
    """Run the Tune experiment (Ray must be initialised) and write the trial table and best preset."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import BasicVariantGenerator

    if mode not in OBJECTIVE:
        raise ValueError(f"--mode: {mode!r} is not one of {', '.join(OBJECTIVE)}")
    if num_samples < 1:
        raise ValueError(f"--num-samples: need at least 1 trial, got {num_samples}")
    out = Path(out_dir).resolve()
    if (out / "trials.csv").exists():
        raise ValueError(f"--out: {out} already holds a sweep (trials.csv); choose another folder")
    out.mkdir(parents=True, exist_ok=True)
    metric, base = OBJECTIVE[mode], config_to_dict(cfg)
    start = time.perf_counter()
    if mode == "sim":
        trainable = tune.with_resources(tune.with_parameters(_sim_trial, base=base), {"CPU": 1})
        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=cfg.budget.num_rounds,
                                  grace_period=max(1, cfg.budget.num_rounds // 3), reduction_factor=2)
        concurrency = 0                          # as many as the CPUs hold
    else:
        trainable = tune.with_resources(
            tune.with_parameters(_real_trial, base=base, trials_dir=str(out / "trials")),
            tune.PlacementGroupFactory([{"memory": TRIAL_MEMORY_BYTES}]))
        scheduler, concurrency = None, 1         # whole runs, one at a time: each needs most of a small machine
    # (TuneConfig.max_concurrent_trials is ignored when a search algorithm is given: limit it there)
    tuner = tune.Tuner(
        trainable,
        param_space=tune_param_space(space),
        tune_config=tune.TuneConfig(metric=metric, mode="max", num_samples=num_samples, scheduler=scheduler,
                                    search_alg=BasicVariantGenerator(random_state=cfg.run.seed,
                                                                     max_concurrent=concurrency)),
        run_config=tune.RunConfig(name="tune", storage_path=str(out), verbose=verbose),
    )
    grid = tuner.fit()
    trials = trial_rows(grid, list(space), metric, cfg.budget.num_rounds if mode == "sim" else None)
    finished = [t for t in trials if t["status"] == "complete"]
    if not finished:
        errors = "; ".join(f"{t['trial']}: {t['error']}" for t in trials if t["error"]) or "none reported"
        raise RuntimeError(f"no trial of the sweep finished (errors: {errors}); see {out / 'tune'}")
    best = finished[0]
    best_params = {k: best[k] for k in space}
    best_cfg = validate(replace(apply_params(cfg, best_params), run={"name": f"{cfg.run.name}-swept"}))
    best_path = out / "best.yaml"
    best_path.write_text(
        f"# Best of {len(trials)} trials of `read-ray sweep --mode {mode}` (trial {best['trial']}, "
        f"{metric} {best[metric]:.4g}: {OBJECTIVE_HELP[mode]}).\n"
        f"# Run it with: read-ray run --config {best_path.name}\n" + to_yaml(best_cfg))
    write_tables(out, trials, [metric, *space], mode)
    (out / "search_space.yaml").write_text(yaml.safe_dump(dict(space), sort_keys=False))
    seconds = time.perf_counter() - start
    (out / "sweep.json").write_text(json.dumps(
        {"mode": mode, "objective": metric, "objective_means": OBJECTIVE_HELP[mode], "num_samples": num_samples,
         "seconds": seconds, "best": {"trial": best["trial"], metric: best[metric], "params": best_params},
         "trials": trials}, indent=1, default=str))
    return SweepResult(out, best_path, best_params, float(best[metric]), trials, seconds)


def trial_rows(grid, keys: list[str], metric: str, full_rounds: int | None) -> list[dict]:
    """One row per trial (its parameters, last reported objective, rounds, status), best first."""
    rows = []
    for result in grid:
        m = result.metrics or {}
        rounds = m.get("rounds")
        if result.error is not None:
            status = "error"
        elif metric not in m:
            status = "no result"
        elif full_rounds is not None and rounds is not None and rounds < full_rounds:
            status = "stopped early"
        else:
            status = "complete"
        rows.append({"trial": m.get("trial_id") or Path(result.path).name, "status": status,
                     metric: m.get(metric), "rounds": rounds, **{k: result.config.get(k) for k in keys},
                     "error": "" if result.error is None else str(result.error).strip().splitlines()[-1][:300]})
    order = {"complete": 0, "stopped early": 1, "no result": 2, "error": 3}
    rows.sort(key=lambda r: (order[r["status"]], -(r[metric] if r[metric] is not None else float("-inf"))))
    return rows


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    return "" if value is None else str(value)


def write_tables(out: Path, trials: list[dict], columns: list[str], mode: str) -> None:
    """trials.csv (every column) and trials.md (rank, trial, status, rounds, objective, parameters)."""
    with open(out / "trials.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(trials[0]))
        writer.writeheader()
        writer.writerows({k: json.dumps(v) if isinstance(v, (list, tuple)) else v for k, v in t.items()}
                         for t in trials)
    head = ["rank", "trial", "status", "rounds", *columns]
    lines = [f"Sweep ({mode}): {len(trials)} trials, best first. Objective `{columns[0]}`: "
             f"{OBJECTIVE_HELP[mode]}.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rank, t in enumerate(trials, 1):
        lines.append("| " + " | ".join([str(rank), *(_cell(t[c]) for c in head[1:])]) + " |")
    (out / "trials.md").write_text("\n".join(lines) + "\n")
