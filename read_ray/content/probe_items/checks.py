"""The probes' answer checkers: :func:`check_response` and its helpers (accent-insensitive word matching,
JSON value types, the IFEval instruction checkers). Numbers, JSON, tool calls and code are graded by the
same functions as the downstream tasks (:mod:`read_ray.content.answers`, :mod:`read_ray.content.tool_calls`,
:func:`read_ray.content.fences.extract_code`), so a probe and a task never disagree on one answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

from read_ray.content.answers import code_passes, extract_final_number, extract_json, numbers_match
from read_ray.content.fences import extract_code
from read_ray.content.probe_items.common import ProbeItem
from read_ray.content.tool_calls import parse_tool_calls, tool_call_matches

__all__ = ["JSON_TYPES", "check_response", "contains_word", "instructions_pass"]


def check_response(item: ProbeItem, text: str) -> bool:
    """Whether ``text`` answers ``item`` correctly according to its checker (ValueError without one)."""
    data = item.checker_data
    if item.checker is None:
        raise ValueError(f"probe {item.item_id!r} has no checker")
    if item.checker == "number":
        return numbers_match(extract_final_number(text), str(data["answer"]))
    if item.checker == "contains":
        needles = data["needles"]
        return all(
            any(contains_word(text, alt) for alt in ([n] if isinstance(n, str) else n)) for n in needles
        )
    if item.checker == "json":
        obj = extract_json(text)
        keys = data["keys"]
        return (
            isinstance(obj, dict)
            and set(obj) == set(keys)
            and all(JSON_TYPES[kind](obj[key]) for key, kind in keys.items())
        )
    if item.checker == "tool_call":
        calls = parse_tool_calls(text)
        return calls is not None and len(calls) == 1 and tool_call_matches(calls[0], data["possible_answer"])
    if item.checker == "code":
        return code_passes(extract_code(text), data["tests"])
    if item.checker == "instructions":
        return instructions_pass(text, data["instructions"], item.prompt)
    raise ValueError(f"probe {item.item_id!r}: unknown checker {item.checker!r}")  # pragma: no cover


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def contains_word(text: str, needle: str) -> bool:
    """Whether ``needle`` occurs in ``text`` as a whole word, case- and accent-insensitively."""
    pattern = r"(?<!\w)" + re.escape(_fold(needle)) + r"(?!\w)"
    return re.search(pattern, _fold(text)) is not None


JSON_TYPES: dict[str, Callable[[object], bool]] = {  # the ``json`` checker's value types
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


def instructions_pass(text: str, instructions: Sequence, prompt: str) -> bool:
    """Whether ``text`` follows every IFEval instruction (``[[instruction id, kwargs], ...]``), strictly."""
    from if_verifiable.common import evaluate_instructions

    registry = _ifeval_registry()
    ids = [str(i) for i, _ in instructions]
    if any(i not in registry for i in ids):
        raise ValueError(f"unknown IFEval instruction id among {ids}")
    kwargs = [dict(k) for _, k in instructions]
    results, scores = evaluate_instructions(text, ids, kwargs, prompt, registry)
    return len(results) == len(ids) and scores.binary_strict == 1.0
