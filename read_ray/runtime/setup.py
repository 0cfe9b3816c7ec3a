"""What a run fixes before its first round, and reloads on resume: models, task card, r_tau, prompt pools,
the probe suite with the teacher's cached references, and the score scale (round 0's anchors).

Round 0 probes the initial student (0 on the scale) and the teacher (100) once per run directory and keeps
the normaliser with the initial student's dev utility in `normaliser.json`; a resumed run reads it back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from read_ray.config import ReadConfig
from read_ray.core.budget import RoundBudget, plan_round_budget
from read_ray.core.files import atomic_write
from read_ray.core.leakage import LeakageFilter
from read_ray.runtime.console import Progress
from read_ray.runtime.downstream import task_report, task_requirement
from read_ray.runtime.rundir import RunDirectory
from read_ray.runtime.supervision import teacher_texts


@dataclass
class Setup:
    """Everything the loop needs that does not change between rounds (built once, or reloaded on resume)."""
    cfg: ReadConfig
    run: RunDirectory
    caps: tuple[str, ...]
    requirement: np.ndarray
    round_budget: RoundBudget
    max_new_tokens: dict
    pools: dict
    leakage: LeakageFilter
    suite: dict
    normaliser: object
    card: object
    student_init: str
    teacher_tokenizer: object
    dev_utility_0: float

    @property
    def reward_terms(self) -> dict:
        """`settle_round`'s keyword arguments for the reward: r_tau and the reward section."""
        r = self.cfg.reward
        return {"requirement": self.requirement, "beta": r.beta, "spill_top_k": r.spill_top_k,
                "lambda_per_1k_tokens": r.lambda_per_1k_tokens}


def prepare(cfg: ReadConfig, run: RunDirectory, teacher, log, progress: Progress | None = None):
    """Teacher and student models, task card, pools, probe suite with cached references, normaliser;
    returns the Setup and the probe pool (started once, used for round 0 and every round)."""
    from read_ray.content.pools import pools_for_config
    from read_ray.content.probe_references import attach_references, reference_id
    from read_ray.content.probe_suite import build_probe_suite, probe_prompts
    from read_ray.content.tasks.cards import all_eval_prompts, load_task
    from read_ray.core.statistics import Normaliser, fit_normaliser
    from read_ray.model.loading import build_pruned_student, load_tokenizer, resolve_model_dir
    from read_ray.model.probes import probe_references_dir
    from read_ray.runtime.probes import ProbePool

    progress = progress or Progress(live=False, log=log)
    caps = cfg.capabilities.names
    teacher_dir = resolve_model_dir(cfg.teacher.model)
    card = load_task(cfg.task.name, dev_size=cfg.task.dev_size, test_size=cfg.task.test_size, seed=cfg.run.seed)
    requirement = task_requirement(cfg, card)
    student_init = str(run.root / "student_init")
    if cfg.student.init == "prune" and not (Path(student_init) / "config.json").is_file():
        build_pruned_student(teacher_dir, cfg.student.keep_layers, student_init)
    elif cfg.student.init == "model":
        student_init = resolve_model_dir(cfg.student.model)
    suite = build_probe_suite(caps, items_per_capability=cfg.probes.items_per_capability, seed=cfg.run.seed)
    suite = attach_references(suite, lambda prompts: teacher_texts(teacher, prompts, cfg, progress),
                              probe_references_dir(), teacher_id=reference_id(cfg))
    pool = ProbePool(cfg, suite)
    norm_path = run.root / "normaliser.json"
    if norm_path.is_file():
        normaliser = Normaliser.from_dict(json.loads(norm_path.read_text()))
        dev0 = json.loads(norm_path.read_text())["dev_utility_0"]
    else:
        log("round 0: probing the initial student and the teacher to fix the score scale")
        student0, _ = probe(pool, student_init, cfg, progress, "round 0 probe (initial student)")
        teacher0 = teacher_profile(cfg, pool, teacher_dir, suite, progress)
        normaliser = fit_normaliser(student0, teacher0)
        dev_task_0 = task_report(cfg, card, student_init, "dev")      # a composite card: 0 by construction
        dev0 = dev_task_0["utility"]
        atomic_write(norm_path, json.dumps({**normaliser.to_dict(), "dev_utility_0": dev0,
                                            "dev_task_0": dev_task_0["subtasks"],
                                            "student0": student0.to_dict(), "teacher": teacher0.to_dict()}, indent=1))
    leakage = LeakageFilter([*probe_prompts(suite), *all_eval_prompts(card)])
    pools = pools_for_config(cfg)
    max_new = {c: cfg.teacher.max_new_tokens_by_capability.get(c, cfg.teacher.max_new_tokens) for c in caps}
    round_budget = plan_round_budget(cfg.budget.total_tokens, cfg.budget.num_rounds, cfg.budget.gen_fraction)
    return Setup(cfg, run, caps, requirement, round_budget, max_new, pools, leakage, suite, normaliser, card,
                 student_init, load_tokenizer(teacher_dir), dev0), pool


def probe(pool, checkpoint: str, cfg: ReadConfig, progress: Progress, name: str):
    """(scores, seconds) of a checkpoint on the probe pool, shown as a stage (items scored of N)."""
    total = sum(len(items) for items in pool.suite.values())
    with progress.stage(name, total, "item") as stage:
        return pool.evaluate(checkpoint, seed=cfg.run.seed, on_scored=stage.update)


def teacher_profile(cfg: ReadConfig, pool, teacher_dir: str, suite, progress: Progress):
    """The teacher's own probe scores (the 100 of the score scale). They depend only on the teacher, the
    suite with its references, the scorer and the seed, so they are cached beside the references: a run
    after the first skips probing the teacher (a minute on the CPU preset, a 70B load on a cluster)."""
    from read_ray.content.probe_references import reference_id, references_path, teacher_profile_path
    from read_ray.core.statistics import CapabilityScores
    from read_ray.model.probes import probe_references_dir

    path = teacher_profile_path(references_path(suite, probe_references_dir(), teacher_id=reference_id(cfg)),
                                scorer=cfg.probes.scorer, bootstrap_samples=cfg.probes.bootstrap_samples,
                                seed=cfg.run.seed)
    try:
        return CapabilityScores.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):     # absent or unreadable: measure it
        scores, _ = probe(pool, teacher_dir, cfg, progress, "round 0 probe (teacher)")
        atomic_write(path, json.dumps(scores.to_dict()))
        return scores
