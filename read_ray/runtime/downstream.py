"""A task's requirement vector and a checkpoint's downstream utility on a task split: what the controller,
`compare`, `sweep` and `identify` measure a student by.

`task_requirement` is r_tau (learned, manual, the card's, or the smoothed one-hot). `task_utility` and
`task_report` score a checkpoint on the dev or test split in one Ray task on the probe resources; a
composite card's anchors (the initial student's and the teacher's raw values) are computed once and cached.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np

from read_ray.config import ReadConfig
from read_ray.core.requirements import requirement_for_card


def task_requirement(cfg: ReadConfig, card) -> np.ndarray:
    """r_tau as `task.requirement_source` says (core.requirements.requirement_for_card): the config's manual
    vector, else the task card's, else the smoothed one-hot; or the learned identifier's vector; or uniform."""
    from read_ray.model.identifier import learned_requirement

    learned = (learned_requirement(cfg.task.identifier_path, card, cfg.capabilities.names)
               if cfg.task.requirement_source == "learned" else None)
    return requirement_for_card(cfg.capabilities.names, manual=dict(cfg.task.requirement) or dict(card.requirement) or None,
                                declared=cfg.task.declared_capability, epsilon=cfg.task.requirement_epsilon,
                                learned=learned, source=cfg.task.requirement_source)


def task_utility(cfg: ReadConfig, card, checkpoint_dir: str, split: str) -> float:
    """Downstream utility of a checkpoint on a task split (Ray tasks on the probe resources).

    A single-task card: its raw value on the `task.utility` basis. A composite card (`subtasks`): the mean
    over subtasks of the gap closed between the run's initial student (0) and the teacher (100) on the
    same split (`core.task_utility`); `task_report` has the per-subtask values."""
    return task_report(cfg, card, checkpoint_dir, split)["utility"]


def task_report(cfg: ReadConfig, card, checkpoint_dir: str, split: str) -> dict:
    """{"utility", "subtasks": {name: {metric, value (the accuracy-type metric; None when not computed),
    gold_loglik, n[, initial, teacher, gap_closure]}}}. A composite card's anchors are raw values computed
    once: the initial student's in the run directory (`task_anchors.json`), the teacher's beside the probe
    references (keyed by teacher id, task, split, sizes, seed, basis and the split's items)."""
    from read_ray.content.probe_references import reference_id, references_path
    from read_ray.core.task_utility import gap_closures, mean_gap_closure
    from read_ray.model.loading import resolve_model_dir
    from read_ray.model.probes import probe_references_dir

    def raw(scores: dict) -> dict:            # the utility basis per (sub)task; a metric not computed is nan
        basis = "gold_loglik" if cfg.task.utility == "gold_loglik" else "value"
        return {k: float("nan") if s[basis] is None else s[basis] for k, s in scores.items()}

    if not card.subtasks:
        scores = task_scores(cfg, card, checkpoint_dir, split)
        return {"utility": float(next(iter(raw(scores).values()))), "subtasks": scores}

    def same(a: str, b: str) -> bool:
        return Path(a).resolve() == Path(b).resolve()

    key = anchor_key(cfg, card, split)
    student0 = (str(run_root(cfg) / "student_init") if cfg.student.init == "prune"
                else resolve_model_dir(cfg.student.model))
    initial = cached_scores(run_root(cfg) / "task_anchors.json", key, lambda: task_scores(cfg, card, student0, split))
    scores = initial if same(checkpoint_dir, student0) else task_scores(cfg, card, checkpoint_dir, split)
    teacher_dir = resolve_model_dir(cfg.teacher.model)
    teacher_folder = references_path({}, probe_references_dir(), teacher_id=reference_id(cfg)).parent
    teacher = cached_scores(teacher_folder / f"task-{key}.json", key, lambda: scores if same(
        checkpoint_dir, teacher_dir) else task_scores(cfg, card, teacher_dir, split))
    values, lo, hi = raw(scores), raw(initial), raw(teacher)
    closures = gap_closures(values, lo, hi)
    return {"utility": mean_gap_closure(values, lo, hi),
            "subtasks": {k: {**s, "initial": lo[k], "teacher": hi[k], "gap_closure": closures[k]}
                         for k, s in scores.items()}}


def task_scores(cfg: ReadConfig, card, checkpoint_dir: str, split: str) -> dict:
    """Raw scores of a checkpoint per (sub)task on a split: one Ray task on the probe resources. A metric
    that was not computed (`task.utility=gold_loglik`: no generation) is None, so the scores are plain JSON."""
    import ray

    @ray.remote(num_cpus=cfg.resources.probe_cpus_per_actor, num_gpus=cfg.resources.probe_gpus_per_actor)
    def _evaluate(checkpoint: str) -> dict:
        from read_ray.model.loading import load_for_evaluation, load_tokenizer
        from read_ray.model.tasks import evaluate_subtasks

        model = load_for_evaluation(checkpoint, num_threads=cfg.teacher.num_threads)     # bf16 on a GPU
        tokenizer = load_tokenizer(checkpoint)
        scores = evaluate_subtasks(model, tokenizer, card, split, limit=cfg.task.eval_limit or None,
                                   with_metric=cfg.task.utility == "metric")
        return {k: {**asdict(s), "value": s.value if math.isfinite(s.value) else None} for k, s in scores.items()}

    return ray.get(_evaluate.remote(checkpoint_dir), timeout=7200)


def run_root(cfg: ReadConfig) -> Path:
    return (Path(cfg.run.runs_dir) / cfg.run.name).resolve()


def anchor_key(cfg: ReadConfig, card, split: str) -> str:
    """Names one evaluation: task, split, sizes, seed, limit, basis, and a hash of the split's item ids."""
    import hashlib

    items = hashlib.sha256("\n".join(i.item_id for i in getattr(card, split)).encode()).hexdigest()[:12]
    t = cfg.task
    return f"{card.name}-{split}-d{t.dev_size}-t{t.test_size}-s{cfg.run.seed}-l{t.eval_limit}-{t.utility}-{items}"


def cached_scores(path: Path, key: str, compute) -> dict:
    """`compute()` once per key, kept in the JSON file at `path` (written atomically, unique temp names)."""
    from read_ray.core.files import atomic_write as write_text_atomic

    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = {}
    if key not in cached:
        cached[key] = compute()
        write_text_atomic(path, json.dumps(cached, indent=1))
    return cached[key]
