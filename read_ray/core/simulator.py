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

Two more worlds give adaptation something to do (`WORLDS`): `shifting`, a three-task utility (maths, code,
tool use weighted equally) whose capabilities saturate at different rates and whose transfer changes
over the run (code data lifts tool use early; maths data erodes code late), and `misspecified`, where the
task card's r_tau is not the utility's true weights, so only a reward tied to the task (dev utility)
can find the right mix. `compare_policies` reports beside the policies the best static mix, w = r_tau
(`task_static`) and a myopic oracle that knows the world and re-picks the best next mix every round,
so the headroom for adaptation is visible.

The policies run through `plan_round` / `settle_round` (real template pools, curriculum, usage cap,
ledger) exactly as in the Ray controller; only generate/train/probe are simulated.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from read_ray.config import ABLATIONS, CAPABILITIES, ReadConfig, replace
from read_ray.core.allocation import dedupe, off_target_drop, sparse_mixtures, uniform_allocation
from read_ray.core.bank import Transition, TransitionBank
from read_ray.core.budget import Ledger, plan_round_budget
from read_ray.core.capability_pool import CapabilityPool
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
from read_ray.core.templates import bundled_templates_dir, load_templates, templates_file

WORLD_STREAM = 202


@dataclass(frozen=True)
class World:
    capabilities: tuple[str, ...]
    requirement: np.ndarray          # r_tau: the task card's vector, what the policies are given
    gain_rate: np.ndarray            # g_c: share of the remaining gap one saturated round closes
    tau_frac: np.ndarray             # tau_c as a fraction of one round's training tokens
    transfer_early: np.ndarray       # T at p = 0, rows = receiving capability
    transfer_late: np.ndarray        # T at p = 1
    forget: float = 0.02
    probe_noise: float = 0.5         # sd of probe noise, points
    dev_noise: float = 0.3           # sd of dev-utility noise, points
    utility_weights: np.ndarray | None = None   # the utility's true weights; None = r_tau is exact

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

    @property
    def truth(self) -> np.ndarray:
        return self.requirement if self.utility_weights is None else self.utility_weights

    def utility(self, profile: np.ndarray) -> float:
        return float(self.truth @ profile)


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


def shifting_world(capabilities: Sequence[str] = CAPABILITIES) -> World:
    """A three-task utility (r: maths, code, tool use 1/3 each) where the best mix changes over the run.

    A round's returns saturate slowly (tau = one whole round), so data is a real trade-off. Tool use
    learns fast early and slowly late, maths the reverse (own-data effectiveness 2.0 -> 0.2 and 0.2 ->
    2.0); code data lifts tool use (0.8) and maths (0.3) early only, and maths data erodes code late
    (-0.5). The best schedule front-loads code and tool use and moves to maths: the myopic oracle beats
    the best static mix by about 2 points of utility and w = r_tau by about 7 (8 rounds of 6k tokens).
    """
    caps = tuple(capabilities)
    if not {"math", "code", "tool_use"} <= set(caps):
        raise ValueError("the shifting simulated world needs math, code and tool_use capabilities")
    c = len(caps)
    i = {name: k for k, name in enumerate(caps)}
    r = np.zeros(c)
    r[[i["math"], i["code"], i["tool_use"]]] = 1 / 3
    early, late = np.eye(c), np.eye(c)
    early[i["tool_use"], i["tool_use"]], late[i["tool_use"], i["tool_use"]] = 2.0, 0.2
    early[i["math"], i["math"]], late[i["math"], i["math"]] = 0.2, 2.0
    early[i["tool_use"], i["code"]] = 0.8        # code data teaches tool calls early ...
    early[i["math"], i["code"]] = 0.3            # ... and helps maths early
    late[i["code"], i["math"]] = -0.5            # maths data erodes code late
    return World(capabilities=caps, requirement=r, gain_rate=np.full(c, 0.3), tau_frac=np.full(c, 1.0),
                 transfer_early=early, transfer_late=late, forget=0.02)


def misspecified_world(capabilities: Sequence[str] = CAPABILITIES) -> World:
    """The default world's dynamics, but the card's r_tau (maths .6, reasoning .3, general knowledge .1)
    is not what the utility weighs (reasoning .6, maths .3, general knowledge .1): the proxy reward
    r_tau . delta_s optimises the wrong mix; dev utility reveals the right one."""
    world = default_world(capabilities)
    i = {name: k for k, name in enumerate(world.capabilities)}
    card, truth = np.zeros(len(i)), np.zeros(len(i))
    card[[i["math"], i["reasoning"], i["general_knowledge"]]] = (0.6, 0.3, 0.1)
    truth[[i["math"], i["reasoning"], i["general_knowledge"]]] = (0.3, 0.6, 0.1)
    return dataclasses.replace(world, requirement=card, utility_weights=truth)


WORLDS: dict[str, Callable[[Sequence[str]], World]] = {
    "default": default_world, "shifting": shifting_world, "misspecified": misspecified_world}


@dataclass(frozen=True)
class SimResult:
    policy: str
    seed: int
    final_utility: float              # noise-free U = r . s at the end
    spillover: float                  # mean over rounds of the mean drop on capabilities given no share
    rewards: tuple[float, ...]
    allocations: tuple[tuple[float, ...], ...]
    tokens_spent: int
    transitions: tuple[Transition, ...] = ()


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
               on_round: Callable[[int, float], None] | None = None, bank: TransitionBank | None = None,
               static_mix: np.ndarray | None = None) -> SimResult:
    """One simulated distillation run: the controller's loop with generate/train/probe simulated.

    `policy_name` is a policy, an ablation of `ABLATIONS` (read with a setting changed), or `oracle` (the
    myopic oracle: it knows the world and picks the mix whose next round gains the most true utility).
    `bank` warm-starts the bandit policies. `on_round(rounds_done, utility)` is called after every round
    with the noise-free utility so far (a Tune trial reports it, so a scheduler can stop a bad trial early).
    """
    world = world or default_world(cfg.capabilities.names)
    if policy_name in ABLATIONS:
        cfg = replace(cfg, **ABLATIONS[policy_name])
    caps = world.capabilities
    requirement = (uniform_allocation(len(caps)) if cfg.task.requirement_source == "uniform"
                   else world.requirement)
    rng = np.random.default_rng([seed, WORLD_STREAM])
    round_budget = plan_round_budget(cfg.budget.total_tokens, cfg.budget.num_rounds, cfg.budget.gen_fraction)
    max_new = {c: cfg.teacher.max_new_tokens_by_capability.get(c, cfg.teacher.max_new_tokens) for c in caps}
    policy = None if policy_name == "oracle" else make_policy(
        "read" if policy_name in ABLATIONS else policy_name, num_caps=len(caps), seed=seed,
        allocation=cfg.allocation, bandit=cfg.bandit, reward=cfg.reward, bank=bank, static_mix=static_mix)
    pools = bundled_pools(caps)
    true_s = np.zeros(len(caps))
    state = initial_state(Ledger(cfg.budget.total_tokens), true_s)
    rewards, allocations, spills, transitions = [], [], [], []
    dev_before = 0.0
    while can_afford_round(state, round_budget):
        ctx = context(state, requirement)
        allocation = (oracle_pick(world, true_s, round_budget.training_tokens, state.ledger.spent_frac, cfg)
                      if policy is None else policy.select(ctx))
        plan = plan_round(state, allocation, capabilities=caps, pools=pools, round_budget=round_budget,
                          max_new_tokens=max_new, seed=seed)
        generation = _simulate_generation(plan, rng)
        train_by_cap = _training_split(generation, round_budget.training_tokens)
        tokens = np.array([train_by_cap.get(c, 0) for c in caps], float)
        true_s = world.step(true_s, tokens, round_budget.training_tokens, state.ledger.spent_frac)
        observed = true_s + rng.normal(0, world.probe_noise, len(caps))
        probe = ProbeSummary(tuple(observed), tuple([1.96 * world.probe_noise] * len(caps)), probe_tokens=0)
        training = TrainingSummary(tokens=train_by_cap, loss=float("nan"), checkpoint=None)
        state, record = settle_round(state, plan, generation, training, probe, requirement=requirement,
                                     beta=cfg.reward.beta, spill_top_k=cfg.reward.spill_top_k,
                                     lambda_per_1k_tokens=cfg.reward.lambda_per_1k_tokens)
        if policy is not None:
            policy.update(ctx, allocation, record.reward)
        dev_delta = None
        if cfg.bandit.dev_every_rounds and state.rounds_done % cfg.bandit.dev_every_rounds == 0:
            dev_change = world.utility(true_s) + rng.normal(0, world.dev_noise)
            dev_delta, dev_before = dev_change - dev_before, dev_change
            if policy is not None:
                policy.on_dev_checkpoint(dev_change, state.cumulative_reward)
        transitions.append(Transition(ctx, record.allocation, record.reward.delta_s, record.reward.cost,
                                      dev_delta if cfg.bandit.dev_every_rounds == 1 else None))
        rewards.append(record.reward.reward)
        allocations.append(record.allocation)
        spills.append(off_target_drop(np.asarray(record.profile_after) - record.profile_before, allocation))
        if on_round is not None:
            on_round(state.rounds_done, world.utility(true_s))
    return SimResult(policy_name, seed, world.utility(true_s), float(np.mean(spills)) if spills else 0.0,
                     tuple(rewards), tuple(allocations), state.ledger.spent_tokens, tuple(transitions))


def oracle_candidates(world: World, cfg: ReadConfig, step: float = 0.1) -> np.ndarray:
    """What the oracle and the best-static search choose from: A(tau) and r_tau, uniform, and a fine grid
    over the top 3 capabilities of the utility's true weights."""
    c = len(world.capabilities)
    candidates = [world.requirement / world.requirement.sum(), world.truth / world.truth.sum(),
                  *sparse_mixtures(world.requirement, 3, cfg.allocation.weight_grid), uniform_allocation(c)]
    top = np.argsort(-world.truth, kind="stable")[:3]
    n = round(1 / step)
    for a in range(n + 1):
        for b in range(n + 1 - a):
            w = np.zeros(c)
            w[top] = (a * step, b * step, max(1 - (a + b) * step, 0.0))
            candidates.append(w)
    return dedupe(np.array(candidates))


def oracle_pick(world: World, true_s: np.ndarray, round_train_tokens: int, progress: float,
                cfg: ReadConfig) -> np.ndarray:
    """The myopic oracle: the candidate whose next round gains the most noise-free utility."""
    candidates = oracle_candidates(world, cfg)
    values = [world.utility(world.step(true_s, w * round_train_tokens, round_train_tokens, progress))
              for w in candidates]
    return candidates[int(np.argmax(values))]


def simulated_bank(cfg: ReadConfig, world: World, num_runs: int, first_seed: int = 1000) -> TransitionBank:
    """Offline transitions as the paper builds them: short static runs on mixes drawn from A(tau) and
    r_tau, on seeds disjoint from evaluation seeds (`first_seed`..), with dev utility every round."""
    cfg = replace(cfg, bandit={"dev_every_rounds": 1})
    mixes = [world.requirement / world.requirement.sum(),
             *sparse_mixtures(world.requirement, cfg.allocation.top_k, cfg.allocation.weight_grid)]
    transitions, spent = [], 0
    for k in range(num_runs):
        seed = first_seed + k
        mix = mixes[int(np.random.default_rng([seed, 17]).integers(len(mixes)))]
        run = run_policy(cfg, "static", seed, world, static_mix=mix)
        transitions += run.transitions
        spent += run.tokens_spent
    return TransitionBank(world.capabilities, tuple(transitions),
                          tuple(f"sim_static_seed{first_seed + k}" for k in range(num_runs)), spent)


def static_mix_utility(cfg: ReadConfig, world: World, allocation: np.ndarray) -> float:
    """Noise-free final utility of spending every round on one static mix (training tokens = w * cap)."""
    round_budget = plan_round_budget(cfg.budget.total_tokens, cfg.budget.num_rounds, cfg.budget.gen_fraction)
    s = np.zeros(len(world.capabilities))
    for t in range(cfg.budget.num_rounds):
        tokens = np.asarray(allocation, float) * round_budget.training_tokens
        s = world.step(s, tokens, round_budget.training_tokens, t / cfg.budget.num_rounds)
    return world.utility(s)


def best_static_mix(cfg: ReadConfig, world: World, step: float = 0.05) -> tuple[np.ndarray, float]:
    """The known optimum over static mixes: ReAD's sparse candidates, r_tau, uniform, and a fine grid on
    the top 3 capabilities of the true weights."""
    candidates = oracle_candidates(world, cfg, step)
    values = [static_mix_utility(cfg, world, w) for w in candidates]
    best = int(np.argmax(values))
    return candidates[best], float(values[best])


def compare_policies(cfg: ReadConfig, policies: Sequence[str], seeds: Sequence[int],
                     world: World | None = None, bank_runs: int = 0) -> dict:
    """Every policy on every seed; summary per policy with mean and 95% CI over seeds, and the paired
    difference against task_static (w = r_tau) by seed. `bank_runs` > 0 warm-starts the bandit policies
    from a bank of that many static runs on seeds disjoint from `seeds`."""
    world = world or default_world(cfg.capabilities.names)
    best_w, best_u = best_static_mix(cfg, world)
    bank = simulated_bank(cfg, world, bank_runs, first_seed=1000 + max(seeds, default=0)) if bank_runs else None
    runs = {name: [run_policy(cfg, name, s, world, bank=bank) for s in seeds] for name in policies}
    reference = runs.get("task_static")
    summary = {}
    for name, rs in runs.items():
        utility = mean_ci95([r.final_utility for r in rs])
        summary[name] = {
            "final_utility": {"mean": utility[0], "ci95": utility[1]},
            "regret": {"mean": best_u - utility[0], "ci95": utility[1]},
            "spillover": dict(zip(("mean", "ci95"), mean_ci95([r.spillover for r in rs]), strict=True)),
            "tokens_spent": int(np.mean([r.tokens_spent for r in rs])),
            "per_seed_utility": [r.final_utility for r in rs],
            "last_allocation": list(rs[0].allocations[-1]) if rs[0].allocations else [],
        }
        if reference is not None and name != "task_static":
            diff = mean_ci95([a.final_utility - b.final_utility for a, b in zip(rs, reference, strict=True)])
            summary[name]["vs_task_static"] = {"mean": diff[0], "ci95": diff[1]}
    return {
        "world": {"capabilities": list(world.capabilities), "requirement": world.requirement.tolist(),
                  "utility_weights": world.truth.tolist()},
        "best_static_mix": {"allocation": best_w.tolist(), "final_utility": best_u},
        "bank": None if bank is None else {"runs": bank_runs, "transitions": len(bank.transitions),
                                           "spent_tokens": bank.spent_tokens},
        "rounds": cfg.budget.num_rounds, "total_tokens": cfg.budget.total_tokens, "seeds": list(seeds),
        "policies": summary,
    }
