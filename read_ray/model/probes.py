"""Probe scores of a model: the capability profile s_t (METHOD.md, "Probes (the capability profile)").

Scorers (:func:`score_items`, :func:`profile_scores`):

* ``teacher_loglik``: the mean per-token log-likelihood of the item's teacher reference (attached once by
  :func:`read_ray.content.probe_references.attach_references`, cached on disk) given the chat-rendered
  prompt, under the scored model;
* ``accuracy``: the model's answer (via ``generate_fn``, e.g. :func:`probe_generate_fn`) checked by the
  item's checker (:func:`read_ray.content.probe_items.checks.check_response`), 1.0 or 0.0. Items without a
  checker get ``nan`` (they are skipped: no generation, excluded from the mean and ``n``).

Capability scores are means over items with a percentile-bootstrap 95% CI (:func:`profile_scores` in one
pass, or :func:`score_items` per shard + :func:`read_ray.core.statistics.aggregate_scores`);
:class:`read_ray.core.statistics.Normaliser` maps them to [0, 100] per capability with an affine map fixed
at round 0 (0 = initial student, 100 = teacher). The suite itself is built without a model:
:mod:`read_ray.content.probe_suite`.

torch + transformers + stdlib (no ray).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from read_ray.content.probe_items.checks import check_response
from read_ray.content.probe_items.common import DEFAULT_MAX_NEW_TOKENS, ProbeItem
from read_ray.content.probe_references import SHIPPED_REFERENCES_DIR, generated_texts
from read_ray.content.probe_suite import iter_items
from read_ray.core.files import atomic_write
from read_ray.core.statistics import CapabilityScores, aggregate_scores
from read_ray.model.generation import generate_batch, render_prompts
from read_ray.model.loading import default_cache_dir
from read_ray.model.scoring import answer_logliks

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "DEFAULT_LOGLIK_MAX_LENGTH",
    "SCORERS",
    "probe_generate_fn",
    "probe_references_dir",
    "profile_scores",
    "score_items",
]

SCORERS: tuple[str, ...] = ("teacher_loglik", "accuracy")
DEFAULT_LOGLIK_MAX_LENGTH = 4096
"""Prompt + reference tokens a ``teacher_loglik`` score reads at most (long-context probes reach ~2,000
prompt tokens); longer prompts are cut from the left."""


def probe_references_dir() -> Path:
    """The cache of teacher probe references and teacher probe profiles, seeded with the files that ship in
    read_ray/data/probe_references (the `default` preset's for run seeds 0, 1 and 2, the seeds `compare`
    uses by default; written by first runs with an empty READ_RAY_CACHE): a first `default` run then skips
    generating them (7-8 of its 14 set-up minutes on 2 cores, per seed). A shipped file never replaces one
    already in the cache."""
    cache = default_cache_dir() / "probe_references"
    for shipped in SHIPPED_REFERENCES_DIR.glob("*/*.json*"):
        target = cache / shipped.relative_to(SHIPPED_REFERENCES_DIR)
        if not target.exists():
            atomic_write(target, shipped.read_text(encoding="utf-8"))
    return cache


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
    pool = iter_items(items) if isinstance(items, Mapping) else items
    budget = {item.prompt: item.max_new_tokens for item in pool}

    def generate(prompts: list[str]) -> list:
        order = sorted(
            range(len(prompts)),
            key=lambda i: (budget.get(prompts[i], DEFAULT_MAX_NEW_TOKENS), len(prompts[i])),
        )
        out: list = [None] * len(prompts)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            completions = generate_batch(
                model,
                tokenizer,
                [prompts[i] for i in chunk],
                max_new_tokens=[budget.get(prompts[i], DEFAULT_MAX_NEW_TOKENS) for i in chunk],
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
    max_length: int = DEFAULT_LOGLIK_MAX_LENGTH,
) -> tuple[list[float], int]:
    """One score per item, and the tokens processed to get them (what ``CapabilityScores.probe_tokens`` counts).

    ``teacher_loglik``: mean per-token log-likelihood of ``item.reference`` given the chat-rendered prompt
    (every item needs a reference; prompts longer than ``max_length`` tokens with their answer are cut from
    the left). ``accuracy``: ``generate_fn`` answers every item that has a checker, scored 1.0 / 0.0;
    items **without a checker are skipped and get nan** (they are never sent to ``generate_fn``).
    """
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
    texts = generated_texts(outputs, len(checked))
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
    max_length: int = DEFAULT_LOGLIK_MAX_LENGTH,
) -> CapabilityScores:
    """The capability profile: per capability the mean item score with a percentile-bootstrap 95% CI.

    All items are scored in one pass (batches across capabilities). Each capability's bootstrap uses its
    own generator seeded by ``(seed, capability)``, so a CI does not depend on the other capabilities.
    ``probe_tokens`` counts the tokens processed (prompt + scored answer tokens for ``teacher_loglik``,
    prompt + completion tokens for ``accuracy``).
    """
    items = list(iter_items(suite))
    scores, tokens = score_items(model, tokenizer, items, scorer=scorer, generate_fn=generate_fn,
                                 batch_size=batch_size, max_length=max_length)
    by_id = {item.item_id: score for item, score in zip(items, scores, strict=True)}
    return aggregate_scores(suite, by_id, tokens, bootstrap_samples=bootstrap_samples, seed=seed)
