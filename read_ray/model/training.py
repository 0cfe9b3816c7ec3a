"""Student training data and losses (torch only; the Ray Train + DeepSpeed loop wraps these).

A teacher completion becomes a `TrainingSample`: the prompt's token ids exactly as the teacher engine
consumed them, the completion's token ids exactly as it generated them (ending with eos only when the
teacher stopped there: an answer cut at max_new_tokens is not taught to end) and, for `topk_kd`, the
teacher's top-k log-probabilities at each completion token, one row per completion id. Nothing is
re-tokenised from the teacher's text. Labels mask the prompt, so the student learns the response. Token
accounting is exact: a sample costs len(prompt_ids) + len(completion_ids) training tokens (no padding),
which is what the ledger charges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


@dataclass(frozen=True)
class TrainingSample:
    capability: str
    prompt_ids: tuple[int, ...]
    completion_ids: tuple[int, ...]
    topk_ids: tuple[tuple[int, ...], ...] | None = None        # per completion token, teacher top-k ids
    topk_logprobs: tuple[tuple[float, ...], ...] | None = None  # and their log-probabilities

    def __post_init__(self):
        for name in ("topk_ids", "topk_logprobs"):
            rows = getattr(self, name)
            if rows is not None and len(rows) != len(self.completion_ids):
                raise ValueError(f"{name} has {len(rows)} rows for {len(self.completion_ids)} completion tokens: "
                                 "teacher top-k rows and labels must align one to one")

    @property
    def num_tokens(self) -> int:
        return len(self.prompt_ids) + len(self.completion_ids)

    def truncated(self, max_seq_len: int) -> TrainingSample:
        """At most `max_seq_len` tokens, keeping the whole answer: prompt tokens are dropped from the left (the
        answer, its eos and its top-k rows stay whole, with the prompt tokens just before it as context). Only
        a completion of `max_seq_len` tokens or more (config validation rules that out for teacher answers)
        loses its end, keeping one prompt token to predict its first token from."""
        if self.num_tokens <= max_seq_len:
            return self
        completion = self.completion_ids[: max_seq_len - 1]
        keep_prompt = max_seq_len - len(completion)
        prompt = self.prompt_ids[len(self.prompt_ids) - keep_prompt:] if keep_prompt > 0 else ()
        n = len(completion)
        return TrainingSample(
            self.capability, tuple(prompt), tuple(completion),
            None if self.topk_ids is None else self.topk_ids[:n],
            None if self.topk_logprobs is None else self.topk_logprobs[:n],
        )


def make_sample(tokenizer, prompt: str | Sequence[int], completion: str | Sequence[int], capability: str, *,
                stopped: bool = True, topk=None) -> TrainingSample:
    """A training sample from a prompt and a completion, each given as token ids or as text.

    Token ids (the teacher engine's own) are used as they are: the completion's ids already end with eos
    exactly when the teacher stopped on it, so nothing is added, and `topk` (the engine's per-token
    ``(id, logprob)`` rows) aligns with them one to one. Text (hand-written pairs, or an engine that reports
    no ids) is tokenised with ``add_special_tokens=False`` (a prompt text must be chat-rendered already) and
    the completion gets eos appended when `stopped` (the answer ended there; False for one cut at its
    token limit).
    """
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] if isinstance(prompt, str) else prompt
    if isinstance(completion, str):
        completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
        if stopped and tokenizer.eos_token_id is not None:
            completion_ids = [*completion_ids, tokenizer.eos_token_id]
    else:
        completion_ids = completion
    topk_ids = topk_logprobs = None
    if topk is not None:
        topk_ids = tuple(tuple(int(t) for t, _ in row) for row in topk)
        topk_logprobs = tuple(tuple(float(lp) for _, lp in row) for row in topk)
    return TrainingSample(capability, tuple(int(i) for i in prompt_ids), tuple(int(i) for i in completion_ids),
                          topk_ids, topk_logprobs)


def fill_training_cap(sample_tokens: Sequence[int], cap_tokens: int, seed: int) -> list[int]:
    """Indices of samples to train on, epoch after epoch in a seeded order, while they fit the cap.

    The total of `sample_tokens` over the returned indices never exceeds `cap_tokens`; a sample that does
    not fit is skipped (a shorter one later may still fit). Deterministic in `seed`.
    """
    if not sample_tokens:
        return []
    sizes = np.asarray(sample_tokens, dtype=np.int64)
    if np.any(sizes <= 0):
        raise ValueError("every training sample needs at least one token")
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    remaining = cap_tokens
    while remaining >= sizes.min():
        for i in rng.permutation(len(sizes)):
            if sizes[i] <= remaining:
                chosen.append(int(i))
                remaining -= int(sizes[i])
    return chosen


def collate(samples: Sequence[TrainingSample], pad_id: int, *, topk: int = 0) -> dict[str, torch.Tensor]:
    """Right-padded batch with labels masked on prompt and padding (and top-k teacher targets if asked)."""
    length = max(s.num_tokens for s in samples)
    n = len(samples)
    input_ids = torch.full((n, length), pad_id, dtype=torch.long)
    labels = torch.full((n, length), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((n, length), dtype=torch.long)
    batch = {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
    if topk:
        batch["topk_ids"] = torch.zeros((n, length, topk), dtype=torch.long)
        batch["topk_logprobs"] = torch.full((n, length, topk), float("-inf"))
    for row, s in enumerate(samples):
        ids = list(s.prompt_ids) + list(s.completion_ids)
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention[row, : len(ids)] = 1
        start = len(s.prompt_ids)
        labels[row, start: len(ids)] = torch.tensor(s.completion_ids)
        if topk and s.topk_ids is not None:
            k = min(topk, len(s.topk_ids[0]) if s.topk_ids else 0)
            batch["topk_ids"][row, start: len(ids), :k] = torch.tensor([r[:k] for r in s.topk_ids])
            batch["topk_logprobs"][row, start: len(ids), :k] = torch.tensor([r[:k] for r in s.topk_logprobs])
    return batch


def sft_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Masked next-token cross-entropy over label positions; returns (mean loss, number of label tokens)."""
    shift_logits = logits[:, :-1].float()
    shift_labels = labels[:, 1:]
    n = int((shift_labels != IGNORE_INDEX).sum())
    loss = F.cross_entropy(shift_logits.reshape(-1, shift_logits.size(-1)), shift_labels.reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction="sum")
    return loss / max(n, 1), n


def topk_kd_loss(logits: torch.Tensor, labels: torch.Tensor, topk_ids: torch.Tensor,
                 topk_logprobs: torch.Tensor, kd_weight: float) -> tuple[torch.Tensor, int]:
    """(1 - w) * CE + w * KL(teacher top-k || student), the teacher distribution renormalised over its top-k."""
    ce, n = sft_loss(logits, labels)
    mask = labels[:, 1:] != IGNORE_INDEX
    student_logp = F.log_softmax(logits[:, :-1].float(), dim=-1)
    ids, teacher_lp = topk_ids[:, 1:], topk_logprobs[:, 1:]
    teacher_lp = teacher_lp - torch.logsumexp(teacher_lp, dim=-1, keepdim=True)   # renormalise over top-k
    teacher_p = teacher_lp.exp().nan_to_num(0.0)
    student_at_k = student_logp.gather(-1, ids)
    kl = (teacher_p * (teacher_lp.nan_to_num(0.0, neginf=0.0) - student_at_k)).sum(-1)
    kl = (kl * mask).sum() / max(n, 1)
    return (1 - kd_weight) * ce + kd_weight * kl, n


def teacher_agreement(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor) -> dict:
    """Held-out distillation metrics on label positions: CE on labels, KL(teacher || student), top-1 agreement."""
    mask = labels[:, 1:] != IGNORE_INDEX
    s_logp = F.log_softmax(student_logits[:, :-1].float(), dim=-1)[mask]
    t_logp = F.log_softmax(teacher_logits[:, :-1].float(), dim=-1)[mask]
    ce = F.nll_loss(s_logp, labels[:, 1:][mask], reduction="sum")
    kl = (t_logp.exp() * (t_logp - s_logp)).sum()
    top1 = (s_logp.argmax(-1) == t_logp.argmax(-1)).sum()
    return {"ce_sum": float(ce), "kl_sum": float(kl), "top1_sum": int(top1), "n": int(mask.sum())}
