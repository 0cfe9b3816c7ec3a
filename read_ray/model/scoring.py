"""Answer log-likelihoods under a causal LM, shared by probes and downstream tasks.

:func:`answer_logliks` / :func:`mean_token_logliks`: log p(answer | prompt), batched with right padding.
The smooth ``teacher_loglik`` probe score and the tasks' ``gold_loglik`` use it. The graders of verifiable
answers (numbers, JSON, tool calls, code) need no model: :mod:`read_ray.content.answers`,
:mod:`read_ray.content.tool_calls`.

torch + transformers + stdlib only (no ray).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["answer_logliks", "mean_token_logliks"]


# ----------------------------------------------------------------------------------------------------------
# Log-likelihoods


def _model_device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


def _fallback_start_id(tokenizer) -> int | None:
    """A token to condition on when the prompt is empty (so the first answer token has a context)."""
    for attr in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(tokenizer, attr, None)
        if value is not None:
            return int(value)
    return None


def _encode_pair(tokenizer, prompt: str, answer: str, max_length: int) -> tuple[list[int], int] | None:
    """Token ids of prompt + answer and the number of prompt ids; None for an empty answer.

    The prompt is truncated from the left so that the total fits ``max_length``; if the answer alone does not
    fit, it keeps its first ``max_length - 1`` tokens after one prompt token (only those are scored).
    """
    answer_ids = list(tokenizer(answer, add_special_tokens=False)["input_ids"]) if answer else []
    if not answer_ids:
        return None
    prompt_ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"]) if prompt else []
    if not prompt_ids:
        start = _fallback_start_id(tokenizer)
        if start is None:
            raise ValueError("empty prompt and the tokenizer has no bos/eos/pad token to condition on")
        prompt_ids = [start]
    if len(answer_ids) > max_length - 1:
        answer_ids = answer_ids[: max_length - 1]
    room = max_length - len(answer_ids)
    if len(prompt_ids) > room:
        prompt_ids = prompt_ids[len(prompt_ids) - room :]
    return prompt_ids + answer_ids, len(prompt_ids)


@torch.no_grad()
def answer_logliks(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    answers: Sequence[str],
    *,
    batch_size: int = 8,
    max_length: int = 1024,
) -> list[tuple[float, int]]:
    """For each (prompt, answer): (sum of log p(answer tokens | prompt tokens), number of answer tokens).

    The prompt text is used as given (callers apply chat templates; the rendered template already holds its
    special tokens). Prompt and answer are tokenised separately with ``add_special_tokens=False`` and their
    ids concatenated, so the scored tokens are exactly ``tokenizer(answer)``. An empty prompt is replaced by
    one bos (else eos) token. Pairs are sorted by length and run in right-padded batches with attention
    masks; padding does not change the result. If prompt + answer exceed ``max_length`` tokens the prompt is
    truncated from the left (an answer longer than ``max_length - 1`` keeps its first tokens, and the count
    says how many were scored). An empty answer gives ``(0.0, 0)``.
    """
    if len(prompts) != len(answers):
        raise ValueError(f"got {len(prompts)} prompts but {len(answers)} answers")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2, got {max_length}")
    results: list[tuple[float, int]] = [(0.0, 0)] * len(prompts)
    encoded: list[tuple[int, list[int], int]] = []
    for index, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
        pair = _encode_pair(tokenizer, prompt, answer, max_length)
        if pair is not None:
            encoded.append((index, *pair))
    if not encoded:
        return results
    encoded.sort(key=lambda item: len(item[1]), reverse=True)
    device = _model_device(model)
    pad_id = getattr(tokenizer, "pad_token_id", None)
    pad_id = int(pad_id) if pad_id is not None else 0
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        for start in range(0, len(encoded), batch_size):
            chunk = encoded[start : start + batch_size]
            width = max(len(ids) for _, ids, _ in chunk)
            input_ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, (_, ids, _) in enumerate(chunk):
                input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                attention[row, : len(ids)] = 1
            # Only positions that predict an answer token need logits: from the earliest answer start on.
            first = min(n_prompt for _, _, n_prompt in chunk) - 1
            logits, offset = _logits_from(model, input_ids.to(device), attention.to(device), width - first)
            for row, (index, ids, n_prompt) in enumerate(chunk):
                n_answer = len(ids) - n_prompt
                lo = n_prompt - 1 - offset
                row_logits = logits[row, lo : lo + n_answer].float()
                targets = torch.tensor(ids[n_prompt:], dtype=torch.long, device=row_logits.device)
                logp = torch.log_softmax(row_logits, dim=-1).gather(-1, targets[:, None]).squeeze(-1)
                results[index] = (float(logp.sum().item()), n_answer)
    finally:
        if was_training:
            model.train()
    return results


def _logits_from(
    model, input_ids: torch.Tensor, attention: torch.Tensor, keep: int
) -> tuple[torch.Tensor, int]:
    """Logits for the last ``keep`` positions (all positions if the model has no ``logits_to_keep``).

    Returns the logits and the sequence position of their first column.
    """
    width = input_ids.shape[1]
    try:
        out = model(input_ids=input_ids, attention_mask=attention, logits_to_keep=keep, use_cache=False)
    except TypeError:
        out = model(input_ids=input_ids, attention_mask=attention, use_cache=False)
    logits = out.logits
    return logits, width - logits.shape[1]


def mean_token_logliks(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    answers: Sequence[str],
    **kw: Any,
) -> list[float]:
    """Mean per-token log-likelihood of each answer (sum / n; ``nan`` for an empty answer)."""
    return [
        total / n if n else math.nan for total, n in answer_logliks(model, tokenizer, prompts, answers, **kw)
    ]
