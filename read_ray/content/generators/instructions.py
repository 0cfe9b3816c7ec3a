"""Steerability: IFEval-style verifiable instructions, with the checkers of ``if_verifiable``'s IFEval
registry (imported on first use, made to work offline); the answer records the instruction ids and
kwargs for ``verify_instructions``."""

from __future__ import annotations

import functools
import json
import random
import types
from dataclasses import dataclass
from typing import Any

from read_ray.content.generators.common import _english_sentence, _Procedural
from read_ray.content.generators.instructions_tables import (
    IF_AUDIENCES,
    IF_ENDINGS,
    IF_EXTRA_CONFLICTS,
    IF_FORBIDDEN,
    IF_GENRES,
    IF_IDS,
    IF_KEYWORDS,
    IF_PHRASES,
    IF_TOPICS,
)

__all__ = ["InstructionSource", "if_verifiable_registry", "verify_instructions"]


class _OfflineNltk(types.ModuleType):
    """Stands in for ``nltk`` inside if_verifiable: ``word_tokenize`` needs the punkt data (not available
    offline), so it is replaced by the Treebank tokenizer; everything else is the real nltk."""

    def __init__(self, real: types.ModuleType) -> None:
        super().__init__("nltk")
        from nltk.tokenize import TreebankWordTokenizer

        self._real = real
        self._treebank = TreebankWordTokenizer()

    def word_tokenize(self, text: str, language: str = "english", preserve_line: bool = False) -> list[str]:
        return self._treebank.tokenize(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@functools.lru_cache(maxsize=1)
def if_verifiable_registry() -> dict[str, type]:
    """if_verifiable's IFEval instruction registry (id -> checker class), made to work offline.

    if_verifiable loads NLTK punkt (``nltk.data.load``) to count sentences and ``nltk.word_tokenize``
    (which needs punkt too) to count capital words; neither is available offline and we never download
    them. Substituted: an untrained ``PunktSentenceTokenizer()`` and ``TreebankWordTokenizer().tokenize``.
    langdetect is seeded so language checks are deterministic.
    """
    import langdetect
    import nltk
    from if_verifiable.ifeval import instructions_registry, instructions_util

    sentence_tokenizer = nltk.tokenize.PunktSentenceTokenizer()
    instructions_util._get_sentence_tokenizer = lambda: sentence_tokenizer
    if not isinstance(instructions_util.nltk, _OfflineNltk):
        instructions_util.nltk = _OfflineNltk(nltk)
    langdetect.DetectorFactory.seed = 0
    return dict(instructions_registry.INSTRUCTION_DICT)


def verify_instructions(answer: str | dict[str, Any], response: str, *, loose: bool = False) -> list[bool]:
    """Check ``response`` against the instructions recorded in an ``InstructionSource`` answer.

    ``answer`` is the prompt's answer (JSON ``{"instruction_id_list": [...], "kwargs": [...]}``) or that
    dict. Returns one bool per instruction; ``loose`` also accepts IFEval's loose variants of the response
    (first/last line removed, markdown asterisks removed).
    """
    spec = json.loads(answer) if isinstance(answer, str) else answer
    registry = if_verifiable_registry()
    variants = [response]
    if loose:
        from if_verifiable.common import get_loose_transformations

        variants = get_loose_transformations(response)
    results = []
    for instruction_id, kwargs in zip(spec["instruction_id_list"], spec["kwargs"], strict=True):
        checker = registry[instruction_id](instruction_id)
        checker.build_description(**{k: v for k, v in kwargs.items() if v is not None})
        results.append(any(v.strip() and bool(checker.check_following(v)) for v in variants))
    return results


_IF_LANGS = ("es", "fr", "de", "it", "pt")
_IF_RELATIONS = ("less than", "at least")

@functools.lru_cache(maxsize=1)
def _if_conflicts() -> dict[str, frozenset[str]]:
    from if_verifiable.ifeval import instructions_registry

    pairs = {(a, b) for a, others in instructions_registry.INSTRUCTION_CONFLICTS.items() for b in others}
    pairs |= set(IF_EXTRA_CONFLICTS)
    table: dict[str, set[str]] = {iid: {iid} for iid in IF_IDS}
    for a, b in pairs:
        if a in table and b in table:
            table[a].add(b)
            table[b].add(a)
    return {iid: frozenset(others) for iid, others in table.items()}


def _if_kwargs(iid: str, rng: random.Random, length: int, base: str) -> dict[str, Any]:
    relation = rng.choice(_IF_RELATIONS)
    sentences = max(3, length // 18)
    if iid == "keywords:existence":
        return {"keywords": rng.sample(IF_KEYWORDS, rng.randint(1, 3))}
    if iid == "keywords:frequency":
        freq = rng.randint(2, 4) if relation == "less than" else rng.randint(1, 4)
        return {"keyword": rng.choice(IF_KEYWORDS), "frequency": freq, "relation": relation}
    if iid == "keywords:forbidden_words":
        return {"forbidden_words": rng.sample(IF_FORBIDDEN, rng.randint(1, 3))}
    if iid == "keywords:letter_frequency":
        if relation == "less than":  # rare letters only, or the constraint is unsatisfiable
            return {
                "letter": rng.choice("jqxzkv"),
                "let_frequency": rng.randint(2, 6),
                "let_relation": relation,
            }
        return {
            "letter": rng.choice("abcdeghilmnoprstuwy"),
            "let_frequency": rng.randint(5, 5 + length // 20),
            "let_relation": relation,
        }
    if iid == "language:response_language":
        return {"language": rng.choice(_IF_LANGS)}
    if iid == "length_constraints:number_sentences":
        if relation == "at least":
            return {"num_sentences": rng.randint(max(2, sentences // 2), sentences), "relation": relation}
        return {"num_sentences": rng.randint(sentences + 2, 2 * sentences + 3), "relation": relation}
    if iid == "length_constraints:number_paragraphs":
        return {"num_paragraphs": rng.randint(2, 5)}
    if iid == "length_constraints:number_words":
        num = int(round(length * (0.8 if relation == "at least" else 1.25), -1))
        return {"num_words": max(10, num), "relation": relation}
    if iid == "length_constraints:nth_paragraph_first_word":
        n = rng.randint(2, 5)
        return {
            "num_paragraphs": n,
            "nth_paragraph": rng.randint(1, n),
            "first_word": rng.choice(IF_KEYWORDS),
        }
    if iid == "detectable_content:number_placeholders":
        return {"num_placeholders": rng.randint(1, 4)}
    if iid == "detectable_content:postscript":
        return {"postscript_marker": rng.choice(("P.S.", "P.P.S"))}
    if iid == "detectable_format:number_bullet_lists":
        return {"num_bullets": rng.randint(2, 6)}
    if iid == "detectable_format:number_highlighted_sections":
        return {"num_highlights": rng.randint(1, 5)}
    if iid == "detectable_format:multiple_sections":
        return {
            "section_spliter": rng.choice(("Section", "SECTION", "Part", "Chapter")),
            "num_sections": rng.randint(2, 5),
        }
    if iid == "combination:repeat_prompt":
        return {"prompt_to_repeat": base}
    if iid == "startend:end_checker":
        return {"end_phrase": rng.choice(IF_ENDINGS)}
    if iid == "change_case:capital_word_frequency":
        freq = rng.randint(2, 20)
        return {"capital_frequency": freq, "capital_relation": relation}
    return {}  # json_format, title, two_responses, english_capital/lowercase, no_comma, quotation


_IF_LANGUAGE_NAMES = {"es": "Spanish", "fr": "French", "de": "German", "it": "Italian", "pt": "Portuguese"}


def _if_phrase(iid: str, kwargs: dict[str, Any], rng: random.Random) -> str:
    values: dict[str, Any] = dict(kwargs)
    for key in ("relation", "let_relation", "capital_relation"):
        if key in values:
            values[key] = "fewer than" if values[key] == "less than" else "at least"
    for key in ("keywords", "forbidden_words"):
        if key in values:
            values[key] = ", ".join(f"'{word}'" for word in values[key])
    if "language" in values:
        values["language_name"] = _IF_LANGUAGE_NAMES[values["language"]]
    return rng.choice(IF_PHRASES[iid]).format(**values)


_IF_MODES = ("write", "rewrite")


@dataclass(frozen=True)
class InstructionSource(_Procedural):
    """A writing task plus 1..max_constraints verifiable IFEval instructions.

    ``mode="write"``: write a <genre> about <topic> of about N words. ``mode="rewrite"``: rewrite a
    generated passage. The answer is JSON ``{"instruction_id_list": [...], "kwargs": [...]}`` for
    ``verify_instructions`` (or if_verifiable's ``evaluate_instructions``). Factors: constraints, and
    length_words (requested length, write) or passage_words (rewrite).
    """

    source_id: str = ""
    capability: str = "steerability"
    mode: str = "write"
    max_constraints: int = 5
    max_new_tokens: int | None = 768

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in _IF_MODES:
            raise ValueError(f"{self.source_id}: mode must be one of {_IF_MODES}")
        if self.max_constraints < 1:
            raise ValueError(f"{self.source_id}: max_constraints must be >= 1")

    def _generate(self, rng: random.Random) -> tuple[str, dict[str, float], str | None]:
        conflicts = _if_conflicts()
        genre = rng.choice(IF_GENRES)
        if self.mode == "write":
            length = rng.choice((80, 120, 150, 200, 250, 300, 400))
            topic = f"{rng.choice(IF_TOPICS)}{rng.choice(IF_AUDIENCES)}"
            base = f"Write a {genre} about {topic}, about {length} words long."
        else:
            passage = " ".join(_english_sentence(rng) for _ in range(rng.randint(2, 8)))
            length = len(passage.split())
            base = f'Rewrite the following notes as a {genre}, keeping every fact: "{passage}"'
        wanted = rng.randint(1, self.max_constraints)
        chosen: list[str] = []
        blocked: set[str] = set()
        for iid in rng.sample(IF_IDS, len(IF_IDS)):
            if len(chosen) == wanted:
                break
            if iid in blocked:
                continue
            chosen.append(iid)
            blocked |= conflicts[iid]
        kwargs = [_if_kwargs(iid, rng, length, base) for iid in chosen]
        rules = "\n".join(_if_phrase(iid, kw, rng) for iid, kw in zip(chosen, kwargs, strict=True))
        text = f"{base}\n\n{rules}"
        answer = json.dumps({"instruction_id_list": chosen, "kwargs": kwargs}, ensure_ascii=False)
        length_name = "length_words" if self.mode == "write" else "passage_words"
        return text, {"constraints": len(chosen), length_name: length}, answer
