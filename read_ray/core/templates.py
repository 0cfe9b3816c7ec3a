"""Capability prompt templates: typed slots, template files, the bundled templates.

METHOD.md, "Capability-targeted generation". Each capability owns a pool of prompt sources (templates
here; procedural generators in ``read_ray.content.generators``). A template is an instruction scaffold
with typed slots filled from a deterministic seed, followed by an output-format constraint. The
difficulty factors it declares feed ``core.curriculum`` (difficulty tiers, curriculum, usage cap); the
pool of one capability is ``core.capability_pool`` and the leakage filter ``core.leakage``.

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

import json
import math
import os
import pathlib
import random
import string
from dataclasses import dataclass
from typing import Any

from read_ray.core.prompts import Prompt, check_capability, is_int, is_number

__all__ = [
    "SLOT_KINDS",
    "PROMPT_WORDS",
    "Slot",
    "Template",
    "load_templates",
    "bundled_templates_dir",
    "templates_file",
]

SLOT_KINDS: tuple[str, ...] = ("int", "float", "choice", "str")

# Built-in difficulty factor: number of whitespace-separated words of the filled prompt text.
PROMPT_WORDS = "prompt_words"

_NUMERIC_KINDS = ("int", "float")
_FLOAT_DECIMALS = 2


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
                if not is_number(bound) or not math.isfinite(bound):
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
        check_capability(self.capability, f"template {sid!r}")
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
        if self.max_new_tokens is not None and (not is_int(self.max_new_tokens) or self.max_new_tokens < 1):
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
        if not is_int(seed):
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
    if max_new_tokens is not None and not is_int(max_new_tokens):
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
    check_capability(capability, "templates_file")
    return pathlib.Path(templates_dir) / f"{capability}.jsonl"
