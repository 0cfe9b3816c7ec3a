"""Probe item types and the helpers every item builder uses.

:class:`ProbeItem` is what a suite (:mod:`read_ray.content.probe_suite`) holds; :class:`Draft` is what a
builder returns before the suite gives it an id.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

CHECKERS: tuple[str, ...] = ("number", "json", "tool_call", "instructions", "code", "contains")
DEFAULT_MAX_NEW_TOKENS = 256
"""The generation budget of a probe whose builder or template sets none."""


@dataclass(frozen=True)
class ProbeItem:
    """One probe: a prompt, optionally a checker with its data, and (once attached) the teacher's answer.

    ``checker`` is one of :data:`CHECKERS` or None; ``checker_data`` holds what it needs:
    ``number``: ``{"answer": "42"}``; ``json``: ``{"keys": {key: type}}`` with types string / integer /
    number / boolean / array (the object must have exactly these keys); ``tool_call``:
    ``{"possible_answer": {func: {param: [allowed, ...]}}}`` (BFCL convention, ``""`` = may be omitted);
    ``instructions``: ``{"instructions": [[ifeval_id, kwargs], ...]}``; ``code``: ``{"tests": "assert ...",
    "entry_point": name, "solution": reference source}``; ``contains``: ``{"needles": [word or [alternatives],
    ...]}`` (each needle must occur as a whole word, case- and accent-insensitively).
    ``max_new_tokens`` is the generation budget for this item's answers (reference and accuracy).
    """

    capability: str
    item_id: str
    prompt: str
    checker: str | None = None
    checker_data: Mapping = field(default_factory=dict)
    reference: str | None = None
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS

    def __post_init__(self) -> None:
        if self.checker is not None and self.checker not in CHECKERS:
            raise ValueError(
                f"probe {self.item_id!r}: unknown checker {self.checker!r}; expected one of {CHECKERS}"
            )
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ValueError(f"probe {self.item_id!r}: empty prompt")
        if not isinstance(self.checker_data, dict):
            object.__setattr__(self, "checker_data", dict(self.checker_data))
        if (
            isinstance(self.max_new_tokens, bool)
            or not isinstance(self.max_new_tokens, int)
            or self.max_new_tokens < 1
        ):
            raise ValueError(f"probe {self.item_id!r}: max_new_tokens must be a positive int")

    def spec(self) -> dict:
        """Everything that defines the item except the reference (what the fingerprint covers)."""
        return {
            "capability": self.capability,
            "item_id": self.item_id,
            "prompt": self.prompt,
            "checker": self.checker,
            "checker_data": self.checker_data,
            "max_new_tokens": self.max_new_tokens,
        }

    def with_reference(self, reference: str) -> ProbeItem:
        return ProbeItem(**self.spec(), reference=reference)


@dataclass(frozen=True)
class Draft:
    """What a builder returns: the prompt and its checker, before the suite gives it an id."""

    prompt: str
    checker: str | None = None
    checker_data: dict = field(default_factory=dict)
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS


def pick(rng: random.Random, seq: Sequence):
    return seq[rng.randrange(len(seq))]


def num(value: int | float | Fraction | Decimal) -> str:
    """Canonical text of an exact answer ('12', '-3', '40.8')."""
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return str(value.numerator)
        value = Decimal(value.numerator) / Decimal(value.denominator)
    d = Decimal(str(value))
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")
