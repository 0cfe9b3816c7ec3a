"""Helpers of :func:`read_ray.model.probes.check_response`: code extraction, accent-insensitive
word matching, JSON value types and the IFEval instruction checkers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

_FENCED_CODE_RE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.S)


def _extract_program(text: str) -> str:
    """The first ```python block (else the first fenced block, else the text up to any closing fence)."""
    blocks = _FENCED_CODE_RE.findall(text)
    for lang, body in blocks:
        if lang.lower() in ("python", "py", "python3"):
            return body
    if blocks:
        return blocks[0][1]
    opened = re.search(r"```[ \t]*(?:python|py)?[^\n]*\n(.*)", text, re.S)  # an unclosed fence (cut off)
    return opened.group(1) if opened else text


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _contains_word(text: str, needle: str) -> bool:
    pattern = r"(?<!\w)" + re.escape(_fold(needle)) + r"(?!\w)"
    return re.search(pattern, _fold(text)) is not None


_JSON_TYPES: dict[str, Callable[[object], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
}

_ifeval_registry_cache: dict | None = None


def _ifeval_registry() -> dict:
    """if_verifiable's IFEval checkers, NLTK punkt replaced by an offline tokenizer (no download)."""
    global _ifeval_registry_cache
    if _ifeval_registry_cache is None:
        from if_verifiable.ifeval import instructions_util
        from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT
        from nltk.tokenize import PunktSentenceTokenizer

        sentence_tokenizer = PunktSentenceTokenizer()
        instructions_util._get_sentence_tokenizer = lambda: sentence_tokenizer  # no nltk.download offline
        _ifeval_registry_cache = dict(INSTRUCTION_DICT)
    return _ifeval_registry_cache


def _instructions_pass(text: str, instructions: Sequence, prompt: str) -> bool:
    from if_verifiable.common import evaluate_instructions

    registry = _ifeval_registry()
    ids = [str(i) for i, _ in instructions]
    if any(i not in registry for i in ids):
        raise ValueError(f"unknown IFEval instruction id among {ids}")
    kwargs = [dict(k) for _, k in instructions]
    results, scores = evaluate_instructions(text, ids, kwargs, prompt, registry)
    return len(results) == len(ids) and scores.binary_strict == 1.0
