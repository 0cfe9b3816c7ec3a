"""Probe pool wall time (`ProbePool.evaluate`) against the number of probe actors.

The suite is the preset's probe suite with the teacher's cached references (as `controller.prepare`
builds it; `probes.items_per_capability` from the preset, 16 per capability on `default`). Each setting
starts a fresh pool (`probes.num_actors` actors, `resources.probe_cpus_per_actor` CPUs each, one torch
thread each) and evaluates the initial pruned student once: as in a round, where every evaluation is of a
new checkpoint, the time includes each actor loading it. Every setting must give the same scores
(checked: `same_scores`). Prints one JSON object; `--record` appends the table to benchmarks/RESULTS.md.

    python benchmarks/probe_pool.py [--preset default|tiny] [--actors 1,2,4] [--cpus-per-actor 0.25] [--record]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _record  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=["default", "tiny"], default="default")
    parser.add_argument("--actors", default="1,2,4")
    parser.add_argument("--cpus-per-actor", type=float, default=0.25)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    import ray

    from read_ray.config import load_config, replace, validate
    from read_ray.experiments.inventory import probe_suite_with_references
    from read_ray.model.loading import build_pruned_student, resolve_model_dir
    from read_ray.runtime.probes import ProbePool

    cfg = load_config(args.preset)
    machine_before = _record.machine_note()
    rows, reference_scores = [], None
    with contextlib.redirect_stdout(sys.stderr), tempfile.TemporaryDirectory() as tmp:
        suite = probe_suite_with_references(cfg)
        items = sum(len(v) for v in suite.values())
        checkpoint = build_pruned_student(resolve_model_dir(cfg.teacher.model), cfg.student.keep_layers,
                                          os.path.join(tmp, "student_init"))
        with _record.connected(cfg, args.num_cpus):
            for n in [int(x) for x in args.actors.split(",")]:
                c = validate(replace(cfg, probes={"num_actors": n},
                                     resources={"probe_cpus_per_actor": args.cpus_per_actor}))
                t0 = time.perf_counter()
                pool = ProbePool(c, suite)
                ray.get([a.peak_rss_bytes.remote() for a in pool.actors], timeout=600)     # actors are up
                start_s = time.perf_counter() - t0
                try:
                    report, seconds = pool.evaluate(checkpoint, seed=cfg.run.seed)
                    peaks = ray.get([a.peak_rss_bytes.remote() for a in pool.actors], timeout=60)
                finally:
                    pool.shutdown()
                scores = {cap: round(v, 6) for cap, v in report.raw.items()}
                reference_scores = reference_scores or scores
                row = {"actors": n, "cpus_per_actor": args.cpus_per_actor, "start_s": round(start_s, 2),
                       "evaluate_s": round(seconds, 2), "probe_tokens": report.probe_tokens,
                       "tokens_per_s": round(report.probe_tokens / seconds, 1),
                       "actor_peak_rss_mib": round(max(peaks) / 2**20, 1), "same_scores": scores == reference_scores}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    base = rows[0]["evaluate_s"]
    for row in rows:
        row["speedup_vs_first"] = round(base / row["evaluate_s"], 2)
    result = {"benchmark": "probe_pool", "preset": args.preset, "items": items, "scorer": cfg.probes.scorer,
              "rows": rows, "machine_before": machine_before, "machine_after": _record.machine_note()}
    print(json.dumps(result, indent=1))
    if args.record:
        table = _record.markdown_table(
            ["actors", "CPUs per actor", "pool start s", "evaluate s", "probe tokens", "tokens/s", "speed-up",
             "actor peak RSS MiB", "same scores"],
            [[r["actors"], r["cpus_per_actor"], r["start_s"], r["evaluate_s"], r["probe_tokens"], r["tokens_per_s"],
              r["speedup_vs_first"], r["actor_peak_rss_mib"], r["same_scores"]] for r in rows])
        note = (f"`ProbePool.evaluate` of the initial pruned student (layers {list(cfg.student.keep_layers)}) on the "
                f"`{args.preset}` probe suite: {items} items, scorer `{cfg.probes.scorer}`, teacher references from "
                f"the cache; one torch thread per actor; `evaluate s` includes each actor loading the checkpoint "
                f"(a round always probes a new one).")
        _record.append_section("probe pool time against number of actors", [table], note,
                               machine_before=machine_before, machine_after=result["machine_after"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
