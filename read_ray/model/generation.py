"""Batch generation with exact token accounting: the teacher's decoding loop (torch + transformers, no ray).

:func:`generate_batch` turns each prompt into token ids once (``chat=True``: the chat template rendered
and tokenised without the tokenizer's own special tokens, :func:`read_ray.model.loading.prompt_token_ids`),
left-pads the batch and decodes with its own KV-cached loop over the model's forward pass:

* greedy (``temperature == 0``) or sampled (``temperature > 0``, optional nucleus ``top_p``). Each prompt
  samples from its own local ``torch.Generator`` (seed ``seeds[i]``, or ``seed + i`` for one int): a
  prompt's completion depends on its text, limit and seed, not on which other prompts share its batch
  (a Serve batch is formed by arrival time), and torch's global RNG is never touched;
* a per-prompt ``max_new_tokens``: a row stops at its own limit or at an end-of-sequence token, and
  finished rows are dropped from the batch (and from the KV cache), so a long request does not make
  the short ones pay for its length;
* token ids end to end: each :class:`Completion` carries the prompt ids the model consumed and the ids it
  generated (the end-of-sequence token included when one was generated), and ``finish_reason``: ``"stop"``
  when it ended on an end-of-sequence token, ``"length"`` when it was cut at its ``max_new_tokens``.
  ``prompt_tokens`` and ``completion_tokens`` are those lists' lengths (no padding): what is charged is
  exactly what the model saw. The text is decoded with ``skip_special_tokens=True``; training uses the ids;
* optional top-k log-probabilities per completion token (``topk > 0``): the k most likely ids of the
  model's *unprocessed* next-token distribution (temperature 1, no top-p), for distillation.

A completion does not depend on the other prompts of the batch, greedy or sampled: positions are
computed from the attention mask (so left padding shifts nothing), padded keys are masked out, and each
row's argmax or draw reads only its own logits and its own generator (one uniform per row and step,
whichever path the nucleus takes). The only coupling left is floating-point rounding in batched matmuls
(~1e-6), which could flip an exact near-tie; the tests check batch invariance greedy on the real teacher,
greedy and sampled on tiny models.
"""

from __future__ import annotations

import inspect
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from read_ray.model.loading import apply_chat_template, prompt_token_ids

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["Completion", "generate_batch", "render_prompts", "eos_token_ids", "next_tokens"]

_NUCLEUS_K = 256  # candidates for the top-p fast path (see next_tokens)
_SEED_LIMIT = 2**64  # torch.Generator.manual_seed takes [0, 2**64) (negatives alias large seeds)


@dataclass(frozen=True)
class Completion:
    """One generated answer with its exact token counts and token ids.

    Engines that report only text and counts (fakes, third-party engines) leave the ids empty and
    ``finish_reason`` None; the training path then falls back to tokenising the text.
    """

    text: str
    prompt_tokens: int
    """Tokens of the prompt as the model saw it (after the chat template), without padding."""
    completion_tokens: int
    """Generated tokens, including the end-of-sequence token when one was generated."""
    topk_logprobs: tuple[tuple[tuple[int, float], ...], ...] | None = None
    """Per completion token: the top-k ``(token_id, logprob)`` of the unprocessed distribution, if asked."""
    prompt_ids: tuple[int, ...] = ()
    """The prompt's token ids exactly as the model consumed them (``len == prompt_tokens``)."""
    completion_ids: tuple[int, ...] = ()
    """The generated token ids (``len == completion_tokens``), ending with eos exactly when it stopped there."""
    finish_reason: str | None = None
    """``"stop"`` (ended on an end-of-sequence token) or ``"length"`` (cut at max_new_tokens)."""


def render_prompts(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], *, chat: bool = True
) -> list[str]:
    """The texts the model is conditioned on: each prompt as one chat user turn, or unchanged."""
    return [apply_chat_template(tokenizer, p) if chat else p for p in prompts]


def eos_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> frozenset[int]:
    """End-of-sequence ids: the model's generation config (int or list) plus the tokenizer's eos."""
    ids: set[int] = set()
    gen_cfg = getattr(model, "generation_config", None)
    configured = getattr(gen_cfg, "eos_token_id", None) if gen_cfg is not None else None
    if configured is None:
        configured = getattr(model.config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured is not None:
        ids.update(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return frozenset(ids)


def _tokenize(tokenizer, prompts: list[str], chat: bool) -> list[list[int]]:
    out = prompt_token_ids(tokenizer, prompts, chat=chat)
    for i, ids in enumerate(out):
        if not ids:
            raise ValueError(f"prompt {i} is empty after tokenization; nothing to condition on")
    return out


def _as_count(value: object) -> int:
    if isinstance(value, bool):
        raise TypeError
    return operator.index(value)  # ints and numpy integers


def _per_prompt(value: int | Sequence[int], n: int, name: str) -> int | list[int]:
    """One int for every prompt (returned as it is), or a sequence of exactly one int per prompt."""
    try:
        return _as_count(value)
    except TypeError:
        if isinstance(value, (str, bytes, bool)):
            raise TypeError(f"{name} must be an int or a sequence of ints") from None
    try:
        values = list(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {value!r}") from None
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries for {n} prompts: give one per prompt or one int")
    try:
        return [_as_count(v) for v in values]
    except TypeError:
        raise ValueError(f"{name} entries must be ints, got {values!r}") from None


def _limits(max_new_tokens: int | Sequence[int], n: int) -> list[int]:
    limits = _per_prompt(max_new_tokens, n, "max_new_tokens")
    limits = [limits] * n if isinstance(limits, int) else limits
    if any(limit < 0 for limit in limits):
        raise ValueError(f"max_new_tokens entries must be >= 0, got {limits!r}")
    return limits


def check_seed(seed: object) -> int:
    """A decoding seed as an int in [0, 2**64), or a clear error (before any work is done)."""
    try:
        value = _as_count(seed)
    except TypeError:
        raise TypeError(f"a decoding seed must be an int, got {seed!r}") from None
    if not 0 <= value < _SEED_LIMIT:
        raise ValueError(f"a decoding seed must be in [0, 2**64), got {value}")
    return value


def _seeds(seed: int | Sequence[int], n: int) -> list[int]:
    """One sampling seed per prompt: ``seed + i`` for one int, else the sequence as given."""
    seeds = _per_prompt(seed, n, "seed")
    return [check_seed(s) for s in ([seeds + i for i in range(n)] if isinstance(seeds, int) else seeds)]


def next_tokens(
    logits: torch.Tensor, temperature: float, top_p: float, generators: Sequence[torch.Generator] | None
) -> torch.Tensor:
    """One token per row from float32 logits [rows, vocab]: the argmax when ``temperature == 0``, else an
    inverse-CDF draw with one uniform from the row's own ``generators[r]``, so a row's token, and the state
    its generator is left in, do not depend on the other rows or on which nucleus path ran."""
    if temperature == 0.0:
        return torch.argmax(logits, dim=-1)
    if generators is None or len(generators) != logits.shape[0]:
        raise ValueError(f"sampling needs one generator per row ({logits.shape[0]} rows)")
    probs = torch.softmax(logits / temperature, dim=-1)
    uniform = torch.stack([torch.rand((), generator=g, device=probs.device) for g in generators])
    order = None
    if top_p < 1.0:
        # Nucleus: keep the most likely tokens while the mass strictly before them is < top_p (the top token
        # always survives). Exact fast path: when the top _NUCLEUS_K tokens of every row already hold top_p
        # of the mass, no token outside them can be kept, so a top-k replaces the full sort of the vocabulary.
        k = min(_NUCLEUS_K, probs.shape[-1])
        full = probs
        probs, order = torch.topk(full, k, dim=-1)
        if k < full.shape[-1] and not bool((probs.sum(dim=-1) >= top_p).all()):
            probs, order = torch.sort(full, dim=-1, descending=True)
        before = torch.cumsum(probs, dim=-1) - probs
        probs = probs.masked_fill(before >= top_p, 0.0)
    cumulative = torch.cumsum(probs, dim=-1)
    target = (uniform * cumulative[:, -1]).unsqueeze(-1)
    # the first token whose cumulative mass exceeds the target (never a zero-mass one); argmax of the
    # cumulative sum is the last token with mass, a guard for a target rounded up to the total
    index = torch.minimum(torch.searchsorted(cumulative, target, right=True),
                          cumulative.argmax(dim=-1, keepdim=True))
    return (index if order is None else order.gather(-1, index)).squeeze(-1)


def _forward_params(model) -> frozenset[str]:
    try:
        return frozenset(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        return frozenset()


def _cache_of(out):
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def _select_rows(cache, keep: torch.Tensor) -> bool:
    """Keep only rows ``keep`` of a KV cache in place; False if this cache type cannot do it."""
    select = getattr(cache, "batch_select_indices", None)
    if select is None:
        return False
    try:
        select(keep)
    except (NotImplementedError, AttributeError, TypeError):
        return False
    return True


@torch.no_grad()
def generate_batch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    max_new_tokens: int | Sequence[int],
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | Sequence[int] = 0,
    chat: bool = True,
    topk: int = 0,
) -> list[Completion]:
    """Generate one completion per prompt, in prompt order (see the module docstring).

    ``max_new_tokens`` is one limit for all prompts or one per prompt (0 gives an empty completion).
    ``seed`` is one sampling seed per prompt, or one int (prompt ``i`` then gets ``seed + i``), each in
    [0, 2**64). ``temperature == 0`` is greedy decoding (``top_p`` and ``seed`` are then validated but unused).
    """
    if isinstance(prompts, str):
        raise TypeError("prompts must be a sequence of strings, not a single string")
    prompts = list(prompts)
    n = len(prompts)
    limits = _limits(max_new_tokens, n)
    if not (math.isfinite(temperature) and temperature >= 0.0):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    if isinstance(topk, bool) or not isinstance(topk, int) or topk < 0:
        raise ValueError(f"topk must be an int >= 0, got {topk!r}")
    seeds = _seeds(seed, n)
    if n == 0:
        return []

    ids = _tokenize(tokenizer, prompts, chat)
    generated: list[list[int]] = [[] for _ in range(n)]
    stopped = [False] * n
    top: list[list[tuple[tuple[int, float], ...]]] = [[] for _ in range(n)]
    active = [i for i in range(n) if limits[i] > 0]
    if active:
        _decode(model, tokenizer, ids, limits, active, generated, stopped, top, temperature, top_p, seeds, topk)

    out = []
    for i in range(n):
        text = tokenizer.decode(generated[i], skip_special_tokens=True) if generated[i] else ""
        out.append(
            Completion(
                text=text,
                prompt_tokens=len(ids[i]),
                completion_tokens=len(generated[i]),
                topk_logprobs=tuple(top[i]) if topk > 0 else None,
                prompt_ids=tuple(ids[i]),
                completion_ids=tuple(generated[i]),
                finish_reason="stop" if stopped[i] else "length",
            )
        )
    return out


def _decode(model, tokenizer, ids, limits, active, generated, stopped, top, temperature, top_p, seeds, topk) -> None:
    device = model.device
    eos = eos_token_ids(model, tokenizer)
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = min(eos) if eos else 0
    width = max(len(ids[i]) for i in active)
    input_ids = torch.full((len(active), width), int(pad), dtype=torch.long)
    mask = torch.zeros((len(active), width), dtype=torch.long)
    for row, i in enumerate(active):
        input_ids[row, width - len(ids[i]) :] = torch.tensor(ids[i], dtype=torch.long)
        mask[row, width - len(ids[i]) :] = 1
    input_ids, mask = input_ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    generators: dict[int, torch.Generator] = {}
    if temperature > 0.0:  # one per prompt; key -1 draws for finished rows the cache could not drop (discarded)
        generators = {i: torch.Generator(device=device).manual_seed(seeds[i]) for i in active}
        generators[-1] = torch.Generator(device=device)
    eos_tensor = torch.tensor(sorted(eos), dtype=torch.long, device=device) if eos else None

    rows = list(active)  # original index of each batch row; -1 once finished (when rows cannot be dropped)
    params = _forward_params(model)
    cache_kw = "cache" if "cache" in params else "past_key_values"  # transformers >= 5.2x renamed it
    extra = {"logits_to_keep": 1} if "logits_to_keep" in params else {}  # no [batch, len, vocab] prefill
    out = model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True, **extra)
    cache = _cache_of(out)
    next_pos = positions[:, -1:] + 1
    step = 0
    while True:
        logits = out.logits[:, -1, :].float()
        token = next_tokens(logits, temperature, top_p, [generators[i] for i in rows] if generators else None)
        if topk > 0:
            k = min(topk, logits.shape[-1])
            values, indices = torch.topk(torch.log_softmax(logits, dim=-1), k, dim=-1)
            values, indices = values.tolist(), indices.tolist()
        token_list = token.tolist()
        is_eos = torch.isin(token, eos_tensor).tolist() if eos_tensor is not None else [False] * len(rows)
        step += 1
        for row, i in enumerate(rows):
            if i < 0:
                continue
            generated[i].append(int(token_list[row]))
            if topk > 0:
                top[i].append(tuple(zip(indices[row], values[row], strict=True)))
            stopped[i] = bool(is_eos[row])
            if is_eos[row] or step >= limits[i]:
                rows[row] = -1
        if all(i < 0 for i in rows):
            return
        if any(i < 0 for i in rows):
            keep = [row for row, i in enumerate(rows) if i >= 0]
            keep_t = torch.tensor(keep, dtype=torch.long, device=device)
            if _select_rows(cache, keep_t):  # else keep computing finished rows and discard their tokens
                rows = [rows[row] for row in keep]
                token, mask, next_pos = token[keep_t], mask[keep_t], next_pos[keep_t]
        mask = torch.cat([mask, torch.ones((mask.shape[0], 1), dtype=mask.dtype, device=device)], dim=1)
        out = model(
            input_ids=token[:, None],
            attention_mask=mask,
            position_ids=next_pos,
            use_cache=True,
            **{cache_kw: cache},
        )
        cache = _cache_of(out)
        next_pos = next_pos + 1
