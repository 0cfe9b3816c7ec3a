"""`read-ray` console script.

    read-ray run | compare | report | export | config show | simulate | sweep | bank | data show|check
             | profile | identify      (`read-ray COMMAND --help` for each command's arguments)

Bad input exits with status 2 and one message naming the cause: the config's values and the files and
packages it names are checked first (`runtime.preflight.check_config`), then, before connecting to Ray,
the run directory and this machine. Heavy modules are imported only by the subcommand that needs them.
`run` and `compare` show each round's stage live (`runtime.console`; Ray's log lines only with --verbose).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from read_ray.config import ABLATIONS, POLICIES, load_config, replace, to_yaml


def _stdout_to_stderr():
    """Keep stdout for our own output: libraries that log to stdout (DeepSpeed) would break --json."""
    return contextlib.redirect_stdout(sys.stderr)


def _load(args: argparse.Namespace):
    """The config of --config and the overrides, its values and the files it names checked."""
    from read_ray.runtime.preflight import check_config

    return check_config(load_config(args.config, args.overrides))


def _out_dir(args: argparse.Namespace, default) -> str:
    """--out, or the default under run.runs_dir; checked (a file, read-only) before Ray starts."""
    from read_ray.runtime.preflight import check_output_dir

    check_output_dir(args.out or default, "--out" if args.out else "output folder (run.runs_dir)")
    return str(args.out or default)


def cmd_config_show(args: argparse.Namespace) -> int:
    print(to_yaml(_load(args)), end="")
    return 0


SIMULATE_POLICIES = ("oracle", *POLICIES, *ABLATIONS)


def cmd_simulate(args: argparse.Namespace) -> int:
    from read_ray.core.simulator import WORLDS, compare_policies
    from read_ray.runtime.preflight import check_config

    cfg = check_config(replace(_load(args), budget={"num_rounds": args.rounds}))
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = [p for p in policies if p not in SIMULATE_POLICIES or p == "static"]
    if unknown:
        raise ValueError(f"--policies: unknown {', '.join(unknown)}; choose from "
                         f"{', '.join(p for p in SIMULATE_POLICIES if p != 'static')}")
    if args.seeds < 1 or args.first_seed < 0:
        raise ValueError("--seeds: need at least 1 seed; --first-seed: must be >= 0")
    if args.bank < 0:
        raise ValueError("--bank: the number of offline static runs must be >= 0")
    world = WORLDS[args.world](cfg.capabilities.names)
    with _stdout_to_stderr():
        result = compare_policies(cfg, policies, list(range(args.first_seed, args.first_seed + args.seeds)), world,
                                  bank_runs=args.bank)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    best = result["best_static_mix"]
    caps = result["world"]["capabilities"]
    mix = ", ".join(f"{c} {w:.2f}" for c, w in zip(caps, best["allocation"], strict=True) if w > 0)
    print(f"simulated world '{args.world}': {result['rounds']} rounds, {result['total_tokens']:,} tokens, "
          f"{len(result['seeds'])} seeds; best static mix ({mix}) reaches U = {best['final_utility']:.2f}")
    if result["bank"]:
        b = result["bank"]
        print(f"bandit policies warm-started from {b['transitions']} transitions of {b['runs']} static runs "
              f"(seeds disjoint from these; {b['spent_tokens']:,} tokens, outside the budget)")
    print(f"{'policy':<12} {'final utility':>20} {'regret':>8} {'vs task_static (paired)':>24} {'spillover':>18}")
    for name, row in sorted(result["policies"].items(), key=lambda kv: -kv[1]["final_utility"]["mean"]):
        u, s, d = row["final_utility"], row["spillover"], row.get("vs_task_static")
        paired = f"{d['mean']:+.2f} ± {d['ci95']:.2f}" if d else ""
        print(f"{name:<12} {u['mean']:>12.2f} ± {u['ci95']:<5.2f} {row['regret']['mean']:>8.2f} {paired:>24} "
              f"{s['mean']:>10.3f} ± {s['ci95']:<5.3f}")
    print("utility = noise-free U (true weights . s); oracle = myopic, knows the world; task_static = w = r_tau;\n"
          "± = half-width of the 95% confidence interval over seeds (Student t)")
    return 0


def cmd_bank(args: argparse.Namespace) -> int:
    from pathlib import Path

    from read_ray.experiments.bank import build_bank

    cfg = _load(args)
    sources = [Path(p) for p in args.runs]
    bank = build_bank(cfg, sources, Path(args.out))
    print(f"transition bank {args.out}: {len(bank.transitions)} transitions from {len(bank.sources)} runs "
          f"({bank.spent_tokens:,} tokens spent by those runs, reported outside any budget)")
    return 0


def _console_overrides(args: argparse.Namespace) -> None:
    """--no-progress: one line per stage when it ends, even in a terminal (logging.progress=false)."""
    if args.no_progress:
        args.overrides.append("logging.progress=false")


def cmd_run(args: argparse.Namespace) -> int:
    from read_ray.runtime.cluster import connect
    from read_ray.runtime.preflight import preflight

    _console_overrides(args)
    cfg = preflight(_load(args), force=args.force)
    with connect(cfg, verbose=args.verbose):
        from read_ray.experiments.report import write_report
        from read_ray.runtime.console import quiet_console

        quiet_console(args.verbose)
        from read_ray.runtime.controller import run_distillation

        run = run_distillation(cfg, force=args.force)
    print(write_report(run.root))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from read_ray.experiments.compare import parse_policies, parse_seeds, plan_arms, run_compare
    from read_ray.runtime.cluster import connect
    from read_ray.runtime.preflight import preflight

    _console_overrides(args)
    cfg = preflight(_load(args), run_dir=False)
    policies, seeds = parse_policies(args.policies), parse_seeds(args.seeds)
    out = Path(_out_dir(args, Path(cfg.run.runs_dir) / f"compare_{cfg.run.name}")).resolve()
    plan_arms(cfg, policies, seeds, out)                 # every arm's config is valid before Ray starts
    with connect(cfg, verbose=args.verbose):
        from read_ray.runtime.console import quiet_console

        quiet_console(args.verbose)
        run_compare(cfg, policies, seeds, out)
    table = (out / "results.md").read_text().split("\n## ")[0]
    print(table.rstrip() + f"\n\nresults: {out / 'results.md'} and {out / 'results.json'}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from read_ray.experiments.sweep import load_search_space, run_sweep
    from read_ray.runtime.cluster import connect
    from read_ray.runtime.preflight import preflight

    cfg = preflight(_load(args), run_dir=False)
    space = load_search_space(args.search_space, cfg)
    out = _out_dir(args, Path(cfg.run.runs_dir) / f"sweep-{args.mode}-{time.strftime('%Y%m%d-%H%M%S')}")
    with connect(cfg):
        result = run_sweep(cfg, mode=args.mode, num_samples=args.num_samples, space=space, out_dir=out)
    print(f"{len(result.trials)} trials in {result.seconds:.0f} s; best {result.best_objective:.4g} "
          f"({', '.join(f'{k}={v}' for k, v in result.best_params.items())})")
    print(f"trial table: {result.out_dir / 'trials.md'}\nbest preset: {result.best_preset} "
          f"(read-ray run --config {result.best_preset})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from read_ray.experiments.report import replot_compare, write_report
    from read_ray.runtime.rundir import check_report_dir

    if (Path(args.run_dir) / "results.json").is_file() and not (Path(args.run_dir) / "config.yaml").exists():
        print(replot_compare(args.run_dir))          # a `read-ray compare` folder: its plots again
        return 0
    print(write_report(check_report_dir(args.run_dir)))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from read_ray.experiments.export import export_student, load_line

    with _stdout_to_stderr():
        done = export_student(args.run_dir, args.out)
    print(f"exported the student of round {done['round'] + 1} ({done['student']}) to {done['out']}: "
          f"{done['precision']} weights ({done['weights']}), model card {done['out']}/README.md")
    print(f"load it: {load_line(done['out'])}")
    return 0


def cmd_identify(args: argparse.Namespace) -> int:
    from pathlib import Path

    from read_ray.experiments.identify import load_cards, markdown_table, run_identify
    from read_ray.runtime.cluster import connect
    from read_ray.runtime.preflight import preflight

    cfg = preflight(_load(args), run_dir=False)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    out = Path(_out_dir(args, Path(cfg.run.runs_dir) / f"identify-{cfg.run.name}"))
    with _stdout_to_stderr():
        load_cards(cfg, tasks, args.interventions, out)            # bad input fails before Ray starts
        with connect(cfg):
            result = run_identify(cfg, tasks, args.interventions, out, log=lambda m: print(m, file=sys.stderr))
    print(markdown_table(result), end="")
    print(f"written to {out.resolve()} in {result['seconds']['total']:.0f} s")
    return 0


def cmd_data_show(args: argparse.Namespace) -> int:
    import numpy as np

    from read_ray.content.pools import pools_for_config

    cfg = _load(args)
    if args.capability not in cfg.capabilities.names:
        raise ValueError(f"--capability: {args.capability!r} is not one of {', '.join(cfg.capabilities.names)}")
    pool = pools_for_config(cfg, [args.capability])[args.capability]
    drawn = pool.draw(args.n, progress_frac=args.progress, rng=np.random.default_rng(args.seed))
    for p in drawn.prompts:
        factors = ", ".join(f"{k}={v:g}" for k, v in p.factors)
        print(f"--- {p.source_id} | {pool.scale.tier(p)} (difficulty {pool.scale.score(p):.2f}; {factors})")
        print(p.text)
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    from read_ray.experiments.inventory import data_check

    with _stdout_to_stderr():
        report = data_check(_load(args))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{'capability':<18} {'distinct':>8} {'sources':>7} {'probes':>6} {'overlap (unfiltered)':>22} {'after filter':>12}")
    for cap, row in report["capabilities"].items():
        raw = row["overlap_unfiltered"]
        print(f"{cap:<18} {row['distinct_prompts']:>8} {row['sources']:>7} {row['probe_items']:>6} "
              f"{raw['exact']:>6} exact {raw['ngram']:>4} ngram {row['overlap_after_filter']:>12}")
    print(f"\n{'task':<14} {'dev':>5} {'test':>5} {'metric':>12}")
    for name, row in report["tasks"].items():
        print(f"{name:<14} {row['dev']:>5} {row['test']:>5} {row['metric']:>12}")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from pathlib import Path

    from read_ray.experiments.inventory import profile_model

    model = Path(args.model).expanduser()
    if args.model not in ("teacher", "student") and (model.exists() or args.model.startswith(("/", ".", "~"))) \
            and not (model / "config.json").is_file():
        raise ValueError(f"--model {args.model} is not a Hugging Face model directory (no config.json there); give "
                         f"teacher, student or a model directory")
    with _stdout_to_stderr():
        result = profile_model(_load(args), args.model)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.model} ({result['path']}), scorer {result['scorer']}")
    for cap, value in result["raw"].items():
        lo, hi = result["ci"][cap]
        print(f"{cap:<18} {value:>8.3f}  95% CI [{lo:.3f}, {hi:.3f}]  n={result['n'][cap]}")
    return 0


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="default", help="preset name (default, tiny, ...) or a YAML path")
    p.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides")


def _add_console_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-progress", action="store_true", help="one line per stage when it ends instead of live "
                   "stage lines (the default when stdout is not a terminal)")
    p.add_argument("--verbose", action="store_true", help="Ray's and Serve's log lines on the console too (by "
                   "default they go to the run's ray.log and Ray's session logs)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="read-ray", description="ReAD capability distillation on Ray")
    sub = parser.add_subparsers(dest="command", required=True)

    config = sub.add_parser("config", help="inspect configuration").add_subparsers(dest="action", required=True)
    show = config.add_parser("show", help="print the resolved, validated config as YAML")
    _add_config_args(show)
    show.set_defaults(func=cmd_config_show)

    simulate = sub.add_parser("simulate", help="run allocation policies in the synthetic capability world")
    _add_config_args(simulate)
    simulate.add_argument("--policies", default="oracle,task_static,read,greedy,frozen,single_cap,uniform,random,exp3")
    simulate.add_argument("--world", default="default", choices=("default", "shifting", "misspecified"),
                          help="default (gsm8k-like), shifting (3 tasks, the best mix changes over the run), "
                               "misspecified (the card's r_tau is not the utility's weights)")
    simulate.add_argument("--bank", type=int, default=0, metavar="N",
                          help="warm-start read/greedy/frozen from N offline static runs (disjoint seeds)")
    simulate.add_argument("--seeds", type=int, default=5, help="number of seeds (first-seed .. first-seed+N-1)")
    simulate.add_argument("--first-seed", type=int, default=0, help="first seed (confirm on fresh seeds)")
    simulate.add_argument("--rounds", type=int, default=20, help="decision rounds (budget.num_rounds), METHOD.md default 20")
    simulate.add_argument("--json", action="store_true", help="print the full result as JSON")
    simulate.set_defaults(func=cmd_simulate)

    sweep = sub.add_parser("sweep", help="Ray Tune sweep of bandit/reward/allocation hyper-parameters")
    _add_config_args(sweep)
    sweep.add_argument("--mode", choices=("sim", "real"), required=True,
                       help="sim: the core simulator (cheap, ASHA); real: whole distillation runs, one at a time")
    sweep.add_argument("--num-samples", type=int, default=16, help="number of trials")
    sweep.add_argument("--search-space", default=None, help="YAML search space (default: the packaged one)")
    sweep.add_argument("--out", default=None, help="output folder (default: <run.runs_dir>/sweep-<mode>-<time>)")
    sweep.set_defaults(func=cmd_sweep)

    bank = sub.add_parser("bank", help="build a transition bank from finished run directories (warm start)")
    _add_config_args(bank)
    bank.add_argument("--from", dest="runs", nargs="+", required=True, metavar="RUN_DIR_OR_FOLDER",
                      help="run directories, or folders searched for them (e.g. a compare output)")
    bank.add_argument("--out", required=True, help="the bank JSON to write (then: bandit.bank_path=OUT)")
    bank.set_defaults(func=cmd_bank)

    run = sub.add_parser("run", help="run (or resume) a distillation; uses RAY_ADDRESS if set, else a local Ray")
    _add_config_args(run)
    run.add_argument("--force", action="store_true", help="continue a run directory made with another config")
    _add_console_args(run)
    run.set_defaults(func=cmd_run)

    compare = sub.add_parser("compare", help="every policy at the same budget over seeds: table with 95%% CIs, plots")
    _add_config_args(compare)
    compare.add_argument("--policies", default="read,uniform,task_static,random,greedy,grid,exp3")
    compare.add_argument("--seeds", default="0,1,2", help="comma-separated run seeds (default 0,1,2: the `default` "
                         "preset ships its probe references for these, so no seed regenerates them)")
    compare.add_argument("--out", default="", help="output folder (default: RUNS_DIR/compare_<run.name>); "
                         "running again on it resumes")
    _add_console_args(compare)
    compare.set_defaults(func=cmd_compare)

    report = sub.add_parser("report", help="write report.md and plots for a run directory (or a compare folder's plots)")
    report.add_argument("run_dir")
    report.set_defaults(func=cmd_report)

    export = sub.add_parser("export", help="write a run's final student as a Hugging Face folder with a model card")
    export.add_argument("run_dir")
    export.add_argument("--out", required=True, help="a new or empty folder")
    export.set_defaults(func=cmd_export)

    data = sub.add_parser("data", help="inspect prompt pools, probes and tasks").add_subparsers(dest="action", required=True)
    show = data.add_parser("show", help="sample prompts of one capability with their difficulty")
    _add_config_args(show)
    show.add_argument("--capability", required=True)
    show.add_argument("--n", type=int, default=5)
    show.add_argument("--progress", type=float, default=0.5, help="budget progress for the curriculum (0..1)")
    show.add_argument("--seed", type=int, default=0)
    show.set_defaults(func=cmd_data_show)
    check = data.add_parser("check", help="pool sizes, probe/eval sizes and overlaps")
    _add_config_args(check)
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_data_check)

    profile = sub.add_parser("profile", help="per-capability probe scores of a model")
    _add_config_args(profile)
    profile.add_argument("--model", default="teacher", help="teacher | student | an HF directory")
    profile.add_argument("--json", action="store_true")
    profile.set_defaults(func=cmd_profile)

    identify = sub.add_parser("identify", help="fit the learned requirement identifier from short interventions")
    _add_config_args(identify)
    identify.add_argument("--tasks", required=True, help="comma-separated task names, e.g. gsm8k,mbpp")
    identify.add_argument("--interventions", type=int, default=4, help="short distillations per task")
    identify.add_argument("--out", default="", help="output folder (default <run.runs_dir>/identify-<run.name>)")
    identify.set_defaults(func=cmd_identify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"read-ray: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:          # a path the checks above did not foresee: name it, no traceback
        if not exc.filename:
            raise
        print(f"read-ray: error: {exc.filename}: {exc.strerror or exc}; check the path and its permissions",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
