"""Allocation policies: ReAD and the baselines of METHOD.md behind one small interface.

    select(context) -> allocation          (a simplex vector over capabilities)
    update(context, allocation, reward)    (reward: the round's `RewardTerms`)
    on_dev_checkpoint(dev_utility_change, cumulative_reward)
    state_dict() / load_state_dict(state)  (a resumed run selects what an uninterrupted one would)

Every random draw comes from a generator derived from (seed, selection index), never a global one.
`grid` needs pilot runs and lives with `compare`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from read_ray.config import AllocationConfig, BanditConfig, RewardConfig
from read_ray.core.allocation import candidate_actions, check_allocation, uniform_allocation
from read_ray.core.bandit import (
    Context,
    EnsembleRewardModel,
    KappaSchedule,
    RewardCalibration,
    feature_dim,
    features_for,
    select_ucb,
)
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


class TaskStaticPolicy(_Stateless):
    """Single-capability KD: a one-hot on the top capability of r_tau."""

    name = "task_static"

    def select(self, context: Context) -> np.ndarray:
        self.num_selections += 1
        w = np.zeros(self.num_caps)
        w[int(np.argmax(context.requirement))] = 1.0
        return w


class FixedPolicy(_Stateless):
    """The same allocation every round (`bandit.fixed_allocation`): a static mix, e.g. an intervention."""

    name = "fixed"

    def __init__(self, num_caps: int, seed: int, allocation: tuple[float, ...]):
        super().__init__(num_caps, seed)
        if len(allocation) != num_caps:
            raise ValueError(f"bandit.fixed_allocation: give {num_caps} weights (one per capability), "
                             f"got {len(allocation)}")
        self.allocation = check_allocation(np.asarray(allocation, dtype=np.float64), num_caps)

    def select(self, context: Context) -> np.ndarray:
        self.num_selections += 1
        return self.allocation.copy()


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
    previous = None if context.last_allocation is None else np.asarray(context.last_allocation)
    return candidate_actions(
        np.asarray(context.requirement), top_k=allocation.top_k, weight_grid=allocation.weight_grid,
        previous=previous, perturb_delta=allocation.perturb_delta, local=allocation.local_perturbations,
    )


class ReadPolicy:
    """ReAD: bootstrap-ensemble model + UCB over A(tau); `greedy` is the same with kappa = 0.

    `bandit.target` chooses what the ensemble learns. `reward` (the paper): each member maps [x; a] to
    the scalar reward. `profile` **[ours, default]**: each member maps [x; a] to the capability-profile
    change delta_s (C outputs per round instead of one), and a candidate's reward per member is
    r . delta_s - beta * Spill(delta_s), so mean and spread over members give the UCB score. Every round
    then teaches the model C numbers, and what it learns about transfer does not depend on r_tau.
    """

    def __init__(self, num_caps: int, seed: int, allocation: AllocationConfig, bandit: BanditConfig,
                 reward: RewardConfig, *, greedy: bool = False):
        self.name = "greedy" if greedy else "read"
        self.num_caps, self.seed, self.allocation, self.bandit, self.reward = num_caps, seed, allocation, bandit, reward
        self.model = EnsembleRewardModel(
            feature_dim(num_caps), output_dim=num_caps if bandit.target == "profile" else 1,
            num_members=bandit.ensemble_size, hidden=bandit.hidden, fit_steps=bandit.fit_steps, lr=bandit.lr,
            weight_decay=bandit.weight_decay, seed=seed,
        )
        self.kappa = KappaSchedule(0.0 if greedy else bandit.kappa, bandit.kappa_decay)
        self.calibration = RewardCalibration()
        self.features: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []
        self.num_selections = 0
        self.last_scores: dict = {}

    def predicted_rewards(self, context: Context, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and spread over members of each candidate's reward (calibrated units)."""
        members = self.model.predict_members(features_for(context, actions))       # [J, A, K]
        if self.bandit.target == "profile":
            rewards = batch_gain_minus_spill(np.asarray(context.requirement), members, beta=self.reward.beta,
                                             spill_top_k=self.reward.spill_top_k)
        else:
            rewards = members[..., 0]
        rewards = rewards * self.calibration.reward_scale
        return rewards.mean(0), rewards.std(0)

    def select(self, context: Context) -> np.ndarray:
        actions = _candidates(context, self.allocation)
        if self.num_selections < self.bandit.warmup_rounds or not self.model.fitted:
            index = int(_round_rng(self.seed, 13, self.num_selections).integers(len(actions)))
            self.last_scores = {"mode": "warmup", "num_candidates": len(actions)}
        else:
            mean, std = self.predicted_rewards(context, actions)
            index = select_ucb(mean, std, self.kappa.kappa)
            self.last_scores = {"mode": "ucb", "num_candidates": len(actions), "kappa": self.kappa.kappa,
                                "mu": float(mean[index]), "sigma": float(std[index])}
        self.num_selections += 1
        return actions[index]

    def update(self, context: Context, allocation: np.ndarray, reward: RewardTerms) -> None:
        allocation = check_allocation(allocation, self.num_caps)
        self.features.append(features_for(context, allocation[None, :])[0])
        if self.bandit.target == "profile":
            self.targets.append(np.asarray(reward.delta_s, dtype=np.float64))
        else:
            self.targets.append(np.array([reward.reward * self.calibration.reward_scale]))
        self.model.fit(np.stack(self.features), np.stack(self.targets))

    def on_dev_checkpoint(self, dev_utility_change: float, cumulative_reward: float) -> None:
        self.kappa = self.kappa.after_dev_checkpoint(dev_utility_change)
        if self.bandit.calibrate:
            self.calibration = self.calibration.add_point(cumulative_reward, dev_utility_change)

    def state_dict(self) -> dict:
        return {
            "num_selections": self.num_selections,
            "features": [f.tolist() for f in self.features],
            "targets": [t.tolist() for t in self.targets],
            "kappa": [self.kappa.kappa, self.kappa.decay, self.kappa.best_dev_utility],
            "calibration": [list(map(list, self.calibration.points)), self.calibration.slope,
                            self.calibration.intercept],
            "model": self.model.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.num_selections = int(state["num_selections"])
        self.features = [np.asarray(f, dtype=np.float64) for f in state["features"]]
        self.targets = [np.asarray(t, dtype=np.float64) for t in state["targets"]]
        self.kappa = KappaSchedule(*state["kappa"])
        points, slope, intercept = state["calibration"]
        self.calibration = RewardCalibration(tuple(tuple(p) for p in points), slope, intercept)
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
                bandit: BanditConfig, reward: RewardConfig) -> Policy:
    if name == "read":
        return ReadPolicy(num_caps, seed, allocation, bandit, reward)
    if name == "greedy":
        return ReadPolicy(num_caps, seed, allocation, bandit, reward, greedy=True)
    if name == "uniform":
        return UniformPolicy(num_caps, seed)
    if name == "task_static":
        return TaskStaticPolicy(num_caps, seed)
    if name == "random":
        return RandomPolicy(num_caps, seed, allocation)
    if name == "exp3":
        return Exp3Policy(num_caps, seed, bandit)
    if name == "fixed":
        return FixedPolicy(num_caps, seed, bandit.fixed_allocation)
    raise ValueError(f"unknown policy {name!r}: choose one of read, greedy, uniform, task_static, random, exp3, fixed")
