"""What a capability's next prompts should look like: difficulty tiers, the curriculum, the usage cap.

METHOD.md, "Capability-targeted generation". A prompt's difficulty is the mean of its min-max normalised
control factors (calibrated on a sample of the pool) and tertiles of that score give easy / medium /
hard. The curriculum shifts the tier mix with budget progress, and a usage cap stops one source from
dominating a capability's recent prompts. Pure: stdlib + numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from read_ray.core.prompts import Prompt, is_int, is_number

__all__ = [
    "TIERS",
    "USAGE_CAP_SHARE",
    "USAGE_CAP_WINDOW",
    "DifficultyScale",
    "curriculum_mix",
    "usage_allows",
]

TIERS: tuple[str, ...] = ("easy", "medium", "hard")

# A source may hold at most this share of the last USAGE_CAP_WINDOW prompts of its capability.
USAGE_CAP_SHARE = 0.25
USAGE_CAP_WINDOW = 128


@dataclass(frozen=True)
class DifficultyScale:
    """Min-max normalisation of control factors plus tertile cut points on the resulting score."""

    factor_ranges: tuple[tuple[str, float, float], ...]
    cut_points: tuple[float, float]

    def __post_init__(self) -> None:
        names = [name for name, _, _ in self.factor_ranges]
        if names != sorted(set(names)):
            raise ValueError(f"difficulty scale: factor names {names} must be unique and sorted")
        for name, lo, hi in self.factor_ranges:
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
                raise ValueError(f"difficulty scale: factor {name!r} has an invalid range [{lo}, {hi}]")
        if len(self.cut_points) != 2:
            raise ValueError(f"difficulty scale: cut_points {self.cut_points!r} must be two numbers")
        cut1, cut2 = self.cut_points
        if not (0.0 <= cut1 <= cut2 <= 1.0):
            raise ValueError(
                f"difficulty scale: cut points must satisfy 0 <= cut1 <= cut2 <= 1, got {self.cut_points}"
            )
        object.__setattr__(self, "_ranges", {name: (lo, hi) for name, lo, hi in self.factor_ranges})

    @classmethod
    def calibrate(cls, prompts: Sequence[Prompt]) -> DifficultyScale:
        if not prompts:
            raise ValueError("difficulty scale: cannot calibrate on an empty prompt sample")
        ranges: dict[str, tuple[float, float]] = {}
        for prompt in prompts:
            if not prompt.factors:
                raise ValueError(
                    f"difficulty scale: prompt from {prompt.source_id!r} has no difficulty factors"
                )
            for name, value in prompt.factors:
                lo, hi = ranges.get(name, (value, value))
                ranges[name] = (min(lo, value), max(hi, value))
        factor_ranges = tuple((name, float(lo), float(hi)) for name, (lo, hi) in sorted(ranges.items()))
        provisional = cls(factor_ranges=factor_ranges, cut_points=(0.0, 1.0))
        scores = np.array([provisional.score(p) for p in prompts], dtype=np.float64)
        cut1, cut2 = np.quantile(scores, [1.0 / 3.0, 2.0 / 3.0])
        return cls(factor_ranges=factor_ranges, cut_points=(float(cut1), float(cut2)))

    def score(self, prompt: Prompt) -> float:
        """Mean over the prompt's factors of the min-max normalised value, clipped to [0, 1]."""
        if not prompt.factors:
            raise ValueError(f"difficulty scale: prompt from {prompt.source_id!r} has no difficulty factors")
        ranges: dict[str, tuple[float, float]] = self._ranges  # type: ignore[attr-defined]
        total = 0.0
        for name, value in prompt.factors:
            if name not in ranges:
                raise ValueError(
                    f"difficulty scale: factor {name!r} of prompt from {prompt.source_id!r} was not seen in "
                    f"calibration (known: {sorted(ranges)})"
                )
            lo, hi = ranges[name]
            total += 0.5 if hi == lo else min(1.0, max(0.0, (value - lo) / (hi - lo)))
        return total / len(prompt.factors)

    def tier(self, prompt: Prompt) -> str:
        value = self.score(prompt)
        if value <= self.cut_points[0]:
            return "easy"
        if value <= self.cut_points[1]:
            return "medium"
        return "hard"


def curriculum_mix(progress_frac: float) -> dict[str, float]:
    """Target share of each tier at budget progress ``progress_frac`` in [0, 1] (METHOD.md)."""
    if not is_number(progress_frac) or not (0.0 <= progress_frac <= 1.0):
        raise ValueError(f"progress_frac={progress_frac!r} must be a number in [0, 1]")
    if progress_frac <= 0.3:
        return {"easy": 0.1, "medium": 0.8, "hard": 0.1}
    if progress_frac <= 0.7:
        return {"easy": 0.1, "medium": 0.5, "hard": 0.4}
    return {"easy": 0.05, "medium": 0.2, "hard": 0.75}


# --------------------------------------------------------------------------------------------------
# Usage cap
# --------------------------------------------------------------------------------------------------


def usage_allows(
    recent_source_ids: Sequence[str],
    source_id: str,
    *,
    max_share: float = USAGE_CAP_SHARE,
    window: int = USAGE_CAP_WINDOW,
) -> bool:
    """Whether appending ``source_id`` keeps its count in the last ``window`` ids <= floor(max_share*window).

    The count is always taken against the full window size, so with a short history a source may still
    hold at most floor(max_share * window) prompts.
    """
    if not is_int(window) or window < 1:
        raise ValueError(f"usage cap: window={window!r} must be a positive int (prompts)")
    if not is_number(max_share) or not (0.0 < max_share <= 1.0):
        raise ValueError(f"usage cap: max_share={max_share!r} must be in (0, 1]")
    limit = math.floor(max_share * window + 1e-9)
    recent = list(recent_source_ids)
    tail = recent[max(0, len(recent) - (window - 1)) :]
    return tail.count(source_id) + 1 <= limit
