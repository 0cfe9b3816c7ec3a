"""Capability prompt templates: typed slots, difficulty, curriculum, usage cap, leakage filter.

METHOD.md, "Capability-targeted generation". Each capability owns a pool of prompt sources (templates
here; procedural generators later). A template is an instruction scaffold with typed slots filled from
a deterministic seed, followed by an output-format constraint. A prompt's difficulty is the mean of its
min-max normalised control factors (calibrated on a sample of the pool) and tertiles of that score give
easy / medium / hard. The curriculum shifts the tier mix with budget progress, a usage cap stops one
source from dominating a capability's recent prompts, and a leakage filter (normalised-prompt SHA-256
plus a 13-word n-gram overlap check) keeps probe and evaluation prompts out of training.

Pure: stdlib + numpy only.

Template file format (``<capability>.jsonl``; blank lines and ``#`` comment lines are skipped)::

    {"id": "math/add_chain", "capability": "math", "text": "... {n} ...",
     "slots": {"n": {"kind": "int", "low": 2, "high": 9}},
     "format": "Answer with a single integer on the last line.",
     "difficulty": ["n"], "max_new_tokens": 256}

``text`` uses ``str.format`` placeholders (``{n}``, ``{price:.2f}``; literal braces are doubled). The
``format`` constraint is appended verbatim after a blank line and is *not* formatted, so it may contain
raw JSON braces.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pathlib
import random
import re
import string
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from read_ray.config import CAPABILITIES

__all__ = [
    "CAPABILITIES",
    "SLOT_KINDS",
    "TIERS",
    "PROMPT_WORDS",
    "USAGE_CAP_SHARE",
    "USAGE_CAP_WINDOW",
    "Slot",
    "Prompt",
    "PromptSource",
    "Template",
    "load_templates",
    "bundled_templates_dir",
    "templates_file",
    "DifficultyScale",
    "curriculum_mix",
    "usage_allows",
    "normalise_prompt",
    "prompt_sha256",
    "LeakageFilter",
    "DrawResult",
    "CapabilityPool",
]

SLOT_KINDS: tuple[str, ...] = ("int", "float", "choice", "str")
TIERS: tuple[str, ...] = ("easy", "medium", "hard")

# Built-in difficulty factor: number of whitespace-separated words of the filled prompt text.
PROMPT_WORDS = "prompt_words"

# A source may hold at most this share of the last USAGE_CAP_WINDOW prompts of its capability.
USAGE_CAP_SHARE = 0.25
USAGE_CAP_WINDOW = 128

_NUMERIC_KINDS = ("int", "float")
_SEED_HIGH = np.iinfo(np.int64).max  # exclusive bound for 63-bit candidate seeds
_FLOAT_DECIMALS = 2


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


_CAPABILITY_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _check_capability(capability: object, what: str) -> None:
    """Capabilities are configurable; a name must work as a file stem (lower-case, digits, '_')."""
    if not isinstance(capability, str) or not _CAPABILITY_NAME.fullmatch(capability):
        raise ValueError(f"{what}: invalid capability name {capability!r}; use lower-case letters, digits and '_'")


# --------------------------------------------------------------------------------------------------
# Slots, prompts, templates
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """A typed template slot.

    ``int``/``float``: uniform over the inclusive range [low, high] (floats rounded to 2 decimals).
    ``choice``/``str``: uniform over ``choices`` (``choice`` for short categorical values such as names
    or topics, ``str`` for longer free-text values such as passages or code snippets).
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"slot name {self.name!r} must be a Python identifier")
        if self.name == PROMPT_WORDS:
            raise ValueError(f"slot name {PROMPT_WORDS!r} is reserved for the built-in difficulty factor")
        if self.kind not in SLOT_KINDS:
            raise ValueError(f"slot {self.name!r}: unknown kind {self.kind!r}; expected one of {SLOT_KINDS}")
        if not isinstance(self.choices, tuple):
            object.__setattr__(self, "choices", tuple(self.choices))
        if self.kind in _NUMERIC_KINDS:
            if self.low is None or self.high is None:
                raise ValueError(f"slot {self.name!r} of kind {self.kind!r} needs both 'low' and 'high'")
            for bound_name, bound in (("low", self.low), ("high", self.high)):
                if not _is_number(bound) or not math.isfinite(bound):
                    raise ValueError(f"slot {self.name!r}: {bound_name}={bound!r} is not a finite number")
                if self.kind == "int" and float(bound) != int(bound):
                    raise ValueError(
                        f"slot {self.name!r} of kind 'int': {bound_name}={bound!r} is not integral"
                    )
            if self.low > self.high:
                raise ValueError(f"slot {self.name!r}: low={self.low!r} > high={self.high!r}")
            if self.choices:
                raise ValueError(f"slot {self.name!r} of kind {self.kind!r} takes no 'choices'")
        else:
            if self.low is not None or self.high is not None:
                raise ValueError(f"slot {self.name!r} of kind {self.kind!r} takes no 'low'/'high'")
            if not self.choices:
                raise ValueError(f"slot {self.name!r} of kind {self.kind!r} needs a non-empty 'choices'")
            for choice in self.choices:
                if not isinstance(choice, str):
                    raise ValueError(f"slot {self.name!r}: choice {choice!r} is not a string")
            if len(set(self.choices)) != len(self.choices):
                raise ValueError(f"slot {self.name!r}: duplicate values in 'choices'")

    @property
    def is_numeric(self) -> bool:
        return self.kind in _NUMERIC_KINDS

    def sample(self, rng: random.Random) -> int | float | str:
        if self.kind == "int":
            return rng.randint(int(self.low), int(self.high))  # type: ignore[arg-type]
        if self.kind == "float":
            return round(rng.uniform(float(self.low), float(self.high)), _FLOAT_DECIMALS)  # type: ignore[arg-type]
        return rng.choice(self.choices)


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
        _check_capability(self.capability, f"prompt from {self.source_id!r}")
        if not _is_int(self.seed):
            raise ValueError(f"prompt from {self.source_id!r}: seed {self.seed!r} is not an int")
        names = [name for name, _ in self.factors]
        if names != sorted(set(names)):
            raise ValueError(
                f"prompt from {self.source_id!r}: factors {names} must be unique and sorted by name"
            )
        for name, value in self.factors:
            if not _is_number(value) or not math.isfinite(value):
                raise ValueError(f"prompt from {self.source_id!r}: factor {name!r}={value!r} is not finite")
        if self.max_new_tokens is not None and (not _is_int(self.max_new_tokens) or self.max_new_tokens < 1):
            raise ValueError(
                f"prompt from {self.source_id!r}: max_new_tokens={self.max_new_tokens!r} must be a positive int"
            )


@runtime_checkable
class PromptSource(Protocol):
    """Anything that turns a seed into a Prompt of one capability (templates, procedural generators)."""

    source_id: str
    capability: str

    def fill(self, seed: int) -> Prompt: ...


def _placeholders(text: str, source_id: str) -> list[tuple[str, str]]:
    """(name, format_spec) of every replacement field in ``text``; ValueError on anything exotic."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(
            f"template {source_id!r}: malformed text ({exc}); double literal braces as {{{{ }}}}"
        ) from exc
    fields = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier():
            raise ValueError(
                f"template {source_id!r}: placeholder {{{name}}} must be a slot name "
                "(no positional, attribute or index fields)"
            )
        if conversion is not None:
            raise ValueError(f"template {source_id!r}: placeholder {{{name}!{conversion}}} uses a conversion")
        if "{" in (spec or ""):
            raise ValueError(f"template {source_id!r}: placeholder {{{name}}} has a nested format spec")
        fields.append((name, spec or ""))
    return fields


@dataclass(frozen=True)
class Template:
    """A prompt template; implements PromptSource."""

    source_id: str
    capability: str
    text: str
    slots: tuple[Slot, ...] = ()
    format_constraint: str = ""
    difficulty_factors: tuple[str, ...] = ()
    max_new_tokens: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.source_id, str) or not self.source_id.strip():
            raise ValueError(f"template id {self.source_id!r} must be a non-empty string")
        sid = self.source_id
        _check_capability(self.capability, f"template {sid!r}")
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError(f"template {sid!r}: text must be a non-empty string")
        if not isinstance(self.format_constraint, str):
            raise ValueError(f"template {sid!r}: format constraint must be a string")
        if not isinstance(self.slots, tuple):
            object.__setattr__(self, "slots", tuple(self.slots))
        if isinstance(self.difficulty_factors, str):
            raise ValueError(
                f"template {sid!r}: difficulty factors must be a sequence of names, not a string"
            )
        if not isinstance(self.difficulty_factors, tuple):
            object.__setattr__(self, "difficulty_factors", tuple(self.difficulty_factors))
        if not self.difficulty_factors:
            object.__setattr__(self, "difficulty_factors", (PROMPT_WORDS,))
        if self.max_new_tokens is not None and (not _is_int(self.max_new_tokens) or self.max_new_tokens < 1):
            raise ValueError(
                f"template {sid!r}: max_new_tokens={self.max_new_tokens!r} must be a positive int"
            )

        by_name: dict[str, Slot] = {}
        for slot in self.slots:
            if not isinstance(slot, Slot):
                raise ValueError(f"template {sid!r}: slot {slot!r} is not a Slot")
            if slot.name in by_name:
                raise ValueError(f"template {sid!r}: slot {slot.name!r} is declared twice")
            by_name[slot.name] = slot

        used = set()
        for name, spec in _placeholders(self.text, sid):
            if name not in by_name:
                raise ValueError(f"template {sid!r}: placeholder {{{name}}} is not a declared slot")
            used.add(name)
            if spec:  # check the format spec against the slot's values now, not at fill time
                slot = by_name[name]
                probes = (slot.low, slot.high) if slot.is_numeric else slot.choices[:1]
                for probe in probes:
                    value = int(probe) if slot.kind == "int" else (float(probe) if slot.is_numeric else probe)
                    try:
                        format(value, spec)
                    except (ValueError, TypeError) as exc:
                        raise ValueError(
                            f"template {sid!r}: format spec {spec!r} of slot {name!r} fails on {value!r}: {exc}"
                        ) from exc
        unused = [name for name in by_name if name not in used]
        if unused:
            raise ValueError(f"template {sid!r}: slot {unused[0]!r} is declared but not used in the text")

        seen_factors = set()
        for factor in self.difficulty_factors:
            if factor in seen_factors:
                raise ValueError(f"template {sid!r}: difficulty factor {factor!r} is listed twice")
            seen_factors.add(factor)
            if factor == PROMPT_WORDS:
                continue
            if factor not in by_name:
                raise ValueError(
                    f"template {sid!r}: difficulty factor {factor!r} is not a slot (or {PROMPT_WORDS!r})"
                )
            if not by_name[factor].is_numeric:
                raise ValueError(
                    f"template {sid!r}: difficulty factor {factor!r} is a {by_name[factor].kind!r} slot; "
                    "factors must be int or float slots"
                )

    def fill(self, seed: int) -> Prompt:
        """Fill every slot from ``random.Random(seed)``; the same seed always gives the same Prompt."""
        if not _is_int(seed):
            raise TypeError(f"template {self.source_id!r}: seed must be an int, got {seed!r}")
        rng = random.Random(int(seed))
        values = {slot.name: slot.sample(rng) for slot in self.slots}
        body = self.text.format(**values)
        text = f"{body}\n\n{self.format_constraint}" if self.format_constraint else body
        factor_values = {name: values[name] for name in self.difficulty_factors if name != PROMPT_WORDS}
        if PROMPT_WORDS in self.difficulty_factors:
            factor_values[PROMPT_WORDS] = len(text.split())
        factors = tuple((name, float(factor_values[name])) for name in sorted(factor_values))
        return Prompt(
            capability=self.capability,
            source_id=self.source_id,
            seed=int(seed),
            text=text,
            factors=factors,
            max_new_tokens=self.max_new_tokens,
        )


# --------------------------------------------------------------------------------------------------
# Template files
# --------------------------------------------------------------------------------------------------

_REQUIRED_KEYS = ("id", "capability", "text")
_OPTIONAL_KEYS = ("slots", "format", "difficulty", "max_new_tokens")
_SLOT_KEYS = ("kind", "low", "high", "choices")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _slot_from_json(name: str, spec: object) -> Slot:
    if not isinstance(spec, dict):
        raise ValueError(f'slot {name!r}: expected an object like {{"kind": "int", ...}}, got {spec!r}')
    unknown = sorted(set(spec) - set(_SLOT_KEYS))
    if unknown:
        raise ValueError(f"slot {name!r}: unknown key {unknown[0]!r}; allowed keys are {_SLOT_KEYS}")
    if "kind" not in spec:
        raise ValueError(f"slot {name!r}: missing key 'kind'")
    choices = spec.get("choices", [])
    if not isinstance(choices, list):
        raise ValueError(f"slot {name!r}: 'choices' must be a list of strings")
    return Slot(
        name=name, kind=spec["kind"], low=spec.get("low"), high=spec.get("high"), choices=tuple(choices)
    )


def _template_from_json(record: object) -> Template:
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    for key in _REQUIRED_KEYS:
        if key not in record:
            raise ValueError(f"missing key {key!r}")
    unknown = sorted(set(record) - set(_REQUIRED_KEYS) - set(_OPTIONAL_KEYS))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}; allowed keys are {_REQUIRED_KEYS + _OPTIONAL_KEYS}")
    for key in ("id", "capability", "text"):
        if not isinstance(record[key], str):
            raise ValueError(f"{key!r} must be a string, got {record[key]!r}")
    if not isinstance(record.get("format", ""), str):
        raise ValueError(f"'format' must be a string, got {record['format']!r}")
    slots_json = record.get("slots", {})
    if not isinstance(slots_json, dict):
        raise ValueError(f"'slots' must be an object mapping slot names to specs, got {slots_json!r}")
    difficulty = record.get("difficulty", [])
    if not isinstance(difficulty, list) or not all(isinstance(d, str) for d in difficulty):
        raise ValueError(f"'difficulty' must be a list of factor names, got {difficulty!r}")
    max_new_tokens = record.get("max_new_tokens")
    if max_new_tokens is not None and not _is_int(max_new_tokens):
        raise ValueError(f"'max_new_tokens' must be an integer or null, got {max_new_tokens!r}")
    try:
        slots = tuple(_slot_from_json(name, spec) for name, spec in slots_json.items())
    except ValueError as exc:
        raise ValueError(f"template {record['id']!r}: {exc}") from exc
    return Template(
        source_id=record["id"],
        capability=record["capability"],
        text=record["text"],
        slots=slots,
        format_constraint=record.get("format", ""),
        difficulty_factors=tuple(difficulty),
        max_new_tokens=max_new_tokens,
    )


def load_templates(path: str | os.PathLike[str]) -> tuple[Template, ...]:
    """Load a ``<capability>.jsonl`` template file; any problem is a ValueError ``<path>:<line>: ...``."""
    path = pathlib.Path(path)
    stem = path.stem
    templates: list[Template] = []
    first_line_of: dict[str, int] = {}
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            where = f"{path}:{line_no}"
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                raise ValueError(f"{where}: not valid UTF-8 ({exc})") from exc
            if not line or line.startswith("#"):
                continue
            try:
                record = json.loads(line, object_pairs_hook=_no_duplicate_keys)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: invalid JSON: {exc.msg} (column {exc.colno})") from exc
            except ValueError as exc:  # duplicate key from the hook
                raise ValueError(f"{where}: invalid JSON: {exc}") from exc
            try:
                template = _template_from_json(record)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from exc
            if template.capability != stem:
                raise ValueError(
                    f"{where}: template {template.source_id!r} has capability {template.capability!r} "
                    f"but the file is {path.name!r} (capability {stem!r})"
                )
            if template.source_id in first_line_of:
                raise ValueError(
                    f"{where}: duplicate template id {template.source_id!r} "
                    f"(first defined on line {first_line_of[template.source_id]})"
                )
            first_line_of[template.source_id] = line_no
            templates.append(template)
    if not templates:
        raise ValueError(f"{path}: contains no templates")
    return tuple(templates)


def bundled_templates_dir() -> pathlib.Path:
    """The templates shipped with the package (``read_ray/data/templates``)."""
    return pathlib.Path(__file__).resolve().parent.parent / "data" / "templates"


def templates_file(templates_dir: str | os.PathLike[str], capability: str) -> pathlib.Path:
    _check_capability(capability, "templates_file")
    return pathlib.Path(templates_dir) / f"{capability}.jsonl"


# --------------------------------------------------------------------------------------------------
# Difficulty and curriculum
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DifficultyScale:
    """Min-max normalisation of control factors plus tertile cut points on the resulting score."""

    factor_ranges: tuple[tuple[str, float, float], ...]
    cut_points: tuple[float, float]

    def __post_init__(self) -> None:
        names = [name for name, _, _ in self.factor_ranges]
        if names != sorted(set(names)):
            raise ValueError(f"difficulty scale: factor names {names} must be unique and sorted")
        for name, lo, hi in self.factor_ranges:
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
                raise ValueError(f"difficulty scale: factor {name!r} has an invalid range [{lo}, {hi}]")
        if len(self.cut_points) != 2:
            raise ValueError(f"difficulty scale: cut_points {self.cut_points!r} must be two numbers")
        cut1, cut2 = self.cut_points
        if not (0.0 <= cut1 <= cut2 <= 1.0):
            raise ValueError(
                f"difficulty scale: cut points must satisfy 0 <= cut1 <= cut2 <= 1, got {self.cut_points}"
            )
        object.__setattr__(self, "_ranges", {name: (lo, hi) for name, lo, hi in self.factor_ranges})

    @classmethod
    def calibrate(cls, prompts: Sequence[Prompt]) -> DifficultyScale:
        if not prompts:
            raise ValueError("difficulty scale: cannot calibrate on an empty prompt sample")
        ranges: dict[str, tuple[float, float]] = {}
        for prompt in prompts:
            if not prompt.factors:
                raise ValueError(
                    f"difficulty scale: prompt from {prompt.source_id!r} has no difficulty factors"
                )
            for name, value in prompt.factors:
                lo, hi = ranges.get(name, (value, value))
                ranges[name] = (min(lo, value), max(hi, value))
        factor_ranges = tuple((name, float(lo), float(hi)) for name, (lo, hi) in sorted(ranges.items()))
        provisional = cls(factor_ranges=factor_ranges, cut_points=(0.0, 1.0))
        scores = np.array([provisional.score(p) for p in prompts], dtype=np.float64)
        cut1, cut2 = np.quantile(scores, [1.0 / 3.0, 2.0 / 3.0])
        return cls(factor_ranges=factor_ranges, cut_points=(float(cut1), float(cut2)))

    def score(self, prompt: Prompt) -> float:
        """Mean over the prompt's factors of the min-max normalised value, clipped to [0, 1]."""
        if not prompt.factors:
            raise ValueError(f"difficulty scale: prompt from {prompt.source_id!r} has no difficulty factors")
        ranges: dict[str, tuple[float, float]] = self._ranges  # type: ignore[attr-defined]
        total = 0.0
        for name, value in prompt.factors:
            if name not in ranges:
                raise ValueError(
                    f"difficulty scale: factor {name!r} of prompt from {prompt.source_id!r} was not seen in "
                    f"calibration (known: {sorted(ranges)})"
                )
            lo, hi = ranges[name]
            total += 0.5 if hi == lo else min(1.0, max(0.0, (value - lo) / (hi - lo)))
        return total / len(prompt.factors)

    def tier(self, prompt: Prompt) -> str:
        value = self.score(prompt)
        if value <= self.cut_points[0]:
            return "easy"
        if value <= self.cut_points[1]:
            return "medium"
        return "hard"


def curriculum_mix(progress_frac: float) -> dict[str, float]:
    """Target share of each tier at budget progress ``progress_frac`` in [0, 1] (METHOD.md)."""
    if not _is_number(progress_frac) or not (0.0 <= progress_frac <= 1.0):
        raise ValueError(f"progress_frac={progress_frac!r} must be a number in [0, 1]")
    if progress_frac <= 0.3:
        return {"easy": 0.1, "medium": 0.8, "hard": 0.1}
    if progress_frac <= 0.7:
        return {"easy": 0.1, "medium": 0.5, "hard": 0.4}
    return {"easy": 0.05, "medium": 0.2, "hard": 0.75}


# --------------------------------------------------------------------------------------------------
# Usage cap
# --------------------------------------------------------------------------------------------------


def usage_allows(
    recent_source_ids: Sequence[str],
    source_id: str,
    *,
    max_share: float = USAGE_CAP_SHARE,
    window: int = USAGE_CAP_WINDOW,
) -> bool:
    """Whether appending ``source_id`` keeps its count in the last ``window`` ids <= floor(max_share*window).

    The count is always taken against the full window size, so with a short history a source may still
    hold at most floor(max_share * window) prompts.
    """
    if not _is_int(window) or window < 1:
        raise ValueError(f"usage cap: window={window!r} must be a positive int (prompts)")
    if not _is_number(max_share) or not (0.0 < max_share <= 1.0):
        raise ValueError(f"usage cap: max_share={max_share!r} must be in (0, 1]")
    limit = math.floor(max_share * window + 1e-9)
    recent = list(recent_source_ids)
    tail = recent[max(0, len(recent) - (window - 1)) :]
    return tail.count(source_id) + 1 <= limit


# --------------------------------------------------------------------------------------------------
# Leakage filter
# --------------------------------------------------------------------------------------------------


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
        if not _is_int(ngram) or ngram < 1:
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


# --------------------------------------------------------------------------------------------------
# Capability pool
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrawResult:
    prompts: tuple[Prompt, ...]
    recent_source_ids: tuple[str, ...]
    blocked_count: int
    capped_count: int


class CapabilityPool:
    """The prompt sources of one capability, with a calibrated difficulty scale."""

    def __init__(
        self,
        capability: str,
        sources: Sequence[PromptSource],
        *,
        calibration_size: int = 256,
        calibration_seed: int = 0,
    ) -> None:
        _check_capability(capability, "capability pool")
        sources = tuple(sources)
        if not sources:
            raise ValueError(f"capability pool {capability!r}: no prompt sources")
        seen: set[str] = set()
        for source in sources:
            if source.capability != capability:
                raise ValueError(
                    f"capability pool {capability!r}: source {source.source_id!r} has capability "
                    f"{source.capability!r}"
                )
            if source.source_id in seen:
                raise ValueError(f"capability pool {capability!r}: duplicate source id {source.source_id!r}")
            seen.add(source.source_id)
        if not _is_int(calibration_size) or calibration_size < len(sources):
            raise ValueError(
                f"capability pool {capability!r}: calibration_size={calibration_size!r} must be an int >= the "
                f"number of sources ({len(sources)}) so every source is calibrated"
            )
        self.capability = capability
        self.sources: tuple[PromptSource, ...] = sources
        seeds = np.random.default_rng(calibration_seed).integers(0, _SEED_HIGH, size=calibration_size)
        sample = [sources[i % len(sources)].fill(int(seed)) for i, seed in enumerate(seeds)]
        self.scale = DifficultyScale.calibrate(sample)

    def __repr__(self) -> str:
        return f"CapabilityPool({self.capability!r}, sources={len(self.sources)}, scale={self.scale!r})"

    def draw(
        self,
        n: int,
        *,
        progress_frac: float,
        rng: np.random.Generator,
        recent_source_ids: Sequence[str] = (),
        leakage: LeakageFilter | None = None,
        max_attempts_per_prompt: int = 64,
    ) -> DrawResult:
        """Draw ``n`` distinct prompts following the curriculum, the usage cap and the leakage filter."""
        if not _is_int(n) or n < 0:
            raise ValueError(f"draw: n={n!r} must be a non-negative int (prompts)")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"draw: rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if not _is_int(max_attempts_per_prompt) or max_attempts_per_prompt < 1:
            raise ValueError(
                f"draw: max_attempts_per_prompt={max_attempts_per_prompt!r} must be a positive int"
            )
        mix = curriculum_mix(progress_frac)
        cumulative = np.cumsum([mix[tier] for tier in TIERS])
        history = list(recent_source_ids)[-USAGE_CAP_WINDOW:]
        prompts: list[Prompt] = []
        texts: set[str] = set()
        blocked = capped = 0
        for index in range(n):
            u = float(rng.random())
            target = TIERS[min(int(np.searchsorted(cumulative, u, side="right")), len(TIERS) - 1)]
            chosen: Prompt | None = None
            fallback: Prompt | None = None
            for _ in range(max_attempts_per_prompt):
                source = self.sources[int(rng.integers(len(self.sources)))]
                seed = int(rng.integers(0, _SEED_HIGH))
                if not usage_allows(history, source.source_id):
                    capped += 1
                    continue
                candidate = source.fill(seed)
                if candidate.text in texts:
                    continue
                if leakage is not None and leakage.check(candidate.text) is not None:
                    blocked += 1
                    continue
                if fallback is None:
                    fallback = candidate
                if self.scale.tier(candidate) == target:
                    chosen = candidate
                    break
            if chosen is None:
                chosen = fallback
            if chosen is None:
                raise RuntimeError(
                    f"capability pool {self.capability!r}: no admissible prompt for prompt {index + 1}/{n} in "
                    f"{max_attempts_per_prompt} attempts ({len(self.sources)} sources; so far {capped} capped, "
                    f"{blocked} blocked by the leakage filter). The pool is too small for the usage cap "
                    f"(each source at most {USAGE_CAP_SHARE:.0%} of the last {USAGE_CAP_WINDOW} prompts) "
                    "or too much of it is blocked; add sources or templates."
                )
            prompts.append(chosen)
            texts.add(chosen.text)
            history.append(chosen.source_id)
            if len(history) > USAGE_CAP_WINDOW:
                del history[: len(history) - USAGE_CAP_WINDOW]
        return DrawResult(
            prompts=tuple(prompts),
            recent_source_ids=tuple(history),
            blocked_count=blocked,
            capped_count=capped,
        )
