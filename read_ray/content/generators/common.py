"""Shared machinery of the procedural sources: per-fill RNG derivation, the ``_Procedural`` base class
(seed -> local RNG -> (text, factors, answer) -> ``Prompt``) and small text helpers."""

from __future__ import annotations

import hashlib
import numbers
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from read_ray.content.generators.vocab import _TR_PREDICATES, _TR_SUBJECTS, _TR_TAILS, _TR_TIMES
from read_ray.core.prompts import Prompt

__all__ = ["derive_rng"]


def derive_rng(source_id: str, split: str, seed: int) -> random.Random:
    """A local RNG for one fill: seeded from a BLAKE2b hash of (source_id, split, seed)."""
    key = f"{source_id}\x1f{split}\x1f{int(seed)}".encode()
    return random.Random(int.from_bytes(hashlib.blake2b(key, digest_size=16).digest(), "big"))


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _factor_tuple(factors: dict[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple((name, float(factors[name])) for name in sorted(factors))


@dataclass(frozen=True)
class _Procedural:
    """Base of the procedural sources: seed -> local RNG -> (text, factors, answer) -> Prompt."""

    source_id: str = ""
    capability: str = ""
    split: str = "train"
    max_new_tokens: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.source_id, str) or not self.source_id.strip():
            raise ValueError(f"{type(self).__name__}: source_id must be a non-empty string")
        if not isinstance(self.capability, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", self.capability):
            raise ValueError(f"{self.source_id}: invalid capability name {self.capability!r}")
        if not isinstance(self.split, str) or not self.split:
            raise ValueError(f"{self.source_id}: split must be a non-empty string (e.g. 'train' or 'probe')")

    def _generate(self, rng: random.Random) -> tuple[str, dict[str, float], str | None]:
        raise NotImplementedError

    def fill(self, seed: int) -> Prompt:
        if not _is_int(seed):
            raise TypeError(f"{self.source_id}: seed must be an int, got {seed!r}")
        text, factors, answer = self._generate(derive_rng(self.source_id, self.split, seed))
        return Prompt(
            capability=self.capability,
            source_id=self.source_id,
            seed=int(seed),
            text=text,
            factors=_factor_tuple(factors),
            max_new_tokens=self.max_new_tokens,
            answer=answer,
        )


def _join_and(items: Sequence[str], word: str = "and") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _english_sentence(rng: random.Random) -> str:
    time_first = rng.random() < 0.5
    when = rng.choice(_TR_TIMES)
    core = f"{rng.choice(_TR_SUBJECTS)} {rng.choice(_TR_PREDICATES)}{rng.choice(_TR_TAILS)}"
    return _capitalise(f"{when}, {core}." if time_first else f"{core} {when}.")
