"""The controller: ReAD's round loop on Ray, with the run directory and resume.

`run_distillation` reads like DESIGN.md's round: every stage and every synchronisation point (`ray.get`,
`.result()`) is visible in the loop; the stages themselves (teacher generation, the student fit, the
probe pool) are adapters that only move data and place work. Decisions live in `read_ray.core`.

With `run.pipeline`, round t+1's prompts are chosen (from `provisional_state`: feedback delayed one round,
the running round's caps reserved in the ledger) and sent to the teacher before round t trains, so the
teacher generates while the student trains and is probed. The pick is saved with round t, so a resumed
run continues with exactly the allocation an uninterrupted run used.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from read_ray.config import ReadConfig
from read_ray.core.budget import Ledger, RoundBudget, plan_round_budget
from read_ray.core.files import atomic_write
from read_ray.core.requirements import requirement_for_card
from read_ray.core.rounds import (
    GenerationSummary,
    ProbeSummary,
    RoundPlan,
    RoundState,
    TrainingSummary,
    can_afford_round,
    context,
    initial_state,
    plan_round,
    provisional_state,
    select_within_cap,
    settle_round,
)
from read_ray.core.leakage import LeakageFilter
from read_ray.runtime.rundir import RunDirectory
from read_ray.runtime.tracking import open_tracker


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


def run_distillation(cfg: ReadConfig, *, force: bool = False, max_rounds: int | None = None,
                     log=print) -> RunDirectory:
    """Run (or resume) a distillation in cfg.run.runs_dir/cfg.run.name; Ray must be initialised.

    `max_rounds` stops after that many rounds in this call (the run resumes later where it stopped).
    """
    import ray

    from read_ray.runtime.learner import start_learner
    from read_ray.runtime.student import fit_student
    from read_ray.runtime.teacher import APP_NAME, start_teacher, stop_teacher

    run = RunDirectory.open(cfg, force=force)
    tracker = open_tracker(cfg, run.root)                    # metrics.jsonl -> tensorboard / mlflow / wandb
    teacher_app = f"{APP_NAME}_{cfg.run.name}"      # one Serve app per run: runs can share a cluster
    teacher = start_teacher(cfg, app_name=teacher_app)
    setup, probes = prepare(cfg, run, teacher, log)
    state = run.latest_state() or initial_state(
        Ledger(cfg.budget.total_tokens, charge_probes=cfg.budget.charge_probes),
        np.zeros(len(setup.caps)), checkpoint=setup.student_init)
    last_dir = run.round_dir(state.rounds_done - 1) if state.rounds_done else None
    learner = start_learner(cfg, len(setup.caps), cfg.run.seed, str(last_dir / "bandit.pt") if last_dir else None)
    log(f"run {run.root}: resuming after round {state.rounds_done}" if state.rounds_done else f"run {run.root}: start")

    def choose(planning_state: RoundState):
        """The bandit's allocation and the round's prompts, or None when the budget cannot pay a round."""
        if not can_afford_round(planning_state, setup.round_budget):
            return None
        ctx = context(planning_state, setup.requirement)
        allocation = ray.get(learner.select.remote(ctx), timeout=600)
        return ctx, plan_round(planning_state, allocation, capabilities=setup.caps, pools=setup.pools,
                               leakage=setup.leakage, round_budget=setup.round_budget,
                               max_new_tokens=setup.max_new_tokens, seed=cfg.run.seed)

    t0 = time.perf_counter()
    chosen = run.next_choice(state.rounds_done) or choose(state)      # pipelined runs saved their next pick
    pending = launch_generation(teacher, chosen[1], cfg.run.seed) if chosen else None
    rounds_this_call, t_restart = 0, 0.0
    while chosen and rounds_this_call != max_rounds:
        (ctx, plan), t_bandit = chosen, time.perf_counter() - t0 - t_restart
        generation, samples, batch_rows = collect_generation(pending, setup.teacher_tokenizer)   # synchronisation point
        t_wait, t2 = time.perf_counter() - t0 - t_bandit - t_restart, time.perf_counter()
        upcoming = choose(provisional_state(state, plan)) if cfg.run.pipeline else None
        more = rounds_this_call + 1 != max_rounds
        next_pending = launch_generation(teacher, upcoming[1], cfg.run.seed) if upcoming and more else None
        t_bandit += time.perf_counter() - t2
        update = fit_student(samples, init_dir=state.checkpoint, training_cap_tokens=plan.training_cap_tokens,
                             train=cfg.train, resources=cfg.resources, storage_dir=str(run.root / "train"),
                             name=f"round_{plan.round_index:04d}", seed=cfg.run.seed + plan.round_index)
        scores, probe_s = probes.evaluate(update.checkpoint_dir, seed=cfg.run.seed)
        probe = ProbeSummary(tuple(setup.normaliser(scores.raw)[c] for c in setup.caps),
                             tuple(setup.normaliser.ci(scores.ci)[c] for c in setup.caps), scores.probe_tokens, probe_s)
        training = TrainingSummary(update.tokens_by_capability, update.loss, update.checkpoint_dir, update.seconds)
        state, record = settle_round(state, plan, generation, training, probe, requirement=setup.requirement,
                                     beta=cfg.reward.beta, spill_top_k=cfg.reward.spill_top_k,
                                     lambda_per_1k_tokens=cfg.reward.lambda_per_1k_tokens,
                                     extra_seconds={"generate_wait": t_wait, "teacher_restart": t_restart})
        t1 = time.perf_counter()
        ray.get(learner.update.remote(ctx, plan.allocation, record.reward), timeout=600)
        dev = dev_checkpoint(cfg, setup, state, learner, update.checkpoint_dir)
        t_bandit += time.perf_counter() - t1
        state = commit(run, setup, state, plan, record, batch_rows, scores, dev, learner, update, t_bandit, t0, upcoming)
        tracker.sync()
        t0 = time.perf_counter()
        rounds_this_call += 1
        log(round_line(record, setup.caps, state, dev))
        chosen, pending = (upcoming, next_pending) if cfg.run.pipeline else (choose(state) if more else None, None)
        if chosen and pending is None and more:
            t_restart = time.perf_counter()
            if not cfg.teacher.keep_warm:             # the reference design: a fresh engine every round
                stop_teacher(teacher_app)
                teacher = start_teacher(cfg, app_name=teacher_app)
            t_restart = time.perf_counter() - t_restart
            pending = launch_generation(teacher, chosen[1], cfg.run.seed)
    probes.shutdown()
    stop_teacher(teacher_app)
    tracker.close()
    return run


def prepare(cfg: ReadConfig, run: RunDirectory, teacher, log):
    """Teacher and student models, task card, pools, probe suite with cached references, normaliser;
    returns the Setup and the probe pool (started once, used for round 0 and every round)."""
    from read_ray.model.probes import probe_references_dir
    from read_ray.model.loading import build_pruned_student, load_tokenizer, resolve_model_dir
    from read_ray.content.pools import pools_for_config
    from read_ray.content.probe_references import attach_references, reference_id
    from read_ray.content.probe_suite import build_probe_suite, probe_prompts
    from read_ray.core.statistics import Normaliser, fit_normaliser
    from read_ray.content.tasks.cards import all_eval_prompts, load_task
    from read_ray.runtime.probes import ProbePool

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
    suite = attach_references(suite, lambda prompts: teacher_texts(teacher, prompts, cfg), probe_references_dir(),
                              teacher_id=reference_id(cfg))
    pool = ProbePool(cfg, suite)
    norm_path = run.root / "normaliser.json"
    if norm_path.is_file():
        normaliser = Normaliser.from_dict(json.loads(norm_path.read_text()))
        dev0 = json.loads(norm_path.read_text())["dev_utility_0"]
    else:
        log("round 0: probing the initial student and the teacher to fix the score scale")
        student0, _ = pool.evaluate(student_init, seed=cfg.run.seed)
        teacher0 = teacher_profile(cfg, pool, teacher_dir, suite)
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


def teacher_profile(cfg: ReadConfig, pool, teacher_dir: str, suite):
    """The teacher's own probe scores (the 100 of the score scale). They depend only on the teacher, the
    suite with its references, the scorer and the seed, so they are cached beside the references: a run
    after the first skips probing the teacher (a minute on the CPU preset, a 70B load on a cluster)."""
    from read_ray.model.probes import probe_references_dir
    from read_ray.content.probe_references import reference_id, references_path, teacher_profile_path
    from read_ray.core.statistics import CapabilityScores

    path = teacher_profile_path(references_path(suite, probe_references_dir(), teacher_id=reference_id(cfg)),
                                scorer=cfg.probes.scorer, bootstrap_samples=cfg.probes.bootstrap_samples,
                                seed=cfg.run.seed)
    try:
        return CapabilityScores.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):     # absent or unreadable: measure it
        scores, _ = pool.evaluate(teacher_dir, seed=cfg.run.seed)
        atomic_write(path, json.dumps(scores.to_dict()))
        return scores


def task_requirement(cfg: ReadConfig, card) -> np.ndarray:
    """r_tau: the learned identifier's vector (task.requirement_source=learned), else the config's manual
    vector, else the task card's, else the smoothed one-hot fallback."""
    from read_ray.model.identifier import learned_requirement

    caps = cfg.capabilities.names
    if cfg.task.requirement_source == "uniform":             # the "no requirement identification" ablation
        return np.full(len(caps), 1.0 / len(caps))
    manual = dict(cfg.task.requirement) or dict(card.requirement) or None
    learned = (learned_requirement(cfg.task.identifier_path, card, caps)
               if cfg.task.requirement_source == "learned" else None)
    return requirement_for_card(caps, manual=manual, declared=cfg.task.declared_capability,
                                epsilon=cfg.task.requirement_epsilon, learned=learned)


def teacher_texts(teacher, prompts: list[str], cfg: ReadConfig) -> list[str]:
    """The teacher's answers to the probe prompts that have no cached reference yet (a first run only)."""
    from tqdm.auto import tqdm

    requests = [(p, cfg.teacher.max_new_tokens, i) for i, p in enumerate(prompts)]
    responses = [teacher.generate.remote(*r) for r in requests]
    pending = tqdm(list(zip(requests, responses, strict=True)), desc="probe references (once per teacher)",
                   unit="answer", disable=not cfg.logging.progress)
    return [await_teacher(teacher.generate, q, r)[0]["text"] for q, r in pending]


TEACHER_RESENDS = 3     # times one request is re-sent after the replica holding it died


def await_teacher(method, args: tuple, response=None) -> tuple[object, int]:
    """(result, attempts) of one teacher request `method.remote(*args)` (sent now unless `response` is given).

    Serve replaces a dead replica and re-routes requests it had not yet accepted, but a request the replica
    had accepted dies with it (`RayActorError`); that request is re-sent as it was (same seed), at most
    TEACHER_RESENDS times. Only the result that comes back is counted: a lost attempt returned nothing and
    is not charged.
    """
    from ray.exceptions import RayActorError

    attempts = 1
    response = method.remote(*args) if response is None else response
    while True:
        try:
            return response.result(timeout_s=3600), attempts
        except RayActorError:
            if attempts > TEACHER_RESENDS:
                raise
            attempts += 1
            response = method.remote(*args)


@dataclass
class PendingGeneration:
    """Teacher requests in flight for one plan: (prompt, max_new_tokens, seed) per kept prompt, their Serve
    responses, the teacher handle (to re-send a request lost with its replica), started at `start_s`."""
    plan: RoundPlan
    kept: list
    requests: list
    responses: list
    teacher: object
    start_s: float


def launch_generation(teacher, plan: RoundPlan, seed: int) -> PendingGeneration:
    """Send the plan's prompts that fit the generation cap (worst case) to the teacher; returns at once."""
    start = time.perf_counter()
    prompt_tokens, _ = await_teacher(teacher.count_prompt_tokens, ([p.text for p in plan.prompts],))
    caps_tokens = [plan.max_new_tokens[p.capability] for p in plan.prompts]
    kept = [plan.prompts[i] for i in select_within_cap(prompt_tokens, caps_tokens, plan.generation_cap_tokens)]
    requests = [(p.text, plan.max_new_tokens[p.capability], plan.request_seed(i, seed)) for i, p in enumerate(kept)]
    responses = [teacher.generate.remote(*r) for r in requests]
    return PendingGeneration(plan, kept, requests, responses, teacher, start)


def collect_generation(pending: PendingGeneration, tokenizer):
    """Wait for the completions; exact token counts per capability, training samples, batch rows.

    Samples are the teacher's own token ids, as the engine consumed and generated them (eos only where the
    teacher stopped). Only an engine that reports no ids has its text tokenised with `tokenizer`; whether
    it stopped is then its finish reason, or else whether it ended before its token limit.
    """
    from read_ray.model.loading import prompt_token_ids
    from read_ray.model.training import make_sample

    answers = [await_teacher(pending.teacher.generate, request, response)
               for request, response in zip(pending.requests, pending.responses, strict=True)]
    counts = {c: 0 for c in pending.plan.prompts_per_capability}
    ptoks, ctoks = dict(counts), dict(counts)
    samples, rows = [], []
    for prompt, request, (c, attempts) in zip(pending.kept, pending.requests, answers, strict=True):
        cap = prompt.capability
        counts[cap] += 1
        ptoks[cap] += c["prompt_tokens"]
        ctoks[cap] += c["completion_tokens"]
        rows.append({"capability": cap, "source_id": prompt.source_id, "prompt": prompt.text, "completion": c["text"],
                     "prompt_tokens": c["prompt_tokens"], "completion_tokens": c["completion_tokens"],
                     "finish_reason": c.get("finish_reason"), "attempts": attempts})
        if not (c["text"] and c["completion_tokens"]):    # an empty completion is paid for but not trained on
            continue
        if c.get("completion_ids"):                        # the engine's ids, as they are
            samples.append(make_sample(tokenizer, c["prompt_ids"], c["completion_ids"], cap,
                                       topk=c.get("topk_logprobs")))
        else:
            stopped = c.get("finish_reason") == "stop" if c.get("finish_reason") else c["completion_tokens"] < request[1]
            samples.append(make_sample(tokenizer, prompt_token_ids(tokenizer, [prompt.text])[0], c["text"], cap,
                                       stopped=stopped, topk=c.get("topk_logprobs")))
    summary = GenerationSummary(counts, ptoks, ctoks, time.perf_counter() - pending.start_s)
    return summary, samples, rows


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
    from read_ray.core.task_utility import gap_closures, mean_gap_closure
    from read_ray.model.probes import probe_references_dir
    from read_ray.model.loading import resolve_model_dir
    from read_ray.content.probe_references import reference_id, references_path

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
        return {k: {**asdict(s), "value": None if s.value != s.value else s.value} for k, s in scores.items()}

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


def dev_checkpoint(cfg: ReadConfig, setup: Setup, state: RoundState, learner, checkpoint_dir: str) -> float | None:
    import ray

    every = cfg.bandit.dev_every_rounds
    if not every or state.rounds_done % every:
        return None
    change = task_utility(cfg, setup.card, checkpoint_dir, "dev") - setup.dev_utility_0
    ray.get(learner.on_dev_checkpoint.remote(change, state.cumulative_reward), timeout=600)
    return change


def commit(run: RunDirectory, setup: Setup, state: RoundState, plan: RoundPlan, record, batch_rows, scores,
           dev: float | None, learner, update, bandit_s: float, round_start_s: float, upcoming) -> RoundState:
    """Write the round folder (student, bandit state, JSON files, a pipelined run's next pick) and its
    manifest last; return the committed state (what `run.latest_state()` would read back, without
    re-reading and re-hashing the round: that happens only on resume). The round's wall-clock ends here,
    after the checkpoint copy: only writing the small JSON files and the manifest falls outside it."""
    import ray

    index = plan.round_index
    partial = run.begin_round(index)
    shutil.copytree(update.checkpoint_dir, partial / "student")
    shutil.rmtree(Path(update.checkpoint_dir).parent, ignore_errors=True)    # the Train run folder of this round
    ray.get(learner.save.remote(str(partial / "bandit.pt")), timeout=600)
    round_s = time.perf_counter() - round_start_s
    state = RoundState(**{**state.__dict__, "checkpoint": str(run.round_dir(index) / "student")})
    rec = record.to_dict()
    stage_s = sum(record.seconds.values())
    blocked_s = stage_s - record.seconds["generate"]           # generation overlaps when pipelined: count its wait
    rec["seconds"] = {**record.seconds, "bandit": bandit_s, "round": round_s,
                      "orchestration": max(0.0, round_s - blocked_s - bandit_s)}
    rec["dev_utility_change"] = dev
    rec["bandit_scores"] = ray.get(learner.last_scores.remote(), timeout=60)
    rec["train_step_losses"] = list(update.step_losses)
    files = {"plan.json": plan.to_dict(), "report.json": scores.to_dict(), "record.json": rec,
             "state.json": state.to_dict(),
             "batch.jsonl": "".join(json.dumps(r) + "\n" for r in batch_rows)}
    if upcoming:
        files["next_choice.json"] = {"context": asdict(upcoming[0]), "plan": upcoming[1].to_dict()}
    run.commit_round(index, partial, files, rec)
    return state


def round_line(record, caps: tuple[str, ...], state: RoundState, dev: float | None) -> str:
    w = ", ".join(f"{c} {x:.2f}" for c, x in zip(caps, record.allocation, strict=True) if x > 0)
    spent = state.ledger.spent_tokens
    line = (f"round {record.round_index}: reward {record.reward.reward:+.2f} (gain {record.reward.gain:+.2f}) "
            f"tokens {spent:,}/{state.ledger.total_tokens:,}")
    return line + (f" dev dU {dev:+.3f}" if dev is not None else "") + (f" | {w}" if w else "")

