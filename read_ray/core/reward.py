"""The ReAD reward: R_t = r_tau . delta_s_t - beta * Spill_t - lambda * cost_t (METHOD.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from read_ray.core.allocation import spillover, top_k_indices


@dataclass(frozen=True)
class RewardTerms:
    gain: float                    # r_tau . delta_s
    spill: float                   # Spill_t (before beta)
    cost: float                    # lambda * tokens / 1000 (already weighted)
    reward: float                  # gain - beta * spill - cost
    per_capability_gain: tuple[float, ...]   # r_c * delta_s_c, for per-arm learners (EXP3)
    delta_s: tuple[float, ...]               # the profile change the reward was computed from

    def to_dict(self) -> dict:
        return {"gain": self.gain, "spill": self.spill, "cost": self.cost, "reward": self.reward,
                "per_capability_gain": list(self.per_capability_gain), "delta_s": list(self.delta_s)}


def compute_reward(
    requirement: np.ndarray,
    delta_s: np.ndarray,
    spent_tokens: int,
    *,
    beta: float = 0.5,
    spill_top_k: int = 3,
    lambda_per_1k_tokens: float = 0.01,
) -> RewardTerms:
    """Profile change delta_s is in normalised points (0 = initial student, 100 = teacher)."""
    r = np.asarray(requirement, dtype=np.float64)
    ds = np.asarray(delta_s, dtype=np.float64)
    if r.shape != ds.shape:
        raise ValueError(f"requirement has shape {r.shape} but delta_s has shape {ds.shape}")
    if not np.all(np.isfinite(ds)):
        raise ValueError(f"delta_s has non-finite entries: {ds.tolist()}")
    per_cap = r * ds
    gain = float(per_cap.sum())
    spill = spillover(r, ds, spill_top_k)
    cost = lambda_per_1k_tokens * spent_tokens / 1000.0
    return RewardTerms(gain, spill, cost, gain - beta * spill - cost, tuple(float(x) for x in per_cap),
                       tuple(float(x) for x in ds))


def batch_gain_minus_spill(requirement: np.ndarray, delta_s: np.ndarray, *, beta: float, spill_top_k: int) -> np.ndarray:
    """r . delta_s - beta * Spill for a batch of predicted profile changes [..., C] (no token cost)."""
    r = np.asarray(requirement, dtype=np.float64)
    top = top_k_indices(r, spill_top_k)
    spill = np.sum(r[top] * np.maximum(0.0, -delta_s[..., top]), axis=-1)
    return delta_s @ r - beta * spill
