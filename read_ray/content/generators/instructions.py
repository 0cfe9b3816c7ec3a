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


_IF_GENRES = (
    "blog post",
    "short essay",
    "product description",
    "letter to the editor",
    "speech",
    "cover letter",
    "short story",
    "travel guide entry",
    "newsletter item",
    "review",
    "opinion piece",
    "FAQ answer",
    "press release",
    "diary entry",
)
_IF_TOPICS = (
    "urban beekeeping",
    "the history of the bicycle",
    "learning a second language as an adult",
    "remote work",
    "a night market in Taipei",
    "repairing old furniture",
    "the water cycle",
    "community gardens",
    "a new public library",
    "the first day at a new job",
    "minimalist living",
    "volcanoes",
    "chess for beginners",
    "electric scooters in cities",
    "the importance of sleep",
    "a solar-powered backpack",
    "winter camping",
    "the invention of paper",
    "street food in Mexico City",
    "saving money on groceries",
    "a local marathon",
    "coral reefs",
    "the life of a lighthouse keeper",
    "homemade bread",
    "public transport in small towns",
    "birdwatching",
    "recycling electronics",
    "a museum of everyday objects",
    "space tourism",
    "the art of letter writing",
    "rainy Sundays",
    "a smart water bottle",
    "mountain railways",
    "jazz in the 1920s",
    "kindness at work",
    "a robot vacuum cleaner",
    "tea ceremonies",
    "the future of farming",
    "lost and found offices",
    "a village festival",
    "learning to swim",
    "the Northern Lights",
    "hand-made pottery",
    "a weekend without phones",
    "wind turbines",
    "ancient libraries",
    "a noisy neighbour",
    "a bakery that opens at 4 am",
    "second-hand bookshops",
    "mapping the ocean floor",
)
_IF_AUDIENCES = (
    "",
    " for teenagers",
    " for busy parents",
    " for retired readers",
    " for a company newsletter",
    " for complete beginners",
    " for an expert audience",
)
_IF_KEYWORDS = (
    "river",
    "lantern",
    "harvest",
    "journey",
    "balance",
    "window",
    "compass",
    "echo",
    "garden",
    "bridge",
    "signal",
    "thunder",
    "pocket",
    "mirror",
    "ladder",
    "anchor",
    "candle",
    "horizon",
    "puzzle",
    "festival",
    "blanket",
    "orbit",
    "meadow",
    "ticket",
    "whistle",
)
_IF_FORBIDDEN = (
    "very",
    "really",
    "thing",
    "good",
    "important",
    "also",
    "just",
    "basically",
    "many",
    "great",
    "nice",
    "amazing",
)
_IF_ENDINGS = (
    "Any other questions?",
    "Is there anything else I can help with?",
    "Thank you for reading.",
    "That is all for today.",
    "Let me know what you think.",
)
_IF_LANGS = ("es", "fr", "de", "it", "pt")
_IF_RELATIONS = ("less than", "at least")

# Ids we sample (constrained_response only makes sense for yes/no questions, so it is left out).
_IF_IDS = (
    "keywords:existence",
    "keywords:frequency",
    "keywords:forbidden_words",
    "keywords:letter_frequency",
    "language:response_language",
    "length_constraints:number_sentences",
    "length_constraints:number_paragraphs",
    "length_constraints:number_words",
    "length_constraints:nth_paragraph_first_word",
    "detectable_content:number_placeholders",
    "detectable_content:postscript",
    "detectable_format:number_bullet_lists",
    "detectable_format:number_highlighted_sections",
    "detectable_format:multiple_sections",
    "detectable_format:json_format",
    "detectable_format:title",
    "combination:two_responses",
    "combination:repeat_prompt",
    "startend:end_checker",
    "change_case:capital_word_frequency",
    "change_case:english_capital",
    "change_case:english_lowercase",
    "punctuation:no_comma",
    "startend:quotation",
)
# Extra conflicts beyond if_verifiable's table: case rules against fixed-case markers, a foreign response
# language against an English first word.
_IF_EXTRA_CONFLICTS = (
    ("change_case:english_lowercase", "detectable_content:postscript"),
    ("change_case:english_lowercase", "startend:end_checker"),
    ("change_case:english_lowercase", "detectable_format:multiple_sections"),
    ("change_case:english_capital", "detectable_format:multiple_sections"),
    ("language:response_language", "length_constraints:nth_paragraph_first_word"),
    ("language:response_language", "detectable_content:postscript"),
)


@functools.lru_cache(maxsize=1)
def _if_conflicts() -> dict[str, frozenset[str]]:
    from if_verifiable.ifeval import instructions_registry

    pairs = {(a, b) for a, others in instructions_registry.INSTRUCTION_CONFLICTS.items() for b in others}
    pairs |= set(_IF_EXTRA_CONFLICTS)
    table: dict[str, set[str]] = {iid: {iid} for iid in _IF_IDS}
    for a, b in pairs:
        if a in table and b in table:
            table[a].add(b)
            table[b].add(a)
    return {iid: frozenset(others) for iid, others in table.items()}


def _if_kwargs(iid: str, rng: random.Random, length: int, base: str) -> dict[str, Any]:
    relation = rng.choice(_IF_RELATIONS)
    sentences = max(3, length // 18)
    if iid == "keywords:existence":
        return {"keywords": rng.sample(_IF_KEYWORDS, rng.randint(1, 3))}
    if iid == "keywords:frequency":
        freq = rng.randint(2, 4) if relation == "less than" else rng.randint(1, 4)
        return {"keyword": rng.choice(_IF_KEYWORDS), "frequency": freq, "relation": relation}
    if iid == "keywords:forbidden_words":
        return {"forbidden_words": rng.sample(_IF_FORBIDDEN, rng.randint(1, 3))}
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
            "first_word": rng.choice(_IF_KEYWORDS),
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
        return {"end_phrase": rng.choice(_IF_ENDINGS)}
    if iid == "change_case:capital_word_frequency":
        freq = rng.randint(2, 20)
        return {"capital_frequency": freq, "capital_relation": relation}
    return {}  # json_format, title, two_responses, english_capital/lowercase, no_comma, quotation


# Our own wording of every instruction (the checkers and kwargs are if_verifiable's). IFEval's canonical
# descriptions are avoided on purpose: a probe or evaluation set built from them would otherwise share
# 13-word runs with these prompts, and the leakage filter would block them.
_IF_PHRASES: dict[str, tuple[str, ...]] = {
    "keywords:existence": (
        "Make sure each of these words appears somewhere in your text: {keywords}.",
        "Work the following words into your answer: {keywords}.",
    ),
    "keywords:frequency": (
        "Use the word '{keyword}' {relation} {frequency} times.",
        "The word '{keyword}' has to occur {relation} {frequency} times in what you write.",
    ),
    "keywords:forbidden_words": (
        "Do not use any of these words: {forbidden_words}.",
        "Avoid the following words entirely: {forbidden_words}.",
    ),
    "keywords:letter_frequency": (
        "The letter '{letter}' must appear {let_relation} {let_frequency} times in your reply.",
        "Count your letters: '{letter}' should occur {let_relation} {let_frequency} times.",
    ),
    "language:response_language": (
        "Write your whole reply in {language_name} only.",
        "Respond entirely in {language_name}; no other language may appear.",
    ),
    "length_constraints:number_sentences": (
        "Use {relation} {num_sentences} sentences in total.",
        "Your reply must consist of {relation} {num_sentences} sentences.",
    ),
    "length_constraints:number_paragraphs": (
        "Split the text into exactly {num_paragraphs} paragraphs, with a line holding only *** between "
        "consecutive paragraphs.",
        "Write {num_paragraphs} paragraphs exactly and put the divider *** between neighbouring paragraphs.",
    ),
    "length_constraints:number_words": (
        "Keep the reply to {relation} {num_words} words.",
        "The length of your reply has to be {relation} {num_words} words.",
    ),
    "length_constraints:nth_paragraph_first_word": (
        "Write exactly {num_paragraphs} paragraphs separated by single blank lines; paragraph number "
        "{nth_paragraph} has to begin with the word '{first_word}'.",
        "Use {num_paragraphs} paragraphs with an empty line between them, and start paragraph "
        "{nth_paragraph} with the word '{first_word}'.",
    ),
    "detectable_content:number_placeholders": (
        "Include at least {num_placeholders} placeholders in square brackets, for instance [name].",
        "Leave at least {num_placeholders} fill-in fields written in square brackets, like [date].",
    ),
    "detectable_content:postscript": (
        "End with a postscript that begins with '{postscript_marker}'.",
        "Add a final note at the very end, starting with '{postscript_marker}'.",
    ),
    "detectable_format:number_bullet_lists": (
        "Put exactly {num_bullets} items in a Markdown bullet list (lines starting with '* ') and use no "
        "other bullets.",
        "Include one bulleted list of exactly {num_bullets} lines, each starting with '* ', and no other "
        "list items.",
    ),
    "detectable_format:number_highlighted_sections": (
        "Emphasise at least {num_highlights} passages with Markdown italics, *like this*.",
        "Mark at least {num_highlights} key phrases by wrapping each in single asterisks, e.g. *key phrase*.",
    ),
    "detectable_format:multiple_sections": (
        "Organise the reply into {num_sections} sections, each opening with a line '{section_spliter} 1', "
        "'{section_spliter} 2' and so on.",
        "Divide your text into {num_sections} numbered parts headed '{section_spliter} 1', "
        "'{section_spliter} 2', and so forth.",
    ),
    "detectable_format:json_format": (
        "Return the entire output as valid JSON (a ``` code block around it is fine).",
        "Your whole reply must be one valid JSON value, optionally inside a ``` code block.",
    ),
    "detectable_format:title": (
        "Give the text a title enclosed in double angle brackets, for example <<a title>>.",
        "Start with a title written between << and >>.",
    ),
    "combination:two_responses": (
        "Write two different versions of the reply, separated by a line of six asterisks (******) and "
        "nothing else.",
        "Offer two distinct alternatives, with ****** (six asterisks) as the only separator between them.",
    ),
    "combination:repeat_prompt": (
        "Before answering, copy the request above word for word (without these extra instructions), then "
        "write your answer.",
        "Begin by restating the request above exactly as given (leave out these added rules), and only then "
        "respond.",
    ),
    "startend:end_checker": (
        "Close the reply with exactly this phrase and put nothing after it: {end_phrase}",
        "Finish with these exact words, adding nothing afterwards: {end_phrase}",
    ),
    "change_case:capital_word_frequency": (
        "Use {capital_relation} {capital_frequency} words written entirely in capital letters.",
        "Include {capital_relation} {capital_frequency} fully upper-case words.",
    ),
    "change_case:english_capital": (
        "Write the whole reply in English, using capital letters only.",
        "Reply in English and in upper case throughout.",
    ),
    "change_case:english_lowercase": (
        "Write the whole reply in English, using lowercase letters only; no capitals anywhere.",
        "Reply in English, entirely in lower case.",
    ),
    "punctuation:no_comma": (
        "Do not use a single comma anywhere in the reply.",
        "Commas are not allowed anywhere in your text.",
    ),
    "startend:quotation": (
        "Put the entire reply inside double quotation marks.",
        "Enclose everything you write in one pair of double quotes.",
    ),
}
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
    return rng.choice(_IF_PHRASES[iid]).format(**values)


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
        genre = rng.choice(_IF_GENRES)
        if self.mode == "write":
            length = rng.choice((80, 120, 150, 200, 250, 300, 400))
            topic = f"{rng.choice(_IF_TOPICS)}{rng.choice(_IF_AUDIENCES)}"
            base = f"Write a {genre} about {topic}, about {length} words long."
        else:
            passage = " ".join(_english_sentence(rng) for _ in range(rng.randint(2, 8)))
            length = len(passage.split())
            base = f'Rewrite the following notes as a {genre}, keeping every fact: "{passage}"'
        wanted = rng.randint(1, self.max_constraints)
        chosen: list[str] = []
        blocked: set[str] = set()
        for iid in rng.sample(_IF_IDS, len(_IF_IDS)):
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
