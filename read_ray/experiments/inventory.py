"""What the data and models of a config amount to: prompt pool sizes, probe and evaluation sets, leakage
between them, and a model's capability profile. Backs `read-ray data check` and `read-ray profile`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from read_ray.config import ReadConfig
from read_ray.core.leakage import LeakageFilter


def probe_suite_with_references(cfg: ReadConfig) -> dict:
    """The config's probe suite with teacher references (generated once per teacher and suite, then cached)."""
    from read_ray.content.probe_references import attach_references, reference_id
    from read_ray.content.probe_suite import build_probe_suite
    from read_ray.model.generation import generate_batch
    from read_ray.model.loading import load_causal_lm, load_tokenizer, resolve_model_dir
    from read_ray.model.probes import probe_references_dir

    suite = build_probe_suite(cfg.capabilities.names, items_per_capability=cfg.probes.items_per_capability,
                              seed=cfg.run.seed)
    teacher: list = []

    def generate(prompts: list[str]) -> list[str]:
        if not teacher:
            path = resolve_model_dir(cfg.teacher.model)
            teacher.extend([load_causal_lm(path, num_threads=cfg.teacher.num_threads), load_tokenizer(path)])
        out = []
        for start in range(0, len(prompts), cfg.teacher.max_batch_size):
            chunk = prompts[start:start + cfg.teacher.max_batch_size]
            completions = generate_batch(teacher[0], teacher[1], chunk, max_new_tokens=cfg.teacher.max_new_tokens,
                                         temperature=cfg.teacher.temperature, top_p=cfg.teacher.top_p, seed=start)
            out += [c.text for c in completions]
        return out

    return attach_references(suite, generate, probe_references_dir(), teacher_id=reference_id(cfg))


def data_check(cfg: ReadConfig, *, fills: int = 3000, draws: int = 256) -> dict:
    """Prompts per capability, probe and evaluation sizes, and overlap of generation prompts with them.

    Overlap is measured twice: among `draws` prompts drawn per capability WITHOUT the leakage filter
    (what the filter has to catch), and with it (must be 0).
    """
    from read_ray.content.pools import count_distinct_prompts, pools_for_config
    from read_ray.content.probe_suite import build_probe_suite, probe_prompts
    from read_ray.content.tasks.cards import TASK_NAMES, all_eval_prompts, load_task

    caps = cfg.capabilities.names
    suite = build_probe_suite(caps, items_per_capability=cfg.probes.items_per_capability, seed=cfg.run.seed)
    cards = {name: load_task(name, dev_size=cfg.task.dev_size, test_size=cfg.task.test_size, seed=cfg.run.seed)
             for name in TASK_NAMES}
    blocked_texts = [*probe_prompts(suite)] + [p for card in cards.values() for p in all_eval_prompts(card)]
    leakage = LeakageFilter(blocked_texts)
    pools = pools_for_config(cfg)
    report: dict = {"capabilities": {}, "tasks": {}, "blocked_set_size": len(leakage)}
    for cap in caps:
        rng = np.random.default_rng([cfg.run.seed, 7])
        unfiltered = pools[cap].draw(draws, progress_frac=0.5, rng=rng)
        hits = [leakage.check(p.text) for p in unfiltered.prompts]
        filtered = pools[cap].draw(draws, progress_frac=0.5, rng=np.random.default_rng([cfg.run.seed, 7]),
                                   leakage=leakage)
        report["capabilities"][cap] = {
            "distinct_prompts": count_distinct_prompts(pools[cap], attempts=fills, seed=cfg.run.seed),
            "sources": len(pools[cap].sources),
            "probe_items": len(suite.get(cap, ())),
            "overlap_unfiltered": {"exact": hits.count("exact"), "ngram": hits.count("ngram"), "of": draws},
            "overlap_after_filter": sum(leakage.check(p.text) is not None for p in filtered.prompts),
            "blocked_by_filter": filtered.blocked_count,
        }
    for name, card in cards.items():
        report["tasks"][name] = {"dev": len(card.dev), "test": len(card.test), "exemplars": len(card.exemplars),
                                 "metric": card.metric}
    return report


def profile_model(cfg: ReadConfig, which: str) -> dict:
    """Raw per-capability probe scores (mean, 95% CI) of `teacher`, the initial `student`, or a model path."""
    from read_ray.model.loading import (
        build_pruned_student,
        default_cache_dir,
        load_causal_lm,
        load_tokenizer,
        resolve_model_dir,
    )
    from read_ray.model.probes import probe_generate_fn, profile_scores

    suite = probe_suite_with_references(cfg)
    teacher_dir = resolve_model_dir(cfg.teacher.model)
    if which == "teacher":
        path = teacher_dir
    elif which == "student":
        if cfg.student.init == "model":
            path = resolve_model_dir(cfg.student.model)
        else:
            layers = "-".join(map(str, cfg.student.keep_layers))
            path = str(default_cache_dir() / "students" / f"{Path(teacher_dir).name}-layers-{layers}")
            if not (Path(path) / "config.json").is_file():
                build_pruned_student(teacher_dir, cfg.student.keep_layers, path)
    else:
        path = resolve_model_dir(which)
    model, tokenizer = load_causal_lm(path, num_threads=cfg.teacher.num_threads), load_tokenizer(path)
    generate_fn = probe_generate_fn(model, tokenizer, suite) if cfg.probes.scorer == "accuracy" else None
    scores = profile_scores(model, tokenizer, suite, scorer=cfg.probes.scorer,
                            bootstrap_samples=cfg.probes.bootstrap_samples, seed=cfg.run.seed, generate_fn=generate_fn)
    return {"model": which, "path": path, "scorer": cfg.probes.scorer, **scores.to_dict()}
