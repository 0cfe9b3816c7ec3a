"""The statistics of the capability profile: percentile-bootstrap CIs of mean probe scores, per-capability
aggregation, and the round-0 normaliser that maps raw scores to [0, 100] (0 = initial student, 100 = teacher).

METHOD.md, "Probes (the capability profile)". Pure: numpy + stdlib.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = [
    "MIN_NORMALISER_GAP",
    "CapabilityScores",
    "Normaliser",
    "aggregate_scores",
    "bootstrap_ci",
    "fit_normaliser",
]

MIN_NORMALISER_GAP = 0.05
"""Smallest teacher - student0 gap (raw units) the normaliser divides by (see :func:`fit_normaliser`)."""


class Identified(Protocol):
    """What :func:`aggregate_scores` needs of a probe item: its id."""

    @property
    def item_id(self) -> str: ...


# ----------------------------------------------------------------------------------------------------------
# Scores


def bootstrap_ci(
    values: Sequence[float], *, samples: int = 1000, seed: int | Sequence[int] = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap CI of the mean of the non-nan ``values`` (numpy Generator seeded by ``seed``).

    ``(nan, nan)`` without values; ``(mean, mean)`` for one value or ``samples == 0``. The interval is
    widened to include the sample mean if resampling noise ever leaves it outside.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return (math.nan, math.nan)
    mean = float(x.mean())
    if x.size == 1 or samples <= 0:
        return (mean, mean)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(samples, x.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return (min(float(lo), mean), max(float(hi), mean))


@dataclass(frozen=True)
class CapabilityScores:
    """Raw per-capability probe scores (means over items), 95% bootstrap CIs, item counts and tokens used.

    ``n`` counts the items that were scored (for ``accuracy``: the items with a checker); a capability
    with none has ``raw = nan``.
    """

    raw: Mapping[str, float]
    ci: Mapping[str, tuple[float, float]]
    n: Mapping[str, int]
    probe_tokens: int

    def to_dict(self) -> dict:
        return {
            "raw": dict(self.raw),
            "ci": {k: list(v) for k, v in self.ci.items()},
            "n": dict(self.n),
            "probe_tokens": int(self.probe_tokens),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> CapabilityScores:
        return cls(
            raw={k: float(v) for k, v in data["raw"].items()},
            ci={k: (float(v[0]), float(v[1])) for k, v in data["ci"].items()},
            n={k: int(v) for k, v in data["n"].items()},
            probe_tokens=int(data["probe_tokens"]),
        )


def _capability_seed(seed: int, capability: str) -> list[int]:
    return [int(seed) & 0xFFFFFFFF, int.from_bytes(hashlib.sha256(capability.encode()).digest()[:4], "big")]


def aggregate_scores(
    suite: Mapping[str, Sequence[Identified]],
    scores: Mapping[str, float],
    probe_tokens: int,
    *,
    bootstrap_samples: int = 1000,
    seed: int = 0,
) -> CapabilityScores:
    """Per-capability means and bootstrap CIs from item scores (``item_id -> score``, nan = skipped).

    ``suite`` maps each capability to its items (anything with an ``item_id``: the probe suite's
    :class:`~read_ray.content.probe_items.common.ProbeItem`). For scores gathered in shards (e.g. by several
    probe actors, :func:`read_ray.model.probes.score_items`); :func:`read_ray.model.probes.profile_scores` is
    this applied to one pass over the whole suite. Every item of the suite needs a score (ValueError
    otherwise). Each capability's bootstrap uses its own generator seeded by ``(seed, capability)``, so a CI
    does not depend on the other capabilities.
    """
    raw: dict[str, float] = {}
    ci: dict[str, tuple[float, float]] = {}
    n: dict[str, int] = {}
    missing = [item.item_id for items in suite.values() for item in items if item.item_id not in scores]
    if missing:
        raise ValueError(f"no score for {len(missing)} probe items, e.g. {missing[:3]}")
    for cap, cap_items in suite.items():
        values = np.asarray([float(scores[item.item_id]) for item in cap_items], dtype=np.float64)
        valid = values[~np.isnan(values)]
        n[cap] = int(valid.size)
        raw[cap] = float(valid.mean()) if valid.size else math.nan
        ci[cap] = bootstrap_ci(valid, samples=bootstrap_samples, seed=_capability_seed(seed, cap))
    return CapabilityScores(raw=raw, ci=ci, n=n, probe_tokens=int(probe_tokens))


# ----------------------------------------------------------------------------------------------------------
# Normalisation


@dataclass(frozen=True)
class Normaliser:
    """Per-capability affine map fixed at round 0: ``low`` (initial student) -> 0, ``high`` (teacher) -> 100.

    ``high`` is the *effective* upper anchor (see :func:`fit_normaliser`'s floor). Capabilities whose
    anchors are nan (nothing scored) map to nan.
    """

    low: Mapping[str, float]
    high: Mapping[str, float]

    def __post_init__(self) -> None:
        if set(self.low) != set(self.high):
            raise ValueError(
                f"normaliser: low and high name different capabilities: {sorted(self.low)} vs "
                f"{sorted(self.high)}"
            )
        for cap in self.low:
            lo, hi = float(self.low[cap]), float(self.high[cap])
            if math.isfinite(lo) and math.isfinite(hi) and not hi > lo:
                raise ValueError(f"normaliser: capability {cap!r} needs high > low, got low={lo}, high={hi}")
        object.__setattr__(self, "low", {k: float(v) for k, v in self.low.items()})
        object.__setattr__(self, "high", {k: float(v) for k, v in self.high.items()})

    def _scale(self, cap: str) -> float:
        if cap not in self.low:
            raise KeyError(f"normaliser has no capability {cap!r} (it knows {sorted(self.low)})")
        return 100.0 / (self.high[cap] - self.low[cap])

    def __call__(self, raw: Mapping[str, float]) -> dict[str, float]:
        """Normalised scores (0 = initial student, 100 = teacher) for the capabilities in ``raw``."""
        return {cap: (float(value) - self.low[cap]) * self._scale(cap) for cap, value in raw.items()}

    def ci(self, ci: Mapping[str, tuple[float, float]]) -> dict[str, float]:
        """Half-widths of raw CIs in normalised points."""
        return {cap: (float(hi) - float(lo)) / 2.0 * self._scale(cap) for cap, (lo, hi) in ci.items()}

    def to_dict(self) -> dict:
        return {"low": dict(self.low), "high": dict(self.high)}

    @classmethod
    def from_dict(cls, data: Mapping) -> Normaliser:
        return cls(low=dict(data["low"]), high=dict(data["high"]))


def fit_normaliser(
    student0: CapabilityScores, teacher: CapabilityScores, *, min_gap: float = MIN_NORMALISER_GAP
) -> Normaliser:
    """The round-0 normaliser: 0 = ``student0``'s raw score, 100 = ``teacher``'s.

    When the teacher is less than ``min_gap`` (raw units: nats per token for ``teacher_loglik``, accuracy
    for ``accuracy``) above the initial student, including when the student starts level with or above
    the teacher, the upper anchor becomes ``student0 + min_gap`` so the scale stays finite and increasing;
    the teacher then maps below 100.
    """
    if not min_gap > 0:
        raise ValueError(f"min_gap must be > 0, got {min_gap}")
    low, high = {}, {}
    for cap, lo in student0.raw.items():
        if cap not in teacher.raw:
            raise ValueError(f"fit_normaliser: teacher scores lack capability {cap!r}")
        lo, hi = float(lo), float(teacher.raw[cap])
        low[cap] = lo
        high[cap] = hi if not (math.isfinite(lo) and math.isfinite(hi)) else max(hi, lo + min_gap)
    return Normaliser(low=low, high=high)
