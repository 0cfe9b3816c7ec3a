"""Candidate actions stay on the simplex with the right support; spillover and reward by hand."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from read_ray.core.allocation import (
    candidate_actions,
    check_allocation,
    local_perturbations,
    off_target_drop,
    sparse_mixtures,
    spillover,
    top_k_indices,
)
from read_ray.core.reward import compute_reward

R = np.array([0.05, 0.05, 0.3, 0.5, 0.1, 0.0, 0.0, 0.0])  # top-3: math(3), reasoning(2), code(4)


def test_sparse_mixtures_k3_grid():
    actions = sparse_mixtures(R, 3, (0.25, 0.5, 0.75))
    assert len(actions) == 3 + 9 + 3
    assert np.allclose(actions.sum(1), 1.0)
    support = set(np.flatnonzero(actions.sum(0)))
    assert support == {2, 3, 4}
    onehots = [a for a in actions if np.isclose(a.max(), 1.0)]
    assert len(onehots) == 3


def test_top_k_ties_are_deterministic():
    assert top_k_indices(np.array([0.2, 0.2, 0.2, 0.4]), 2).tolist() == [0, 3]


def test_local_perturbations_move_delta():
    prev = np.array([0, 0, 0.5, 0.5, 0, 0, 0, 0])
    actions = local_perturbations(prev, 0.1)
    assert np.allclose(actions[0], prev)                  # staying is a candidate
    moved = np.abs(actions - prev).sum(1)
    assert np.allclose(moved[1:], 0.2)                    # delta out of one, delta into another
    assert len(actions) == 1 + 2 * 7


@settings(max_examples=60, deadline=None)
@given(
    weights=st.lists(st.floats(0, 1), min_size=8, max_size=8).filter(lambda w: sum(w) > 1e-3),
    k=st.integers(1, 8),
    delta=st.sampled_from([0.05, 0.1, 0.2]),
)
def test_candidates_always_on_simplex(weights, k, delta):
    r = np.asarray(weights) / sum(weights)
    prev = np.random.default_rng(0).dirichlet(np.ones(8))
    actions = candidate_actions(r, top_k=k, weight_grid=(0.25, 0.5, 0.75), previous=prev, perturb_delta=delta)
    assert np.all(actions >= 0)
    assert np.allclose(actions.sum(1), 1.0, atol=1e-5)
    assert len(np.unique(actions, axis=0)) == len(actions)
    sparse = sparse_mixtures(r, k, (0.25, 0.5, 0.75))
    assert set(np.flatnonzero(sparse.sum(0))) <= set(top_k_indices(r, k))


def test_check_allocation_rejects():
    with pytest.raises(ValueError, match="simplex"):
        check_allocation(np.array([0.5, 0.6]), 2)
    with pytest.raises(ValueError, match="shape"):
        check_allocation(np.array([1.0]), 2)


def test_spillover_hand_computed():
    ds = np.array([-5.0, 0, -2.0, 3.0, -1.0, -9.0, 0, 0])
    # top-3 of R: reasoning (-2), math (+3), code (-1): 0.3*2 + 0.5*0 + 0.1*1
    assert spillover(R, ds, 3) == pytest.approx(0.7)
    assert spillover(R, ds, 1) == pytest.approx(0.0)
    w = np.array([0, 0, 0.5, 0.5, 0, 0, 0, 0])
    # off-target caps 0,1,4,5,6,7 drops: 5,0,1,9,0,0 -> mean 15/6
    assert off_target_drop(ds, w) == pytest.approx(15 / 6)


def test_reward_defaults_hand_computed():
    ds = np.array([0, 0, -2.0, 4.0, 1.0, 0, 0, 0])
    terms = compute_reward(R, ds, spent_tokens=20_000)
    gain = 0.3 * -2 + 0.5 * 4 + 0.1 * 1
    spill = 0.3 * 2
    cost = 0.01 * 20
    assert terms.gain == pytest.approx(gain)
    assert terms.spill == pytest.approx(spill)
    assert terms.cost == pytest.approx(cost)
    assert terms.reward == pytest.approx(gain - 0.5 * spill - cost)
    assert sum(terms.per_capability_gain) == pytest.approx(gain)


def test_reward_rejects_bad_delta():
    with pytest.raises(ValueError, match="non-finite"):
        compute_reward(R, np.full(8, np.nan), 1)
    with pytest.raises(ValueError, match="shape"):
        compute_reward(R, np.zeros(3), 1)
