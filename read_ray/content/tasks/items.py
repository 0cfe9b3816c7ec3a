"""The data types of downstream tasks: one evaluation item, a task card with its dev/test split, a score.

stdlib only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["TaskCard", "TaskItem", "TaskScore"]


@dataclass(frozen=True)
class TaskItem:
    """One evaluation item. ``prompt`` is the user message (no chat template applied)."""

    item_id: str
    prompt: str
    gold: str
    """Gold answer text (scored for ``gold_loglik``; GSM8K: worked solution ending in ``#### <number>``)."""
    choices: tuple[str, ...] = ()
    gold_index: int | None = None
    tests: str = ""
    """Code tasks: test code run after the program (asserts, or ``check(candidate)`` plus its call)."""
    entry_point: str = ""
    possible_answer: dict | None = field(default=None, hash=False)
    """BFCL: ``{func_name: {param: [allowed values]}}``."""
    function: dict | None = field(default=None, hash=False)
    """BFCL: the function's schema (``name``, ``parameters.properties`` / ``required``), for the type and
    required-parameter checks of ``ast_match``."""


@dataclass(frozen=True)
class TaskCard:
    name: str
    description: str
    input_format: str
    output_format: str
    exemplars: tuple[TaskItem, ...]
    requirement: Mapping[str, float] = field(hash=False)
    declared_capability: str
    metric: str
    dev: tuple[TaskItem, ...]
    test: tuple[TaskItem, ...]
    subtasks: tuple[TaskCard, ...] = ()
    """A composite card's subtask cards (each with its own dev/test split); empty for a single task."""

    def card_text(self) -> str:
        """The card as text (what a requirement identifier reads): description, formats, exemplars."""
        parts = [
            f"Task: {self.name}",
            f"Description: {self.description.strip()}",
            f"Input format: {self.input_format.strip()}",
            f"Output format: {self.output_format.strip()}",
        ]
        for i, ex in enumerate(self.exemplars, 1):
            parts.append(f"Example {i} input:\n{ex.prompt.strip()}\nExample {i} output:\n{ex.gold.strip()}")
        return "\n\n".join(parts)


@dataclass(frozen=True)
class TaskScore:
    metric: str
    value: float
    """Mean of the per-item metric (accuracy / pass@1 in [0, 1])."""
    gold_loglik: float
    """Mean over items of the gold answer's mean per-token log-likelihood (nats/token, <= 0)."""
    n: int
