"""`read-ray` console script.

    read-ray config show [--config PRESET_OR_PATH] [key.sub=value ...]
    read-ray simulate [--config ...] [--policies read,uniform,...] [--seeds N] [--rounds T] [--json]

Bad input exits with status 2 and one message naming the cause. Heavy modules are imported only by the
subcommand that needs them.
"""

from __future__ import annotations

import argparse
import json
import sys

from read_ray.config import POLICIES, load_config, replace, to_yaml, validate


def _load(args: argparse.Namespace):
    return validate(load_config(args.config, args.overrides))


def cmd_config_show(args: argparse.Namespace) -> int:
    print(to_yaml(_load(args)), end="")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from read_ray.core.simulator import compare_policies

    cfg = validate(replace(_load(args), budget={"num_rounds": args.rounds}))
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        raise ValueError(f"--policies: unknown {', '.join(unknown)}; choose from {', '.join(POLICIES)}")
    if args.seeds < 1:
        raise ValueError("--seeds: need at least 1 seed")
    result = compare_policies(cfg, policies, list(range(args.seeds)))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    best = result["best_static_mix"]
    caps = result["world"]["capabilities"]
    mix = ", ".join(f"{c} {w:.2f}" for c, w in zip(caps, best["allocation"], strict=True) if w > 0)
    print(f"simulated world: {result['rounds']} rounds, {result['total_tokens']:,} tokens, "
          f"{len(result['seeds'])} seeds; best static mix ({mix}) reaches U = {best['final_utility']:.2f}")
    print(f"{'policy':<12} {'final utility':>20} {'regret':>8} {'spillover':>18}")
    for name, row in sorted(result["policies"].items(), key=lambda kv: -kv[1]["final_utility"]["mean"]):
        u, s = row["final_utility"], row["spillover"]
        print(f"{name:<12} {u['mean']:>12.2f} ± {u['ci95']:<5.2f} {row['regret']['mean']:>8.2f} "
              f"{s['mean']:>10.3f} ± {s['ci95']:<5.3f}")
    print("± = half-width of the 95% confidence interval over seeds (Student t)")
    return 0


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="default", help="preset name (default, tiny, ...) or a YAML path")
    p.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="read-ray", description="ReAD capability distillation on Ray")
    sub = parser.add_subparsers(dest="command", required=True)

    config = sub.add_parser("config", help="inspect configuration").add_subparsers(dest="action", required=True)
    show = config.add_parser("show", help="print the resolved, validated config as YAML")
    _add_config_args(show)
    show.set_defaults(func=cmd_config_show)

    simulate = sub.add_parser("simulate", help="run allocation policies in the synthetic capability world")
    _add_config_args(simulate)
    simulate.add_argument("--policies", default="read,greedy,uniform,task_static,random,exp3")
    simulate.add_argument("--seeds", type=int, default=5, help="number of seeds (0..N-1)")
    simulate.add_argument("--rounds", type=int, default=20, help="decision rounds (budget.num_rounds), METHOD.md default 20")
    simulate.add_argument("--json", action="store_true", help="print the full result as JSON")
    simulate.set_defaults(func=cmd_simulate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"read-ray: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
