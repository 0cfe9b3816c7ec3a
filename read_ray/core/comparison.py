"""Pure statistics of a policy comparison (`read-ray compare`, `read-ray simulate`).

    mean_ci95(values)                          mean and Student-t 95% CI half-width over seeds
    profile_change_metrics(r, delta_s, top_k)  on-target gain, off-target change, spillover
    spend_totals(caps, records)                tokens per capability and seconds per stage of round records
    summarize_seeds(per_seed)                  {metric: {mean, ci95, n, values}} over seeds
    grid_mixes(r, top_k, weights)              the static mixes the grid baseline pilots
    pilot_budget_tokens(B, frac, n)            tokens each pilot may spend

Round records are the plain dicts of `rounds/*/record.json`. Stdlib + numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from read_ray.core.allocation import dedupe, sparse_mixtures, top_k_indices, uniform_allocation

STAGES = ("generate", "train", "probe", "bandit", "orchestration", "round")
"""Wall-clock stages a round record's `seconds` holds (`round` is the whole round)."""

_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
         2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
         2.052, 2.048, 2.045, 2.042)


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of a Student-t 95% confidence interval (nan with fewer than 2 values)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        raise ValueError("mean_ci95: no values")
    if len(x) < 2:
        return float(x.mean()), float("nan")
    t = _T975[len(x) - 2] if len(x) - 1 <= len(_T975) else 1.96
    return float(x.mean()), float(t * x.std(ddof=1) / math.sqrt(len(x)))


def target_mask(requirement: np.ndarray, top_k: int) -> np.ndarray:
    """Target capabilities: the top-k of r_tau that carry weight (the support ReAD's mixtures use)."""
    r = np.asarray(requirement, dtype=np.float64)
    mask = np.zeros(len(r), dtype=bool)
    mask[top_k_indices(r, top_k)] = True
    return mask & (r > 0)


def profile_change_metrics(requirement: np.ndarray, delta_s: np.ndarray, top_k: int) -> dict[str, float]:
    """From the whole run's profile change (points; 0 = initial student, 100 = teacher):

    on_target_gain     r-weighted mean change over the target capabilities
    off_target_change  mean (signed) change over the other capabilities
    spillover          mean drop max(0, -change) over the other capabilities (METHOD.md)
    """
    r = np.asarray(requirement, dtype=np.float64)
    ds = np.asarray(delta_s, dtype=np.float64)
    if r.shape != ds.shape:
        raise ValueError(f"requirement has shape {r.shape} but delta_s has shape {ds.shape}")
    on = target_mask(r, top_k)
    off = ~on
    return {
        "on_target_gain": float(r[on] @ ds[on] / r[on].sum()),
        "off_target_change": float(ds[off].mean()) if off.any() else 0.0,
        "spillover": float(np.maximum(0.0, -ds[off]).mean()) if off.any() else 0.0,
    }


def spend_totals(caps: Sequence[str], records: Sequence[Mapping]) -> dict[str, float]:
    """Tokens spent per capability (teacher + training), their total, and seconds per stage, summed over
    round records (of one run, or of a grid baseline's pilots and final run together)."""
    out: dict[str, float] = {}
    for cap in caps:
        out[f"tokens/{cap}"] = float(sum(r["generation_tokens"].get(cap, 0) + r["training_tokens"].get(cap, 0)
                                         for r in records))
    out["tokens/total"] = float(sum(out[f"tokens/{c}"] for c in caps))
    for stage in STAGES:
        out[f"seconds/{stage}"] = float(sum(r["seconds"].get(stage, 0.0) for r in records))
    return out


def summarize_seeds(per_seed: Sequence[Mapping[str, float]]) -> dict[str, dict]:
    """Mean and 95% CI over seeds of every metric the per-seed dicts share; ci95 is None with one seed."""
    if not per_seed:
        raise ValueError("summarize_seeds: no seeds")
    names = [k for k in per_seed[0] if all(k in m for m in per_seed)]
    out = {}
    for name in names:
        values = [float(m[name]) for m in per_seed]
        mean, ci = mean_ci95(values)
        out[name] = {"mean": mean, "ci95": None if math.isnan(ci) else ci, "n": len(values), "values": values}
    return out


def paired_differences(per_policy: Mapping[str, Sequence[Mapping[str, float]]], reference: str,
                       key: str) -> dict[str, dict]:
    """Per policy: mean and 95% CI over seeds of `key` minus the reference policy's `key` on the same seed.

    `per_policy` maps a policy to its per-seed metrics, every list in the same seed order. The arms of a
    seed share the initial student, the probe suite and the evaluation split, so the difference removes
    that shared variance: a CI that excludes 0 separates two policies where their own CIs overlap."""
    base = [float(m[key]) for m in per_policy[reference]]
    out = {}
    for policy, rows in per_policy.items():
        if len(rows) != len(base):
            raise ValueError(f"paired_differences: {policy} has {len(rows)} seeds, {reference} has {len(base)}")
        out[policy] = summarize_seeds([{key: float(m[key]) - b} for m, b in zip(rows, base, strict=True)])[key]
    return out


def grid_mixes(requirement: np.ndarray, top_k: int, weights: Sequence[float]) -> np.ndarray:
    """Static mixes the grid baseline pilots: r_tau itself, one-hots and mixtures over the top-k of r_tau on
    the weight grid, plus the uniform mix. Shape [M, C], deterministic order (r_tau first)."""
    r = np.asarray(requirement, dtype=np.float64)
    return dedupe(np.concatenate([(r / r.sum())[None, :], sparse_mixtures(r, top_k, weights),
                                  uniform_allocation(len(r))[None, :]]))


def pilot_budget_tokens(total_tokens: int, pilot_frac: float, num_mixes: int) -> int:
    """Tokens each of `num_mixes` pilot runs may spend: an even share of pilot_frac * B (rounded down)."""
    if num_mixes < 1:
        raise ValueError("pilot_budget_tokens: need at least one mix")
    each = int(total_tokens * pilot_frac) // num_mixes
    if each < 1:
        raise ValueError(f"compare.grid_pilot_frac={pilot_frac} of {total_tokens} tokens leaves nothing for "
                         f"{num_mixes} pilot runs: raise it or budget.total_tokens")
    return each
