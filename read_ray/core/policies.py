"""Allocation policies: ReAD and the baselines of METHOD.md behind one small interface.

    select(context) -> allocation          (a simplex vector over capabilities)
    update(context, allocation, reward)    (reward: the round's `RewardTerms`)
    on_dev_checkpoint(dev_utility_change, cumulative_reward)
    state_dict() / load_state_dict(state)  (a resumed run selects what an uninterrupted one would)

Names follow the paper (METHOD.md): `task_static` is w = r_tau every round (the paper's task-static
mix, the bar ReAD must clear); `single_cap` the one-hot on r_tau's top capability (Single-cap. KD);
`frozen` ReAD's first learned allocation held for the rest of the run (no adaptation). `static` spends
every round on one fixed mix; `compare`'s grid baseline runs it on the mix its pilots found best.
The ablations that change the reward or r rather than the policy (`no_spill`, `no_ident`) are config
overrides of `read`: `read_ray.config.ABLATIONS`.

Every random draw comes from a generator derived from (seed, selection index), never a global one.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np

from read_ray.config import AllocationConfig, BanditConfig, RewardConfig
from read_ray.core.allocation import candidate_actions, check_allocation, uniform_allocation
from read_ray.core.bandit import (
    Context,
    EnsembleRewardModel,
    KappaSchedule,
    RequirementRefit,
    feature_dim,
    features_for,
    select_ucb,
)
from read_ray.core.bank import Transition, TransitionBank, bank_targets
from read_ray.core.reward import RewardTerms, batch_gain_minus_spill


class Policy(Protocol):
    name: str

    def select(self, context: Context) -> np.ndarray: ...
    def update(self, context: Context, allocation: np.ndarray, reward: RewardTerms) -> None: ...
    def on_dev_checkpoint(self, dev_utility_change: float, cumulative_reward: float) -> None: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


def _round_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, index])


class _Stateless:
    """Base for policies whose only state is how many selections they made."""

    name = "stateless"

    def __init__(self, num_caps: int, seed: int):
        self.num_caps, self.seed, self.num_selections = num_caps, seed, 0

    def update(self, context: Context, allocation: np.ndarray, reward: RewardTerms) -> None:
        pass

    def on_dev_checkpoint(self, dev_utility_change: float, cumulative_reward: float) -> None:
        pass

    def state_dict(self) -> dict:
        return {"num_selections": self.num_selections}

    def load_state_dict(self, state: dict) -> None:
        self.num_selections = int(state["num_selections"])


class UniformPolicy(_Stateless):
    name = "uniform"

    def select(self, context: Context) -> np.ndarray:
        self.num_selections += 1
        return uniform_allocation(self.num_caps)


class SingleCapPolicy(_Stateless):
    """Single-capability KD (the paper's Single-cap. KD): a one-hot on the top capability of r_tau."""

    name = "single_cap"

    def select(self, context: Context) -> np.ndarray:
        self.num_selections += 1
        w = np.zeros(self.num_caps)
        w[int(np.argmax(context.requirement))] = 1.0
        return w


class TaskStaticPolicy(_Stateless):
    """The paper's task-static mix: w_t = r_tau every round."""

    name = "task_static"

    def select(self, context: Context) -> np.ndarray:
        self.num_selections += 1
        return prior_allocation(context)


def prior_allocation(context: Context) -> np.ndarray:
    """r_tau as an allocation (the paper's allocation prior)."""
    r = np.clip(np.asarray(context.requirement, dtype=np.float64), 0.0, None)
    return r / r.sum()


class StaticMixPolicy(_Stateless):
    """One fixed allocation every round (`bandit.static_mix`)."""

    name = "static"

    def __init__(self, num_caps: int, seed: int, mix: np.ndarray):
        super().__init__(num_caps, seed)
        mix = np.clip(np.asarray(mix, dtype=np.float64), 0.0, None)
        if mix.shape != (num_caps,) or mix.sum() <= 0:
            raise ValueError(f"policy static: the mix {mix.tolist()} needs {num_caps} weights with positive mass")
        self.mix = mix / mix.sum()

    def select(self, context: Context) -> np.ndarray:
        self.num_selections += 1
        return self.mix.copy()


class SchedulePolicy(_Stateless):
    """Fixed mixes in turn over equal shares of the budget (phase = floor(spent fraction * phases)): the
    fixed allocation schedules of the headroom check (e.g. maths -> code -> tool use)."""

    name = "schedule"

    def __init__(self, num_caps: int, seed: int, schedule: np.ndarray):
        super().__init__(num_caps, seed)
        self.phases = [StaticMixPolicy(num_caps, seed, mix).mix for mix in np.asarray(schedule, dtype=np.float64)]
        if not self.phases:
            raise ValueError("policy schedule needs at least one mix (bandit.schedule)")

    def select(self, context: Context) -> np.ndarray:
        self.num_selections += 1
        phase = min(int((1.0 - context.remaining_frac) * len(self.phases) + 1e-9), len(self.phases) - 1)
        return self.phases[phase].copy()


class RandomPolicy(_Stateless):
    """A uniformly random candidate from the same action set ReAD chooses from, each round."""

    name = "random"

    def __init__(self, num_caps: int, seed: int, allocation: AllocationConfig):
        super().__init__(num_caps, seed)
        self.allocation = allocation

    def select(self, context: Context) -> np.ndarray:
        actions = _candidates(context, self.allocation)
        rng = _round_rng(self.seed, 11, self.num_selections)
        self.num_selections += 1
        return actions[rng.integers(len(actions))]


def _candidates(context: Context, allocation: AllocationConfig) -> np.ndarray:
    """A(tau) with r_tau itself as the first candidate (so a policy can stay at the prior)."""
    previous = None if context.last_allocation is None else np.asarray(context.last_allocation)
    return candidate_actions(
        np.asarray(context.requirement), top_k=allocation.top_k, weight_grid=allocation.weight_grid,
        previous=previous, perturb_delta=allocation.perturb_delta, local=allocation.local_perturbations,
        prior=prior_allocation(context),
    )


class ReadPolicy:
    """ReAD: bootstrap-ensemble model + UCB over A(tau) and r_tau; `greedy` is the same with kappa = 0;
    `frozen` holds its first learned allocation for the rest of the run (adaptation switched off).

    - The warm-up rounds spend the allocation prior r_tau (`bandit.prior=random`: a random candidate).
    - `bank` (a `TransitionBank`): offline transitions fitted before the first learned pick and kept in
      every refit, so the ensemble's spread means something from round 1 on.
    - `bandit.target`: `profile` **[ours, default]**: each member maps [x; a] to the capability-profile
      change delta_s, and a candidate's reward per member is r . delta_s - beta * Spill(delta_s);
      `reward`: each member maps [x; a] to the scalar reward (the paper).
    - `reward.source`: the r in that reward is r_tau (`proxy`), or r refitted on dev checkpoints
      (`refit`); `dev_utility` (target=reward) learns each round's own dev utility change.
    - `bandit.leave_prior=confident`: stay at r_tau unless the UCB pick's lower bound beats r_tau's upper
      bound (mu -/+ kappa * sigma): adaptation must be confident to pay.
    """

    def __init__(self, num_caps: int, seed: int, allocation: AllocationConfig, bandit: BanditConfig,
                 reward: RewardConfig, *, greedy: bool = False, frozen: bool = False,
                 bank: TransitionBank | None = None):
        self.name = "greedy" if greedy else "frozen" if frozen else "read"
        self.num_caps, self.seed, self.allocation, self.bandit, self.reward = num_caps, seed, allocation, bandit, reward
        self.frozen = frozen
        self.model = EnsembleRewardModel(
            feature_dim(num_caps), output_dim=num_caps if bandit.target == "profile" else 1,
            num_members=bandit.ensemble_size, hidden=bandit.hidden, fit_steps=bandit.fit_steps, lr=bandit.lr,
            weight_decay=bandit.weight_decay, seed=seed,
        )
        if bank is not None and len(bank.capabilities) != num_caps:
            raise ValueError(f"transition bank has {len(bank.capabilities)} capabilities, the run {num_caps}")
        self.bank = bank
        self.kappa = KappaSchedule(0.0 if greedy else bandit.kappa, bandit.kappa_decay)
        self.transitions: list[Transition] = []
        self.refit: RequirementRefit | None = None
        self.last_dev_change = 0.0          # cumulative dev utility change at the last checkpoint
        self.dev_mark = 0                   # transitions before it belong to earlier dev intervals
        self.frozen_allocation: np.ndarray | None = None
        self.num_selections = 0
        self.last_scores: dict = {}

    def weights(self, context: Context) -> np.ndarray:
        """The r a candidate's reward is computed with: r_tau, or the refitted r (reward.source=refit)."""
        if self.reward.source == "refit" and self.refit is not None:
            return self.refit.weights
        return np.asarray(context.requirement, dtype=np.float64)

    def predicted_rewards(self, context: Context, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and spread over members of each candidate's reward."""
        members = self.model.predict_members(features_for(context, actions))       # [J, A, K]
        if self.bandit.target == "profile":
            rewards = batch_gain_minus_spill(self.weights(context), members, beta=self.reward.beta,
                                             spill_top_k=self.reward.spill_top_k)
        else:
            rewards = members[..., 0]
        return rewards.mean(0), rewards.std(0)

    def select(self, context: Context) -> np.ndarray:
        actions = _candidates(context, self.allocation)                  # actions[0] is r_tau
        if self.frozen_allocation is not None:
            self.num_selections += 1
            self.last_scores = {"mode": "frozen", "num_candidates": 1}
            return self.frozen_allocation.copy()
        if not self.model.fitted and self.bank is not None:
            self._fit(context)
        if self.num_selections < self.bandit.warmup_rounds or not self.model.fitted:
            if self.bandit.prior == "requirement":
                index, mode = 0, "prior"
            else:
                index, mode = int(_round_rng(self.seed, 13, self.num_selections).integers(len(actions))), "warmup"
            self.last_scores = {"mode": mode, "num_candidates": len(actions)}
        else:
            mean, std = self.predicted_rewards(context, actions)
            index = select_ucb(mean, std, self.kappa.kappa)
            k = self.kappa.kappa
            stayed = bool(self.bandit.leave_prior == "confident" and index != 0
                          and mean[index] - k * std[index] <= mean[0] + k * std[0])
            index = 0 if stayed else index
            self.last_scores = {"mode": "ucb", "num_candidates": len(actions), "kappa": k,
                                "mu": float(mean[index]), "sigma": float(std[index]),
                                "mu_prior": float(mean[0]), "sigma_prior": float(std[0]), "stayed_at_prior": stayed}
            if self.frozen:
                self.frozen_allocation = actions[index].copy()
        self.num_selections += 1
        return actions[index]

    def _fit(self, context: Context) -> None:
        data = [*(self.bank.transitions if self.bank is not None else ()), *self.transitions]
        kept, targets = bank_targets(data, self.bandit.target, self.weights(context), beta=self.reward.beta,
                                     spill_top_k=self.reward.spill_top_k, source=self.reward.source)
        if kept:
            features = np.stack([features_for(t.context, np.asarray(t.allocation)[None, :])[0] for t in kept])
            self.model.fit(features, targets)

    def update(self, context: Context, allocation: np.ndarray, reward: RewardTerms) -> None:
        allocation = check_allocation(allocation, self.num_caps)
        self.transitions.append(Transition(context, tuple(float(x) for x in allocation), tuple(reward.delta_s),
                                           float(reward.cost), None))
        if self.refit is None:
            self.refit = RequirementRefit(tuple(context.requirement), self.reward.refit_prior_weight)
        self._fit(context)

    def on_dev_checkpoint(self, dev_utility_change: float, cumulative_reward: float) -> None:
        """Kappa decay; the interval's utility change goes to the refit and to the rounds that earned it."""
        self.kappa = self.kappa.after_dev_checkpoint(dev_utility_change)
        interval = self.transitions[self.dev_mark:]
        delta_u = dev_utility_change - self.last_dev_change
        self.last_dev_change, self.dev_mark = float(dev_utility_change), len(self.transitions)
        if not interval or self.reward.source == "proxy":
            return
        if len(interval) == 1:
            self.transitions[-1] = dataclasses.replace(interval[0], dev_utility_delta=float(delta_u))
        if self.refit is not None:
            self.refit = self.refit.add_point(np.sum([t.delta_s for t in interval], axis=0), delta_u)
        self._fit(interval[-1].context)

    def state_dict(self) -> dict:
        return {
            "num_selections": self.num_selections,
            "transitions": [t.to_dict() for t in self.transitions],
            "kappa": [float(self.kappa.kappa), float(self.kappa.decay),
                      None if self.kappa.best_dev_utility is None else float(self.kappa.best_dev_utility)],
            "refit": None if self.refit is None else [[float(x) for x in self.refit.requirement],
                                                      float(self.refit.prior_weight),
                                                      [[[float(v) for v in x], float(y)] for x, y in self.refit.points]],
            "last_dev_change": float(self.last_dev_change), "dev_mark": self.dev_mark,
            "frozen_allocation": None if self.frozen_allocation is None else self.frozen_allocation.tolist(),
            "bank_digest": None if self.bank is None else self.bank.digest(),
            "model": self.model.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        digest = None if self.bank is None else self.bank.digest()
        if state["bank_digest"] != digest:
            raise ValueError(f"the saved bandit was warm-started from transition bank {state['bank_digest']}, "
                             f"this run has {digest}: resume with the same bandit.bank_path")
        self.num_selections = int(state["num_selections"])
        self.transitions = [Transition.from_dict(t) for t in state["transitions"]]
        self.kappa = KappaSchedule(*state["kappa"])
        if state["refit"] is None:
            self.refit = None
        else:
            r, weight, points = state["refit"]
            self.refit = RequirementRefit(tuple(r), weight, tuple((tuple(x), y) for x, y in points))
        self.last_dev_change, self.dev_mark = float(state["last_dev_change"]), int(state["dev_mark"])
        frozen = state["frozen_allocation"]
        self.frozen_allocation = None if frozen is None else np.asarray(frozen, dtype=np.float64)
        self.model.load_state_dict(state["model"])


class Exp3Policy:
    """ODM-style EXP3 over capabilities (Online Data Mixing): the allocation is the arm distribution

        pi = (1 - gamma) * softmax(eta * G) + gamma / C,

    and every capability's task-weighted gain r_c * delta_s_c, divided by its share pi_c (importance
    weighting, as ODM does for sampled domains) and by a running scale, is added to G.
    """

    name = "exp3"

    def __init__(self, num_caps: int, seed: int, bandit: BanditConfig):
        self.num_caps, self.seed = num_caps, seed
        self.gamma, self.eta = bandit.exp3_gamma, bandit.exp3_eta
        self.cumulative_gain = np.zeros(num_caps)
        self.gain_scale = 0.0
        self.num_selections = 0

    def distribution(self) -> np.ndarray:
        logits = self.eta * self.cumulative_gain
        p = np.exp(logits - logits.max())
        return (1 - self.gamma) * p / p.sum() + self.gamma / self.num_caps

    def select(self, context: Context) -> np.ndarray:
        self.num_selections += 1
        return self.distribution()

    def update(self, context: Context, allocation: np.ndarray, reward: RewardTerms) -> None:
        pi = check_allocation(allocation, self.num_caps)
        gains = np.asarray(reward.per_capability_gain)
        self.gain_scale = max(self.gain_scale, float(np.abs(gains).max()), 1e-9)
        self.cumulative_gain += gains / self.gain_scale / np.maximum(pi, 1e-9)

    def on_dev_checkpoint(self, dev_utility_change: float, cumulative_reward: float) -> None:
        pass

    def state_dict(self) -> dict:
        return {"num_selections": self.num_selections, "cumulative_gain": self.cumulative_gain.tolist(),
                "gain_scale": self.gain_scale}

    def load_state_dict(self, state: dict) -> None:
        self.num_selections = int(state["num_selections"])
        self.cumulative_gain = np.asarray(state["cumulative_gain"], dtype=np.float64)
        self.gain_scale = float(state["gain_scale"])


def make_policy(name: str, *, num_caps: int, seed: int, allocation: AllocationConfig,
                bandit: BanditConfig, reward: RewardConfig, static_mix: np.ndarray | None = None,
                schedule: np.ndarray | None = None, bank: TransitionBank | None = None) -> Policy:
    """`static_mix` (a vector over capabilities) is the allocation of policy `static`, `schedule` ([P, C])
    the mixes of policy `schedule`; `bank` warm-starts read, greedy and frozen."""
    if name in ("read", "greedy", "frozen"):
        return ReadPolicy(num_caps, seed, allocation, bandit, reward, greedy=name == "greedy",
                          frozen=name == "frozen", bank=bank)
    if name == "uniform":
        return UniformPolicy(num_caps, seed)
    if name == "task_static":
        return TaskStaticPolicy(num_caps, seed)
    if name == "single_cap":
        return SingleCapPolicy(num_caps, seed)
    if name == "random":
        return RandomPolicy(num_caps, seed, allocation)
    if name == "exp3":
        return Exp3Policy(num_caps, seed, bandit)
    if name == "static":
        if static_mix is None:
            raise ValueError("policy static needs a mix (bandit.static_mix)")
        return StaticMixPolicy(num_caps, seed, static_mix)
    if name == "schedule":
        return SchedulePolicy(num_caps, seed, np.zeros((0, num_caps)) if schedule is None else schedule)
    raise ValueError(f"unknown policy {name!r}: choose one of read, greedy, frozen, task_static, single_cap, "
                     "uniform, random, exp3, static, schedule")
