"""Procedural prompt sources for the capability pools (METHOD.md, "Capability-targeted generation").

Every source here implements the core ``PromptSource`` protocol (``source_id``, ``capability``,
``fill(seed) -> Prompt``) as a frozen dataclass, next to the JSON templates of ``read_ray/data/templates``.
A fill is deterministic: its RNG is a local ``random.Random`` seeded from a hash of
``(source_id, split, seed)``, so the ``"train"`` stream (generation prompts) and the ``"probe"`` stream
(a later probe builder) of one source differ for the same seed. Each prompt carries control factors
(sorted ``(name, value)``, higher = harder) that mean something for its capability (steps, terms,
constraints, functions, document words, ...) and, where the generator knows it, the reference answer.

Sources (capability):
  * ``ReasoningGymSource`` (math, reasoning): one ``reasoning_gym`` dataset; its difficulty knobs are
    sampled per seed, set in the dataset config and recorded as factors. Datasets are cached per config.
  * ``WordProblemSource`` (math in English; multilingual in es/fr/de/it/pt): multi-step arithmetic word
    problems written in the language, answer computed.
  * ``TranslationSource`` (multilingual): generated English passages, instruction in the target language.
  * ``CodeFunctionSource`` / ``CodeOutputSource`` (code): composed list/string operations, as a function
    spec with reference asserts, or as a program whose printed output is asked for.
  * ``ToolSchemaSource`` (tool_use): synthetic BFCL-style JSON-schema functions from our own
    vocabularies (never BFCL items), a request needing 1..k calls; answer = the expected calls.
  * ``InstructionSource`` (steerability): IFEval-style verifiable constraints from ``if_verifiable``'s
    IFEval registry; the answer records the instruction ids and kwargs (``verify_instructions``).
  * ``StructuredFormatSource`` (steerability): records to JSON/CSV under sorting/filtering rules.
  * ``LongDocumentSource`` (long_context): reports, logs or record lists with planted facts.
  * ``FactQuizSource`` / ``ChronologySource`` / ``CompareSource`` / ``ExplainSource`` (general_knowledge).

Heavy imports (``reasoning_gym``, ``if_verifiable``) happen on first use only.

Modules: ``common`` (RNG derivation, the ``_Procedural`` base, text helpers), ``vocab`` (shared word
lists), ``reasoning_gym``, ``multilingual`` (word problems, translation), ``code``, ``tools`` and
``tool_functions`` (the function catalogue), ``instructions`` (IFEval), ``structured``, ``documents``
(long context), ``knowledge`` (general knowledge). ``default_generators`` is defined here.
"""

from __future__ import annotations

from typing import Any

from read_ray.content.generators.code import _CODE_KINDS, CodeFunctionSource, CodeOutputSource
from read_ray.content.generators.common import derive_rng
from read_ray.content.generators.documents import _LD_KINDS, LongDocumentSource
from read_ray.content.generators.instructions import (
    InstructionSource,
    if_verifiable_registry,
    verify_instructions,
)
from read_ray.content.generators.knowledge import (
    ChronologySource,
    CompareSource,
    ExplainSource,
    FactQuizSource,
)
from read_ray.content.generators.multilingual import (
    TRANSLATION_TARGETS,
    WORD_PROBLEM_LANGUAGES,
    TranslationSource,
    WordProblemSource,
)
from read_ray.content.generators.reasoning_gym import (
    _RG_MATH,
    _RG_REASONING,
    Knob,
    ReasoningGymSource,
    _rg_sources,
)
from read_ray.content.generators.structured import StructuredFormatSource
from read_ray.content.generators.tools import ToolSchemaSource

__all__ = [
    "derive_rng",
    "Knob",
    "ReasoningGymSource",
    "WordProblemSource",
    "TranslationSource",
    "CodeFunctionSource",
    "CodeOutputSource",
    "ToolSchemaSource",
    "InstructionSource",
    "StructuredFormatSource",
    "LongDocumentSource",
    "FactQuizSource",
    "ChronologySource",
    "CompareSource",
    "ExplainSource",
    "WORD_PROBLEM_LANGUAGES",
    "TRANSLATION_TARGETS",
    "if_verifiable_registry",
    "verify_instructions",
    "default_generators",
]


def default_generators(
    capability: str, *, split: str = "train", long_context_max_words: int = 2000
) -> tuple[Any, ...]:
    """The procedural sources of a capability (empty for a capability without generators)."""
    if capability == "math":
        return (
            *_rg_sources("math", _RG_MATH, split),
            WordProblemSource(source_id="math/word_problem", capability="math", language="en", split=split),
        )
    if capability == "reasoning":
        return _rg_sources("reasoning", _RG_REASONING, split)
    if capability == "code":
        return tuple(
            cls(source_id=f"code/{prefix}_{kind}", kind=kind, split=split)
            for cls, prefix in ((CodeFunctionSource, "gen_function"), (CodeOutputSource, "gen_output"))
            for kind in _CODE_KINDS
        )
    if capability == "tool_use":
        return (
            ToolSchemaSource(source_id="tool_use/gen_single_call", min_calls=1, max_calls=1, split=split),
            ToolSchemaSource(source_id="tool_use/gen_multi_call", min_calls=2, max_calls=4, split=split),
        )
    if capability == "steerability":
        return (
            InstructionSource(source_id="steerability/ifeval_write", mode="write", split=split),
            InstructionSource(source_id="steerability/ifeval_rewrite", mode="rewrite", split=split),
            StructuredFormatSource(source_id="steerability/gen_structured_format", split=split),
        )
    if capability == "long_context":
        return tuple(
            LongDocumentSource(
                source_id=f"long_context/gen_{kind}",
                kind=kind,
                split=split,
                max_words=long_context_max_words,
                min_words=min(150, long_context_max_words),
            )
            for kind in _LD_KINDS
        )
    if capability == "multilingual":
        return (
            *(
                WordProblemSource(
                    source_id=f"multilingual/word_problem_{lang}",
                    capability="multilingual",
                    language=lang,
                    split=split,
                )
                for lang in WORD_PROBLEM_LANGUAGES
                if lang != "en"
            ),
            *(
                TranslationSource(source_id=f"multilingual/translate_en_{lang}", target=lang, split=split)
                for lang in TRANSLATION_TARGETS
            ),
        )
    if capability == "general_knowledge":
        return (
            FactQuizSource(source_id="general_knowledge/gen_fact_quiz", split=split),
            ChronologySource(source_id="general_knowledge/gen_chronology", split=split),
            CompareSource(source_id="general_knowledge/gen_compare", split=split),
            ExplainSource(source_id="general_knowledge/gen_explain", split=split),
        )
    return ()
