"""The prompt sources of one capability and how a round draws from them (``CapabilityPool.draw``).

METHOD.md, "Capability-targeted generation": each draw follows the curriculum's tier mix
(``core.curriculum``), the usage cap and the leakage filter (``core.leakage``), and never repeats a
prompt. Pure: stdlib + numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from read_ray.core.curriculum import (
    TIERS,
    USAGE_CAP_SHARE,
    USAGE_CAP_WINDOW,
    DifficultyScale,
    curriculum_mix,
    usage_allows,
)
from read_ray.core.leakage import LeakageFilter
from read_ray.core.prompts import Prompt, PromptSource, check_capability, is_int

__all__ = ["SEED_HIGH", "DrawResult", "CapabilityPool"]

SEED_HIGH = np.iinfo(np.int64).max
"""Exclusive bound for 63-bit candidate seeds."""


@dataclass(frozen=True)
class DrawResult:
    prompts: tuple[Prompt, ...]
    recent_source_ids: tuple[str, ...]
    blocked_count: int
    capped_count: int


class CapabilityPool:
    """The prompt sources of one capability, with a calibrated difficulty scale."""

    def __init__(
        self,
        capability: str,
        sources: Sequence[PromptSource],
        *,
        calibration_size: int = 256,
        calibration_seed: int = 0,
    ) -> None:
        check_capability(capability, "capability pool")
        sources = tuple(sources)
        if not sources:
            raise ValueError(f"capability pool {capability!r}: no prompt sources")
        seen: set[str] = set()
        for source in sources:
            if source.capability != capability:
                raise ValueError(
                    f"capability pool {capability!r}: source {source.source_id!r} has capability "
                    f"{source.capability!r}"
                )
            if source.source_id in seen:
                raise ValueError(f"capability pool {capability!r}: duplicate source id {source.source_id!r}")
            seen.add(source.source_id)
        if not is_int(calibration_size) or calibration_size < len(sources):
            raise ValueError(
                f"capability pool {capability!r}: calibration_size={calibration_size!r} must be an int >= the "
                f"number of sources ({len(sources)}) so every source is calibrated"
            )
        self.capability = capability
        self.sources: tuple[PromptSource, ...] = sources
        seeds = np.random.default_rng(calibration_seed).integers(0, SEED_HIGH, size=calibration_size)
        sample = [sources[i % len(sources)].fill(int(seed)) for i, seed in enumerate(seeds)]
        self.scale = DifficultyScale.calibrate(sample)

    def __repr__(self) -> str:
        return f"CapabilityPool({self.capability!r}, sources={len(self.sources)}, scale={self.scale!r})"

    def draw(
        self,
        n: int,
        *,
        progress_frac: float,
        rng: np.random.Generator,
        recent_source_ids: Sequence[str] = (),
        leakage: LeakageFilter | None = None,
        max_attempts_per_prompt: int = 64,
    ) -> DrawResult:
        """Draw ``n`` distinct prompts following the curriculum, the usage cap and the leakage filter."""
        if not is_int(n) or n < 0:
            raise ValueError(f"draw: n={n!r} must be a non-negative int (prompts)")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"draw: rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if not is_int(max_attempts_per_prompt) or max_attempts_per_prompt < 1:
            raise ValueError(
                f"draw: max_attempts_per_prompt={max_attempts_per_prompt!r} must be a positive int"
            )
        mix = curriculum_mix(progress_frac)
        cumulative = np.cumsum([mix[tier] for tier in TIERS])
        history = list(recent_source_ids)[-USAGE_CAP_WINDOW:]
        prompts: list[Prompt] = []
        texts: set[str] = set()
        blocked = capped = 0
        for index in range(n):
            u = float(rng.random())
            target = TIERS[min(int(np.searchsorted(cumulative, u, side="right")), len(TIERS) - 1)]
            chosen: Prompt | None = None
            fallback: Prompt | None = None
            for _ in range(max_attempts_per_prompt):
                source = self.sources[int(rng.integers(len(self.sources)))]
                seed = int(rng.integers(0, SEED_HIGH))
                if not usage_allows(history, source.source_id):
                    capped += 1
                    continue
                candidate = source.fill(seed)
                if candidate.text in texts:
                    continue
                if leakage is not None and leakage.check(candidate.text) is not None:
                    blocked += 1
                    continue
                if fallback is None:
                    fallback = candidate
                if self.scale.tier(candidate) == target:
                    chosen = candidate
                    break
            if chosen is None:
                chosen = fallback
            if chosen is None:
                raise RuntimeError(
                    f"capability pool {self.capability!r}: no admissible prompt for prompt {index + 1}/{n} in "
                    f"{max_attempts_per_prompt} attempts ({len(self.sources)} sources; so far {capped} capped, "
                    f"{blocked} blocked by the leakage filter). The pool is too small for the usage cap "
                    f"(each source at most {USAGE_CAP_SHARE:.0%} of the last {USAGE_CAP_WINDOW} prompts) "
                    "or too much of it is blocked; add sources or templates."
                )
            prompts.append(chosen)
            texts.add(chosen.text)
            history.append(chosen.source_id)
            if len(history) > USAGE_CAP_WINDOW:
                del history[: len(history) - USAGE_CAP_WINDOW]
        return DrawResult(
            prompts=tuple(prompts),
            recent_source_ids=tuple(history),
            blocked_count=blocked,
            capped_count=capped,
        )
