"""Downstream tasks scored with a model: greedy generation, choice log-likelihoods, and a card's metric and
gold-answer log-likelihood on its dev or test split.

The cards, their evaluation data and splits, and the metrics of fixed predictions need no model: they are
:mod:`read_ray.content.tasks` (``load_task`` in ``cards``, ``score_prediction`` in ``metrics``).

Metrics: ``exact_match``, ``pass_at_1`` and ``ast_match`` score the greedy completion;
``mc_loglik`` ranks the choices by their **mean per-token** log-likelihood after the prompt (the choices
differ in length, and a sum would favour the shortest one whatever its content; OLMES length-normalises
for the same reason). Every score also reports ``gold_loglik``, the mean over items of the gold answer's
mean per-token log-likelihood: a smooth utility that moves even where accuracy sits at the floor.
A composite card's subtasks are scored one by one (:func:`evaluate_subtasks`); their utility, a mean
normalised gap closure, is ``read_ray.core.task_utility``'s.

torch + transformers + stdlib (no ray).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from read_ray.content.tasks.items import TaskCard, TaskScore
from read_ray.content.tasks.metrics import score_prediction
from read_ray.model.loading import apply_chat_template
from read_ray.model.scoring import mean_token_logliks

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["evaluate_subtasks", "evaluate_task", "generate_greedy", "mc_choice_scores"]


@torch.no_grad()
def generate_greedy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 256,
    batch_size: int = 8,
) -> list[str]:
    """Greedy completions of already-templated ``prompts`` (left-padded batches, sorted by length).

    Decoded without special tokens; generation stops at the model's eos token(s) or ``max_new_tokens``.
    """
    if not prompts:
        return []
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]), reverse=True)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    out: list[str] = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = max(len(encoded[i]) for i in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, i in enumerate(chunk):
            seq = encoded[i]
            ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq) :] = 1
        generated = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=pad_id,
        )
        for row, i in enumerate(chunk):
            out[i] = tokenizer.decode(generated[row, width:], skip_special_tokens=True)
    return out


def mc_choice_scores(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    templated_prompts: Sequence[str],
    choices: Sequence[Sequence[str]],
    *,
    batch_size: int = 8,
) -> list[list[float]]:
    """Mean per-token log-likelihood of every choice after its (templated) prompt; one list per item."""
    flat_prompts = [p for p, cs in zip(templated_prompts, choices, strict=True) for _ in cs]
    flat_answers = [c for cs in choices for c in cs]
    flat = mean_token_logliks(model, tokenizer, flat_prompts, flat_answers, batch_size=batch_size)
    out, at = [], 0
    for cs in choices:
        out.append([(-math.inf if math.isnan(v) else v) for v in flat[at : at + len(cs)]])
        at += len(cs)
    return out


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: values[i])


def _mean(values: Iterable[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def evaluate_task(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    card: TaskCard,
    split: str = "dev",
    *,
    limit: int | None = None,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    with_metric: bool = True,
) -> TaskScore:
    """The card's metric and the gold answers' log-likelihood on ``split`` ("dev" or "test").

    Prompts get the tokenizer's chat template. exact_match / pass_at_1 / ast_match: greedy generation;
    mc_loglik: the choice with the highest mean per-token log-likelihood is the prediction. With
    ``with_metric=False`` only ``gold_loglik`` is computed (no generation; ``value`` is nan).
    """
    if split not in ("dev", "test"):
        raise ValueError(f"split must be 'dev' or 'test', got {split!r}")
    if card.subtasks:
        raise ValueError(f"task {card.name!r} is a composite card: score its subtasks with evaluate_subtasks")
    items = list(getattr(card, split))
    if limit is not None:
        items = items[: max(0, limit)]
    if not items:
        return TaskScore(metric=card.metric, value=math.nan, gold_loglik=math.nan, n=0)
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        templated = [apply_chat_template(tokenizer, item.prompt) for item in items]
        gold_ll = mean_token_logliks(
            model, tokenizer, templated, [i.gold for i in items], batch_size=batch_size
        )
        if not with_metric:
            correct = [math.nan]
        elif card.metric == "mc_loglik":
            scores = mc_choice_scores(
                model, tokenizer, templated, [i.choices for i in items], batch_size=batch_size
            )
            correct = [float(_argmax(s) == item.gold_index) for s, item in zip(scores, items, strict=True)]
        else:
            previous_side = getattr(tokenizer, "padding_side", "left")
            tokenizer.padding_side = "left"
            try:
                outputs = generate_greedy(
                    model, tokenizer, templated, max_new_tokens=max_new_tokens, batch_size=batch_size
                )
            finally:
                tokenizer.padding_side = previous_side
            correct = [
                score_prediction(card.metric, item, out) for item, out in zip(items, outputs, strict=True)
            ]
    finally:
        if was_training:
            model.train()
    return TaskScore(metric=card.metric, value=_mean(correct), gold_loglik=_mean(gold_ll), n=len(items))


def evaluate_subtasks(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    card: TaskCard,
    split: str = "dev",
    **kwargs: Any,
) -> dict[str, TaskScore]:
    """:func:`evaluate_task` per subtask of a composite card, in card order (``{card.name: score}`` for a
    single-task card); keyword arguments (``limit``, ``max_new_tokens``, ``with_metric``, ...) apply to each.
    The composite's utility (mean gap closure) needs reference values: ``read_ray.core.task_utility``."""
    return {sub.name: evaluate_task(model, tokenizer, sub, split, **kwargs) for sub in card.subtasks or (card,)}
