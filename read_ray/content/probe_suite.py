"""Probe suites: the held-out monitoring set that measures the student's capability profile s_t.

METHOD.md, "Probes (the capability profile)". Per capability a fixed suite (default 32 items) is built from

* probe-only prompt templates in ``read_ray/data/probes/<capability>.jsonl`` (open-ended prompts, no
  checker: scored by ``teacher_loglik`` only), and
* procedural item builders in :mod:`read_ray.content.probe_items`, each with a verifiable checker
  (:func:`read_ray.content.probe_items.checks.check_response`): exact numbers (arithmetic, word problems,
  equations, logic, sequences, program output, needle retrieval), JSON objects with given keys and types,
  BFCL-style tool calls against our own synthetic function schemas (``possible_answer``), IFEval-style
  instructions checked with ``if_verifiable``'s IFEval checkers, tiny Python functions run against asserts
  in the sandbox, and answers that must contain given words (facts, capitals, translations in Spanish,
  French, German, Italian and Portuguese).

Disjoint from training by construction: the probe wordings, tasks, schemas and filler texts are written
for the probes only (nothing is shared with ``read_ray/data/templates`` or the procedural generators of
``read_ray.content.generators``, and nothing here or in ``read_ray.content.probe_items`` imports them), item
seeds come from their own hash namespace, and the tests check that no probe prompt shares a 13-word n-gram
with 200 fills of every generation template. :func:`probe_prompts` hands every probe prompt to the
generation pools' leakage filter; ``build_probe_suite(leakage_filter=...)`` also redraws probes blocked by
a given filter.

Each capability cycles through a fixed list of sources (about a quarter templates), so item ``i`` of a
suite does not depend on the suite's size: the first 32 items of a 64-item suite are the 32-item suite.
Item ids (``<capability>/<index>-<source>``) are stable for a given seed.

The teacher's references are attached and cached by :mod:`read_ray.content.probe_references`; a model
scores the suite in :mod:`read_ray.model.probes`; the scores' statistics (bootstrap CIs, the normaliser)
are :mod:`read_ray.core.statistics`.

stdlib (+ the probe builders' own packages).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from read_ray.content.probe_items import BUILDERS, CYCLES, TEMPLATE
from read_ray.content.probe_items.common import DEFAULT_MAX_NEW_TOKENS, Draft, ProbeItem
from read_ray.core.leakage import LeakageFilter
from read_ray.core.templates import Template, load_templates

__all__ = [
    "build_probe_suite",
    "iter_items",
    "probe_prompts",
    "probes_dir",
    "suite_fingerprint",
]

_SUITE_FORMAT = 1  # part of the fingerprint: bump when builders change what they produce
_MAX_ATTEMPTS = 40  # redraws of a source that keeps producing a prompt already in the suite


def probes_dir() -> Path:
    """The probe-only templates shipped with the package (``read_ray/data/probes``)."""
    return Path(__file__).resolve().parent.parent / "data" / "probes"


def _item_seed(seed: int, capability: str, index: int, attempt: int) -> int:
    key = f"read_ray/probe-item|{seed}|{capability}|{index}|{attempt}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


def _capability_templates(capability: str, templates_dir: Path) -> tuple[Template, ...]:
    path = templates_dir / f"{capability}.jsonl"
    return load_templates(path) if path.is_file() else ()


def build_probe_suite(
    capabilities: Sequence[str],
    *,
    items_per_capability: int = 32,
    seed: int = 0,
    templates_dir: str | os.PathLike[str] | None = None,
    leakage_filter: LeakageFilter | None = None,
) -> dict[str, tuple[ProbeItem, ...]]:
    """The probe suite: ``items_per_capability`` items per capability, in the order given.

    Deterministic in ``seed``; item ``i`` does not depend on ``items_per_capability``. Prompts are unique
    within the suite (a source that repeats a prompt is redrawn with the next attempt's seed). Template
    items come from ``<templates_dir>/<capability>.jsonl`` (default :func:`probes_dir`); a capability
    without builders here (a custom one) needs that file and is probed with its templates only.

    ``leakage_filter`` (optional, e.g. built from downstream evaluation prompts or sample fills of the
    generation pools): a draft it blocks is redrawn like a duplicate; ValueError if a slot cannot find a
    clean prompt. The bundled probes are clean against the bundled generation templates by construction.
    """
    if isinstance(capabilities, str):
        raise TypeError("capabilities must be a sequence of names, not a single string")
    if (
        isinstance(items_per_capability, bool)
        or not isinstance(items_per_capability, int)
        or items_per_capability < 1
    ):
        raise ValueError(f"items_per_capability must be a positive int, got {items_per_capability!r}")
    if len(set(capabilities)) != len(capabilities):
        raise ValueError(f"capabilities must be unique, got {list(capabilities)}")
    tdir = Path(templates_dir) if templates_dir is not None else probes_dir()
    suite: dict[str, tuple[ProbeItem, ...]] = {}
    seen: set[str] = set()
    for cap in capabilities:
        templates = _capability_templates(cap, tdir)
        cycle = CYCLES.get(cap)
        if cycle is None:
            if not templates:
                raise ValueError(
                    f"no probes for capability {cap!r}: it has no probe builders and no template file "
                    f"{tdir / (cap + '.jsonl')}"
                )
            cycle = (TEMPLATE,)
        elif not templates:
            raise ValueError(
                f"no probe templates for capability {cap!r}: {tdir / (cap + '.jsonl')} is missing (the "
                "package ships read_ray/data/probes/*.jsonl as package data)"
            )
        items = []
        template_slot = 0
        for index in range(items_per_capability):
            source = cycle[index % len(cycle)]
            for attempt in range(_MAX_ATTEMPTS):
                rng = random.Random(_item_seed(seed, cap, index, attempt))
                if source == TEMPLATE:
                    template = templates[(template_slot + attempt) % len(templates)]
                    filled = template.fill(rng.randrange(2**62))
                    draft = Draft(filled.text, None, {}, template.max_new_tokens or DEFAULT_MAX_NEW_TOKENS)
                else:
                    draft = BUILDERS[source](rng)
                if draft.prompt not in seen and (
                    leakage_filter is None or not leakage_filter.check(draft.prompt)
                ):
                    break
            else:
                if leakage_filter is not None and leakage_filter.check(draft.prompt):
                    raise ValueError(
                        f"probe {cap}/{index:03d}: every draft of {source!r} is blocked by the leakage filter"
                    )
            if source == TEMPLATE:
                template_slot += 1
            seen.add(draft.prompt)
            items.append(
                ProbeItem(
                    capability=cap,
                    item_id=f"{cap}/{index:03d}-{source}",
                    prompt=draft.prompt,
                    checker=draft.checker,
                    checker_data=draft.checker_data,
                    max_new_tokens=draft.max_new_tokens,
                )
            )
        suite[cap] = tuple(items)
    return suite


def iter_items(suite: Mapping[str, Sequence[ProbeItem]]) -> Iterable[ProbeItem]:
    """Every item of the suite, capability by capability."""
    for items in suite.values():
        yield from items


def suite_fingerprint(suite: Mapping[str, Sequence[ProbeItem]]) -> str:
    """SHA-256 over every item's definition (capability order and item order included, references not)."""
    payload = {
        "format": _SUITE_FORMAT,
        "suite": [[cap, [item.spec() for item in items]] for cap, items in suite.items()],
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def probe_prompts(suite: Mapping[str, Sequence[ProbeItem]]) -> list[str]:
    """Every probe prompt, for the generation pools' leakage filter."""
    return [item.prompt for item in iter_items(suite)]
