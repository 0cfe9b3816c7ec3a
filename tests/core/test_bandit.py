"""Bandit: ensemble reward model, UCB rule, kappa schedule, refitted r, prior, bank, policies, exact resume."""

import dataclasses
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
    RequirementRefit,
    feature_dim,
    features_for,
    select_ucb,
)
from read_ray.core.bank import Transition, TransitionBank
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


def test_refit_starts_at_r_tau_and_recovers_the_true_weights():
    r_tau = np.array([0.6, 0.3, 0.1])
    refit = RequirementRefit(tuple(r_tau), prior_weight=0.05)
    assert np.allclose(refit.weights, r_tau)
    truth = np.array([0.2, 0.7, 0.1]) * 0.01            # dev utility units per profile point
    rng = np.random.default_rng(0)
    for _ in range(30):
        ds = rng.uniform(0, 10, 3)
        refit = refit.add_point(ds, float(truth @ ds))
    w = refit.weights
    assert np.argmax(w) == 1 and np.allclose(w, truth, atol=0.002), w
    # a strong prior keeps the direction of r_tau (scaled to the dev units) on the same data
    strong = dataclasses.replace(refit, prior_weight=1e4).weights
    assert np.argmax(strong) == 0 and np.all(strong >= 0)


def test_warmup_spends_the_prior_r_tau():
    a = ReadPolicy(C, 7, ALLOC, BANDIT, REWARD)
    wa, _ = run_policy(a, 3)
    assert all(np.allclose(w, R) for w in wa) and a.last_scores["mode"] == "prior"
    assert make_policy("task_static", num_caps=C, seed=0, allocation=ALLOC, bandit=BANDIT,
                       reward=REWARD).select(ctx(0)) == pytest.approx(R)
    one_hot = make_policy("single_cap", num_caps=C, seed=0, allocation=ALLOC, bandit=BANDIT, reward=REWARD).select(ctx(0))
    assert one_hot.tolist() == [0, 0, 0, 1, 0, 0, 0, 0]


def test_random_warmup_is_uniform_over_candidates_and_seeded():
    bandit = dataclasses.replace(BANDIT, prior="random")
    a = ReadPolicy(C, 7, ALLOC, bandit, REWARD)
    b = ReadPolicy(C, 7, ALLOC, bandit, REWARD)
    wa, _ = run_policy(a, 3)
    wb, _ = run_policy(b, 3)
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb, strict=True))
    assert a.last_scores["mode"] == "warmup"
    cands = candidate_actions(np.asarray(R), top_k=3, weight_grid=(0.25, 0.5, 0.75), prior=np.asarray(R))
    assert any(np.allclose(wa[0], c) for c in cands)


def test_frozen_holds_its_first_learned_allocation():
    policy = make_policy("frozen", num_caps=C, seed=3, allocation=ALLOC, bandit=BANDIT, reward=REWARD)
    chosen, _ = run_policy(policy, 8)
    assert all(np.allclose(w, R) for w in chosen[:3])               # the prior rounds
    assert all(np.array_equal(w, chosen[3]) for w in chosen[4:])      # then one decision, held
    assert policy.last_scores["mode"] == "frozen"


def _bank(best: np.ndarray, n: int = 40, r=R) -> TransitionBank:
    """Offline transitions over A(tau) of `r` from a world where `best` pays 10 points per round on every
    capability and every other candidate pays 0."""
    cands = candidate_actions(np.asarray(r), top_k=3, weight_grid=(0.25, 0.5, 0.75), prior=np.asarray(r))
    out = []
    for i in range(n):
        w = cands[i % len(cands)]
        gain = 10.0 if np.allclose(w, best) else 0.0
        context = Context(tuple(r), (0.0,) * C, 1.0 - (i % 3) / 30, None, None)
        out.append(Transition(context, tuple(w), tuple(np.full(C, gain)), 0.0, None))
    return TransitionBank(("c",) * C, tuple(out), ("synthetic",), 0)


def test_a_bank_fitted_before_round_0_sets_the_first_learned_pick_and_resumes_exactly():
    target = np.zeros(C)
    target[[2, 4]] = 0.5                                           # r_tau's 2nd and 3rd capabilities
    bandit = dataclasses.replace(BANDIT, warmup_rounds=1)
    r = (0.0, 0.0, 0.4, 0.5, 0.1, 0.0, 0.0, 0.0)
    context = Context(r, (0.0,) * C, 1.0, None, None)
    bank = _bank(target, n=60, r=r)
    warm = make_policy("read", num_caps=C, seed=0, allocation=ALLOC, bandit=bandit, reward=REWARD, bank=bank)
    cold = make_policy("read", num_caps=C, seed=0, allocation=ALLOC, bandit=bandit, reward=REWARD)
    for policy in (warm, cold):
        w0 = policy.select(context)
        assert np.allclose(w0, np.asarray(r) / sum(r))            # round 0: the prior, either way
        policy.update(context, w0, terms(0.5, w0))
    next_context = Context(r, (0.0,) * C, 0.9, tuple(w0), 0.5)
    state = _save_load(warm.state_dict())
    first_warm, first_cold = warm.select(next_context), cold.select(next_context)
    assert np.allclose(first_warm, target), first_warm
    assert not np.allclose(first_cold, target)
    resumed = make_policy("read", num_caps=C, seed=0, allocation=ALLOC, bandit=bandit, reward=REWARD, bank=bank)
    resumed.load_state_dict(state)
    assert np.array_equal(resumed.select(next_context), first_warm)
    other = make_policy("read", num_caps=C, seed=0, allocation=ALLOC, bandit=bandit, reward=REWARD, bank=_bank(R))
    with pytest.raises(ValueError, match="same bandit.bank_path"):
        other.load_state_dict(state)


def test_confident_rule_stays_at_the_prior_unless_a_lower_bound_beats_it():
    bandit = dataclasses.replace(BANDIT, warmup_rounds=1, leave_prior="confident", kappa=3.0)
    policy = make_policy("read", num_caps=C, seed=1, allocation=ALLOC, bandit=bandit, reward=REWARD)
    chosen, _ = run_policy(policy, 4)         # 3 noisy transitions: nothing is confidently better than r_tau
    assert all(np.allclose(w, R) for w in chosen)
    assert policy.last_scores["stayed_at_prior"] in (True, False)
    target = np.zeros(C)
    target[[0, 2]] = 0.5                      # a candidate far from r_tau (top 3 of R: 2, 3 and 0)
    bank = _bank(target, n=120)
    sure = make_policy("read", num_caps=C, seed=1, allocation=ALLOC, reward=REWARD, bank=bank,
                       bandit=dataclasses.replace(bandit, kappa=1.0))
    sure.select(ctx(0))
    sure.update(ctx(0), np.asarray(R), terms(0.0, np.asarray(R)))
    pick = sure.select(ctx(1))
    assert np.allclose(pick, target) and not sure.last_scores["stayed_at_prior"]   # the bank makes it certain


def test_dev_checkpoints_feed_the_refit_and_the_dev_utility_reward():
    refit = make_policy("read", num_caps=C, seed=0, allocation=ALLOC, bandit=BANDIT,
                        reward=dataclasses.replace(REWARD, source="refit"))
    run_policy(refit, 2)
    refit.on_dev_checkpoint(1.5, 0.0)
    assert len(refit.refit.points) == 1 and refit.refit.points[0][1] == pytest.approx(1.5)
    run_policy(refit, 1, start=2)
    refit.on_dev_checkpoint(2.0, 0.0)
    assert refit.refit.points[1][1] == pytest.approx(0.5)             # the interval's own change
    dev = make_policy("read", num_caps=C, seed=0, allocation=ALLOC,
                      bandit=dataclasses.replace(BANDIT, target="reward", dev_every_rounds=1),
                      reward=dataclasses.replace(REWARD, source="dev_utility"))
    run_policy(dev, 1)
    assert not dev.model.fitted                                      # no round has a dev change yet
    dev.on_dev_checkpoint(0.8, 0.0)
    assert dev.model.fitted and dev.transitions[0].dev_utility_delta == pytest.approx(0.8)


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


@pytest.mark.parametrize("name", ["read", "greedy", "frozen", "random", "exp3", "uniform", "task_static",
                                  "single_cap"])
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
        make_policy("no_such_policy", num_caps=C, seed=0, allocation=ALLOC, bandit=BANDIT, reward=REWARD)



def test_schedule_spends_its_mixes_over_equal_shares_of_the_budget():
    schedule = np.zeros((3, C))
    schedule[0, 3], schedule[1, 4], schedule[2, 5] = 1.0, 1.0, 1.0            # maths -> code -> tool use
    policy = make_policy("schedule", num_caps=C, seed=0, allocation=ALLOC, bandit=BANDIT, reward=REWARD,
                         schedule=schedule)
    picks = [int(np.argmax(policy.select(Context(R, (0.0,) * C, 1.0 - t / 6, None, None)))) for t in range(6)]
    assert picks == [3, 3, 4, 4, 5, 5]
    with pytest.raises(ValueError, match="at least one mix"):
        make_policy("schedule", num_caps=C, seed=0, allocation=ALLOC, bandit=BANDIT, reward=REWARD)
