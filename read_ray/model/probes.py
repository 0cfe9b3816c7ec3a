"""Probe suites: the held-out monitoring set that measures the student's capability profile s_t.

METHOD.md, "Probes (the capability profile)". Per capability a fixed suite (default 32 items) is built from

* probe-only prompt templates in ``read_ray/data/probes/<capability>.jsonl`` (open-ended prompts, no
  checker: scored by ``teacher_loglik`` only), and
* procedural item builders in :mod:`read_ray.content.probe_items`, each with a verifiable checker: exact
  numbers (arithmetic, word problems, equations, logic, sequences, program output, needle retrieval), JSON
  objects with given keys and types, BFCL-style tool calls against our own synthetic function schemas
  (``possible_answer``), IFEval-style instructions checked with ``if_verifiable``'s IFEval checkers, tiny
  Python functions run against asserts in the sandbox, and answers that must contain given words (facts,
  capitals, translations in Spanish, French, German, Italian and Portuguese).

Disjoint from training by construction: the probe wordings, tasks, schemas and filler texts are written
for the probes only (nothing is shared with ``read_ray/data/templates`` or the procedural generators of
``read_ray.content.generators``, and nothing here or in ``read_ray.content.probe_items`` imports them), item
seeds come from their own hash namespace, and the tests check that no probe prompt shares a 13-word n-gram
with 200 fills of every generation template. :func:`probe_prompts` hands every probe prompt to the generation pools' leakage
filter; ``build_probe_suite(leakage_filter=...)`` also redraws probes blocked by a given filter.

Each capability cycles through a fixed list of sources (about a quarter templates), so item ``i`` of a
suite does not depend on the suite's size: the first 32 items of a 64-item suite are the 32-item suite.
Item ids (``<capability>/<index>-<source>``) are stable for a given seed.

Scorers (:func:`score_items`, :func:`profile_scores`):

* ``teacher_loglik``: the mean per-token log-likelihood of the item's teacher reference (attached once by
  :func:`attach_references`, cached on disk) given the chat-rendered prompt, under the scored model;
* ``accuracy``: the model's answer (via ``generate_fn``) checked by the item's checker, 1.0 or 0.0.
  Items without a checker get ``nan`` (they are skipped: no generation, excluded from the mean and ``n``).

Capability scores are means over items with a percentile-bootstrap 95% CI (:func:`profile_scores` in one
pass, or :func:`score_items` per shard + :func:`aggregate_scores`); :class:`Normaliser` maps them
to [0, 100] per capability with an affine map fixed at round 0 (0 = initial student, 100 = teacher).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from read_ray.core.leakage import LeakageFilter
from read_ray.core.templates import Template, load_templates
from read_ray.content.probe_items import BUILDERS as _BUILDERS
from read_ray.content.probe_items import CYCLES as _CYCLES
from read_ray.content.probe_items import TEMPLATE as _TEMPLATE
from read_ray.content.probe_items.checks import (
    _JSON_TYPES,
    _contains_word,
    _extract_program,
    _instructions_pass,
)
from read_ray.content.probe_items.common import _DEFAULT_MAX_NEW_TOKENS, CHECKERS, ProbeItem, _Draft

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase
    from read_ray.config import ReadConfig

__all__ = [
    "CHECKERS",
    "SCORERS",
    "ProbeItem",
    "CapabilityScores",
    "Normaliser",
    "MIN_NORMALISER_GAP",
    "probes_dir",
    "build_probe_suite",
    "suite_fingerprint",
    "probe_prompts",
    "attach_references",
    "references_path",
    "check_response",
    "probe_generate_fn",
    "score_items",
    "bootstrap_ci",
    "profile_scores",
    "aggregate_scores",
    "fit_normaliser",
]

SCORERS: tuple[str, ...] = ("teacher_loglik", "accuracy")
MIN_NORMALISER_GAP = 0.05
"""Smallest teacher - student0 gap (raw units) the normaliser divides by (see :func:`fit_normaliser`)."""

_SUITE_FORMAT = 1  # part of the fingerprint: bump when builders change what they produce
_CACHE_FORMAT = 1
_DEFAULT_LOGLIK_MAX_LENGTH = 4096  # long-context probes reach ~2,000 prompt tokens


# ----------------------------------------------------------------------------------------------------------
# Suites (ProbeItem and CHECKERS live in read_ray.content.probe_items.common, the builders and their
# per-capability cycles in read_ray.content.probe_items)

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
        cycle = _CYCLES.get(cap)
        if cycle is None:
            if not templates:
                raise ValueError(
                    f"no probes for capability {cap!r}: it has no probe builders and no template file "
                    f"{tdir / (cap + '.jsonl')}"
                )
            cycle = (_TEMPLATE,)
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
                if source == _TEMPLATE:
                    template = templates[(template_slot + attempt) % len(templates)]
                    filled = template.fill(rng.randrange(2**62))
                    draft = _Draft(filled.text, None, {}, template.max_new_tokens or _DEFAULT_MAX_NEW_TOKENS)
                else:
                    draft = _BUILDERS[source](rng)
                if draft.prompt not in seen and (
                    leakage_filter is None or not leakage_filter.check(draft.prompt)
                ):
                    break
            else:
                if leakage_filter is not None and leakage_filter.check(draft.prompt):
                    raise ValueError(
                        f"probe {cap}/{index:03d}: every draft of {source!r} is blocked by the leakage filter"
                    )
            if source == _TEMPLATE:
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


def _iter_items(suite: Mapping[str, Sequence[ProbeItem]]) -> Iterable[ProbeItem]:
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
    return [item.prompt for item in _iter_items(suite)]


# ----------------------------------------------------------------------------------------------------------
# Teacher references


def _sanitise(name: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-") or "teacher"
    if len(clean) > 96 or clean != name:
        clean = f"{clean[-80:]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return clean


def references_path(
    suite: Mapping[str, Sequence[ProbeItem]], cache_dir: str | os.PathLike[str], *, teacher_id: str
) -> Path:
    """Where :func:`attach_references` caches this suite's references for this teacher."""
    return Path(cache_dir) / _sanitise(str(teacher_id)) / f"{suite_fingerprint(suite)}.jsonl"


def teacher_profile_path(references: Path, *, scorer: str, bootstrap_samples: int, seed: int) -> Path:
    """Where the teacher's own probe scores are cached: beside the references (:func:`references_path`)
    they were scored against, keyed by the scorer, the bootstrap count and the seed."""
    return references.with_suffix(f".teacher-{scorer}-b{bootstrap_samples}-s{seed}.json")


SHIPPED_REFERENCES_DIR = Path(__file__).resolve().parent.parent / "data" / "probe_references"


def probe_references_dir() -> Path:
    """The cache of teacher probe references and teacher probe profiles, seeded with the files that ship in
    read_ray/data/probe_references (the `default` preset's for run seeds 0, 1 and 2, the seeds `compare`
    uses by default; written by first runs with an empty READ_RAY_CACHE): a first `default` run then skips
    generating them (7-8 of its 14 set-up minutes on 2 cores, per seed). A shipped file never replaces one
    already in the cache."""
    from read_ray.model.loading import default_cache_dir

    cache = default_cache_dir() / "probe_references"
    for shipped in SHIPPED_REFERENCES_DIR.glob("*/*.json*"):
        target = cache / shipped.relative_to(SHIPPED_REFERENCES_DIR)
        if not target.exists():
            write_text_atomic(target, shipped.read_text(encoding="utf-8"))
    return cache


def reference_id(cfg: "ReadConfig") -> str:
    """Cache key of the teacher's probe references: the teacher and how it decodes."""
    t = cfg.teacher
    return f"{t.model}-T{t.temperature:g}-p{t.top_p:g}-n{t.max_new_tokens}"


def _prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def _read_cache(path: Path, fingerprint: str) -> dict[str, tuple[str, str]]:
    """item_id -> (prompt hash, reference) from a cache file; empty if missing or unreadable."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    out: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(lines):
        try:
            record = json.loads(line)
        except ValueError:
            return out if number else {}
        if number == 0:
            if record.get("fingerprint") != fingerprint or record.get("format") != _CACHE_FORMAT:
                return {}
            continue
        if isinstance(record, dict) and isinstance(record.get("reference"), str):
            out[str(record.get("item_id"))] = (str(record.get("prompt_sha256")), record["reference"])
    return out


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a uniquely named temporary sibling, fsync, then rename: concurrent
    writers never collide and readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _texts(outputs: Sequence, expected: int) -> list[str]:
    outputs = list(outputs)
    if len(outputs) != expected:
        raise ValueError(f"generate_fn returned {len(outputs)} answers for {expected} prompts")
    texts = [o if isinstance(o, str) else getattr(o, "text", None) for o in outputs]
    if any(not isinstance(t, str) for t in texts):
        raise TypeError("generate_fn must return strings (or objects with a .text string)")
    return texts  # type: ignore[return-value]


def attach_references(
    suite: Mapping[str, Sequence[ProbeItem]],
    generate_fn: Callable[[list[str]], Sequence],
    cache_dir: str | os.PathLike[str],
    *,
    teacher_id: str,
) -> dict[str, tuple[ProbeItem, ...]]:
    """The suite with every item's teacher reference attached, generated once and cached.

    The cache is ``<cache_dir>/<teacher_id, sanitised>/<suite fingerprint>.jsonl``: a header line, then one
    ``{"item_id", "prompt_sha256", "reference"}`` line per item, written atomically (temporary file +
    rename). Items found in the cache (same id and prompt), in this suite's file or in another suite's of the
    same teacher (a larger ``items_per_capability`` reuses the first items), are not regenerated; ``generate_fn`` is called
    once, with the prompts of the missing items only (not at all when the cache is complete). It gets raw
    prompts (it applies the chat template itself, as :func:`probe_generate_fn` does) and returns one string
    (or object with ``.text``) per prompt.
    """
    path = references_path(suite, cache_dir, teacher_id=teacher_id)
    fingerprint = path.stem
    cached = {  # every suite of this teacher, keyed by item id and prompt
        (item_id, prompt_hash): reference
        for other in sorted(path.parent.glob("*.jsonl"))
        for item_id, (prompt_hash, reference) in _read_cache(other, other.stem).items()
    }
    items = list(_iter_items(suite))
    refs: dict[str, str] = {}
    missing = []
    for item in items:
        hit = cached.get((item.item_id, _prompt_hash(item.prompt)))
        if hit is not None:
            refs[item.item_id] = hit
        else:
            missing.append(item)
    if missing:
        texts = _texts(generate_fn([item.prompt for item in missing]), len(missing))
        refs.update({item.item_id: text for item, text in zip(missing, texts, strict=True)})
        header = {
            "format": _CACHE_FORMAT,
            "fingerprint": fingerprint,
            "teacher_id": str(teacher_id),
            "items": len(items),
        }
        lines = [json.dumps(header, ensure_ascii=False)]
        lines += [
            json.dumps(
                {
                    "item_id": item.item_id,
                    "prompt_sha256": _prompt_hash(item.prompt),
                    "reference": refs[item.item_id],
                },
                ensure_ascii=False,
            )
            for item in items
        ]
        write_text_atomic(path, "\n".join(lines) + "\n")
    return {cap: tuple(item.with_reference(refs[item.item_id]) for item in its) for cap, its in suite.items()}


# ----------------------------------------------------------------------------------------------------------
# Checkers


def check_response(item: ProbeItem, text: str) -> bool:
    """Whether ``text`` answers ``item`` correctly according to its checker (ValueError without one)."""
    from read_ray.model import scoring

    data = item.checker_data
    if item.checker is None:
        raise ValueError(f"probe {item.item_id!r} has no checker")
    if item.checker == "number":
        return scoring.numbers_match(scoring.extract_final_number(text), str(data["answer"]))
    if item.checker == "contains":
        needles = data["needles"]
        return all(
            any(_contains_word(text, alt) for alt in ([n] if isinstance(n, str) else n)) for n in needles
        )
    if item.checker == "json":
        obj = scoring.extract_json(text)
        keys = data["keys"]
        return (
            isinstance(obj, dict)
            and set(obj) == set(keys)
            and all(_JSON_TYPES[kind](obj[key]) for key, kind in keys.items())
        )
    if item.checker == "tool_call":
        calls = scoring.parse_tool_calls(text)
        return (
            calls is not None
            and len(calls) == 1
            and scoring.tool_call_matches(calls[0], data["possible_answer"])
        )
    if item.checker == "code":
        return scoring.code_passes(_extract_program(text), data["tests"])
    if item.checker == "instructions":
        return _instructions_pass(text, data["instructions"], item.prompt)
    raise ValueError(f"probe {item.item_id!r}: unknown checker {item.checker!r}")  # pragma: no cover


# ----------------------------------------------------------------------------------------------------------
# Scoring


def probe_generate_fn(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Iterable[ProbeItem] | Mapping[str, Sequence[ProbeItem]],
    *,
    batch_size: int = 8,
    temperature: float = 0.0,
    seed: int = 0,
) -> Callable[[list[str]], list]:
    """A ``generate_fn`` for these items: greedy (by default) chat generation with each item's
    ``max_new_tokens``, in batches of ``batch_size`` (grouped by budget and prompt length). Returns
    :class:`~read_ray.model.generation.Completion` objects (exact token counts for ``probe_tokens``).
    Prompts that are not among the items get the default budget of 256 tokens.
    """
    from read_ray.model.generation import generate_batch

    pool = _iter_items(items) if isinstance(items, Mapping) else items
    budget = {item.prompt: item.max_new_tokens for item in pool}

    def generate(prompts: list[str]) -> list:
        order = sorted(
            range(len(prompts)),
            key=lambda i: (budget.get(prompts[i], _DEFAULT_MAX_NEW_TOKENS), len(prompts[i])),
        )
        out: list = [None] * len(prompts)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            completions = generate_batch(
                model,
                tokenizer,
                [prompts[i] for i in chunk],
                max_new_tokens=[budget.get(prompts[i], _DEFAULT_MAX_NEW_TOKENS) for i in chunk],
                temperature=temperature,
                seed=seed + start,
            )
            for i, completion in zip(chunk, completions, strict=True):
                out[i] = completion
        return out

    return generate


def score_items(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[ProbeItem],
    *,
    scorer: str,
    generate_fn: Callable[[list[str]], Sequence] | None = None,
    batch_size: int = 8,
    max_length: int = _DEFAULT_LOGLIK_MAX_LENGTH,
) -> tuple[list[float], int]:
    """One score per item, and the tokens processed to get them (what ``CapabilityScores.probe_tokens`` counts).

    ``teacher_loglik``: mean per-token log-likelihood of ``item.reference`` given the chat-rendered prompt
    (every item needs a reference; prompts longer than ``max_length`` tokens with their answer are cut from
    the left). ``accuracy``: ``generate_fn`` answers every item that has a checker, scored 1.0 / 0.0;
    items **without a checker are skipped and get nan** (they are never sent to ``generate_fn``).
    """
    from read_ray.model.generation import render_prompts
    from read_ray.model.scoring import answer_logliks

    if scorer not in SCORERS:
        raise ValueError(f"unknown scorer {scorer!r}; expected one of {SCORERS}")
    items = list(items)
    if not items:
        return [], 0
    if scorer == "teacher_loglik":
        missing = [item.item_id for item in items if item.reference is None]
        if missing:
            raise ValueError(
                f"teacher_loglik needs references; attach_references first (missing: {missing[:3]}...)"
            )
        prompts = render_prompts(tokenizer, [item.prompt for item in items], chat=True)
        pairs = answer_logliks(
            model,
            tokenizer,
            prompts,
            [item.reference for item in items],
            batch_size=batch_size,
            max_length=max_length,
        )
        scores = [total / n if n else math.nan for total, n in pairs]
        prompt_lens = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
        tokens = sum(min(p + n, max_length) for p, (_, n) in zip(prompt_lens, pairs, strict=True) if n)
        return scores, int(tokens)
    if generate_fn is None:
        raise ValueError(
            "the accuracy scorer needs a generate_fn (e.g. probe_generate_fn(model, tokenizer, items))"
        )
    checked = [i for i, item in enumerate(items) if item.checker is not None]
    scores = [math.nan] * len(items)
    if not checked:
        return scores, 0
    outputs = list(generate_fn([items[i].prompt for i in checked]))
    texts = _texts(outputs, len(checked))
    tokens = 0
    for i, output, text in zip(checked, outputs, texts, strict=True):
        scores[i] = 1.0 if check_response(items[i], text) else 0.0
        if hasattr(output, "prompt_tokens") and hasattr(output, "completion_tokens"):
            tokens += int(output.prompt_tokens) + int(output.completion_tokens)
        else:  # plain strings: count by re-tokenising (approximate for the completion)
            rendered = render_prompts(tokenizer, [items[i].prompt], chat=True)[0]
            tokens += len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
            tokens += len(tokenizer(text, add_special_tokens=False)["input_ids"])
    return scores, tokens


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


def profile_scores(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    suite: Mapping[str, Sequence[ProbeItem]],
    *,
    scorer: str = "teacher_loglik",
    bootstrap_samples: int = 1000,
    seed: int = 0,
    generate_fn: Callable[[list[str]], Sequence] | None = None,
    batch_size: int = 8,
    max_length: int = _DEFAULT_LOGLIK_MAX_LENGTH,
) -> CapabilityScores:
    """The capability profile: per capability the mean item score with a percentile-bootstrap 95% CI.

    All items are scored in one pass (batches across capabilities). Each capability's bootstrap uses its
    own generator seeded by ``(seed, capability)``, so a CI does not depend on the other capabilities.
    ``probe_tokens`` counts the tokens processed (prompt + scored answer tokens for ``teacher_loglik``,
    prompt + completion tokens for ``accuracy``).
    """
    items = list(_iter_items(suite))
    scores, tokens = score_items(model, tokenizer, items, scorer=scorer, generate_fn=generate_fn,
                                 batch_size=batch_size, max_length=max_length)
    by_id = {item.item_id: score for item, score in zip(items, scores, strict=True)}
    return aggregate_scores(suite, by_id, tokens, bootstrap_samples=bootstrap_samples, seed=seed)


def aggregate_scores(
    suite: Mapping[str, Sequence[ProbeItem]],
    scores: Mapping[str, float],
    probe_tokens: int,
    *,
    bootstrap_samples: int = 1000,
    seed: int = 0,
) -> CapabilityScores:
    """Per-capability means and bootstrap CIs from item scores (``item_id -> score``, nan = skipped).

    For scores gathered in shards (e.g. by several probe actors, see :func:`score_items`);
    :func:`profile_scores` is this applied to one pass over the whole suite. Every item of the suite needs
    a score (ValueError otherwise).
    """
    raw: dict[str, float] = {}
    ci: dict[str, tuple[float, float]] = {}
    n: dict[str, int] = {}
    missing = [item.item_id for item in _iter_items(suite) if item.item_id not in scores]
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
