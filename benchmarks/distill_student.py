"""Distil the pruned student on ~20k teacher tokens; held-out CE, KL and top-1 agreement before and after.

    python benchmarks/distill_student.py [--teacher-tokens 20000] [--steps 200] [--threads 2]

Training prompts come from the generation pools (all 8 capabilities, round-robin); held-out prompts are
the probe suite's (disjoint from the pools by construction), with the teacher's greedy answers as
targets. Plain torch AdamW in one process (the Ray Train path is measured in the runtime benchmarks).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--teacher-tokens", type=int, default=20_000, help="teacher completion tokens to train on")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--heldout", type=int, default=64, help="held-out probe items")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    from read_ray.config import CAPABILITIES
    from read_ray.content.pools import build_generation_pools
    from read_ray.content.probe_suite import build_probe_suite
    from read_ray.model.generation import generate_batch
    from read_ray.model.loading import (
        BUNDLED_TEACHER,
        DEFAULT_KEEP_LAYERS,
        apply_chat_template,
        build_pruned_student,
        default_cache_dir,
        load_causal_lm,
        load_tokenizer,
        resolve_model_dir,
    )
    from read_ray.model.training import collate, make_sample, sft_loss, teacher_agreement

    t0 = time.perf_counter()
    teacher_dir = resolve_model_dir(BUNDLED_TEACHER)
    tok = load_tokenizer(teacher_dir)
    teacher = load_causal_lm(teacher_dir, num_threads=args.threads)
    student_dir = build_pruned_student(teacher_dir, DEFAULT_KEEP_LAYERS, default_cache_dir() / "bench-student")
    student = load_causal_lm(student_dir, num_threads=args.threads)

    pools = build_generation_pools(CAPABILITIES, long_context_max_words=600)
    rng = np.random.default_rng(args.seed)
    train_samples, completion_tokens, gen_s = [], 0, 0.0
    while completion_tokens < args.teacher_tokens:
        prompts = [p.text for cap in CAPABILITIES for p in pools[cap].draw(1, progress_frac=0.5, rng=rng).prompts]
        start = time.perf_counter()
        completions = generate_batch(teacher, tok, prompts, max_new_tokens=args.max_new_tokens, temperature=0.0)
        gen_s += time.perf_counter() - start
        for p, c in zip(prompts, completions, strict=True):
            if c.text.strip():
                train_samples.append(make_sample(tok, apply_chat_template(tok, p), c.text, "mixed").truncated(512))
                completion_tokens += c.completion_tokens

    items = [i for cap in CAPABILITIES for i in build_probe_suite([cap], items_per_capability=8, seed=123)[cap]]
    held_prompts = [i.prompt for i in items[: args.heldout]]
    held = [make_sample(tok, apply_chat_template(tok, p), c.text, "heldout").truncated(512) for p, c in
            zip(held_prompts, generate_batch(teacher, tok, held_prompts, max_new_tokens=args.max_new_tokens), strict=True)
            if c.text.strip()]

    @torch.no_grad()
    def evaluate() -> dict:
        student.eval()
        totals = {"ce_sum": 0.0, "kl_sum": 0.0, "top1_sum": 0, "n": 0}
        for k in range(0, len(held), 8):
            batch = collate(held[k:k + 8], tok.pad_token_id)
            inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
            m = teacher_agreement(student(**inputs).logits, teacher(**inputs).logits, batch["labels"])
            for key in totals:
                totals[key] += m[key]
        student.train()
        n = max(totals["n"], 1)
        return {"ce": totals["ce_sum"] / n, "kl": totals["kl_sum"] / n, "top1": totals["top1_sum"] / n,
                "tokens": totals["n"]}

    before = evaluate()
    opt = torch.optim.AdamW(student.parameters(), lr=args.lr)
    order = np.random.default_rng(args.seed).permutation(len(train_samples))
    start = time.perf_counter()
    losses, trained_tokens = [], 0
    for step in range(args.steps):
        idx = [order[(step * args.batch + j) % len(order)] for j in range(args.batch)]
        chunk = [train_samples[i] for i in idx]
        batch = collate(chunk, tok.pad_token_id)
        loss, _ = sft_loss(student(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
                           batch["labels"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
        trained_tokens += sum(s.num_tokens for s in chunk)
    train_s = time.perf_counter() - start
    after = evaluate()
    print(json.dumps({
        "benchmark": "distill_student", "teacher_completion_tokens": completion_tokens,
        "train_samples": len(train_samples), "steps": args.steps, "batch": args.batch, "lr": args.lr,
        "trained_tokens": trained_tokens, "heldout_items": len(held), "before": before, "after": after,
        "train_loss_first10": float(np.mean(losses[:10])), "train_loss_last10": float(np.mean(losses[-10:])),
        "teacher_generation_s": gen_s, "teacher_tok_per_s": completion_tokens / max(gen_s, 1e-9),
        "train_s": train_s, "train_tok_per_s": trained_tokens / max(train_s, 1e-9),
        "total_s": time.perf_counter() - t0, "threads": args.threads,
    }, indent=1))


if __name__ == "__main__":
    main()
