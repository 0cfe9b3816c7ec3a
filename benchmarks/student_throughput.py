"""Student training tokens/s through `fit_student` (real Ray Train + DeepSpeed) against train workers, ZeRO
stage and micro-batch size.

Settings vary one factor at a time around the preset (`resources.train_workers`, `train.zero_stage`,
`train.micro_batch_size`). Every fit trains once on the same `--samples` samples: the probe suite's prompts
with the teacher's cached reference answers (real teacher text; `controller.prepare` builds the same
suite), truncated to `train.max_seq_len`, from the same pruned initial student. Start-up (worker group,
model load, `deepspeed.initialize`, checkpoint save) is separated from the training steps with the
workers' own loop timing (`StudentUpdate.loop_seconds`). A setting that fails is a row with its error.
Prints one JSON object; `--record` appends the table to benchmarks/RESULTS.md.

    python benchmarks/student_throughput.py [--student default|tiny] [--samples 32] [--workers 1,2]
        [--zero-stages 0,1,2] [--micro-batches 1,4,8] [--threads-per-worker 1] [--record]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _record  # noqa: E402


def settings_for(cfg, workers: list[int], zero_stages: list[int], micro_batches: list[int]) -> list[tuple]:
    """(workers, zero stage, micro-batch): the preset, then one factor changed at a time."""
    base = (cfg.resources.train_workers, cfg.train.zero_stage, cfg.train.micro_batch_size)
    out = [base]
    candidates = ([(w, base[1], base[2]) for w in workers] + [(base[0], z, base[2]) for z in zero_stages]
                  + [(base[0], base[1], m) for m in micro_batches])
    out += [s for s in dict.fromkeys(candidates) if s != base]
    return out


def training_samples(cfg, n: int) -> list:
    from read_ray.experiments.inventory import probe_suite_with_references
    from read_ray.model.loading import apply_chat_template, load_tokenizer, resolve_model_dir
    from read_ray.model.training import make_sample

    tokenizer = load_tokenizer(resolve_model_dir(cfg.teacher.model))
    suite = probe_suite_with_references(cfg)
    items = [v[k] for k in range(max(len(v) for v in suite.values())) for v in suite.values() if k < len(v)]
    samples = [make_sample(tokenizer, apply_chat_template(tokenizer, i.prompt), i.reference, i.capability)
               .truncated(cfg.train.max_seq_len) for i in items if i.reference.strip()]
    return samples[:n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--student", choices=["default", "tiny"], default="default",
                        help="default = the pruned 10-layer student of the default preset; tiny = the tiny preset's")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--zero-stages", default="0,1,2")
    parser.add_argument("--micro-batches", default="1,4,8")
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    from read_ray.config import load_config, replace, validate
    from read_ray.model.loading import build_pruned_student, resolve_model_dir
    from read_ray.runtime.student import fit_student

    cfg = load_config(args.student)
    machine_before = _record.machine_note()
    settings = settings_for(cfg, [int(x) for x in args.workers.split(",")],
                            [int(x) for x in args.zero_stages.split(",")],
                            [int(x) for x in args.micro_batches.split(",")])
    rows = []
    with contextlib.redirect_stdout(sys.stderr), tempfile.TemporaryDirectory() as tmp:
        samples = training_samples(cfg, args.samples)
        sample_tokens = sum(s.num_tokens for s in samples)
        init_dir = build_pruned_student(resolve_model_dir(cfg.teacher.model), cfg.student.keep_layers,
                                        os.path.join(tmp, "student_init"))
        with _record.connected(cfg, args.num_cpus):
            for k, (workers, zero, micro) in enumerate(settings):
                c = validate(replace(cfg, train={"zero_stage": zero, "micro_batch_size": micro},
                                     resources={"train_workers": workers}))
                row = {"workers": workers, "zero_stage": zero, "micro_batch_size": micro}
                try:
                    update = fit_student(samples, init_dir=init_dir, training_cap_tokens=sample_tokens,
                                         train=c.train, resources=c.resources, storage_dir=os.path.join(tmp, "train"),
                                         name=f"bench_{k}", seed=0, threads_per_worker=args.threads_per_worker)
                except Exception as exc:  # noqa: BLE001 - a failing setting is a result row
                    row["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300]}"
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr)
                    continue
                tokens = sum(update.tokens_by_capability.values())
                row.update({"tokens": tokens, "steps": update.steps, "loss": round(update.loss, 4),
                            "fit_s": round(update.seconds, 2), "loop_s": round(update.loop_seconds, 2),
                            "startup_s": round(update.seconds - update.loop_seconds, 2),
                            "loop_tokens_per_s": round(tokens / update.loop_seconds, 1),
                            "fit_tokens_per_s": round(tokens / update.seconds, 1),
                            "worker_peak_rss_mib": round(update.peak_rss_bytes / 2**20, 1)})
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    result = {"benchmark": "student_throughput", "student_keep_layers": list(cfg.student.keep_layers),
              "teacher": cfg.teacher.model, "samples": len(samples), "sample_tokens": sample_tokens,
              "max_seq_len": cfg.train.max_seq_len, "threads_per_worker": args.threads_per_worker,
              "cpus_per_worker": cfg.resources.train_cpus_per_worker, "rows": rows,
              "machine_before": machine_before, "machine_after": _record.machine_note()}
    print(json.dumps(result, indent=1))
    if args.record:
        table = _record.markdown_table(
            ["workers", "ZeRO", "micro-batch", "tokens", "steps", "fit s", "start-up s", "loop s", "loop tokens/s",
             "fit tokens/s", "worker peak RSS MiB", "error"],
            [[r["workers"], r["zero_stage"], r["micro_batch_size"], r.get("tokens"), r.get("steps"), r.get("fit_s"),
              r.get("startup_s"), r.get("loop_s"), r.get("loop_tokens_per_s"), r.get("fit_tokens_per_s"),
              r.get("worker_peak_rss_mib"), r.get("error", "")] for r in rows])
        note = (f"`fit_student` on {len(samples)} samples ({sample_tokens} prompt + label tokens, each trained on "
                f"once; teacher `{cfg.teacher.model}` references on the probe prompts), student = layers "
                f"{list(cfg.student.keep_layers)} of the teacher, fp32, torch AdamW, "
                f"{args.threads_per_worker} torch thread(s) and {cfg.resources.train_cpus_per_worker} CPU per "
                f"worker. `loop s` is the slowest worker's training steps; `start-up s` = fit − loop (worker group "
                f"start, model load, `deepspeed.initialize`, checkpoint save and report). `steps` are micro-steps "
                f"per worker.")
        _record.append_section("student training throughput against workers, ZeRO stage and micro-batch", [table],
                               note, machine_before=machine_before, machine_after=result["machine_after"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
