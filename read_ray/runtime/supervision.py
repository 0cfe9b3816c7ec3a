"""The teacher's part of a round, seen from the driver: send a plan's prompts, wait for the answers, turn
them into exact token counts, training samples and batch rows.

`launch_generation` returns at once (a pipelined run sends round t+1's prompts before round t trains);
`collect_generation` is the round's synchronisation point with the teacher. `TeacherApp` is the run's
Serve application, restarted between rounds when `teacher.keep_warm` is off (the reference design: a
fresh engine every round).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from read_ray.config import ReadConfig
from read_ray.core.rounds import GenerationSummary, RoundPlan, select_within_cap

TEACHER_RESENDS = 3     # times one request is re-sent after the replica holding it died


class TeacherApp:
    """One Serve app per run (runs can share a cluster); `handle` is replaced when the app restarts."""

    def __init__(self, cfg: ReadConfig):
        from read_ray.runtime.teacher import APP_NAME, start_teacher

        self.cfg, self.name = cfg, f"{APP_NAME}_{cfg.run.name}"
        self.handle = start_teacher(cfg, app_name=self.name)

    def fresh_engine(self) -> None:
        """A new engine for the next round unless `teacher.keep_warm`."""
        from read_ray.runtime.teacher import start_teacher

        if not self.cfg.teacher.keep_warm:
            self.stop()
            self.handle = start_teacher(self.cfg, app_name=self.name)

    def stop(self) -> None:
        """Delete the app; Serve itself too when no app is left, unless this process's Ray ends with it
        (then Serve's controller ends with Ray, without the failed-task warnings a shutdown prints)."""
        from ray import serve

        from read_ray.runtime.cluster import owns_ray
        from read_ray.runtime.teacher import stop_teacher

        if owns_ray():
            serve.delete(self.name)
        else:
            stop_teacher(self.name)


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


def teacher_texts(teacher, prompts: list[str], cfg: ReadConfig, progress) -> list[str]:
    """The teacher's answers to the probe prompts that have no cached reference yet (a first run only)."""
    requests = [(p, cfg.teacher.max_new_tokens, i) for i, p in enumerate(prompts)]
    responses = [teacher.generate.remote(*r) for r in requests]
    texts = []
    with progress.stage("probe references (once per teacher)", len(requests), "answer") as stage:
        for request, response in zip(requests, responses, strict=True):
            texts.append(await_teacher(teacher.generate, request, response)[0]["text"])
            stage.update(len(texts))
    return texts


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


def collect_generation(pending: PendingGeneration, tokenizer, stage=None):
    """Wait for the completions; exact token counts per capability, training samples, batch rows.

    Samples are the teacher's own token ids, as the engine consumed and generated them (eos only where the
    teacher stopped). Only an engine that reports no ids has its text tokenised with `tokenizer`; whether
    it stopped is then its finish reason, or else whether it ended before its token limit. `stage` (a
    `console.Stage`) is told the prompts answered and the completion tokens per second as answers arrive.
    """
    from read_ray.model.loading import prompt_token_ids
    from read_ray.model.training import make_sample

    answers, completion_tokens = [], 0
    for request, response in zip(pending.requests, pending.responses, strict=True):
        answers.append(await_teacher(pending.teacher.generate, request, response))
        completion_tokens += answers[-1][0]["completion_tokens"]
        if stage is not None:
            seconds = max(time.perf_counter() - pending.start_s, 1e-9)
            stage.update(len(answers), len(pending.requests), tokens=completion_tokens,
                         tokens_per_s=completion_tokens / seconds)
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
