"""Candidate actions on the capability simplex, and spillover.

An allocation w is a float64 vector over capabilities with w >= 0 and sum(w) = 1: the share of a
round's generation budget spent on each capability.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

_DECIMALS = 6  # allocations are rounded so that equal mixes compare equal


def top_k_indices(requirement: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest entries of r_tau, ties broken by index (stable)."""
    order = np.argsort(-np.asarray(requirement, dtype=np.float64), kind="stable")
    return np.sort(order[:k])


def sparse_mixtures(requirement: np.ndarray, top_k: int, weight_grid: Sequence[float]) -> np.ndarray:
    """All allocations supported on the top-k capabilities of r_tau whose weights lie on the grid.

    Every weight is in grid ∪ {1} and the weights sum to 1, so one-hots are always included; e.g. k=3,
    grid {.25, .5, .75} gives 3 one-hots + 9 two-capability mixes + 3 three-capability mixes.
    """
    num_caps = len(requirement)
    support = top_k_indices(requirement, top_k)
    levels = sorted({round(float(w), _DECIMALS) for w in weight_grid if 0 < w < 1} | {1.0})
    actions = []
    for size in range(1, len(support) + 1):
        for subset in itertools.combinations(support, size):
            for weights in itertools.product(levels, repeat=size):
                if abs(sum(weights) - 1.0) < 1e-9:
                    w = np.zeros(num_caps)
                    w[list(subset)] = weights
                    actions.append(w)
    return dedupe(np.array(actions))


def local_perturbations(previous: np.ndarray, delta: float) -> np.ndarray:
    """The previous allocation itself plus every move of `delta` mass from one capability to another."""
    previous = np.asarray(previous, dtype=np.float64)
    actions = [previous.copy()]
    for src, dst in itertools.permutations(range(len(previous)), 2):
        if previous[src] >= delta - 1e-12:
            w = previous.copy()
            w[src] = max(w[src] - delta, 0.0)
            w[dst] += delta
            actions.append(w / w.sum())
    return dedupe(np.array(actions))


def candidate_actions(
    requirement: np.ndarray,
    *,
    top_k: int,
    weight_grid: Sequence[float],
    previous: np.ndarray | None = None,
    perturb_delta: float = 0.1,
    local: bool = True,
    prior: np.ndarray | None = None,
) -> np.ndarray:
    """A(tau): the `prior` (first, when given), sparse top-k mixtures, and local perturbations of the
    previous allocation. Shape [A, C]."""
    actions = sparse_mixtures(requirement, top_k, weight_grid)
    if prior is not None:
        actions = np.concatenate([np.asarray(prior, dtype=np.float64)[None, :], actions])
    if local and previous is not None:
        actions = np.concatenate([actions, local_perturbations(previous, perturb_delta)])
    return dedupe(actions)


def dedupe(actions: np.ndarray) -> np.ndarray:
    """Round to a fixed precision and drop repeats, keeping first-seen order (deterministic)."""
    rounded = np.round(np.asarray(actions, dtype=np.float64), _DECIMALS)
    _, first = np.unique(rounded, axis=0, return_index=True)
    kept = rounded[np.sort(first)]
    return kept / kept.sum(axis=1, keepdims=True)      # rounding 1/3 must not leave the simplex


def uniform_allocation(num_caps: int) -> np.ndarray:
    return np.full(num_caps, 1.0 / num_caps)


def check_allocation(w: np.ndarray, num_caps: int) -> np.ndarray:
    """Return w as a float64 simplex vector, or raise ValueError saying what is wrong."""
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (num_caps,):
        raise ValueError(f"allocation has shape {w.shape}, expected ({num_caps},)")
    if not np.all(np.isfinite(w)) or np.any(w < -1e-9) or abs(w.sum() - 1.0) > 1e-6:
        raise ValueError(f"allocation {w.tolist()} is not on the simplex (non-negative, summing to 1)")
    return np.clip(w, 0.0, None) / np.clip(w, 0.0, None).sum()


def spillover(requirement: np.ndarray, delta_s: np.ndarray, top_k: int) -> float:
    """Spill_t = sum over the top-k capabilities c of r_tau of r_c * max(0, -delta_s_c) (METHOD.md)."""
    r = np.asarray(requirement, dtype=np.float64)
    drops = np.maximum(0.0, -np.asarray(delta_s, dtype=np.float64))
    idx = top_k_indices(r, top_k)
    return float(np.sum(r[idx] * drops[idx]))


def off_target_drop(delta_s: np.ndarray, allocation: np.ndarray) -> float:
    """Reported spillover: mean drop (>= 0) over capabilities that got no allocation this round."""
    delta_s = np.asarray(delta_s, dtype=np.float64)
    off = np.asarray(allocation) <= 1e-9
    if not off.any():
        return 0.0
    return float(np.mean(np.maximum(0.0, -delta_s[off])))
