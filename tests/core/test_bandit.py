"""Bandit: ensemble reward model, UCB rule, kappa schedule, calibration, policies, exact resume."""

import io

import numpy as np
import pytest
import torch

from read_ray.config import AllocationConfig, BanditConfig, RewardConfig
from read_ray.core.allocation import candidate_actions
from read_ray.core.bandit import (
    Context,
    EnsembleRewardModel,
    KappaSchedule,
    RewardCalibration,
    feature_dim,
    features_for,
    select_ucb,
)
from read_ray.core.policies import Exp3Policy, ReadPolicy, make_policy
from read_ray.core.reward import RewardTerms

C = 8
R = (0.0, 0.0, 0.4, 0.6, 0.0, 0.0, 0.0, 0.0)
BEST = np.array([0, 0, 0.5, 0.5, 0, 0, 0, 0])  # in the candidate set (k=3 grid)
BANDIT = BanditConfig(ensemble_size=5, hidden=32, fit_steps=100, warmup_rounds=3)
ALLOC = AllocationConfig()
REWARD = RewardConfig()


def true_reward(w: np.ndarray) -> float:
    """A known world: concave in the mix, maximised at BEST."""
    return float(10 - 20 * np.sum((w - BEST) ** 2))


def terms(reward: float, w: np.ndarray) -> RewardTerms:
    per_capability = np.asarray(R) * np.minimum(w, BEST) * 10     # what each capability's data paid
    return RewardTerms(reward, 0.0, 0.0, reward, tuple(float(x) for x in per_capability), tuple(np.full(C, reward)))  # r . delta_s = reward


def ctx(t: int, last_w=None, last_r=None) -> Context:
    return Context(R, (0.0,) * C, 1.0 - t / 30, None if last_w is None else tuple(last_w), last_r)


def run_policy(policy, rounds: int, rng_seed: int = 0, start: int = 0, last=(None, None)):
    chosen = []
    last_w, last_r = last
    for t in range(start, start + rounds):
        c = ctx(t, last_w, last_r)
        w = policy.select(c)
        r = true_reward(w) + np.random.default_rng([rng_seed, t]).normal(0, 0.3)
        policy.update(c, w, terms(r, w))
        chosen.append(w)
        last_w, last_r = w, r
    return chosen, (last_w, last_r)


def test_ensemble_fits_and_spreads():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(40, 3))
    y = 2 * x[:, 0] - x[:, 1] + 0.05 * rng.normal(size=40)
    model = EnsembleRewardModel(3, num_members=5, hidden=32, fit_steps=300, seed=1)
    model.fit(x, y)
    mean, std = model.predict(x)
    assert np.corrcoef(mean, y)[0, 1] > 0.95
    assert np.all(std >= 0) and std.mean() > 0          # bootstrap members disagree
    far = np.full((1, 3), 8.0)
    assert model.predict(far)[1][0] > std.mean()       # more uncertain away from the data


def test_ensemble_deterministic_and_members_independent():
    x = np.random.default_rng(1).normal(size=(10, 4))
    y = x.sum(1)
    a, b = EnsembleRewardModel(4, seed=3), EnsembleRewardModel(4, seed=3)
    a.fit(x, y)
    b.fit(x, y)
    assert np.array_equal(a.predict(x)[0], b.predict(x)[0])
    w1 = a.params["w1"]
    assert not torch.allclose(w1[0], w1[1])            # each member has its own generator


def test_ensemble_state_dict_round_trip():
    x = np.random.default_rng(2).normal(size=(12, 4))
    y = x[:, 0]
    a = EnsembleRewardModel(4, seed=5)
    a.fit(x, y)
    b = EnsembleRewardModel(4, seed=99)
    b.load_state_dict(a.state_dict())
    assert np.array_equal(a.predict(x)[0], b.predict(x)[0])
    a.fit(x, y + 1)                                    # generators continue identically after a load
    b.fit(x, y + 1)
    assert np.array_equal(a.predict(x)[1], b.predict(x)[1])


def test_ucb_rule():
    mean, std = np.array([1.0, 0.8, 0.5]), np.array([0.0, 0.5, 1.0])
    assert select_ucb(mean, std, 0.0) == 0
    assert select_ucb(mean, std, 0.5) == 1
    assert select_ucb(mean, std, 1.0) == 2


def test_kappa_decays_only_without_improvement():
    k = KappaSchedule(1.0, 0.7).after_dev_checkpoint(5.0)
    assert k.kappa == 1.0 and k.best_dev_utility == 5.0
    k = k.after_dev_checkpoint(4.0)
    assert k.kappa == pytest.approx(0.7)
    k = k.after_dev_checkpoint(6.0)
    assert k.kappa == pytest.approx(0.7) and k.best_dev_utility == 6.0


def test_calibration_fits_affine_slope():
    cal = RewardCalibration()
    assert cal.reward_scale == 1.0
    for x in (1.0, 2.0, 4.0):
        cal = cal.add_point(x, 0.5 * x + 1)
    assert cal.slope == pytest.approx(0.5) and cal.intercept == pytest.approx(1.0)
    assert cal.reward_scale == pytest.approx(0.5)
    neg = RewardCalibration().add_point(1, 1).add_point(2, 0)
    assert neg.slope < 0 and neg.reward_scale == 1.0   # a negative slope never flips rewards


def test_warmup_is_uniform_over_candidates_and_seeded():
    a = ReadPolicy(C, 7, ALLOC, BANDIT, REWARD)
    b = ReadPolicy(C, 7, ALLOC, BANDIT, REWARD)
    wa, _ = run_policy(a, 3)
    wb, _ = run_policy(b, 3)
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb, strict=True))
    assert a.last_scores["mode"] == "warmup"
    cands = candidate_actions(np.asarray(R), top_k=3, weight_grid=(0.25, 0.5, 0.75))
    assert any(np.allclose(wa[0], c) for c in cands)


def test_read_finds_the_known_best_arm():
    """Ground truth (Pearl-style): the learner's late picks beat random picks in a world with a known optimum."""
    late_read, late_random = [], []
    for seed in range(4):
        chosen, _ = run_policy(make_policy("read", num_caps=C, seed=seed, allocation=ALLOC, bandit=BANDIT, reward=REWARD), 24, seed)
        late_read += [true_reward(w) for w in chosen[-8:]]
        chosen, _ = run_policy(make_policy("random", num_caps=C, seed=seed, allocation=ALLOC, bandit=BANDIT, reward=REWARD), 24, seed)
        late_random += [true_reward(w) for w in chosen[-8:]]
    assert np.mean(late_read) > np.mean(late_random) + 1.0
    assert np.mean(late_read) > true_reward(BEST) - 2.0


def _save_load(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("name", ["read", "greedy", "random", "exp3", "uniform", "task_static"])
def test_resume_selects_what_an_uninterrupted_run_would(name):
    full = make_policy(name, num_caps=C, seed=11, allocation=ALLOC, bandit=BANDIT, reward=REWARD)
    uninterrupted, _ = run_policy(full, 8)

    first = make_policy(name, num_caps=C, seed=11, allocation=ALLOC, bandit=BANDIT, reward=REWARD)
    head, last = run_policy(first, 5)
    resumed = make_policy(name, num_caps=C, seed=11, allocation=ALLOC, bandit=BANDIT, reward=REWARD)
    resumed.load_state_dict(_save_load(first.state_dict()))   # through torch.save(weights_only=True)
    tail, _ = run_policy(resumed, 3, start=5, last=last)
    assert all(np.array_equal(x, y) for x, y in zip(uninterrupted, head + tail, strict=True))


def test_greedy_has_zero_kappa_and_exp3_stays_on_simplex():
    assert make_policy("greedy", num_caps=C, seed=0, allocation=ALLOC, bandit=BANDIT, reward=REWARD).kappa.kappa == 0.0
    exp3 = Exp3Policy(C, 0, BANDIT)
    chosen, _ = run_policy(exp3, 10)
    for w in chosen:
        assert np.all(w > 0) and w.sum() == pytest.approx(1.0)
    assert np.argmax(chosen[-1]) in (2, 3)              # mass moved to the capabilities that pay


def test_features_shape():
    acts = candidate_actions(np.asarray(R), top_k=3, weight_grid=(0.5,))
    f = features_for(ctx(0), acts)
    assert f.shape == (len(acts), feature_dim(C))


def test_unknown_policy():
    with pytest.raises(ValueError, match="unknown policy"):
        make_policy("oracle", num_caps=C, seed=0, allocation=ALLOC, bandit=BANDIT, reward=REWARD)

