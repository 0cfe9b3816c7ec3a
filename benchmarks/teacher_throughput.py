"""Teacher throughput (completion tokens/s) against batch size, and through Ray Serve against
`teacher.max_batch_size`, `teacher.max_ongoing_requests` and `teacher.replicas`.

(a) engine: the teacher's `HFEngine` called directly on the same `--requests` prompts in chunks of 1, 2, 4,
    8, 16 (greedy, fixed `--max-new-tokens`);
(b) serve: `start_teacher` per setting, then all `--requests` prompts sent at once over a DeploymentHandle
    (the replicas' start-up and one warm-up request are not timed).
Every setting generates the same prompts with temperature 0, so every setting must produce the same
completion tokens (checked: `same_tokens`). Prints one JSON object; `--record` appends the tables to
benchmarks/RESULTS.md.

    python benchmarks/teacher_throughput.py [--teacher default|tiny] [--requests 16] [--max-new-tokens 16]
        [--batch-sizes 1,2,4,8,16] [--skip-engine] [--skip-serve] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _record  # noqa: E402

TOPICS = ["rivers", "volcanoes", "bridges", "honey bees", "glaciers", "lighthouses", "printing presses",
          "tides", "deserts", "comets", "coral reefs", "windmills", "libraries", "submarines", "forests", "clocks"]

# (max_batch_size, max_ongoing_requests, replicas, teacher CPUs per replica, threads per replica)
SERVE_SETTINGS = [(1, 16, 1, 0.5, 2), (8, 16, 1, 0.5, 2), (8, 8, 1, 0.5, 2), (4, 4, 1, 0.5, 2),
                  (8, 16, 2, 0.5, 1)]


def prompts_for(n: int) -> list[str]:
    return [f"Write a long, detailed paragraph explaining how {TOPICS[i % len(TOPICS)]} work (variant {i})."
            for i in range(n)]


def engine_rows(cfg, prompts: list[str], max_new_tokens: int, batch_sizes: list[int]) -> tuple[list[dict], float]:
    from read_ray.runtime.teacher import HFEngine

    t0 = time.perf_counter()
    engine = HFEngine(cfg.teacher.model, num_threads=cfg.teacher.num_threads, temperature=0.0)
    load_s = time.perf_counter() - t0
    engine.generate(prompts[:1], [max_new_tokens], seeds=[0])           # warm-up, not timed
    rows = []
    for b in batch_sizes:
        t0 = time.perf_counter()
        completions = []
        for k in range(0, len(prompts), b):
            completions += engine.generate(prompts[k:k + b], [max_new_tokens] * len(prompts[k:k + b]),
                                           seeds=range(k, k + len(prompts[k:k + b])))
        seconds = time.perf_counter() - t0
        tokens = [c.completion_tokens for c in completions]
        rows.append({"batch_size": b, "seconds": round(seconds, 2), "completion_tokens": sum(tokens),
                     "completion_tokens_per_s": round(sum(tokens) / seconds, 2), "_per_request": tokens})
        print(json.dumps(rows[-1]), file=sys.stderr)                     # progress on a slow machine
    return rows, load_s


async def _burst(handle, prompts: list[str], max_new_tokens: int) -> list[dict]:
    return await asyncio.gather(*[handle.generate.remote(p, max_new_tokens, seed=i) for i, p in enumerate(prompts)])


def serve_rows(cfg, prompts: list[str], max_new_tokens: int, settings: list[tuple]) -> list[dict]:
    from read_ray.config import replace, validate
    from read_ray.runtime.teacher import start_teacher, stop_teacher

    rows = []
    for batch, ongoing, replicas, cpus, threads in settings:
        c = validate(replace(cfg, teacher={"max_batch_size": batch, "max_ongoing_requests": ongoing,
                                           "replicas": replicas, "num_threads": threads, "temperature": 0.0},
                             resources={"teacher_cpus_per_replica": cpus}))
        t0 = time.perf_counter()
        handle = start_teacher(c)
        start_s = time.perf_counter() - t0
        try:
            # one warm-up request per replica (not timed)
            warm = [handle.generate.remote(prompts[0], max_new_tokens) for _ in range(replicas)]
            [w.result(timeout_s=1800) for w in warm]

            t0 = time.perf_counter()
            answers = asyncio.run(_burst(handle, prompts, max_new_tokens))
            seconds = time.perf_counter() - t0
            peak = max(handle.peak_rss_bytes.remote().result(timeout_s=60) for _ in range(2 * replicas))
        finally:
            stop_teacher()
        tokens = [a["completion_tokens"] for a in answers]
        rows.append({"max_batch_size": batch, "max_ongoing_requests": ongoing, "replicas": replicas,
                     "cpus_per_replica": cpus, "threads_per_replica": threads, "start_s": round(start_s, 2),
                     "seconds": round(seconds, 2), "completion_tokens": sum(tokens),
                     "completion_tokens_per_s": round(sum(tokens) / seconds, 2),
                     "replica_peak_rss_mib": round(peak / 2**20, 1), "_per_request": tokens})
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", choices=["default", "tiny"], default="default",
                        help="default = the bundled smollm2-135m-instruct (default preset); tiny = tiny-random-llama")
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--batch-sizes", default="1,2,4,8,16")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--skip-engine", action="store_true")
    parser.add_argument("--skip-serve", action="store_true")
    parser.add_argument("--record", action="store_true", help="append the tables to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    from read_ray.config import load_config

    cfg = load_config(args.teacher)
    machine_before = _record.machine_note()
    prompts = prompts_for(args.requests)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    result = {"benchmark": "teacher_throughput", "teacher": cfg.teacher.model, "requests": args.requests,
              "max_new_tokens": args.max_new_tokens, "temperature": 0.0, "machine_before": machine_before}
    reference_tokens = None
    with contextlib.redirect_stdout(sys.stderr):
        if not args.skip_engine:
            rows, load_s = engine_rows(cfg, prompts, args.max_new_tokens, batch_sizes)
            reference_tokens = rows[0]["_per_request"]
            base = rows[0]["completion_tokens_per_s"]
            for row in rows:
                row["vs_first"] = round(row["completion_tokens_per_s"] / base, 2)
            result["engine"] = {"threads": cfg.teacher.num_threads, "load_s": round(load_s, 2), "rows": rows}
        if not args.skip_serve:
            with _record.connected(cfg, args.num_cpus):
                rows = serve_rows(cfg, prompts, args.max_new_tokens, SERVE_SETTINGS)
            reference_tokens = reference_tokens or rows[0]["_per_request"]
            base = rows[0]["completion_tokens_per_s"]
            for row in rows:
                row["vs_first"] = round(row["completion_tokens_per_s"] / base, 2)
            result["serve"] = {"rows": rows}
    for part in ("engine", "serve"):
        for row in result.get(part, {}).get("rows", []):
            row["same_tokens"] = row.pop("_per_request") == reference_tokens
    result["machine_after"] = _record.machine_note()
    result["driver_peak_rss_mib"] = _record.peak_rss_mib()
    print(json.dumps(result, indent=1))
    if args.record:
        record(result, args)
    return 0


def record(result: dict, args) -> None:
    tables = []
    if "engine" in result:
        e = result["engine"]
        tables.append(f"(a) `HFEngine.generate` directly ({e['threads']} torch threads, one process, outside Ray):\n\n"
                      + _record.markdown_table(
                          ["batch size", "seconds", "completion tokens", "tokens/s", "× batch 1", "same tokens"],
                          [[r["batch_size"], r["seconds"], r["completion_tokens"], r["completion_tokens_per_s"],
                            r["vs_first"], r["same_tokens"]] for r in e["rows"]]))
    if "serve" in result:
        tables.append(f"(b) Ray Serve (`start_teacher`), all {result['requests']} requests at once over a handle:\n\n"
                      + _record.markdown_table(
                          ["max_batch_size", "max_ongoing_requests", "replicas × CPUs × threads", "start s",
                           "seconds", "tokens/s", "× first row", "replica peak RSS MiB", "same tokens"],
                          [[r["max_batch_size"], r["max_ongoing_requests"],
                            f"{r['replicas']} × {r['cpus_per_replica']} × {r['threads_per_replica']}", r["start_s"],
                            r["seconds"], r["completion_tokens_per_s"], r["vs_first"], r["replica_peak_rss_mib"],
                            r["same_tokens"]] for r in result["serve"]["rows"]]))
    note = (f"Teacher `{result['teacher']}`, {result['requests']} fixed prompts, max_new_tokens "
            f"{result['max_new_tokens']}, temperature 0; the same requests in every setting (`same tokens`: every "
            f"request produced as many completion tokens as in the first setting).")
    _record.append_section("teacher throughput against batch size, max_ongoing_requests and replicas", tables, note,
                           machine_before=result["machine_before"], machine_after=result["machine_after"])


if __name__ == "__main__":
    sys.exit(main())
