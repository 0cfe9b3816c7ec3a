"""The leakage filter: keeps probe and evaluation prompts out of training.

METHOD.md, "Capability-targeted generation": a prompt is blocked when its normalised text has the SHA-256
of a blocked text, or when it shares a 13-word n-gram with one. Pure: stdlib only.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from read_ray.core.prompts import is_int

__all__ = ["LeakageFilter", "normalise_prompt", "prompt_sha256"]


def _strip_edge_punctuation(token: str) -> str:
    start, end = 0, len(token)
    while start < end and unicodedata.category(token[start]).startswith("P"):
        start += 1
    while end > start and unicodedata.category(token[end - 1]).startswith("P"):
        end -= 1
    return token[start:end]


def _tokens(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    stripped = (_strip_edge_punctuation(token) for token in folded.split())
    return [token for token in stripped if token]


def normalise_prompt(text: str) -> str:
    """Casefold + NFKC, collapse whitespace, strip punctuation at token edges."""
    return " ".join(_tokens(text))


def prompt_sha256(text: str) -> str:
    return hashlib.sha256(normalise_prompt(text).encode("utf-8")).hexdigest()


def _ngram_hashes(tokens: Sequence[str], n: int) -> Iterable[bytes]:
    for i in range(len(tokens) - n + 1):
        yield hashlib.blake2b(" ".join(tokens[i : i + n]).encode("utf-8"), digest_size=8).digest()


@dataclass(frozen=True, init=False)
class LeakageFilter:
    """Blocks prompts equal (after normalisation) to, or sharing an n-gram of words with, a blocked text.

    Hashes are sha256 (exact) and 8-byte blake2b (n-grams), so the filter is identical across processes.
    """

    ngram: int
    _exact: frozenset[str] = field(repr=False)
    _grams: frozenset[bytes] = field(repr=False)

    def __init__(self, blocked_texts: Iterable[str] = (), ngram: int = 13) -> None:
        if not is_int(ngram) or ngram < 1:
            raise ValueError(f"leakage filter: ngram={ngram!r} must be a positive int (words)")
        if isinstance(blocked_texts, str):
            raise ValueError(
                "leakage filter: blocked_texts must be an iterable of texts, not a single string"
            )
        exact: set[str] = set()
        grams: set[bytes] = set()
        for text in blocked_texts:
            if not isinstance(text, str):
                raise ValueError(f"leakage filter: blocked text {text!r} is not a string")
            tokens = _tokens(text)
            exact.add(hashlib.sha256(" ".join(tokens).encode("utf-8")).hexdigest())
            grams.update(_ngram_hashes(tokens, ngram))
        object.__setattr__(self, "ngram", int(ngram))
        object.__setattr__(self, "_exact", frozenset(exact))
        object.__setattr__(self, "_grams", frozenset(grams))

    def check(self, text: str) -> str | None:
        """None if clean, "exact" on a normalised-text SHA-256 hit, "ngram" on a shared word n-gram."""
        tokens = _tokens(text)
        if hashlib.sha256(" ".join(tokens).encode("utf-8")).hexdigest() in self._exact:
            return "exact"
        if self._grams and any(h in self._grams for h in _ngram_hashes(tokens, self.ngram)):
            return "ngram"
        return None

    def __len__(self) -> int:
        """Number of distinct (normalised) blocked texts."""
        return len(self._exact)
