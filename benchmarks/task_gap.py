"""Teacher-student gap per downstream task: which task can the CPU preset's distillation move?

Evaluates the bundled teacher (SmolLM2-135M-Instruct) and the initial pruned student (teacher layers
0-3 + 24-29) on the dev split of every task card: the task metric (greedy generation or choice ranking)
and ``gold_loglik`` (mean per-token log-likelihood of the gold answers). Also reports the per-item paired
gold_loglik gap (teacher - student) with its standard error, so a "clear gap" means many standard
errors, not one lucky item. Prints one JSON object.

    python benchmarks/task_gap.py [--n 40] [--gen-n 16] [--tasks gsm8k,mmlu] [--no-generate] [--threads 2]

``gold_loglik`` (and the gap statistics) always use ``--n`` items; generated metrics (exact_match, pass_at_1,
ast_match) use ``--gen-n`` items, since greedy generation dominates the run time on CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from read_ray.content.tasks.cards import TASK_NAMES, load_task  # noqa: E402
from read_ray.content.tasks.items import TaskScore  # noqa: E402
from read_ray.model.loading import (  # noqa: E402
    BUNDLED_TEACHER,
    DEFAULT_KEEP_LAYERS,
    apply_chat_template,
    build_pruned_student,
    load_causal_lm,
    load_tokenizer,
    resolve_model_dir,
)
from read_ray.model.scoring import mean_token_logliks  # noqa: E402
from read_ray.model.tasks import evaluate_task  # noqa: E402

MAX_NEW_TOKENS = {"gsm8k": 256, "humaneval": 384, "mbpp": 256, "bfcl_simple": 96}


def per_item_gold_logliks(model, tokenizer, card, n: int, batch_size: int) -> list[float]:
    items = card.dev[:n]
    prompts = [apply_chat_template(tokenizer, item.prompt) for item in items]
    return mean_token_logliks(model, tokenizer, prompts, [item.gold for item in items], batch_size=batch_size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="dev items per task (gold_loglik, mc metrics)")
    parser.add_argument(
        "--gen-n",
        type=int,
        default=None,
        help="dev items for generated metrics (default: --n; generation is slow)",
    )
    parser.add_argument("--tasks", default=",".join(TASK_NAMES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-generate", action="store_true", help="gold_loglik (and mc metrics) only")
    args = parser.parse_args(argv)
    # Libraries log to stdout (DeepSpeed's accelerator notice): keep stdout for the JSON result only.
    sys.stdout.flush()
    result_fd = os.dup(1)
    os.dup2(2, 1)
    torch.set_num_threads(args.threads)
    names = [t for t in args.tasks.split(",") if t]
    cards = {name: load_task(name, dev_size=args.n, test_size=200, seed=args.seed) for name in names}

    teacher_dir = resolve_model_dir(BUNDLED_TEACHER)
    tokenizer = load_tokenizer(teacher_dir)
    results: dict[str, dict] = {name: {} for name in names}
    per_item: dict[str, dict[str, list[float]]] = {name: {} for name in names}
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        student_dir = build_pruned_student(teacher_dir, list(DEFAULT_KEEP_LAYERS), f"{tmp}/student")
        timings["build_student_s"] = round(time.perf_counter() - t0, 1)
        for role, path in (("teacher", teacher_dir), ("student", student_dir)):
            model = load_causal_lm(path, num_threads=args.threads)
            for name, card in cards.items():
                t0 = time.perf_counter()
                ll = per_item_gold_logliks(model, tokenizer, card, args.n, args.batch_size)
                per_item[name][role] = ll
                if card.metric != "mc_loglik" and args.no_generate:
                    score = TaskScore(card.metric, math.nan, statistics.fmean(ll), len(ll))
                else:
                    score = evaluate_task(
                        model,
                        tokenizer,
                        card,
                        "dev",
                        limit=args.n if card.metric == "mc_loglik" or args.gen_n is None else args.gen_n,
                        max_new_tokens=MAX_NEW_TOKENS.get(name, 256),
                        batch_size=args.batch_size,
                    )
                seconds = time.perf_counter() - t0
                results[name][role] = {
                    "metric": score.metric,
                    "value": None if math.isnan(score.value) else round(score.value, 4),
                    "n_metric": score.n,
                    "gold_loglik": round(statistics.fmean(ll), 4),
                    "n_loglik": len(ll),
                    "seconds": round(seconds, 1),
                }
                print(f"{role:8s} {name:14s} {results[name][role]}", file=sys.stderr, flush=True)
            del model

    table = {}
    for name in names:
        t_ll, s_ll = per_item[name]["teacher"], per_item[name]["student"]
        diffs = [t - s for t, s in zip(t_ll, s_ll, strict=True)]
        mean = statistics.fmean(diffs)
        se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else math.nan
        teacher, student = results[name]["teacher"], results[name]["student"]
        value_gap = (
            None
            if teacher["value"] is None or student["value"] is None
            else round(teacher["value"] - student["value"], 4)
        )
        table[name] = {
            "metric": teacher["metric"],
            "teacher": teacher,
            "student": student,
            "metric_gap": value_gap,
            "gold_loglik_gap": round(mean, 4),
            "gold_loglik_gap_se": round(se, 4),
            "gold_loglik_gap_z": round(mean / se, 1) if se and math.isfinite(se) and se > 0 else None,
            "items_teacher_better": sum(d > 0 for d in diffs),
        }
    ranked = sorted(names, key=lambda n: table[n]["gold_loglik_gap"], reverse=True)
    out = {
        "benchmark": "task_gap",
        "teacher": BUNDLED_TEACHER,
        "student_keep_layers": list(DEFAULT_KEEP_LAYERS),
        "n_dev_items": args.n,
        "n_dev_items_generated": args.gen_n if args.gen_n is not None else args.n,
        "seed": args.seed,
        "threads": args.threads,
        "generate": not args.no_generate,
        "max_new_tokens": MAX_NEW_TOKENS,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
        "timings": timings,
        "tasks": table,
        "ranked_by_gold_loglik_gap": ranked,
    }
    sys.stdout.flush()
    with os.fdopen(result_fd, "w") as result:
        result.write(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
