"""The decision half of a round, shared by the Ray controller and the simulator.

    ctx            = context(state, requirement)
    plan           = plan_round(state, allocation, pools, ...)        # prompts per capability, token caps
    ... the runtime (or the simulator) generates, trains and probes, and reports plain values ...
    state, record  = settle_round(state, plan, generation, training, probe, ...)

Functions take and return values (never Ray handles). `RoundState` is everything a resumed run needs
besides the student checkpoint and the policy state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from read_ray.core.allocation import check_allocation, off_target_drop
from read_ray.core.bandit import Context
from read_ray.core.budget import Ledger, RoundBudget
from read_ray.core.capability_pool import CapabilityPool
from read_ray.core.leakage import LeakageFilter
from read_ray.core.prompts import Prompt
from read_ray.core.reward import RewardTerms, compute_reward

PLAN_STREAM = 101  # seed stream id for prompt sampling


@dataclass(frozen=True)
class RoundState:
    rounds_done: int
    ledger: Ledger
    profile: tuple[float, ...]                          # s_t, normalised points
    last_allocation: tuple[float, ...] | None = None
    last_reward: float | None = None
    cumulative_reward: float = 0.0
    recent_source_ids: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    completion_tokens_per_prompt: Mapping[str, float] = field(default_factory=dict)  # running estimate
    prompt_tokens_per_prompt: Mapping[str, float] = field(default_factory=dict)      # running estimate
    blocked_prompts: int = 0
    checkpoint: str | None = None                       # student checkpoint after the last round

    def to_dict(self) -> dict:
        return {
            "rounds_done": self.rounds_done, "ledger": self.ledger.to_dict(), "profile": list(self.profile),
            "last_allocation": None if self.last_allocation is None else list(self.last_allocation),
            "last_reward": self.last_reward, "cumulative_reward": self.cumulative_reward,
            "recent_source_ids": {k: list(v) for k, v in self.recent_source_ids.items()},
            "completion_tokens_per_prompt": dict(self.completion_tokens_per_prompt),
            "prompt_tokens_per_prompt": dict(self.prompt_tokens_per_prompt),
            "blocked_prompts": self.blocked_prompts, "checkpoint": self.checkpoint,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> RoundState:
        return cls(
            rounds_done=int(d["rounds_done"]), ledger=Ledger.from_dict(d["ledger"]),
            profile=tuple(float(x) for x in d["profile"]),
            last_allocation=None if d["last_allocation"] is None else tuple(d["last_allocation"]),
            last_reward=d["last_reward"], cumulative_reward=float(d["cumulative_reward"]),
            recent_source_ids={k: tuple(v) for k, v in d["recent_source_ids"].items()},
            completion_tokens_per_prompt=dict(d["completion_tokens_per_prompt"]),
            prompt_tokens_per_prompt=dict(d["prompt_tokens_per_prompt"]),
            blocked_prompts=int(d["blocked_prompts"]), checkpoint=d["checkpoint"],
        )


def initial_state(ledger: Ledger, profile: Sequence[float], checkpoint: str | None = None) -> RoundState:
    return RoundState(rounds_done=0, ledger=ledger, profile=tuple(float(x) for x in profile),
                      checkpoint=checkpoint)


def can_afford_round(state: RoundState, round_budget: RoundBudget, probe_reserve_tokens: int = 0) -> bool:
    """The loop runs while the ledger pays for a whole round (plus probes when they are charged)."""
    reserve = probe_reserve_tokens if state.ledger.charge_probes else 0
    return state.ledger.can_afford(round_budget.round_tokens + reserve)


def provisional_state(state: RoundState, plan: RoundPlan) -> RoundState:
    """The state a pipelined run plans round `plan.round_index + 1` from while `plan` is still running.

    Feedback is delayed one round: profile, last reward and token estimates stay those of `state`; the
    ledger reserves the running round's whole caps (its worst case), so a round planned now can never
    overspend whatever the running round ends up charging; the usage cap sees the running round's prompts.
    """
    ledger = state.ledger.charge(generation_tokens=plan.generation_cap_tokens,
                                 training_tokens=plan.training_cap_tokens)
    return dataclasses.replace(state, rounds_done=state.rounds_done + 1, ledger=ledger,
                               recent_source_ids=plan.recent_source_ids)


def context(state: RoundState, requirement: np.ndarray) -> Context:
    return Context(
        requirement=tuple(float(x) for x in requirement), profile=state.profile,
        remaining_frac=state.ledger.remaining_tokens / state.ledger.total_tokens,
        last_allocation=state.last_allocation, last_reward=state.last_reward,
    )


@dataclass(frozen=True)
class RoundPlan:
    round_index: int                              # 0-based index of the round this plan is for
    allocation: tuple[float, ...]
    prompts: tuple[Prompt, ...]                   # interleaved across capabilities
    prompts_per_capability: Mapping[str, int]
    max_new_tokens: Mapping[str, int]             # completion cap per capability
    generation_cap_tokens: int                    # teacher tokens (prompt + completion) this round may spend
    training_cap_tokens: int                      # student training tokens this round may spend
    progress_frac: float                          # budget progress that set the curriculum
    recent_source_ids: Mapping[str, tuple[str, ...]]
    blocked_count: int
    capped_count: int

    def to_dict(self) -> dict:
        return {
            "round_index": self.round_index, "allocation": list(self.allocation),
            "prompts_per_capability": dict(self.prompts_per_capability),
            "max_new_tokens": dict(self.max_new_tokens), "generation_cap_tokens": self.generation_cap_tokens,
            "training_cap_tokens": self.training_cap_tokens, "progress_frac": self.progress_frac,
            "blocked_count": self.blocked_count, "capped_count": self.capped_count,
            "prompts": [dataclasses.asdict(p) for p in self.prompts],
            "recent_source_ids": {k: list(v) for k, v in self.recent_source_ids.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> RoundPlan:
        prompts = tuple(Prompt(**{**p, "factors": tuple(tuple(f) for f in p["factors"])}) for p in d["prompts"])
        return cls(
            round_index=int(d["round_index"]), allocation=tuple(float(x) for x in d["allocation"]),
            prompts=prompts, prompts_per_capability=dict(d["prompts_per_capability"]),
            max_new_tokens=dict(d["max_new_tokens"]), generation_cap_tokens=int(d["generation_cap_tokens"]),
            training_cap_tokens=int(d["training_cap_tokens"]), progress_frac=float(d["progress_frac"]),
            recent_source_ids={k: tuple(v) for k, v in d["recent_source_ids"].items()},
            blocked_count=int(d["blocked_count"]), capped_count=int(d["capped_count"]),
        )

    def request_seed(self, position: int, seed: int) -> int:
        """Decoding seed of the teacher request for the plan's `position`-th prompt: the same in a resumed
        or pipelined run, distinct across rounds and prompts."""
        return seed * 1_000_003 + self.round_index * 10_007 + position


def split_count(total: int, weights: np.ndarray) -> np.ndarray:
    """Largest-remainder split of `total` items by `weights` (ties by index): exact and deterministic."""
    raw = np.asarray(weights, dtype=np.float64) * total
    counts = np.floor(raw + 1e-9).astype(int)
    remainder = raw - counts
    for i in np.argsort(-remainder, kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    return counts


def plan_round(
    state: RoundState,
    allocation: np.ndarray,
    *,
    capabilities: Sequence[str],
    pools: Mapping[str, CapabilityPool],
    round_budget: RoundBudget,
    max_new_tokens: Mapping[str, int],
    seed: int,
    leakage: LeakageFilter | None = None,
) -> RoundPlan:
    """Turn an allocation into concrete prompts whose expected teacher cost fills the generation cap.

    Expected tokens per prompt of a capability come from the running estimates in `state` (prompt
    words x 1.5 and max_new_tokens before the first round). Prompts are drawn with the curriculum for
    the current budget progress, the usage cap and the leakage filter, from a generator seeded by
    (seed, round index): a resumed round draws the same prompts.
    """
    w = check_allocation(allocation, len(capabilities))
    rng = np.random.default_rng([seed, PLAN_STREAM, state.rounds_done])
    progress = state.ledger.spent_frac
    expected = np.array([
        state.prompt_tokens_per_prompt.get(cap, 64.0)
        + state.completion_tokens_per_prompt.get(cap, float(max_new_tokens[cap]))
        for cap in capabilities
    ])
    # prompts a capability's share pays for, at least one for any capability that got a share
    counts = np.where(w > 0, np.maximum(1, np.floor(w * round_budget.generation_tokens / expected)), 0)
    drawn: dict[str, list[Prompt]] = {}
    recent = dict(state.recent_source_ids)
    blocked = capped = 0
    for cap, n in zip(capabilities, counts.astype(int), strict=True):
        if n == 0:
            continue
        result = pools[cap].draw(int(n), progress_frac=progress, rng=rng,
                                 recent_source_ids=recent.get(cap, ()), leakage=leakage)
        drawn[cap] = list(result.prompts)
        recent[cap] = result.recent_source_ids
        blocked += result.blocked_count
        capped += result.capped_count
    interleaved = [p for group in _zip_longest(drawn.values()) for p in group]
    return RoundPlan(
        round_index=state.rounds_done, allocation=tuple(float(x) for x in w), prompts=tuple(interleaved),
        prompts_per_capability={cap: len(v) for cap, v in drawn.items()},
        max_new_tokens={cap: int(max_new_tokens[cap]) for cap in capabilities},
        generation_cap_tokens=round_budget.generation_tokens, training_cap_tokens=round_budget.training_tokens,
        progress_frac=progress, recent_source_ids=recent, blocked_count=blocked, capped_count=capped,
    )


def _zip_longest(groups) -> list[list[Prompt]]:
    groups = [list(g) for g in groups]
    longest = max((len(g) for g in groups), default=0)
    return [[g[i] for g in groups if i < len(g)] for i in range(longest)]


def select_within_cap(prompt_tokens: Sequence[int], max_new_tokens: Sequence[int], cap_tokens: int) -> list[int]:
    """Indices of prompts to send, in order, skipping any whose worst case (every completion hitting its
    maximum) no longer fits the cap: what is kept can never overspend, and one long prompt does not
    starve the shorter ones after it."""
    kept, spent = [], 0
    for i, (p, m) in enumerate(zip(prompt_tokens, max_new_tokens, strict=True)):
        if spent + p + m <= cap_tokens:
            kept.append(i)
            spent += p + m
    return kept


@dataclass(frozen=True)
class GenerationSummary:
    """What the teacher stage reports: kept completions and their exact token counts per capability."""
    prompts: Mapping[str, int]
    prompt_tokens: Mapping[str, int]
    completion_tokens: Mapping[str, int]
    seconds: float = 0.0

    @property
    def total_tokens(self) -> int:
        return sum(self.prompt_tokens.values()) + sum(self.completion_tokens.values())


@dataclass(frozen=True)
class TrainingSummary:
    """What the student update reports: exact prompt + label tokens trained on, per capability."""
    tokens: Mapping[str, int]
    loss: float
    checkpoint: str | None
    seconds: float = 0.0

    @property
    def total_tokens(self) -> int:
        return sum(self.tokens.values())


@dataclass(frozen=True)
class ProbeSummary:
    """The capability profile s_{t+1} (normalised points) with 95% CI half-widths."""
    profile: tuple[float, ...]
    ci: tuple[float, ...]
    probe_tokens: int
    seconds: float = 0.0


@dataclass(frozen=True)
class RoundRecord:
    round_index: int
    allocation: tuple[float, ...]
    profile_before: tuple[float, ...]
    profile_after: tuple[float, ...]
    profile_ci: tuple[float, ...]
    reward: RewardTerms
    off_target_drop: float
    generation_tokens: Mapping[str, int]          # teacher prompt + completion tokens per capability
    training_tokens: Mapping[str, int]
    probe_tokens: int
    train_loss: float
    blocked_count: int
    capped_count: int
    seconds: Mapping[str, float]                  # per stage
    ledger: Mapping[str, int]                     # cumulative ledger after the round

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["reward"] = self.reward.to_dict()
        return d


def _ema(old: float | None, new: float, weight: float = 0.5) -> float:
    return new if old is None else (1 - weight) * old + weight * new


def settle_round(
    state: RoundState,
    plan: RoundPlan,
    generation: GenerationSummary,
    training: TrainingSummary,
    probe: ProbeSummary,
    *,
    requirement: np.ndarray,
    beta: float,
    spill_top_k: int,
    lambda_per_1k_tokens: float,
    extra_seconds: Mapping[str, float] | None = None,
) -> tuple[RoundState, RoundRecord]:
    """Charge the ledger with the round's exact tokens, compute the reward, and advance the state."""
    if generation.total_tokens > plan.generation_cap_tokens:
        raise ValueError(f"round {plan.round_index}: generation spent {generation.total_tokens} tokens, "
                         f"over its cap of {plan.generation_cap_tokens}")
    if training.total_tokens > plan.training_cap_tokens:
        raise ValueError(f"round {plan.round_index}: training spent {training.total_tokens} tokens, "
                         f"over its cap of {plan.training_cap_tokens}")
    ledger = state.ledger.charge(generation_tokens=generation.total_tokens,
                                 training_tokens=training.total_tokens, probe_tokens=probe.probe_tokens)
    before = np.asarray(state.profile)
    after = np.asarray(probe.profile, dtype=np.float64)
    delta_s = after - before
    spent = generation.total_tokens + training.total_tokens
    terms = compute_reward(requirement, delta_s, spent, beta=beta, spill_top_k=spill_top_k,
                           lambda_per_1k_tokens=lambda_per_1k_tokens)
    completion_est = dict(state.completion_tokens_per_prompt)
    prompt_est = dict(state.prompt_tokens_per_prompt)
    for cap, n in generation.prompts.items():
        if n > 0:
            completion_est[cap] = _ema(completion_est.get(cap), generation.completion_tokens[cap] / n)
            prompt_est[cap] = _ema(prompt_est.get(cap), generation.prompt_tokens[cap] / n)
    gen_by_cap = {cap: generation.prompt_tokens.get(cap, 0) + generation.completion_tokens.get(cap, 0)
                  for cap in generation.prompts}
    seconds = {"generate": generation.seconds, "train": training.seconds, "probe": probe.seconds,
               **(extra_seconds or {})}
    record = RoundRecord(
        round_index=plan.round_index, allocation=plan.allocation, profile_before=tuple(before.tolist()),
        profile_after=tuple(after.tolist()), profile_ci=tuple(probe.ci), reward=terms,
        off_target_drop=off_target_drop(delta_s, np.asarray(plan.allocation)),
        generation_tokens=gen_by_cap, training_tokens=dict(training.tokens), probe_tokens=probe.probe_tokens,
        train_loss=training.loss, blocked_count=plan.blocked_count, capped_count=plan.capped_count,
        seconds=seconds, ledger=ledger.to_dict(),
    )
    new_state = RoundState(
        rounds_done=state.rounds_done + 1, ledger=ledger, profile=tuple(after.tolist()),
        last_allocation=plan.allocation, last_reward=terms.reward,
        cumulative_reward=state.cumulative_reward + terms.reward, recent_source_ids=plan.recent_source_ids,
        completion_tokens_per_prompt=completion_est, prompt_tokens_per_prompt=prompt_est,
        blocked_prompts=state.blocked_prompts + plan.blocked_count, checkpoint=training.checkpoint,
    )
    return new_state, record
