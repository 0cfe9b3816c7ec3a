"""The controller: ReAD's round loop on Ray, with the run directory and resume.

`run_distillation` reads like DESIGN.md's round: every stage and every synchronisation point (`ray.get`,
`.result()`) is visible in the loop; the stages themselves (teacher generation, the student fit, the
probe pool) are adapters that only move data and place work (`supervision`, `student`, `probes`); what a
run fixes before round 1 is `setup.prepare`. Decisions live in `read_ray.core`.

With `run.pipeline`, round t+1's prompts are chosen (from `provisional_state`: feedback delayed one round,
the running round's caps reserved in the ledger) and sent to the teacher before round t trains, so the
teacher generates while the student trains and is probed. The pick is saved with round t, so a resumed
run continues with exactly the allocation an uninterrupted run used. Without it, the next round is picked
after the commit and the teacher gets a fresh engine first (`teacher.keep_warm` off).

A `StageClock` times the controller's own work per round (bandit, waiting for generation, teacher
restart); the stages time themselves. `Progress` shows each stage on the console (`runtime.console`).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from read_ray.config import ReadConfig
from read_ray.core.bandit import Context
from read_ray.core.budget import Ledger
from read_ray.core.rounds import (
    ProbeSummary,
    RoundPlan,
    RoundState,
    TrainingSummary,
    can_afford_round,
    context,
    initial_state,
    plan_round,
    provisional_state,
    settle_round,
)
from read_ray.runtime.console import Progress, ray_logs_to
from read_ray.runtime.downstream import task_utility
from read_ray.runtime.rundir import RunDirectory
from read_ray.runtime.setup import Setup, prepare, probe
from read_ray.runtime.supervision import TeacherApp, collect_generation, launch_generation
from read_ray.runtime.tracking import open_tracker


class Choice(NamedTuple):
    """The bandit's pick for one round: the context it saw and the round plan its allocation became."""
    context: Context
    plan: RoundPlan


class StageClock:
    """The controller's own seconds per stage of one round (`with clock("bandit"): ...`), and the round's
    wall-clock since the clock was made."""

    def __init__(self):
        self.start_s, self.seconds = time.perf_counter(), {}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start

    def of(self, *stages: str) -> dict[str, float]:
        return {s: self.seconds.get(s, 0.0) for s in stages}

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.start_s


@dataclass
class RoundOutcome:
    """What one round produced, as `commit` writes it."""
    plan: RoundPlan
    record: object                # core.rounds.RoundRecord
    batch_rows: list
    scores: object                # the probe report (raw scores)
    update: object                # student.StudentUpdate
    dev: float | None
    upcoming: Choice | None       # a pipelined run's next pick, saved with the round


def run_distillation(cfg: ReadConfig, *, force: bool = False, log=print, console=None) -> RunDirectory:
    """Run (or resume) a distillation in cfg.run.runs_dir/cfg.run.name; Ray must be initialised.

    `console` (default stdout) shows live stage progress when it is a terminal and `logging.progress` is on;
    otherwise each stage logs one line when it ends. Ray's own log records go to the run's `ray.log`.
    """
    import ray

    from read_ray.runtime.learner import start_learner

    run = RunDirectory.open(cfg, force=force)
    progress = Progress.for_console(cfg.logging.progress, log, console)
    with ray_logs_to(run.root / "ray.log"):
        tracker = open_tracker(cfg, run.root)                # metrics.jsonl -> tensorboard / mlflow / wandb
        teacher = TeacherApp(cfg)
        setup, probes = prepare(cfg, run, teacher.handle, log, progress)
        state = run.latest_state() or initial_state(          # resume: the last round's files are re-hashed here
            Ledger(cfg.budget.total_tokens, charge_probes=cfg.budget.charge_probes),
            np.zeros(len(setup.caps)), checkpoint=setup.student_init)
        last_dir = run.round_dir(state.rounds_done - 1) if state.rounds_done else None
        learner = start_learner(cfg, len(setup.caps), cfg.run.seed,
                                str(last_dir / "bandit.pt") if last_dir else None)
        log(f"run {run.root}: resuming after round {state.rounds_done}" if state.rounds_done
            else f"run {run.root}: start")

        clock = StageClock()
        with clock("bandit"):                                 # a pipelined run saved its next pick with the round
            saved = run.next_choice(state.rounds_done)
            choice = Choice(*saved) if saved else choose(setup, learner, state)
            pending = launch_generation(teacher.handle, choice.plan, cfg.run.seed) if choice else None
        while choice:
            plan = choice.plan
            with clock("generate_wait"):                        # the synchronisation point with the teacher
                generation, samples, batch_rows = collect(pending, setup, progress)
            upcoming, next_pending = pick_ahead(setup, learner, teacher, state, plan, clock)   # run.pipeline
            update = train(setup, state, plan, samples, progress)
            scores, probe_s = probe(probes, update.checkpoint_dir, cfg, progress, f"round {plan.round_index} probe")
            state, record = settle_round(state, plan, generation, *measured(setup, update, scores, probe_s),
                                         **setup.reward_terms,
                                         extra_seconds=clock.of("generate_wait", "teacher_restart"))
            with clock("bandit"):
                ray.get(learner.update.remote(choice.context, plan.allocation, record.reward), timeout=600)
                dev = dev_checkpoint(setup, state, learner, update.checkpoint_dir)
            outcome = RoundOutcome(plan, record, batch_rows, scores, update, dev, upcoming)
            state = commit(run, state, outcome, learner, clock)        # returns the committed state
            tracker.sync()
            clock = StageClock()
            log(round_line(record, setup.caps, state, dev))
            choice, pending = ((upcoming, next_pending) if cfg.run.pipeline
                               else next_round(setup, learner, teacher, state, clock))
        probes.shutdown()
        teacher.stop()
        progress.close()
        tracker.close()
    return run


def choose(setup: Setup, learner, planning_state: RoundState) -> Choice | None:
    """The bandit's allocation and the round's prompts, or None when the budget cannot pay a round."""
    import ray

    if not can_afford_round(planning_state, setup.round_budget):
        return None
    ctx = context(planning_state, setup.requirement)
    allocation = ray.get(learner.select.remote(ctx), timeout=600)
    return Choice(ctx, plan_round(planning_state, allocation, capabilities=setup.caps, pools=setup.pools,
                                  leakage=setup.leakage, round_budget=setup.round_budget,
                                  max_new_tokens=setup.max_new_tokens, seed=setup.cfg.run.seed))


def pick_ahead(setup: Setup, learner, teacher: TeacherApp, state: RoundState, plan: RoundPlan,
               clock: StageClock):
    """With `run.pipeline`: (round t+1's pick, its generation in flight) before round t trains, chosen from
    `provisional_state` (feedback one round late, round t's caps reserved). (None, None) without pipelining
    or when the budget is spent."""
    if not setup.cfg.run.pipeline:
        return None, None
    with clock("bandit"):
        upcoming = choose(setup, learner, provisional_state(state, plan))
        pending = launch_generation(teacher.handle, upcoming.plan, setup.cfg.run.seed) if upcoming else None
    return upcoming, pending


def next_round(setup: Setup, learner, teacher: TeacherApp, state: RoundState, clock: StageClock):
    """Without pipelining: (the next pick, its generation in flight) after the committed round, the teacher
    restarted first unless `teacher.keep_warm`; (None, None) when the budget is spent."""
    with clock("bandit"):
        choice = choose(setup, learner, state)
    if choice is None:
        return None, None
    with clock("teacher_restart"):
        teacher.fresh_engine()
    with clock("bandit"):
        return choice, launch_generation(teacher.handle, choice.plan, setup.cfg.run.seed)


def collect(pending, setup: Setup, progress: Progress):
    """The round's teacher answers (`collect_generation`), shown as a stage: prompts answered, tokens/s."""
    with progress.stage(f"round {pending.plan.round_index} generate", len(pending.requests), "prompt") as stage:
        return collect_generation(pending, setup.teacher_tokenizer, stage)


def train(setup: Setup, state: RoundState, plan: RoundPlan, samples: list, progress: Progress):
    """The round's student update (Ray Train + DeepSpeed) from the last committed student, shown as a stage."""
    from read_ray.runtime.student import fit_student

    cfg = setup.cfg
    with progress.polled(f"round {plan.round_index} train", "step") as (stage, board):
        update = fit_student(samples, init_dir=state.checkpoint, training_cap_tokens=plan.training_cap_tokens,
                             train=cfg.train, resources=cfg.resources, storage_dir=str(setup.run.root / "train"),
                             name=f"round_{plan.round_index:04d}", seed=cfg.run.seed + plan.round_index,
                             progress=board)
        stage.finish(update.steps, update.steps, loss=update.loss)
    return update


def measured(setup: Setup, update, scores, probe_s: float) -> tuple[TrainingSummary, ProbeSummary]:
    """The fit and the probe report as `settle_round` takes them (the profile on the run's score scale)."""
    caps, norm = setup.caps, setup.normaliser
    training = TrainingSummary(update.tokens_by_capability, update.loss, update.checkpoint_dir, update.seconds)
    probe_summary = ProbeSummary(tuple(norm(scores.raw)[c] for c in caps), tuple(norm.ci(scores.ci)[c] for c in caps),
                                 scores.probe_tokens, probe_s)
    return training, probe_summary


def dev_checkpoint(setup: Setup, state: RoundState, learner, checkpoint_dir: str) -> float | None:
    """Every `bandit.dev_every_rounds` rounds: the change of dev utility since the initial student, told to
    the learner (its dev-checkpoint rule); None in other rounds."""
    import ray

    every = setup.cfg.bandit.dev_every_rounds
    if not every or state.rounds_done % every:
        return None
    change = task_utility(setup.cfg, setup.card, checkpoint_dir, "dev") - setup.dev_utility_0
    ray.get(learner.on_dev_checkpoint.remote(change, state.cumulative_reward), timeout=600)
    return change


def commit(run: RunDirectory, state: RoundState, outcome: RoundOutcome, learner, clock: StageClock) -> RoundState:
    """Write the round folder (student, bandit state, JSON files, a pipelined run's next pick) and its
    manifest last; return the committed state (what `run.latest_state()` would read back, without
    re-reading and re-hashing the round: that happens only on resume). The round's wall-clock ends here,
    after the checkpoint copy: only writing the small JSON files and the manifest falls outside it."""
    import ray

    index, record, update = outcome.plan.round_index, outcome.record, outcome.update
    partial = run.begin_round(index)
    shutil.copytree(update.checkpoint_dir, partial / "student")
    shutil.rmtree(Path(update.checkpoint_dir).parent, ignore_errors=True)    # the Train run folder of this round
    ray.get(learner.save.remote(str(partial / "bandit.pt")), timeout=600)
    round_s, bandit_s = clock.elapsed_s(), clock.of("bandit")["bandit"]
    state = RoundState(**{**state.__dict__, "checkpoint": str(run.round_dir(index) / "student")})
    rec = record.to_dict()
    stage_s = sum(record.seconds.values())
    blocked_s = stage_s - record.seconds["generate"]           # generation overlaps when pipelined: count its wait
    rec["seconds"] = {**record.seconds, "bandit": bandit_s, "round": round_s,
                      "orchestration": max(0.0, round_s - blocked_s - bandit_s)}
    rec["dev_utility_change"] = outcome.dev
    rec["bandit_scores"] = ray.get(learner.last_scores.remote(), timeout=60)
    rec["train_step_losses"] = list(update.step_losses)
    files = {"plan.json": outcome.plan.to_dict(), "report.json": outcome.scores.to_dict(), "record.json": rec,
             "state.json": state.to_dict(),
             "batch.jsonl": "".join(json.dumps(r) + "\n" for r in outcome.batch_rows)}
    if outcome.upcoming:
        upcoming = outcome.upcoming
        files["next_choice.json"] = {"context": asdict(upcoming.context), "plan": upcoming.plan.to_dict()}
    run.commit_round(index, partial, files, rec)
    return state


def round_line(record, caps: tuple[str, ...], state: RoundState, dev: float | None) -> str:
    w = ", ".join(f"{c} {x:.2f}" for c, x in zip(caps, record.allocation, strict=True) if x > 0)
    spent = state.ledger.spent_tokens
    line = (f"round {record.round_index}: reward {record.reward.reward:+.2f} (gain {record.reward.gain:+.2f}) "
            f"tokens {spent:,}/{state.ledger.total_tokens:,}")
    return line + (f" dev dU {dev:+.3f}" if dev is not None else "") + (f" | {w}" if w else "")
