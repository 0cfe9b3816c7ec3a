"""A synthetic capability world with a known best static mix, run through the real round logic.

Dynamics of one round, given training tokens t (per capability) and budget progress p in [0, 1]:

    M      = (1 - p) * T_early + p * T_late            budget-dependent cross-capability transfer
    e      = M @ t                                     effective tokens (negative = interference)
    gain_c = g_c * (100 - s_c) * (1 - exp(-e_c / tau_c))          diminishing returns, e_c > 0
    loss_c = g_c * s_c * (1 - exp(e_c / tau_c))                   interference, e_c < 0
    s_c   -= forget * s_c * (1 - w_c)                             capabilities not refreshed decay

The two patterns of the paper are in the default world: (1) transfer that depends on the budget
(reasoning data helps maths little early and much late; code data helps maths early only), and
(2) spillover (concentrating on maths erodes code and tool use, late in the budget). Probes observe s
with Gaussian noise; the downstream utility U = r_tau . s. Because a round's returns saturate within a
capability (tau is a fraction of a round's training tokens), the best static mix is a two-capability
mixture, not the one-hot on the task's top capability.

The policies run through `plan_round` / `settle_round` (real template pools, curriculum, usage cap,
ledger) exactly as in the Ray controller; only generate/train/probe are simulated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from read_ray.config import CAPABILITIES, ReadConfig
from read_ray.core.allocation import off_target_drop, sparse_mixtures, uniform_allocation
from read_ray.core.budget import Ledger, plan_round_budget
from read_ray.core.comparison import mean_ci95
from read_ray.core.policies import make_policy
from read_ray.core.rounds import (
    GenerationSummary,
    ProbeSummary,
    RoundPlan,
    TrainingSummary,
    can_afford_round,
    context,
    initial_state,
    plan_round,
    select_within_cap,
    settle_round,
    split_count,
)
from read_ray.core.templates import CapabilityPool, bundled_templates_dir, load_templates, templates_file

WORLD_STREAM = 202


@dataclass(frozen=True)
class World:
    capabilities: tuple[str, ...]
    requirement: np.ndarray          # r_tau (also the true task weights here)
    gain_rate: np.ndarray            # g_c: share of the remaining gap one saturated round closes
    tau_frac: np.ndarray             # tau_c as a fraction of one round's training tokens
    transfer_early: np.ndarray       # T at p = 0, rows = receiving capability
    transfer_late: np.ndarray        # T at p = 1
    forget: float = 0.02
    probe_noise: float = 0.5         # sd of probe noise, points
    dev_noise: float = 0.3           # sd of dev-utility noise, points

    def step(self, profile: np.ndarray, train_tokens: np.ndarray, round_train_tokens: int,
             progress: float) -> np.ndarray:
        """True profile after training on `train_tokens` (per capability) at budget progress p."""
        s = np.asarray(profile, dtype=np.float64)
        share = train_tokens / max(train_tokens.sum(), 1)
        m = (1 - progress) * self.transfer_early + progress * self.transfer_late
        e = m @ train_tokens / (self.tau_frac * round_train_tokens)
        gain = self.gain_rate * (100 - s) * (1 - np.exp(-np.maximum(e, 0)))
        loss = self.gain_rate * s * (1 - np.exp(np.minimum(e, 0)))
        s = s + gain - loss - self.forget * s * (1 - share)
        return np.clip(s, 0.0, 100.0)

    def utility(self, profile: np.ndarray) -> float:
        return float(self.requirement @ profile)


def default_world(capabilities: Sequence[str] = CAPABILITIES) -> World:
    """A maths task (r: math .6, reasoning .4) with the two transfer patterns of the paper.

    Its best static mix is reasoning .4 / math .6 (a two-capability mixture); the one-hot on math
    (task_static) and the uniform mix are clearly worse.
    """
    caps = tuple(capabilities)
    if not {"math", "reasoning", "code", "tool_use"} <= set(caps):
        raise ValueError("the default simulated world needs math, reasoning, code and tool_use capabilities")
    c = len(caps)
    i = {name: k for k, name in enumerate(caps)}
    r = np.zeros(c)
    r[i["math"]], r[i["reasoning"]] = 0.6, 0.4
    early, late = np.eye(c), np.eye(c)
    for t in (early, late):
        t[i["reasoning"], i["math"]] = 0.05       # maths data barely helps reasoning
    early[i["math"], i["reasoning"]], late[i["math"], i["reasoning"]] = 0.05, 0.4  # pattern 1: grows
    early[i["math"], i["code"]], late[i["math"], i["code"]] = 0.3, 0.0            # pattern 1: fades
    late[i["code"], i["math"]], late[i["tool_use"], i["math"]] = -0.3, -0.2        # pattern 2: spillover
    return World(
        capabilities=caps, requirement=r, gain_rate=np.full(c, 0.12), tau_frac=np.full(c, 0.25),
        transfer_early=early, transfer_late=late,
    )


@dataclass(frozen=True)
class SimResult:
    policy: str
    seed: int
    final_utility: float              # noise-free U = r . s at the end
    spillover: float                  # mean over rounds of the mean drop on capabilities given no share
    rewards: tuple[float, ...]
    allocations: tuple[tuple[float, ...], ...]
    tokens_spent: int


@functools.lru_cache(maxsize=8)
def bundled_pools(capabilities: tuple[str, ...]) -> dict[str, CapabilityPool]:
    return {cap: CapabilityPool(cap, load_templates(templates_file(bundled_templates_dir(), cap)))
            for cap in capabilities}


def _simulate_generation(plan: RoundPlan, rng: np.random.Generator) -> GenerationSummary:
    """Token counts a teacher would report: prompt ~1.3 tokens/word, completions 50-100% of their cap."""
    prompt_tokens = [max(1, int(len(p.text.split()) * 1.3)) for p in plan.prompts]
    caps = [plan.max_new_tokens[p.capability] for p in plan.prompts]
    kept = select_within_cap(prompt_tokens, caps, plan.generation_cap_tokens)
    counts = {cap: 0 for cap in plan.prompts_per_capability}
    ptoks, ctoks = dict(counts), dict(counts)
    for i in kept:
        prompt, pt, cap_tokens = plan.prompts[i], prompt_tokens[i], caps[i]
        counts[prompt.capability] += 1
        ptoks[prompt.capability] += pt
        ctoks[prompt.capability] += int(cap_tokens * rng.uniform(0.5, 1.0))
    return GenerationSummary(prompts=counts, prompt_tokens=ptoks, completion_tokens=ctoks)


def _training_split(generation: GenerationSummary, cap_tokens: int) -> dict[str, int]:
    """The trainer cycles over the batch until the cap: tokens per capability in proportion to the batch."""
    caps = list(generation.prompts)
    sizes = np.array([generation.prompt_tokens[c] + generation.completion_tokens[c] for c in caps], float)
    if sizes.sum() == 0:
        return {c: 0 for c in caps}
    return dict(zip(caps, split_count(cap_tokens, sizes / sizes.sum()).tolist(), strict=True))


def run_policy(cfg: ReadConfig, policy_name: str, seed: int, world: World | None = None,
               on_round: Callable[[int, float], None] | None = None) -> SimResult:
    """One simulated distillation run: the controller's loop with generate/train/probe simulated.

    `on_round(rounds_done, utility)` is called after every round with the noise-free utility so far
    (a Tune trial reports it, so a scheduler can stop a bad trial early).
    """
    world = world or default_world(cfg.capabilities.names)
    caps = world.capabilities
    rng = np.random.default_rng([seed, WORLD_STREAM])
    round_budget = plan_round_budget(cfg.budget.total_tokens, cfg.budget.num_rounds, cfg.budget.gen_fraction)
    max_new = {c: cfg.teacher.max_new_tokens_by_capability.get(c, cfg.teacher.max_new_tokens) for c in caps}
    policy = make_policy(policy_name, num_caps=len(caps), seed=seed, allocation=cfg.allocation, bandit=cfg.bandit,
                         reward=cfg.reward)
    pools = bundled_pools(caps)
    true_s = np.zeros(len(caps))
    state = initial_state(Ledger(cfg.budget.total_tokens), true_s)
    rewards, allocations, spills = [], [], []
    while can_afford_round(state, round_budget):
        ctx = context(state, world.requirement)
        allocation = policy.select(ctx)
        plan = plan_round(state, allocation, capabilities=caps, pools=pools, round_budget=round_budget,
                          max_new_tokens=max_new, seed=seed)
        generation = _simulate_generation(plan, rng)
        train_by_cap = _training_split(generation, round_budget.training_tokens)
        tokens = np.array([train_by_cap.get(c, 0) for c in caps], float)
        true_s = world.step(true_s, tokens, round_budget.training_tokens, state.ledger.spent_frac)
        observed = true_s + rng.normal(0, world.probe_noise, len(caps))
        probe = ProbeSummary(tuple(observed), tuple([1.96 * world.probe_noise] * len(caps)), probe_tokens=0)
        training = TrainingSummary(tokens=train_by_cap, loss=float("nan"), checkpoint=None)
        state, record = settle_round(state, plan, generation, training, probe, requirement=world.requirement,
                                     beta=cfg.reward.beta, spill_top_k=cfg.reward.spill_top_k,
                                     lambda_per_1k_tokens=cfg.reward.lambda_per_1k_tokens)
        policy.update(ctx, allocation, record.reward)
        if cfg.bandit.dev_every_rounds and state.rounds_done % cfg.bandit.dev_every_rounds == 0:
            dev_change = world.utility(true_s) + rng.normal(0, world.dev_noise)
            policy.on_dev_checkpoint(dev_change, state.cumulative_reward)
        rewards.append(record.reward.reward)
        allocations.append(record.allocation)
        spills.append(off_target_drop(np.asarray(record.profile_after) - record.profile_before, allocation))
        if on_round is not None:
            on_round(state.rounds_done, world.utility(true_s))
    return SimResult(policy_name, seed, world.utility(true_s), float(np.mean(spills)) if spills else 0.0,
                     tuple(rewards), tuple(allocations), state.ledger.spent_tokens)


def static_mix_utility(cfg: ReadConfig, world: World, allocation: np.ndarray) -> float:
    """Noise-free final utility of spending every round on one static mix (training tokens = w * cap)."""
    round_budget = plan_round_budget(cfg.budget.total_tokens, cfg.budget.num_rounds, cfg.budget.gen_fraction)
    s = np.zeros(len(world.capabilities))
    for t in range(cfg.budget.num_rounds):
        tokens = np.asarray(allocation, float) * round_budget.training_tokens
        s = world.step(s, tokens, round_budget.training_tokens, t / cfg.budget.num_rounds)
    return world.utility(s)


def best_static_mix(cfg: ReadConfig, world: World, step: float = 0.05) -> tuple[np.ndarray, float]:
    """The known optimum over static mixes: ReAD's sparse candidates, uniform, and a fine grid on the top 3."""
    c = len(world.capabilities)
    candidates = [*sparse_mixtures(world.requirement, 3, cfg.allocation.weight_grid), uniform_allocation(c)]
    top = np.argsort(-world.requirement, kind="stable")[:3]
    n = round(1 / step)
    for a in range(n + 1):
        for b in range(n + 1 - a):
            w = np.zeros(c)
            w[top] = (a * step, b * step, 1 - (a + b) * step)
            candidates.append(np.clip(w, 0, None))
    values = [static_mix_utility(cfg, world, w) for w in candidates]
    best = int(np.argmax(values))
    return candidates[best], float(values[best])


def compare_policies(cfg: ReadConfig, policies: Sequence[str], seeds: Sequence[int],
                     world: World | None = None) -> dict:
    """Every policy on every seed; summary per policy with mean and 95% CI over seeds."""
    world = world or default_world(cfg.capabilities.names)
    best_w, best_u = best_static_mix(cfg, world)
    summary = {}
    for name in policies:
        runs = [run_policy(cfg, name, s, world) for s in seeds]
        utility = mean_ci95([r.final_utility for r in runs])
        summary[name] = {
            "final_utility": {"mean": utility[0], "ci95": utility[1]},
            "regret": {"mean": best_u - utility[0], "ci95": utility[1]},
            "spillover": dict(zip(("mean", "ci95"), mean_ci95([r.spillover for r in runs]), strict=True)),
            "tokens_spent": int(np.mean([r.tokens_spent for r in runs])),
            "per_seed_utility": [r.final_utility for r in runs],
            "last_allocation": list(runs[0].allocations[-1]) if runs[0].allocations else [],
        }
    return {
        "world": {"capabilities": list(world.capabilities), "requirement": world.requirement.tolist()},
        "best_static_mix": {"allocation": best_w.tolist(), "final_utility": best_u},
        "rounds": cfg.budget.num_rounds, "total_tokens": cfg.budget.total_tokens, "seeds": list(seeds),
        "policies": summary,
    }
