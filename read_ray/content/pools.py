"""Generation prompt pools: template files plus procedural generators, per capability.

``generation_sources`` gathers a capability's prompt sources: the templates of
``<templates_dir>/<capability>.jsonl`` (the bundled ones by default) followed by the procedural
generators of ``read_ray.content.generators`` for that capability. ``build_generation_pools`` wraps them in
core ``CapabilityPool``s (calibrated difficulty, curriculum, usage cap, leakage filter at draw time), and
``count_distinct_prompts`` measures how many distinct prompt texts a pool or a set of sources yields.

A capability needs at least one of the two: a template file or generators. Generators are built for
``split="train"`` here; a probe builder asks for ``split="probe"`` to get disjoint generator streams
(templates have no split: they fill from the seed alone, so probes must not reuse their seeds or
rely on the leakage filter).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np

from read_ray.content.generators import default_generators
from read_ray.core.capability_pool import SEED_HIGH, CapabilityPool
from read_ray.core.prompts import PromptSource
from read_ray.core.templates import bundled_templates_dir, load_templates, templates_file

__all__ = ["generation_sources", "build_generation_pools", "count_distinct_prompts"]


def generation_sources(
    capability: str,
    *,
    templates_dir: str | os.PathLike[str] | None = None,
    long_context_max_words: int = 2000,
    split: str = "train",
) -> tuple[PromptSource, ...]:
    """Templates from ``<templates_dir>/<capability>.jsonl`` (if the file exists) plus the generators.

    ``templates_dir`` None or "" means the bundled templates. ValueError if the capability has neither a
    template file nor generators, or if a template file is invalid.
    """
    directory = templates_dir if templates_dir else bundled_templates_dir()
    path = templates_file(directory, capability)
    templates = load_templates(path) if path.is_file() else ()
    generators = default_generators(capability, split=split, long_context_max_words=long_context_max_words)
    sources: tuple[PromptSource, ...] = (*templates, *generators)
    if not sources:
        raise ValueError(
            f"capability {capability!r}: no prompt sources (no template file {path} and no procedural "
            "generators for it)"
        )
    return sources


def build_generation_pools(
    capabilities: Sequence[str],
    *,
    templates_dir: str | os.PathLike[str] | None = None,
    long_context_max_words: int = 2000,
    calibration_size: int = 256,
) -> dict[str, CapabilityPool]:
    """One calibrated ``CapabilityPool`` per capability (in the given order)."""
    if isinstance(capabilities, str):
        raise ValueError("capabilities must be a sequence of names, not a single string")
    if len(set(capabilities)) != len(capabilities):
        raise ValueError(f"duplicate capabilities in {list(capabilities)}")
    return {
        capability: CapabilityPool(
            capability,
            generation_sources(
                capability, templates_dir=templates_dir, long_context_max_words=long_context_max_words
            ),
            calibration_size=calibration_size,
        )
        for capability in capabilities
    }


def count_distinct_prompts(
    pool_or_sources: CapabilityPool | PromptSource | Iterable[PromptSource],
    *,
    attempts: int = 3000,
    seed: int = 0,
) -> int:
    """Distinct prompt texts among ``attempts`` fills with distinct seeds, cycling over the sources."""
    if isinstance(pool_or_sources, CapabilityPool):
        sources = tuple(pool_or_sources.sources)
    elif isinstance(pool_or_sources, PromptSource):
        sources = (pool_or_sources,)
    else:
        sources = tuple(pool_or_sources)
    if not sources:
        raise ValueError("count_distinct_prompts: no sources")
    if not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"count_distinct_prompts: attempts={attempts!r} must be a positive int")
    rng = np.random.default_rng(seed)
    seeds: list[int] = []
    seen_seeds: set[int] = set()
    while len(seeds) < attempts:
        for value in rng.integers(0, SEED_HIGH, size=attempts - len(seeds)).tolist():
            if value not in seen_seeds:
                seen_seeds.add(value)
                seeds.append(value)
    texts = {sources[i % len(sources)].fill(s).text for i, s in enumerate(seeds)}
    return len(texts)


def pools_for_config(cfg, capabilities: Sequence[str] | None = None) -> dict[str, CapabilityPool]:
    """The generation pools a `ReadConfig` describes (all its capabilities unless named)."""
    return build_generation_pools(
        tuple(capabilities or cfg.capabilities.names), templates_dir=cfg.capabilities.templates_dir or None,
        long_context_max_words=cfg.capabilities.long_context_max_words,
    )
