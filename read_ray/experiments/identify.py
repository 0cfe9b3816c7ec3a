"""`read-ray identify`: collect interventions, fit the requirement identifier g_phi, compare with the cards.

An intervention is a short distillation with a fixed sparse Dirichlet allocation: the controller's own run
(`run_distillation` with `bandit.policy=static`) from the same initial student, so generation, training,
probing and the ledger are the ones a real run uses. It records

    delta_s  the capability-profile change, in the controller's normalised points (0 = initial student,
             100 = teacher, per capability), which is the run's final profile since it starts at 0;
    delta_u  the change of the task's dev utility (`task_utility`, the controller's measure), also in
             points of the student -> teacher gap on that task (same `Normaliser` as the probes).

g_phi is fit on both as fractions of the gap (points / 100), so `delta_u ~ r . delta_s` compares like with
like. The interventions of a task share its first one's round-0 normaliser (same initial student, probes,
teacher and dev split, so it is what each would compute), so only that one pays for probing the initial
student and the teacher. Every intervention is its own run directory under `<out>/interventions/<task>-<index>/`, with its
result in `intervention.json`; a rerun skips finished ones and resumes unfinished runs.
"""

from __future__ import annotations

import json
import shutil
import time
import zlib
from pathlib import Path

import numpy as np

from read_ray.config import ReadConfig, replace, validate
from read_ray.core.files import atomic_write
from read_ray.core.requirements import (
    Intervention,
    fit_requirement_head,
    intervention_allocation,
    normalise_requirement,
    predict_requirements,
    requirement_agreement,
    save_requirement_head,
)
from read_ray.runtime.rundir import RunDirectory

ALLOCATION_STREAM = 211  # seed stream id for intervention allocations
IDENTIFIER_FILE = "identifier.pt"


def intervention_config(cfg: ReadConfig, task: str, declared_capability: str, index: int,
                        allocation: np.ndarray, out_dir: Path) -> ReadConfig:
    """The run config of one intervention: the task, its allocation every round, no dev checkpoints."""
    return validate(replace(
        cfg, run={"name": f"{task}-{index:03d}", "runs_dir": str(out_dir / "interventions")},
        task={"name": task, "requirement": {}, "declared_capability": declared_capability,
              "requirement_source": "manual", "identifier_path": ""},
        bandit={"policy": "static", "dev_every_rounds": 0,
                "static_mix": {c: float(w) for c, w in zip(cfg.capabilities.names, allocation, strict=True) if w > 0}}))


def draw_allocation(cfg: ReadConfig, task: str, index: int) -> np.ndarray:
    caps = cfg.capabilities.names
    return intervention_allocation(len(caps), max_support=min(cfg.allocation.top_k, len(caps)),
                                   seed=[cfg.run.seed, ALLOCATION_STREAM, zlib.crc32(task.encode()), index])


def teacher_dev_utility(cfg: ReadConfig, card, out_dir: Path) -> float:
    """The teacher's dev utility on a task (the upper anchor of delta_u points), computed once."""
    from read_ray.model.loading import resolve_model_dir
    from read_ray.runtime.downstream import task_utility

    path = out_dir / "teacher_dev_utility.json"
    cached = json.loads(path.read_text()) if path.is_file() else {}
    if card.name not in cached:
        cached[card.name] = task_utility(cfg, card, resolve_model_dir(cfg.teacher.model), "dev")
        atomic_write(path, json.dumps(cached, indent=1))
    return float(cached[card.name])


def run_intervention(cfg: ReadConfig, card, index: int, out_dir: Path, log=print) -> dict:
    """One intervention (cached in its run directory's intervention.json)."""
    from read_ray.core.statistics import MIN_NORMALISER_GAP, Normaliser
    from read_ray.runtime.controller import run_distillation
    from read_ray.runtime.downstream import task_utility

    allocation = draw_allocation(cfg, card.name, index)
    run_cfg = intervention_config(cfg, card.name, card.declared_capability, index, allocation, out_dir)
    run_root = RunDirectory.open(run_cfg).root          # refuses a folder made with another config
    result_path = run_root / "intervention.json"
    if result_path.is_file():
        return json.loads(result_path.read_text())
    caps = cfg.capabilities.names
    mix = ", ".join(f"{c} {w:.2f}" for c, w in zip(caps, allocation, strict=True) if w > 0)
    log(f"intervention {card.name} #{index}: {mix}")
    start = time.perf_counter()
    first = run_root.parent / f"{card.name}-000" / "normaliser.json"
    if index > 0 and first.is_file() and not (run_root / "normaliser.json").exists():
        shutil.copyfile(first, run_root / "normaliser.json")
    run = run_distillation(run_cfg, log=log)
    state = run.latest_state()
    dev0 = float(json.loads((run.root / "normaliser.json").read_text())["dev_utility_0"])
    dev = task_utility(run_cfg, card, state.checkpoint, "dev")
    teacher = teacher_dev_utility(run_cfg, card, out_dir)
    gap = Normaliser(low={"u": dev0}, high={"u": max(teacher, dev0 + MIN_NORMALISER_GAP)})
    row = {"task": card.name, "index": index, "allocation": allocation.tolist(),
           "delta_s_points": dict(zip(caps, state.profile, strict=True)),
           "dev_utility_0": dev0, "dev_utility": dev, "dev_utility_teacher": teacher, "delta_u": dev - dev0,
           "delta_u_points": gap({"u": dev})["u"], "rounds": state.rounds_done,
           "tokens_spent": state.ledger.spent_tokens, "run_dir": f"interventions/{run_cfg.run.name}",
           "seconds": time.perf_counter() - start}
    atomic_write(result_path, json.dumps(row, indent=1))
    return row


def load_cards(cfg: ReadConfig, tasks: list[str], num_interventions: int, out_dir: str | Path) -> list:
    """The task cards, after checking the arguments and every intervention's config (before any Ray work)."""
    from read_ray.content.tasks.cards import TASK_NAMES, load_task

    unknown = [t for t in tasks if t not in TASK_NAMES]
    if not tasks or unknown:
        raise ValueError(f"--tasks: give task names from {', '.join(TASK_NAMES)}"
                         + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"--tasks: {tasks} names a task twice")
    if num_interventions < 1:
        raise ValueError(f"--interventions: need at least 1 per task, got {num_interventions}")
    cards = [load_task(t, dev_size=cfg.task.dev_size, test_size=cfg.task.test_size, seed=cfg.run.seed)
             for t in tasks]
    for card in cards:
        intervention_config(cfg, card.name, card.declared_capability, 0, draw_allocation(cfg, card.name, 0),
                            Path(out_dir))
    return cards


def run_identify(cfg: ReadConfig, tasks: list[str], num_interventions: int, out_dir: str | Path,
                 log=print) -> dict:
    """Collect (or reuse) the interventions, fit and save g_phi, and compare it with the task cards.

    Ray must be initialised. Writes identifier.pt/.json, identify.json and identify.md into `out_dir`.
    """
    from read_ray.model.identifier import ENCODER_PACKAGE, embed_texts

    out = Path(out_dir).resolve()
    cards = load_cards(cfg, tasks, num_interventions, out)
    out.mkdir(parents=True, exist_ok=True)
    caps = cfg.capabilities.names
    start = time.perf_counter()
    rows = [run_intervention(cfg, card, m, out, log) for card in cards for m in range(num_interventions)]
    collect_s = time.perf_counter() - start

    embeddings = embed_texts([card.card_text() for card in cards])
    items = [Intervention(task_index=tasks.index(r["task"]),
                          delta_s=tuple(r["delta_s_points"][c] / 100.0 for c in caps),
                          delta_u=r["delta_u_points"] / 100.0) for r in rows]
    head, losses = fit_requirement_head(embeddings, items, seed=cfg.run.seed, num_capabilities=len(caps))
    identifier = out / IDENTIFIER_FILE
    save_requirement_head(head, identifier, {
        "capabilities": list(caps), "encoder": ENCODER_PACKAGE, "tasks": tasks,
        "num_interventions": len(items), "loss_first": losses[0], "loss_last": losses[-1],
        "units": "delta_s and delta_u as fractions of the initial-student -> teacher gap"})
    learned = predict_requirements(head, embeddings)

    table = []
    for i, card in enumerate(cards):
        manual = normalise_requirement(card.requirement, caps)
        mine = [r for r in rows if r["task"] == card.name]
        table.append({"task": card.name, "manual": dict(zip(caps, manual.tolist(), strict=True)),
                      "learned": dict(zip(caps, learned[i].tolist(), strict=True)),
                      **requirement_agreement(learned[i], manual),
                      "manual_top": caps[int(np.argmax(manual))], "learned_top": caps[int(np.argmax(learned[i]))],
                      "interventions": len(mine),
                      "mean_delta_u_points": float(np.mean([r["delta_u_points"] for r in mine]))})
    result = {"tasks": table, "capabilities": list(caps), "identifier": IDENTIFIER_FILE,
              "interventions": rows, "fit": {"loss_first": losses[0], "loss_last": losses[-1], "steps": len(losses)},
              "seconds": {"interventions": collect_s, "total": time.perf_counter() - start}}
    atomic_write(out / "identify.json", json.dumps(result, indent=1))
    atomic_write(out / "identify.md", markdown_table(result))
    return result


def markdown_table(result: dict) -> str:
    caps = result["capabilities"]
    head = ["task", "vector", *caps, "top", "cosine", "top agrees", "TV distance"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in result["tasks"]:
        for kind in ("manual", "learned"):
            vec = " | ".join(f"{row[kind][c]:.2f}" for c in caps)
            tail = (f"{row['cosine']:.3f} | {'yes' if row['top_agrees'] else 'no'} | {row['total_variation']:.3f}"
                    if kind == "learned" else " | | ")
            lines.append(f"| {row['task']} | {kind} | {vec} | {row[f'{kind}_top']} | {tail} |")
    fit = result["fit"]
    n = len(result["interventions"])
    return ("\n".join(lines) + f"\n\n{n} interventions; g_phi fit loss {fit['loss_first']:.4g} -> "
            f"{fit['loss_last']:.4g} over {fit['steps']} steps; identifier: {result['identifier']}\n")
