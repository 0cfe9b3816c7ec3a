"""The decision half of a round: planning prompts from an allocation, settling tokens and reward."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from read_ray.config import CAPABILITIES
from read_ray.core.budget import BudgetExceededError, Ledger, plan_round_budget
from read_ray.core.leakage import LeakageFilter
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
    split_count,
)
from read_ray.core.simulator import bundled_pools

CAPS = CAPABILITIES
R = np.array([0, 0, 0.4, 0.6, 0, 0, 0, 0])
ROUND = plan_round_budget(40_000, 4, 0.4)          # 10k per round: 4k generation, 6k training
MAX_NEW = {c: 128 for c in CAPS}
POOLS = bundled_pools(tuple(CAPS))


def plan(state, w, **kw):
    return plan_round(state, np.asarray(w, float), capabilities=CAPS, pools=POOLS, round_budget=ROUND,
                      max_new_tokens=MAX_NEW, seed=3, **kw)


def fresh_state():
    return initial_state(Ledger(40_000), np.zeros(len(CAPS)))


def test_plan_follows_the_allocation():
    w = [0, 0, 0.25, 0.75, 0, 0, 0, 0]
    p = plan(fresh_state(), w)
    assert set(p.prompts_per_capability) == {"reasoning", "math"}
    # expected cost per prompt 64 + 128 = 192: 0.25 * 4000 / 192 -> 5, 0.75 * 4000 / 192 -> 15
    assert p.prompts_per_capability == {"reasoning": 5, "math": 15}
    assert p.prompts[0].capability != p.prompts[1].capability      # interleaved across capabilities
    assert p.generation_cap_tokens == ROUND.generation_tokens and p.training_cap_tokens == ROUND.training_tokens
    assert json.loads(json.dumps(p.to_dict()))["allocation"] == w


def test_plan_is_deterministic_per_round_and_seed():
    w = [0.125] * 8
    a, b = plan(fresh_state(), w), plan(fresh_state(), w)
    assert [x.text for x in a.prompts] == [x.text for x in b.prompts]
    later = RoundState(**{**fresh_state().__dict__, "rounds_done": 1})
    assert [x.text for x in plan(later, w).prompts] != [x.text for x in a.prompts]


def test_plan_uses_running_token_estimates():
    state = RoundState(**{**fresh_state().__dict__, "completion_tokens_per_prompt": {"math": 36.0},
                          "prompt_tokens_per_prompt": {"math": 4.0}})
    p = plan(state, [0, 0, 0, 1, 0, 0, 0, 0])
    assert p.prompts_per_capability["math"] == 4000 // 40


def test_plan_counts_blocked_prompts():
    first = plan(fresh_state(), [0, 0, 0, 1, 0, 0, 0, 0])
    planted = LeakageFilter([first.prompts[0].text])               # an evaluation prompt equal to a draw
    again = plan(fresh_state(), [0, 0, 0, 1, 0, 0, 0, 0], leakage=planted)
    assert first.prompts[0].text not in [x.text for x in again.prompts]
    assert again.blocked_count >= 1


def _summaries(p, gen_scale=1.0):
    prompts = dict(p.prompts_per_capability)
    ptoks = {c: 50 * n for c, n in prompts.items()}
    ctoks = {c: int(100 * n * gen_scale) for c, n in prompts.items()}
    gen = GenerationSummary(prompts, ptoks, ctoks, seconds=1.0)
    train = TrainingSummary({c: 2 * (ptoks[c] + ctoks[c]) for c in prompts}, loss=1.5, checkpoint="ckpt/1")
    return gen, train


def test_settle_charges_exact_tokens_and_computes_reward():
    state = fresh_state()
    p = plan(state, [0, 0, 0.5, 0.5, 0, 0, 0, 0])
    gen, train = _summaries(p, gen_scale=0.5)
    assert gen.total_tokens <= p.generation_cap_tokens and train.total_tokens <= p.training_cap_tokens
    after = np.zeros(8)
    after[2], after[3], after[4] = 4.0, 6.0, -2.0
    probe = ProbeSummary(tuple(after), (1.0,) * 8, probe_tokens=300)
    new, record = settle_round(state, p, gen, train, probe, requirement=R, beta=0.5, spill_top_k=3,
                               lambda_per_1k_tokens=0.01)
    spent = gen.total_tokens + train.total_tokens
    assert new.ledger.spent_tokens == spent and new.ledger.probe_tokens == 300
    assert record.reward.gain == pytest.approx(0.4 * 4 + 0.6 * 6)
    assert record.reward.cost == pytest.approx(0.01 * spent / 1000)
    assert record.off_target_drop == pytest.approx(2.0 / 6)        # code dropped 2, 6 caps had no share
    assert new.rounds_done == 1 and new.checkpoint == "ckpt/1" and new.last_reward == record.reward.reward
    assert new.completion_tokens_per_prompt["math"] == pytest.approx(50)
    assert RoundState.from_dict(json.loads(json.dumps(new.to_dict()))) == new
    json.dumps(record.to_dict())                                   # records are plain JSON


def test_settle_refuses_overspending_a_cap():
    state = fresh_state()
    p = plan(state, [0, 0, 0, 1, 0, 0, 0, 0])
    gen, train = _summaries(p, gen_scale=1000)
    probe = ProbeSummary((0.0,) * 8, (0.0,) * 8, 0)
    with pytest.raises(ValueError, match="over its cap"):
        settle_round(state, p, gen, train, probe, requirement=R, beta=0.5, spill_top_k=3, lambda_per_1k_tokens=0)


def test_settle_never_overspends_the_ledger():
    state = initial_state(Ledger(40_000, generation_tokens=39_000), np.zeros(8))
    p = plan(state, [0, 0, 0, 1, 0, 0, 0, 0])
    gen, train = _summaries(p)
    probe = ProbeSummary((0.0,) * 8, (0.0,) * 8, 0)
    with pytest.raises(BudgetExceededError):
        settle_round(state, p, gen, train, probe, requirement=R, beta=0.5, spill_top_k=3, lambda_per_1k_tokens=0)
    assert not can_afford_round(state, ROUND)


def test_context_vector():
    ctx = context(initial_state(Ledger(1000, training_tokens=250), np.full(8, 50.0)), R)
    assert ctx.remaining_frac == pytest.approx(0.75)
    v = ctx.vector()
    assert v.shape == (26,) and v[8] == pytest.approx(0.5)


@settings(max_examples=80, deadline=None)
@given(total=st.integers(0, 500), weights=st.lists(st.floats(0, 1), min_size=1, max_size=8).filter(lambda w: sum(w) > 0))
def test_split_count_is_exact(total, weights):
    w = np.asarray(weights) / sum(weights)
    counts = split_count(total, w)
    assert counts.sum() == total and np.all(counts >= 0)
    assert np.all(np.abs(counts - w * total) < 1 + 1e-9)


def test_select_within_cap_worst_case():
    assert select_within_cap([10, 10, 10], [20, 20, 20], 60) == [0, 1]
    assert select_within_cap([10], [20], 29) == []
    assert select_within_cap([], [], 5) == []
    assert select_within_cap([500, 10, 10], [20, 20, 20], 100) == [1, 2]   # a long prompt does not starve the rest


def test_plan_round_trips_through_json_and_seeds_requests_per_round():
    p = plan(fresh_state(), [0, 0, 0.5, 0.5, 0, 0, 0, 0])
    assert RoundPlan.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    later = plan(RoundState(**{**fresh_state().__dict__, "rounds_done": 1}),
                 [0, 0, 0.5, 0.5, 0, 0, 0, 0])
    seeds = {q.request_seed(i, 7) for q in (p, later) for i in range(len(q.prompts))}
    assert len(seeds) == len(p.prompts) + len(later.prompts)         # distinct across prompts and rounds
    assert p.request_seed(3, 7) == RoundPlan.from_dict(p.to_dict()).request_seed(3, 7)


def test_provisional_state_reserves_the_running_round_and_delays_feedback():
    """A pipelined run plans round t+1 while round t runs: whatever round t charges (up to its caps),
    round t+1's plan can still be paid, and the profile it plans from is the last one measured."""
    state = initial_state(Ledger(40_000), np.full(8, 5.0))
    running = plan(state, [0, 0, 0, 1, 0, 0, 0, 0])
    ahead = provisional_state(state, running)
    assert ahead.rounds_done == 1 and ahead.profile == state.profile and ahead.last_reward is None
    assert ahead.ledger.spent_tokens == ROUND.round_tokens
    assert ahead.recent_source_ids == running.recent_source_ids
    nxt = plan(ahead, [0, 0, 1, 0, 0, 0, 0, 0])
    assert nxt.round_index == 1
    # the running round spends its whole caps, the next one too: the ledger still holds
    gen, train = _summaries(running)
    probe = ProbeSummary((6.0,) * 8, (1.0,) * 8, 0)
    settled, _ = settle_round(state, running, gen, train, probe, requirement=R, beta=0.5, spill_top_k=3,
                              lambda_per_1k_tokens=0)
    assert settled.ledger.can_afford(nxt.generation_cap_tokens + nxt.training_cap_tokens)
    # four rounds fit 40k: after three provisional reservations the fourth is the last one planned
    s = state
    for _ in range(3):
        s = provisional_state(s, plan(s, [0, 0, 0, 1, 0, 0, 0, 0]))
    assert can_afford_round(s, ROUND)
    assert not can_afford_round(provisional_state(s, plan(s, [0, 0, 0, 1, 0, 0, 0, 0])), ROUND)
