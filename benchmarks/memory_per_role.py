"""Peak memory (RSS) per role, each role doing its real work on the preset, all alive at once as in a run.

- teacher replica: `start_teacher`, then `--requests` concurrent generations (max_new_tokens of the preset);
- learner: `start_learner`, then `budget.num_rounds` select/update cycles (the ensemble refits every update;
  the profile changes fed to it are drawn at random: this measures memory, not learning);
- probe actors: a `ProbePool` of the preset evaluating the initial pruned student on the preset's suite
  (cached teacher references);
- train workers: one `fit_student` of the preset on `--samples` samples (see student_throughput.py);
- driver: this process, after all of the above.
Every actor reports `resource.getrusage(RUSAGE_SELF).ru_maxrss` of its own process (children excluded).
Prints one JSON object; `--record` appends the table to benchmarks/RESULTS.md.

    python benchmarks/memory_per_role.py [--preset default|tiny] [--requests 8] [--samples 16] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _record  # noqa: E402
from student_throughput import training_samples  # noqa: E402
from teacher_throughput import _burst, prompts_for  # noqa: E402


def _mib(n_bytes: int) -> float:
    return round(n_bytes / 2**20, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=["default", "tiny"], default="default")
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    import ray

    from read_ray.config import load_config
    from read_ray.core.bandit import Context
    from read_ray.core.reward import compute_reward
    from read_ray.experiments.inventory import probe_suite_with_references
    from read_ray.model.loading import build_pruned_student, resolve_model_dir
    from read_ray.runtime.learner import start_learner
    from read_ray.runtime.probes import ProbePool
    from read_ray.runtime.student import fit_student
    from read_ray.runtime.teacher import start_teacher, stop_teacher

    cfg = load_config(args.preset)
    machine_before = _record.machine_note()
    caps = cfg.capabilities.names
    rows = []
    with contextlib.redirect_stdout(sys.stderr), tempfile.TemporaryDirectory() as tmp, \
            _record.connected(cfg, args.num_cpus):
        suite = probe_suite_with_references(cfg)
        init_dir = build_pruned_student(resolve_model_dir(cfg.teacher.model), cfg.student.keep_layers,
                                        os.path.join(tmp, "student_init"))
        teacher = start_teacher(cfg)
        pool = ProbePool(cfg, suite)
        learner = start_learner(cfg, len(caps), cfg.run.seed)
        try:
            answers = asyncio.run(_burst(teacher, prompts_for(args.requests), cfg.teacher.max_new_tokens))
            peaks = [teacher.peak_rss_bytes.remote().result(timeout_s=60) for _ in range(2 * cfg.teacher.replicas)]
            rows.append({"role": "teacher replica", "count": cfg.teacher.replicas, "peak_rss_mib": _mib(max(peaks)),
                         "work": f"{len(answers)} concurrent generations, "
                                 f"{sum(a['completion_tokens'] for a in answers)} completion tokens"})

            requirement = np.full(len(caps), 1.0 / len(caps))
            last_w, last_r = None, None
            for t in range(cfg.budget.num_rounds):
                ctx = Context(tuple(requirement), (0.0,) * len(caps), 1 - t / cfg.budget.num_rounds, last_w, last_r)
                w = np.asarray(ray.get(learner.select.remote(ctx), timeout=600))
                terms = compute_reward(requirement, np.random.default_rng(t).normal(size=len(caps)), 1000)
                ray.get(learner.update.remote(ctx, w, terms), timeout=600)
                last_w, last_r = tuple(w), terms.reward
            rows.append({"role": "learner", "count": 1,
                         "peak_rss_mib": _mib(ray.get(learner.peak_rss_bytes.remote(), timeout=60)),
                         "work": f"{cfg.budget.num_rounds} select/update cycles, policy {cfg.bandit.policy}"})

            report, _ = pool.evaluate(init_dir, seed=cfg.run.seed)
            peaks = ray.get([a.peak_rss_bytes.remote() for a in pool.actors], timeout=60)
            rows.append({"role": "probe actor", "count": len(pool.actors), "peak_rss_mib": _mib(max(peaks)),
                         "work": f"evaluate the initial student: {sum(len(v) for v in suite.values())} items, "
                                 f"{report.probe_tokens} tokens"})

            samples = training_samples(cfg, args.samples)
            update = fit_student(samples, init_dir=init_dir, training_cap_tokens=sum(s.num_tokens for s in samples),
                                 train=cfg.train, resources=cfg.resources, storage_dir=os.path.join(tmp, "train"),
                                 name="memory", seed=0)
            rows.append({"role": "train worker", "count": cfg.resources.train_workers,
                         "peak_rss_mib": _mib(update.peak_rss_bytes),
                         "work": f"fit of {len(samples)} samples, {sum(update.tokens_by_capability.values())} tokens, "
                                 f"ZeRO {cfg.train.zero_stage}, micro-batch {cfg.train.micro_batch_size}"})
        finally:
            pool.shutdown()
            ray.kill(learner)
            stop_teacher()
        rows.append({"role": "driver", "count": 1, "peak_rss_mib": _record.peak_rss_mib(),
                     "work": "this script: Ray driver, probe suite, tokenizer, samples, pruned student build"})
    result = {"benchmark": "memory_per_role", "preset": args.preset, "teacher": cfg.teacher.model, "rows": rows,
              "machine_before": machine_before, "machine_after": _record.machine_note()}
    print(json.dumps(result, indent=1))
    if args.record:
        table = _record.markdown_table(["role", "count", "peak RSS MiB (max over the role's processes)", "work done"],
                                       [[r["role"], r["count"], r["peak_rss_mib"], r["work"]] for r in rows])
        note = (f"Preset `{args.preset}` (teacher `{cfg.teacher.model}`, student layers "
                f"{list(cfg.student.keep_layers)}); each process reports its own `ru_maxrss`. The learner's "
                f"profile changes are random draws (memory only).")
        _record.append_section("peak memory per role", [table], note, machine_before=machine_before,
                               machine_after=result["machine_after"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
