"""A filled training prompt (``Prompt``), anything that makes one from a seed (``PromptSource``), and the
value checks that prompts, templates and pools share.

METHOD.md, "Capability-targeted generation". Each capability owns a pool of prompt sources: templates
(``core.templates``) and procedural generators (``read_ray.content.generators``). Pure: stdlib + numpy only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Prompt", "PromptSource", "check_capability", "is_int", "is_number"]


def is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


_CAPABILITY_NAME = re.compile(r"[a-z][a-z0-9_]*")


def check_capability(capability: object, what: str) -> None:
    """Capabilities are configurable; a name must work as a file stem (lower-case, digits, '_')."""
    if not isinstance(capability, str) or not _CAPABILITY_NAME.fullmatch(capability):
        raise ValueError(
            f"{what}: invalid capability name {capability!r}; use lower-case letters, digits and '_'"
        )


@dataclass(frozen=True)
class Prompt:
    """One filled training prompt."""

    capability: str
    source_id: str
    seed: int
    text: str
    factors: tuple[tuple[str, float], ...]
    max_new_tokens: int | None = None
    answer: str | None = None

    def __post_init__(self) -> None:
        check_capability(self.capability, f"prompt from {self.source_id!r}")
        if not is_int(self.seed):
            raise ValueError(f"prompt from {self.source_id!r}: seed {self.seed!r} is not an int")
        names = [name for name, _ in self.factors]
        if names != sorted(set(names)):
            raise ValueError(
                f"prompt from {self.source_id!r}: factors {names} must be unique and sorted by name"
            )
        for name, value in self.factors:
            if not is_number(value) or not math.isfinite(value):
                raise ValueError(f"prompt from {self.source_id!r}: factor {name!r}={value!r} is not finite")
        if self.max_new_tokens is not None and (not is_int(self.max_new_tokens) or self.max_new_tokens < 1):
            raise ValueError(
                f"prompt from {self.source_id!r}: max_new_tokens={self.max_new_tokens!r} must be a positive int"
            )


@runtime_checkable
class PromptSource(Protocol):
    """Anything that turns a seed into a Prompt of one capability (templates, procedural generators)."""

    source_id: str
    capability: str

    def fill(self, seed: int) -> Prompt: ...
