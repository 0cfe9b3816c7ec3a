"""Probe suites: the held-out monitoring set that measures the student's capability profile s_t.

METHOD.md, "Probes (the capability profile)". Per capability a fixed suite (default 32 items) is built from

* probe-only prompt templates in ``read_ray/data/probes/<capability>.jsonl`` (open-ended prompts, no
  checker: scored by ``teacher_loglik`` only), and
* procedural item builders in this module, each with a verifiable checker: exact numbers (arithmetic,
  word problems, equations, logic, sequences, program output, needle retrieval), JSON objects with given
  keys and types, BFCL-style tool calls against our own synthetic function schemas (``possible_answer``),
  IFEval-style instructions checked with ``if_verifiable``'s IFEval checkers, tiny Python functions run
  against asserts in the sandbox, and answers that must contain given words (facts, capitals, translations
  in Spanish, French, German, Italian and Portuguese).

Disjoint from training by construction: the probe wordings, tasks, schemas and filler texts are written
for the probes only (nothing is shared with ``read_ray/data/templates`` or the procedural generators of
``read_ray.model.generators``, and nothing here imports them), item seeds come from their own hash
namespace, and the tests check that no probe prompt shares a 13-word n-gram with 200 fills of every
generation template. :func:`probe_prompts` hands every probe prompt to the generation pools' leakage
filter; ``build_probe_suite(leakage_filter=...)`` also redraws probes blocked by a given filter.

Each capability cycles through a fixed list of sources (about a quarter templates), so item ``i`` of a
suite does not depend on the suite's size: the first 32 items of a 64-item suite are the 32-item suite.
Item ids (``<capability>/<index>-<source>``) are stable for a given seed.

Scorers (:func:`score_items`, :func:`profile_scores`):

* ``teacher_loglik``: the mean per-token log-likelihood of the item's teacher reference (attached once by
  :func:`attach_references`, cached on disk) given the chat-rendered prompt, under the scored model;
* ``accuracy``: the model's answer (via ``generate_fn``) checked by the item's checker, 1.0 or 0.0.
  Items without a checker get ``nan`` (they are skipped: no generation, excluded from the mean and ``n``).

Capability scores are means over items with a percentile-bootstrap 95% CI (:func:`profile_scores` in one
pass, or :func:`score_items_and_tokens` per shard + :func:`aggregate_scores`); :class:`Normaliser` maps them
to [0, 100] per capability with an affine map fixed at round 0 (0 = initial student, 100 = teacher).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import random
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from read_ray.core.templates import LeakageFilter, Template, load_templates

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "CHECKERS",
    "SCORERS",
    "ProbeItem",
    "CapabilityScores",
    "Normaliser",
    "MIN_NORMALISER_GAP",
    "probes_dir",
    "build_probe_suite",
    "suite_fingerprint",
    "probe_prompts",
    "attach_references",
    "references_path",
    "check_response",
    "probe_generate_fn",
    "score_items",
    "score_items_and_tokens",
    "bootstrap_ci",
    "profile_scores",
    "aggregate_scores",
    "fit_normaliser",
]

CHECKERS: tuple[str, ...] = ("number", "json", "tool_call", "instructions", "code", "contains")
SCORERS: tuple[str, ...] = ("teacher_loglik", "accuracy")
MIN_NORMALISER_GAP = 0.05
"""Smallest teacher - student0 gap (raw units) the normaliser divides by (see :func:`fit_normaliser`)."""

_SUITE_FORMAT = 1  # part of the fingerprint: bump when builders change what they produce
_CACHE_FORMAT = 1
_DEFAULT_MAX_NEW_TOKENS = 256
_DEFAULT_LOGLIK_MAX_LENGTH = 4096  # long-context probes reach ~2,000 prompt tokens


# ----------------------------------------------------------------------------------------------------------
# Items


@dataclass(frozen=True)
class ProbeItem:
    """One probe: a prompt, optionally a checker with its data, and (once attached) the teacher's answer.

    ``checker`` is one of :data:`CHECKERS` or None; ``checker_data`` holds what it needs:
    ``number``: ``{"answer": "42"}``; ``json``: ``{"keys": {key: type}}`` with types string / integer /
    number / boolean / array (the object must have exactly these keys); ``tool_call``:
    ``{"possible_answer": {func: {param: [allowed, ...]}}}`` (BFCL convention, ``""`` = may be omitted);
    ``instructions``: ``{"instructions": [[ifeval_id, kwargs], ...]}``; ``code``: ``{"tests": "assert ...",
    "entry_point": name, "solution": reference source}``; ``contains``: ``{"needles": [word or [alternatives],
    ...]}`` (each needle must occur as a whole word, case- and accent-insensitively).
    ``max_new_tokens`` is the generation budget for this item's answers (reference and accuracy).
    """

    capability: str
    item_id: str
    prompt: str
    checker: str | None = None
    checker_data: Mapping = field(default_factory=dict)
    reference: str | None = None
    max_new_tokens: int = _DEFAULT_MAX_NEW_TOKENS

    def __post_init__(self) -> None:
        if self.checker is not None and self.checker not in CHECKERS:
            raise ValueError(
                f"probe {self.item_id!r}: unknown checker {self.checker!r}; expected one of {CHECKERS}"
            )
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ValueError(f"probe {self.item_id!r}: empty prompt")
        if not isinstance(self.checker_data, dict):
            object.__setattr__(self, "checker_data", dict(self.checker_data))
        if (
            isinstance(self.max_new_tokens, bool)
            or not isinstance(self.max_new_tokens, int)
            or self.max_new_tokens < 1
        ):
            raise ValueError(f"probe {self.item_id!r}: max_new_tokens must be a positive int")

    def spec(self) -> dict:
        """Everything that defines the item except the reference (what the fingerprint covers)."""
        return {
            "capability": self.capability,
            "item_id": self.item_id,
            "prompt": self.prompt,
            "checker": self.checker,
            "checker_data": self.checker_data,
            "max_new_tokens": self.max_new_tokens,
        }

    def with_reference(self, reference: str) -> ProbeItem:
        return ProbeItem(**self.spec(), reference=reference)


@dataclass(frozen=True)
class _Draft:
    """What a builder returns: the prompt and its checker, before the suite gives it an id."""

    prompt: str
    checker: str | None = None
    checker_data: dict = field(default_factory=dict)
    max_new_tokens: int = _DEFAULT_MAX_NEW_TOKENS


def _pick(rng: random.Random, seq: Sequence):
    return seq[rng.randrange(len(seq))]


def _num(value: int | float | Fraction | Decimal) -> str:
    """Canonical text of an exact answer ('12', '-3', '40.8')."""
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return str(value.numerator)
        value = Decimal(value.numerator) / Decimal(value.denominator)
    d = Decimal(str(value))
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


# ----------------------------------------------------------------------------------------------------------
# Builders: general knowledge

_CAPITALS = (
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Italy", "Rome"),
    ("Egypt", "Cairo"),
    ("Canada", "Ottawa"),
    ("Australia", "Canberra"),
    ("Spain", "Madrid"),
    ("Germany", "Berlin"),
    ("Kenya", "Nairobi"),
    ("Peru", "Lima"),
    ("Norway", "Oslo"),
    ("Portugal", "Lisbon"),
    ("Greece", "Athens"),
    ("Argentina", "Buenos Aires"),
    ("Thailand", "Bangkok"),
    ("Poland", "Warsaw"),
    ("Ireland", "Dublin"),
    ("Mexico", "Mexico City"),
    ("Turkey", "Ankara"),
    ("Sweden", "Stockholm"),
)
_ELEMENTS = (
    ("Au", "gold"),
    ("Ag", "silver"),
    ("Fe", "iron"),
    ("Na", "sodium"),
    ("Pb", "lead"),
    ("Cu", "copper"),
    ("Sn", "tin"),
    ("Hg", "mercury"),
    ("K", "potassium"),
    ("W", "tungsten"),
    ("He", "helium"),
    ("Ca", "calcium"),
)
_BOOKS = (
    ("Pride and Prejudice", "Austen"),
    ("Romeo and Juliet", "Shakespeare"),
    ("War and Peace", "Tolstoy"),
    ("Don Quixote", "Cervantes"),
    ("On the Origin of Species", "Darwin"),
    ("Moby-Dick", "Melville"),
    ("The Odyssey", "Homer"),
    ("Frankenstein", "Shelley"),
    ("Les Misérables", "Hugo"),
    ("Crime and Punishment", "Dostoevsky"),
)
_FACT_QA = (
    ("Which planet is closest to the Sun?", ["Mercury"]),
    ("Which is the largest planet in our solar system?", ["Jupiter"]),
    ("Which planet is known as the Red Planet?", ["Mars"]),
    ("What is the largest ocean on Earth?", ["Pacific"]),
    ("Which gas do plants take in from the air to carry out photosynthesis?", [["carbon dioxide", "CO2"]]),
    ("What is the hardest naturally occurring substance?", ["diamond"]),
    ("What is the currency of Japan?", ["yen"]),
    ("Which language is most widely spoken in Brazil?", ["Portuguese"]),
    ("Who painted the Mona Lisa?", [["Leonardo", "da Vinci"]]),
    ("Who was the first person to walk on the Moon?", ["Armstrong"]),
    ("Which organ pumps blood around the human body?", ["heart"]),
    ("What is the longest river in South America?", ["Amazon"]),
    ("What is the chemical formula of water?", ["H2O"]),
    ("Which instrument is used to measure air pressure?", ["barometer"]),
    ("What is the largest hot desert in the world?", ["Sahara"]),
    ("Which scientist proposed the theory of general relativity?", ["Einstein"]),
)
_NUMERIC_FACTS = (
    ("How many legs does a spider have?", 8),
    ("How many sides does a hexagon have?", 6),
    ("At sea level, at how many degrees Celsius does pure water boil?", 100),
    ("How many continents are there by the most common convention?", 7),
    ("In which year did the Second World War end?", 1945),
    ("How many bones are in the adult human body?", 206),
    ("How many planets orbit the Sun?", 8),
    ("How many minutes are there in a full day?", 1440),
    ("In which year did the Berlin Wall fall?", 1989),
    ("How many strings does a standard violin have?", 4),
)


def _gk_fact(rng: random.Random) -> _Draft:
    kind = rng.randrange(5)
    brief = _pick(rng, ("Answer in one short sentence.", "Be brief.", "A few words are enough."))
    if kind == 0:
        country, city = _pick(rng, _CAPITALS)
        q = _pick(
            rng,
            (
                f"What is the capital city of {country}?",
                f"Which city is the capital of {country}?",
                f"Name the capital of {country}.",
            ),
        )
        return _Draft(f"{q} {brief}", "contains", {"needles": [city]}, 48)
    if kind == 1:
        symbol, name = _pick(rng, _ELEMENTS)
        q = _pick(
            rng,
            (
                f"Which chemical element has the symbol {symbol}?",
                f"The chemical symbol {symbol} stands for which element?",
            ),
        )
        return _Draft(f"{q} {brief}", "contains", {"needles": [name]}, 48)
    if kind == 2:
        title, author = _pick(rng, _BOOKS)
        q = _pick(rng, (f"Who wrote {title}?", f"Who is the author of {title}?"))
        return _Draft(f"{q} {brief}", "contains", {"needles": [author]}, 48)
    if kind == 3:
        q, needles = _pick(rng, _FACT_QA)
        return _Draft(f"{q} {brief}", "contains", {"needles": needles}, 48)
    q, value = _pick(rng, _NUMERIC_FACTS)
    tail = _pick(rng, ("Reply with the number only.", "Give just the number."))
    return _Draft(f"{q} {tail}", "number", {"answer": str(value)}, 32)


# ----------------------------------------------------------------------------------------------------------
# Builders: steerability (IFEval-style instructions, JSON objects)

_IF_TOPICS = (
    "a lighthouse keeper's daily routine",
    "why people collect stamps",
    "the life of honeybees",
    "a rainy market day",
    "caring for a houseplant",
    "an old railway station",
    "the first day at a new job",
    "winter in a mountain village",
    "a community bicycle repair shop",
    "a night at a science museum",
    "learning to swim as an adult",
    "a street musician's evening",
    "the smell of a bakery at dawn",
    "a lost umbrella's journey",
)
_IF_KEYWORDS = (
    "lantern",
    "harvest",
    "compass",
    "meadow",
    "whistle",
    "copper",
    "orchard",
    "pebble",
    "velvet",
    "echo",
)
_IF_FORBIDDEN = ("very", "really", "amazing", "beautiful", "nice", "things", "good", "great")
_IF_ENDINGS = ("That is all for today.", "Thank you for reading.", "See you next time.", "The end.")


def _if_structure(rng: random.Random) -> tuple[str, list]:
    kind = rng.randrange(4)
    if kind == 0:
        n = rng.randint(2, 4)
        return (
            f"Split it into exactly {n} paragraphs, with a line containing only *** between neighbouring "
            "paragraphs.",
            ["length_constraints:number_paragraphs", {"num_paragraphs": n}],
        )
    if kind == 1:
        n = rng.randint(3, 5)
        return (
            f"Present it as exactly {n} bullet points; each bullet line begins with an asterisk and a space.",
            ["detectable_format:number_bullet_lists", {"num_bullets": n}],
        )
    if kind == 2:
        n = rng.randint(2, 4)
        return (
            f"Organise it in {n} parts and start each part with a heading line 'PART k', where k is 1, 2, "
            "and so on.",
            ["detectable_format:multiple_sections", {"section_spliter": "PART", "num_sections": n}],
        )
    n = rng.randint(2, 4)
    return (
        f"Emphasise at least {n} phrases by wrapping each of them in single asterisks, like *so*.",
        ["detectable_format:number_highlighted_sections", {"num_highlights": n}],
    )


def _if_content(rng: random.Random, kind: int) -> tuple[str, list]:
    if kind == 0:
        return ("Do not use any commas.", ["punctuation:no_comma", {}])
    if kind == 1:
        a, b = rng.sample(_IF_KEYWORDS, 2)
        return (
            f"Work the words '{a}' and '{b}' into the text.",
            ["keywords:existence", {"keywords": [a, b]}],
        )
    if kind == 2:
        w, k = _pick(rng, _IF_KEYWORDS), rng.randint(2, 4)
        return (
            f"The word '{w}' has to appear {k} times or more.",
            ["keywords:frequency", {"keyword": w, "frequency": k, "relation": "at least"}],
        )
    if kind == 3:
        a, b = rng.sample(_IF_FORBIDDEN, 2)
        return (
            f"Avoid the words '{a}' and '{b}' entirely.",
            ["keywords:forbidden_words", {"forbidden_words": [a, b]}],
        )
    if kind == 4:
        phrase = _pick(rng, _IF_ENDINGS)
        return (
            f"The very last words of your reply must be: {phrase}",
            ["startend:end_checker", {"end_phrase": phrase}],
        )
    if kind == 5:
        return (
            "Close with an afterthought line that begins with P.P.S",
            ["detectable_content:postscript", {"postscript_marker": "P.P.S"}],
        )
    if kind == 6:
        n = _pick(rng, (80, 100, 120, 150))
        return (
            f"Stay below {n} words in total.",
            ["length_constraints:number_words", {"num_words": n, "relation": "less than"}],
        )
    if kind == 7:
        return (
            "Start with a title enclosed in double angle brackets, for example <<Morning Light>>.",
            ["detectable_format:title", {}],
        )
    n = rng.randint(1, 3)
    return (
        f"Leave at least {n} fill-in fields written in square brackets, such as [place].",
        ["detectable_content:number_placeholders", {"num_placeholders": n}],
    )


def _steer_instructions(rng: random.Random) -> _Draft:
    topic = _pick(rng, _IF_TOPICS)
    head = _pick(
        rng,
        (
            f"Write a short text about {topic}.",
            f"Compose a brief piece on {topic}.",
            f"Tell me about {topic} in a few lines.",
        ),
    )
    structure = _if_structure(rng)
    kinds = rng.sample(range(9), rng.randint(1, 2))
    if 4 in kinds and 5 in kinds:  # an end phrase after a postscript is legal but confusing: keep one
        kinds.remove(5)
    content = [_if_content(rng, k) for k in sorted(kinds)]
    sentences = [structure[0]] + [c[0] for c in content]
    instructions = [structure[1]] + [c[1] for c in content]
    return _Draft(" ".join([head, *sentences]), "instructions", {"instructions": instructions}, 320)


_JSON_SUBJECTS = (
    (
        "an imaginary board game",
        {"title": "string", "min_players": "integer", "max_players": "integer", "themes": "array"},
    ),
    (
        "a fictional hiking trail",
        {"trail_name": "string", "length_km": "number", "difficulty": "string", "dogs_allowed": "boolean"},
    ),
    (
        "a made-up houseplant species",
        {
            "common_name": "string",
            "water_per_week": "integer",
            "needs_sunlight": "boolean",
            "colors": "array",
        },
    ),
    (
        "an invented café",
        {"cafe_name": "string", "opening_hour": "integer", "specialities": "array", "has_wifi": "boolean"},
    ),
    (
        "a fictional robot",
        {"model": "string", "height_cm": "number", "skills": "array", "battery_hours": "integer"},
    ),
    (
        "an imaginary music festival",
        {"festival": "string", "days": "integer", "genres": "array", "camping": "boolean"},
    ),
)
_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list of strings",
}


def _steer_json(rng: random.Random) -> _Draft:
    subject, keys = _pick(rng, _JSON_SUBJECTS)
    names = list(keys)
    rng.shuffle(names)
    fields = "; ".join(f"{k} ({_TYPE_WORDS[keys[k]]})" for k in names)
    tail = _pick(
        rng, ("Return the JSON object and nothing else.", "Your whole reply must be that JSON object.")
    )
    prompt = f"Describe {subject} as a JSON object with precisely these keys: {fields}. {tail}"
    return _Draft(prompt, "json", {"keys": {k: keys[k] for k in names}}, 160)


# ----------------------------------------------------------------------------------------------------------
# Builders: reasoning

_NAMES = (
    "Amara",
    "Bruno",
    "Chen",
    "Dalia",
    "Emil",
    "Farah",
    "Goran",
    "Hana",
    "Ivo",
    "Jonas",
    "Keiko",
    "Lior",
    "Mirela",
    "Nadia",
    "Otto",
    "Pia",
    "Quentin",
    "Rosa",
    "Sami",
    "Tova",
)


def _reason_race(rng: random.Random) -> _Draft:
    n = rng.randint(4, 6)
    order = rng.sample(_NAMES, n)
    clues = []
    for a, b in zip(order, order[1:], strict=False):
        clues.append(
            _pick(rng, (f"{a} finished directly ahead of {b}.", f"{b} crossed the line right after {a}."))
        )
    rng.shuffle(clues)
    target = rng.randrange(n)
    event = _pick(rng, ("a village fun run", "a rowing race", "a snail-racing contest", "a sack race"))
    prompt = (
        f"{n} people took part in {event}: {', '.join(sorted(order))}. There were no ties. "
        + " ".join(clues)
        + f" In which place did {order[target]} finish, counting the winner as place 1? "
        "Explain briefly and put the place number alone on the last line."
    )
    return _Draft(prompt, "number", {"answer": str(target + 1)}, 192)


def _reason_ages(rng: random.Random) -> _Draft:
    a_name, b_name, c_name = rng.sample(_NAMES, 3)
    c_age, k, d = rng.randint(3, 12), rng.randint(2, 4), rng.randint(2, 15)
    b_age = k * c_age
    if rng.random() < 0.5:
        answer, relation = b_age + d, f"{a_name} is {d} years older than {b_name}."
    else:
        answer, relation = b_age - d, f"{a_name} is {d} years younger than {b_name}."
        if answer <= 0:
            answer, relation = b_age + d, f"{a_name} is {d} years older than {b_name}."
    times = {2: "twice", 3: "three times", 4: "four times"}[k]
    prompt = (
        f"{relation} {b_name} is {times} as old as {c_name}, and {c_name} is {c_age}. "
        f"How old is {a_name}? Reason step by step and end with the age as a number on its own line."
    )
    return _Draft(prompt, "number", {"answer": str(answer)}, 160)


def _reason_sequence(rng: random.Random) -> _Draft:
    kind = rng.randrange(5)
    if kind == 0:
        a, d = rng.randint(-10, 30), rng.randint(2, 13)
        terms = [a + i * d for i in range(6)]
    elif kind == 1:
        a, r = rng.randint(1, 5), rng.randint(2, 3)
        terms = [a * r**i for i in range(6)]
    elif kind == 2:
        c = rng.randint(-3, 5)
        s = rng.randint(1, 4)
        terms = [(s + i) ** 2 + c for i in range(6)]
    elif kind == 3:
        a, b = rng.randint(1, 5), rng.randint(1, 6)
        terms = [a, b]
        while len(terms) < 6:
            terms.append(terms[-1] + terms[-2])
    else:
        a, p, q = rng.randint(1, 20), rng.randint(2, 9), rng.randint(-5, 12)
        terms = [a]
        while len(terms) < 6:
            terms.append(terms[-1] + (p if len(terms) % 2 else q))
    shown, answer = terms[:5], terms[5]
    prompt = (
        f"Find the rule behind the numbers {', '.join(map(str, shown))} and give the number that comes "
        "next. State the rule in one sentence, then write the next number by itself on the final line."
    )
    return _Draft(prompt, "number", {"answer": str(answer)}, 128)


_BOOL_FORMS = (
    "(P and not Q) or R",
    "not (P or Q) and R",
    "(P or R) and (Q or not R)",
    "P and (Q or R)",
    "not P or (Q and R)",
    "(P and Q) or (not R and not P)",
    "not (P and Q) and (Q or R)",
)


def _reason_boolean(rng: random.Random) -> _Draft:
    values = {v: rng.random() < 0.5 for v in "PQR"}
    form = _pick(rng, _BOOL_FORMS)
    truth = bool(eval(form, {"__builtins__": {}}, dict(values)))  # our own fixed expressions only
    words = {True: "true", False: "false"}
    prompt = (
        f"Let P be {words[values['P']]}, Q be {words[values['Q']]} and R be {words[values['R']]}. "
        f'Is the statement "{form}" true or false? Work it out, then on the final line write 1 if it '
        "is true or 0 if it is false."
    )
    return _Draft(prompt, "number", {"answer": "1" if truth else "0"}, 160)


def _reason_robot(rng: random.Random) -> _Draft:
    x = y = 0
    heading = 0  # 0 north, 1 east, 2 south, 3 west
    moves = []
    for step in range(rng.randint(3, 6)):
        if step:
            turn = _pick(rng, ("left", "right"))
            heading = (heading + (1 if turn == "right" else 3)) % 4
            moves.append(f"turns {turn}")
        n = rng.randint(1, 9)
        dx, dy = ((0, 1), (1, 0), (0, -1), (-1, 0))[heading]
        x, y = x + dx * n, y + dy * n
        moves.append(f"walks {n} {'metre' if n == 1 else 'metres'} forward")
    prompt = (
        "A delivery robot starts in an open square, facing north. It then "
        + ", ".join(moves)
        + ". How many metres is it now from its starting point if it may only travel along north-south "
        "and east-west lines (that is, the sum of the two distances)? Show the coordinates and give "
        "the distance alone on the last line."
    )
    return _Draft(prompt, "number", {"answer": str(abs(x) + abs(y))}, 256)


# ----------------------------------------------------------------------------------------------------------
# Builders: math

_RESULT_LINE = (
    "Write the final result alone on the last line.",
    "Finish with the final value on a line of its own.",
)


def _math_arith(rng: random.Random) -> _Draft:
    a, b, c, d = rng.randint(12, 99), rng.randint(3, 19), rng.randint(2, 12), rng.randint(10, 300)
    forms = (
        (f"({a} + {b}) × {c} − {d}", (a + b) * c - d),
        (f"{a} × {b} + {c} × {d}", a * b + c * d),
        (f"{a * c} ÷ {c} + {b} × {b}", a + b * b),
        (f"{d} − {a} + {b} × ({c} + {a})", d - a + b * (c + a)),
        (f"({d} + {a}) − {b} × {c}", d + a - b * c),
    )
    expr, value = _pick(rng, forms)
    prompt = f"Calculate {expr}, showing the intermediate results. {_pick(rng, _RESULT_LINE)}"
    return _Draft(prompt, "number", {"answer": str(value)}, 192)


def _math_equation(rng: random.Random) -> _Draft:
    x, a, b = rng.randint(-20, 30), rng.randint(2, 12), rng.randint(-60, 60)
    c = a * x + b
    lhs = f"{a}x + {b}" if b >= 0 else f"{a}x − {-b}"
    prompt = f"Solve {lhs} = {c} for x. Show each step and end with the line 'x = <value>'."
    return _Draft(prompt, "number", {"answer": str(x)}, 192)


def _math_percent(rng: random.Random) -> _Draft:
    p = _pick(rng, (5, 10, 12, 15, 20, 25, 30, 35, 40, 45, 60, 75, 80))
    n = rng.randint(2, 60) * 20
    value = Fraction(p * n, 100)
    item = _pick(rng, ("coat", "sofa", "camera", "pair of skis", "guitar", "set of pans"))
    q = _pick(
        rng,
        (
            f"A {item} priced at {n} euros is reduced by {p}%. By how many euros is the price reduced?",
            f"What is {p} percent of {n}?",
            f"A {item} costs {n} euros and the price goes up by {p}%. How many euros is the increase?",
        ),
    )
    return _Draft(f"{q} {_pick(rng, _RESULT_LINE)}", "number", {"answer": _num(value)}, 160)


def _math_word(rng: random.Random) -> _Draft:
    kind = rng.randrange(6)
    if kind == 0:
        r, leak, t = rng.randint(5, 15), rng.randint(1, 4), rng.randint(6, 40)
        cap = (r - leak) * t
        q = (
            f"An empty rain barrel holds {cap} litres. A hose pours in {r} litres per minute while a crack "
            f"lets {leak} litres per minute escape. After how many minutes is the barrel full?"
        )
        answer = t
    elif kind == 1:
        rows, per = rng.randint(8, 30), rng.randint(10, 24)
        sold = rng.randint(rows * per // 3, rows * per - 20)
        guests = rng.randint(1, rows * per - sold - 1)
        q = (
            f"A small theatre has {rows} rows of {per} seats. For one matinee {sold} tickets were sold and "
            f"{guests} further seats went to invited guests. How many seats stayed empty?"
        )
        answer = rows * per - sold - guests
    elif kind == 2:
        name = _pick(rng, _NAMES)
        d1, less = rng.randint(8, 40), rng.randint(2, 7)
        q = (
            f"{name} cycles {d1} km on Monday, twice as far on Tuesday, and on Wednesday {less} km less than "
            "on Tuesday. How many kilometres does that make over the three days?"
        )
        answer = d1 + 2 * d1 + (2 * d1 - less)
    elif kind == 3:
        name = _pick(rng, _NAMES)
        s, have = rng.randint(6, 25), rng.randint(10, 80)
        price = have + rng.randint(40, 400)
        q = (
            f"{name} has {have} euros and puts aside {s} euros every week. After how many whole weeks can "
            f"{name} first afford a telescope that costs {price} euros?"
        )
        answer = -(-(price - have) // s)
    elif kind == 4:
        base, flour, mult = rng.randint(4, 12), rng.randint(120, 400), rng.randint(2, 6)
        q = (
            f"A pancake recipe makes {base} pancakes from {flour} grams of flour. How many grams of flour "
            f"are needed for {base * mult} pancakes?"
        )
        answer = flour * mult
    else:
        gap, end = _pick(rng, (10, 12, 15, 20, 25, 30, 40)), rng.randint(8, 14)
        q = (
            f"A shuttle leaves the airport every {gap} minutes, the first one at 6:00. How many shuttles "
            f"leave from 6:00 up to but not including {end}:00?"
        )
        answer = -(-((end - 6) * 60) // gap)
    return _Draft(f"{q} {_pick(rng, _RESULT_LINE)}", "number", {"answer": str(answer)}, 256)


def _math_divisors(rng: random.Random) -> _Draft:
    g = rng.randint(2, 15)
    m, n = rng.sample(range(2, 20), 2)
    a, b = g * m, g * n
    if rng.random() < 0.5:
        q = f"What is the greatest common divisor of {a} and {b}?"
        answer = math.gcd(a, b)
    else:
        q = f"What is the least common multiple of {a} and {b}?"
        answer = a * b // math.gcd(a, b)
    return _Draft(f"{q} {_pick(rng, _RESULT_LINE)}", "number", {"answer": str(answer)}, 192)


# ----------------------------------------------------------------------------------------------------------
# Builders: code

# (name, signature, description, solution with {placeholders}, parameter sampler, test inputs sampler)
_CODE_TASKS: tuple[tuple[str, str, str, str, Callable, Callable], ...] = (
    (
        "sum_multiples",
        "sum_multiples(limit: int) -> int",
        "returns the sum of every positive integer below `limit` that is divisible by {a} or by {b}",
        "def sum_multiples(limit):\n"
        "    return sum(n for n in range(1, limit) if n % {a} == 0 or n % {b} == 0)\n",
        lambda r: {"a": r.randint(2, 5), "b": r.randint(6, 11)},
        lambda r: [(1,), (10,), (r.randint(20, 60),), (r.randint(100, 300),)],
    ),
    (
        "count_vowels",
        "count_vowels(text: str) -> int",
        "returns how many vowels (a, e, i, o, u, in upper or lower case) occur in `text`",
        "def count_vowels(text):\n    return sum(1 for ch in text if ch.lower() in 'aeiou')\n",
        lambda r: {},
        lambda r: [
            ("",),
            ("Rhythm",),
            ("Education is OPEN",),
            (_pick(r, ("banana split", "Queue", "xyz AEIOU")),),
        ],
    ),
    (
        "rotate_left",
        "rotate_left(items: list, k: int) -> list",
        "returns a new list with the elements of `items` rotated {k_word} by `k` positions; `k` may be "
        "larger than the length, and an empty list stays empty",
        "def rotate_left(items, k):\n    if not items:\n        return []\n    k %= len(items)\n"
        "    return {body}\n",
        lambda r: _pick(
            r,
            (
                {"k_word": "to the left", "body": "items[k:] + items[:k]"},
                {"k_word": "to the right", "body": "items[len(items) - k:] + items[:len(items) - k]"},
            ),
        ),
        lambda r: [
            ([], 3),
            ([1, 2, 3, 4, 5], 2),
            ([1, 2, 3], r.randint(4, 9)),
            (list("abcdef"), r.randint(0, 5)),
        ],
    ),
    (
        "is_palindrome",
        "is_palindrome(text: str) -> bool",
        "returns True if `text` reads the same forwards and backwards when case and every non-alphanumeric "
        "character are ignored, else False",
        "def is_palindrome(text):\n    s = [c.lower() for c in text if c.isalnum()]\n"
        "    return s == s[::-1]\n",
        lambda r: {},
        lambda r: [
            ("",),
            ("Never odd or even",),
            ("abca",),
            (_pick(r, ("No lemon, no melon", "Step on no pets!")),),
            ("ab",),
        ],
    ),
    (
        "running_max",
        "running_max(nums: list[int]) -> list[int]",
        "returns a list whose i-th element is the largest of nums[0] .. nums[i]",
        "def running_max(nums):\n    out = []\n    for x in nums:\n"
        "        out.append(x if not out else max(out[-1], x))\n"
        "    return out\n",
        lambda r: {},
        lambda r: [([],), ([3, 1, 4, 1, 5],), ([r.randint(-9, 9) for _ in range(6)],)],
    ),
    (
        "digit_power_sum",
        "digit_power_sum(n: int) -> int",
        "returns the sum of the decimal digits of the non-negative integer `n`, each raised to the power {p}",
        "def digit_power_sum(n):\n    return sum(int(d) ** {p} for d in str(n))\n",
        lambda r: {"p": r.randint(2, 4)},
        lambda r: [(0,), (7,), (r.randint(10, 99),), (r.randint(1000, 99999),)],
    ),
    (
        "chunk",
        "chunk(items: list, size: int) -> list[list]",
        "splits `items` into consecutive pieces of length `size` (the last piece may be shorter) and returns "
        "them as a list of lists",
        "def chunk(items, size):\n    return [items[i:i + size] for i in range(0, len(items), size)]\n",
        lambda r: {},
        lambda r: [([], 2), ([1, 2, 3, 4, 5], 2), (list(range(r.randint(5, 12))), r.randint(1, 4))],
    ),
    (
        "second_largest",
        "second_largest(nums: list[int]) -> int | None",
        "returns the second largest distinct value in `nums`, or None when there are fewer than two distinct "
        "values",
        "def second_largest(nums):\n    values = sorted(set(nums))\n"
        "    return values[-2] if len(values) >= 2 else None\n",
        lambda r: {},
        lambda r: [([],), ([4, 4, 4],), ([5, 1, 5, 3],), ([r.randint(-20, 20) for _ in range(7)],)],
    ),
    (
        "label_number",
        "label_number(n: int) -> str",
        "returns '{w1}{w2}' if `n` is divisible by both {a} and {b}, '{w1}' if only by {a}, '{w2}' if only "
        "by {b}, and otherwise `n` written in decimal digits",
        "def label_number(n):\n    if n % {a} == 0 and n % {b} == 0:\n        return '{w1}{w2}'\n"
        "    if n % {a} == 0:\n        return '{w1}'\n    if n % {b} == 0:\n        return '{w2}'\n"
        "    return str(n)\n",
        lambda r: (
            dict(zip(("a", "b"), r.sample((2, 3, 5, 7), 2), strict=True))
            | dict(
                zip(("w1", "w2"), r.sample(("Ping", "Pong", "Zip", "Zap", "Tick", "Tock"), 2), strict=True)
            )
        ),
        lambda r: [(1,), (2,), (3,), (5,), (7,), (r.randint(8, 40),), (210,)],
    ),
    (
        "shift_letters",
        "shift_letters(text: str, k: int) -> str",
        "moves every lowercase letter a-z of `text` `k` places forward in the alphabet, wrapping from z back "
        "to a, and leaves every other character unchanged",
        "def shift_letters(text, k):\n    out = []\n    for ch in text:\n        if 'a' <= ch <= 'z':\n"
        "            out.append(chr((ord(ch) - 97 + k) % 26 + 97))\n"
        "        else:\n            out.append(ch)\n"
        "    return ''.join(out)\n",
        lambda r: {},
        lambda r: [("", 3), ("abc xyz", 2), ("Hello, World!", r.randint(1, 25)), ("zebra", 27)],
    ),
    (
        "long_words",
        "long_words(text: str, n: int) -> int",
        "counts the whitespace-separated words of `text` that have more than `n` characters",
        "def long_words(text, n):\n    return sum(1 for w in text.split() if len(w) > n)\n",
        lambda r: {},
        lambda r: [("", 2), ("a bb ccc dddd", 2), ("the quick brown fox jumps", r.randint(2, 5))],
    ),
    (
        "merge_sorted",
        "merge_sorted(a: list[int], b: list[int]) -> list[int]",
        "merges two lists that are each sorted in ascending order into one sorted list, without calling sort "
        "or sorted",
        "def merge_sorted(a, b):\n    out, i, j = [], 0, 0\n    while i < len(a) and j < len(b):\n"
        "        if a[i] <= b[j]:\n            out.append(a[i])\n            i += 1\n        else:\n"
        "            out.append(b[j])\n            j += 1\n    return out + a[i:] + b[j:]\n",
        lambda r: {},
        lambda r: [
            ([], []),
            ([1, 4, 9], [2, 3, 10, 11]),
            (sorted(r.sample(range(50), 5)), sorted(r.sample(range(50), 4))),
        ],
    ),
)


def _code_function(rng: random.Random) -> _Draft:
    name, signature, description, solution, params_of, inputs_of = _pick(rng, _CODE_TASKS)
    params = params_of(rng)
    description, solution = description.format(**params), solution.format(**params)
    namespace: dict[str, Any] = {}
    exec(
        solution, namespace
    )  # our own reference solution (a constant of this module), to compute the asserts
    fn = namespace[name]
    lines = []
    for args in inputs_of(rng):
        expected = fn(*[list(a) if isinstance(a, list) else a for a in args])
        lines.append(f"assert {name}({', '.join(map(repr, args))}) == {expected!r}")
    style = _pick(
        rng,
        (
            "Reply with the function inside one ```python code block.",
            "Give only the function, in a single ```python fenced block.",
        ),
    )
    prompt = f"Implement the Python function `{signature}` that {description}. {style}"
    data = {"entry_point": name, "tests": "\n".join(lines) + "\n", "solution": solution}
    return _Draft(prompt, "code", data, 256)


def _code_output(rng: random.Random) -> _Draft:
    kind = rng.randrange(5)
    if kind == 0:
        a, b, m = rng.randint(0, 10), rng.randint(15, 60), rng.randint(2, 7)
        program = (
            f"total = 0\nfor i in range({a}, {b}):\n    if i % {m} == 0:\n        total += i\nprint(total)\n"
        )
    elif kind == 1:
        xs = [rng.randint(-9, 30) for _ in range(rng.randint(4, 7))]
        v, k = rng.randint(-9, 30), rng.randint(0, len(xs))
        program = f"xs = {xs}\nxs.append({v})\nxs.sort()\nprint(xs[{k}])\n"
    elif kind == 2:
        n = rng.randint(3, 27)
        program = (
            f"n = {n}\nsteps = 0\nwhile n != 1:\n    n = n // 2 if n % 2 == 0 else 3 * n + 1\n"
            "    steps += 1\nprint(steps)\n"
        )
    elif kind == 3:
        word = _pick(rng, ("mississippi", "banana", "abracadabra", "committee", "bookkeeper", "assessment"))
        ch, k = _pick(rng, sorted(set(word))), rng.randint(2, 5)
        program = f"s = '{word}'\nprint(len(s) * {k} + s.count('{ch}'))\n"
    else:
        words = rng.sample(("red", "green", "blue", "teal", "amber", "ivory", "jade", "navy"), 4)
        seq = [_pick(rng, words) for _ in range(rng.randint(6, 10))]
        target = _pick(rng, seq)
        program = (
            f"counts = {{}}\nfor w in {seq}:\n    counts[w] = counts.get(w, 0) + 1\n"
            f"print(counts['{target}'] * 10 + len(counts))\n"
        )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(program, {})  # our own tiny, terminating programs
    prompt = (
        f"What number does this Python program print?\n\n```python\n{program}```\n\n"
        "Trace it carefully, then give the printed number alone on the last line."
    )
    return _Draft(prompt, "number", {"answer": out.getvalue().strip()}, 256)


# ----------------------------------------------------------------------------------------------------------
# Builders: tool use (our own synthetic function schemas, BFCL-style possible answers)


def _fn(name: str, description: str, props: dict, required: Sequence[str]) -> dict:
    return {
        "name": name,
        "description": description,
        "parameters": {"type": "dict", "properties": props, "required": list(required)},
    }


_RESTAURANTS = ("Trattoria Lucca", "The Green Fig", "Sakura House", "Casa Morena", "Blue Anchor Grill")
_CURRENCIES = (
    ("euros", "EUR"),
    ("US dollars", "USD"),
    ("Japanese yen", "JPY"),
    ("pounds sterling", "GBP"),
    ("Swiss francs", "CHF"),
    ("Canadian dollars", "CAD"),
)
_ROOMS = ("living room", "bedroom", "office", "kitchen", "nursery")
_CARRIERS = ("dhl", "ups", "fedex", "postnl", "colissimo")
_STATIONS = ("Leeds", "York", "Utrecht", "Lyon", "Bologna", "Graz", "Porto", "Ghent")
_LANGS = (("French", "fr"), ("German", "de"), ("Spanish", "es"), ("Italian", "it"), ("Dutch", "nl"))
_INGREDIENTS = ("lentils", "spinach", "chickpeas", "salmon", "mushrooms", "aubergine", "tofu")
_CITIES_AQ = ("Delhi", "Lagos", "Santiago", "Krakow", "Hanoi", "Denver")


def _date(rng: random.Random) -> str:
    return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _tool_book_table(rng):
    r, n, t = (
        _pick(rng, _RESTAURANTS),
        rng.randint(2, 9),
        f"{rng.randint(17, 21)}:{_pick(rng, ('00', '15', '30', '45'))}",
    )
    outdoor = rng.random() < 0.4
    request = f"Could you reserve a table for {n} people at {r} at {t}{' on the terrace' if outdoor else ''}?"
    spec = _fn(
        "reserve_table",
        "Reserve a restaurant table.",
        {
            "restaurant": {"type": "string"},
            "party_size": {"type": "integer"},
            "time": {"type": "string", "description": "24-hour time HH:MM"},
            "outdoor": {"type": "boolean", "description": "terrace seating", "default": False},
        },
        ["restaurant", "party_size", "time"],
    )
    answer = {
        "restaurant": [r],
        "party_size": [n],
        "time": [t],
        "outdoor": [True] if outdoor else ["", False],
    }
    return spec, request, {"reserve_table": answer}


def _tool_currency(rng):
    amount = _pick(rng, (rng.randint(5, 900), round(rng.uniform(5, 500), 2)))
    (src_name, src), (dst_name, dst) = rng.sample(_CURRENCIES, 2)
    request = f"How much is {amount} {src_name} in {dst_name} today?"
    spec = _fn(
        "convert_money",
        "Convert an amount between currencies at today's rate.",
        {
            "amount": {"type": "number"},
            "source_currency": {"type": "string", "description": "ISO 4217 code"},
            "target_currency": {"type": "string", "description": "ISO 4217 code"},
        },
        ["amount", "source_currency", "target_currency"],
    )
    return (
        spec,
        request,
        {"convert_money": {"amount": [amount], "source_currency": [src], "target_currency": [dst]}},
    )


def _tool_thermostat(rng):
    room, temp = _pick(rng, _ROOMS), _pick(rng, (18, 19, 20, 21, 22, 23, 24, 19.5, 20.5, 21.5))
    mode = _pick(rng, (None, "heat", "cool"))
    extra = f" using {mode} mode" if mode else ""
    request = f"Set the {room} thermostat to {temp} degrees Celsius{extra}, please."
    spec = _fn(
        "adjust_thermostat",
        "Change a room's target temperature.",
        {
            "room": {"type": "string"},
            "celsius": {"type": "number"},
            "mode": {"type": "string", "enum": ["heat", "cool", "auto"], "default": "auto"},
        },
        ["room", "celsius"],
    )
    return (
        spec,
        request,
        {"adjust_thermostat": {"room": [room], "celsius": [temp], "mode": [mode] if mode else ["", "auto"]}},
    )


def _tool_parcel(rng):
    carrier = _pick(rng, _CARRIERS)
    code = "".join(_pick(rng, "ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(2)) + str(
        rng.randint(10**7, 10**8 - 1)
    )
    request = f"Where is my parcel? The tracking number is {code} and it was sent with {carrier.upper()}."
    spec = _fn(
        "parcel_status",
        "Current status of a shipment.",
        {"tracking_code": {"type": "string"}, "carrier": {"type": "string", "enum": list(_CARRIERS)}},
        ["tracking_code", "carrier"],
    )
    return spec, request, {"parcel_status": {"tracking_code": [code], "carrier": [carrier]}}


def _tool_reminder(rng):
    note = _pick(
        rng,
        (
            "water the tomatoes",
            "call the plumber",
            "renew the library card",
            "pay the gas bill",
            "book the vet",
            "return the drill",
        ),
    )
    day, priority = _date(rng), _pick(rng, (None, "high", "low"))
    extra = f" Mark it as {priority} priority." if priority else ""
    request = f'Add a reminder saying "{note}" for {day}.{extra}'
    spec = _fn(
        "add_reminder",
        "Create a reminder on a date.",
        {
            "note": {"type": "string"},
            "date": {"type": "string", "description": "YYYY-MM-DD"},
            "priority": {"type": "string", "enum": ["low", "normal", "high"], "default": "normal"},
        },
        ["note", "date"],
    )
    return (
        spec,
        request,
        {
            "add_reminder": {
                "note": [note],
                "date": [day],
                "priority": [priority] if priority else ["", "normal"],
            }
        },
    )


def _tool_recipes(rng):
    ing, minutes, veg = _pick(rng, _INGREDIENTS), _pick(rng, (15, 20, 30, 45, 60)), rng.random() < 0.4
    request = f"Find me {'vegetarian ' if veg else ''}recipes with {ing} that take at most {minutes} minutes."
    spec = _fn(
        "find_recipes",
        "Search a recipe collection.",
        {
            "ingredient": {"type": "string"},
            "max_minutes": {"type": "integer"},
            "vegetarian_only": {"type": "boolean", "default": False},
        },
        ["ingredient", "max_minutes"],
    )
    return (
        spec,
        request,
        {
            "find_recipes": {
                "ingredient": [ing],
                "max_minutes": [minutes],
                "vegetarian_only": [True] if veg else ["", False],
            }
        },
    )


def _tool_trains(rng):
    a, b = rng.sample(_STATIONS, 2)
    day = _date(rng)
    request = f"Which trains run from {a} to {b} on {day}?"
    spec = _fn(
        "train_timetable",
        "Departures between two stations on a date.",
        {
            "from_station": {"type": "string"},
            "to_station": {"type": "string"},
            "travel_date": {"type": "string", "description": "YYYY-MM-DD"},
        },
        ["from_station", "to_station", "travel_date"],
    )
    return spec, request, {"train_timetable": {"from_station": [a], "to_station": [b], "travel_date": [day]}}


def _tool_translate(rng):
    text = _pick(
        rng,
        (
            "Where is the nearest pharmacy?",
            "The museum opens at nine.",
            "I would like a window seat.",
            "Thank you for the lovely dinner.",
        ),
    )
    lang, code = _pick(rng, _LANGS)
    request = f'Translate "{text}" into {lang} for me.'
    spec = _fn(
        "translate",
        "Machine-translate a text.",
        {"text": {"type": "string"}, "target_lang": {"type": "string", "description": "ISO 639-1 code"}},
        ["text", "target_lang"],
    )
    return spec, request, {"translate": {"text": [text], "target_lang": [code, lang]}}


def _tool_loan(rng):
    principal, rate, years = (
        rng.randint(5, 80) * 1000,
        _pick(rng, (2.5, 3, 3.75, 4.2, 5, 6.1)),
        rng.randint(2, 30),
    )
    request = f"What would the monthly payment be on a {principal} loan at {rate}% a year over {years} years?"
    spec = _fn(
        "loan_payment",
        "Monthly payment of an amortised loan.",
        {
            "principal": {"type": "number"},
            "annual_rate_pct": {"type": "number"},
            "years": {"type": "integer"},
        },
        ["principal", "annual_rate_pct", "years"],
    )
    return (
        spec,
        request,
        {"loan_payment": {"principal": [principal], "annual_rate_pct": [rate], "years": [years]}},
    )


def _tool_air(rng):
    city, day = _pick(rng, _CITIES_AQ), _pick(rng, (None, "tomorrow"))
    request = f"How clean is the air in {city}{' going to be tomorrow' if day else ' right now'}?"
    spec = _fn(
        "air_quality",
        "Air-quality index for a city, now or forecast.",
        {
            "city": {"type": "string"},
            "when": {"type": "string", "enum": ["now", "tomorrow"], "default": "now"},
        },
        ["city"],
    )
    return spec, request, {"air_quality": {"city": [city], "when": ["tomorrow"] if day else ["", "now"]}}


_TOOL_BUILDERS = (
    _tool_book_table,
    _tool_currency,
    _tool_thermostat,
    _tool_parcel,
    _tool_reminder,
    _tool_recipes,
    _tool_trains,
    _tool_translate,
    _tool_loan,
    _tool_air,
)


def _tool_call(rng: random.Random) -> _Draft:
    builders = list(_TOOL_BUILDERS)
    target = _pick(rng, builders)
    spec, request, answer = target(rng)
    others = [b for b in builders if b is not target]
    distractors = [b(random.Random(rng.random()))[0] for b in rng.sample(others, rng.randint(1, 2))]
    specs = [spec, *distractors]
    rng.shuffle(specs)
    listing = "\n".join(json.dumps(s, ensure_ascii=False) for s in specs)
    prompt = (
        f"Functions available to the assistant:\n{listing}\n\nUser message: {request}\n\n"
        'Respond with one function call as JSON shaped like {"name": <function>, "arguments": '
        "{<parameter>: <value>}}, and no other text."
    )
    return _Draft(prompt, "tool_call", {"possible_answer": answer}, 128)


# ----------------------------------------------------------------------------------------------------------
# Builders: long context (our own filler text with planted facts)

_LC_PEOPLE = (
    "Agnes Tolliver",
    "Bram Osterhout",
    "Celia Marchbank",
    "Dmitri Vance",
    "Edda Linqvist",
    "Fintan Roe",
    "Greta Halloran",
    "Hugo Penberthy",
    "Isolde Crane",
    "Jasper Quill",
    "Katrin Moss",
    "Lucan Ferris",
    "Maud Everly",
    "Niall Castell",
    "Orla Brennick",
    "Piet Varga",
)
_LC_ACTS = (
    "mended a torn fishing net",
    "counted crates of apples",
    "repainted the railings",
    "argued about the tide tables",
    "carried letters up the hill",
    "swept the chapel steps",
    "sorted the salt sacks",
    "tuned the harbour bell",
    "measured the depth of the channel",
    "baked rye loaves for the crew",
    "patched the roof of the boathouse",
    "wrote up the weekly accounts",
    "fed the customs-house cats",
    "oiled the winch on the slipway",
    "led visitors along the sea wall",
    "stacked driftwood for winter",
)
_LC_PLACES = (
    "the old customs house",
    "the north quay",
    "the rope works",
    "the signal tower",
    "the salt sheds",
    "the fish market",
    "the chapel of Saint Brendan",
    "the coal yard",
    "the ferry slip",
    "the net lofts",
)
_LC_TIMES = (
    "before breakfast",
    "on a windy afternoon",
    "late in the evening",
    "during the spring fair",
    "while the ferry was delayed",
    "after the second bell",
    "in a thin drizzle",
    "at low tide",
)
_LC_DESCR = (
    "The air around {p} smelled of tar and seaweed.",
    "Gulls gathered on the roof of {p} all morning.",
    "Someone had chalked a tide table on the door of {p}.",
    "A row of blue barrels stood outside {p}.",
    "The path to {p} was slippery after the rain.",
    "Lamps were lit early at {p} that week.",
    "Children raced paper boats in the puddles near {p}.",
    "A brass plaque beside {p} had turned green.",
)
_LC_LOCKS = (
    "archive safe",
    "boathouse padlock",
    "signal tower door",
    "school gate",
    "museum cabinet",
    "harbour office safe",
    "lighthouse hatch",
    "rope works strongbox",
)
_LC_STORES = ("north warehouse", "south warehouse", "east granary", "west depot", "island store")


def _lc_sentence(rng: random.Random) -> str:
    if rng.random() < 0.65:
        who, act, place = _pick(rng, _LC_PEOPLE), _pick(rng, _LC_ACTS), _pick(rng, _LC_PLACES)
        return f"{who} {act} near {place} {_pick(rng, _LC_TIMES)}."
    return _pick(rng, _LC_DESCR).format(p=_pick(rng, _LC_PLACES))


def _lc_document(rng: random.Random, words: int, planted: list[str]) -> str:
    """Filler sentences up to about ``words`` words with the planted sentences at random places."""
    sentences: list[str] = []
    count = sum(len(s.split()) for s in planted)
    while count < words:
        s = _lc_sentence(rng)
        sentences.append(s)
        count += len(s.split())
    for fact in planted:
        sentences.insert(rng.randint(0, len(sentences)), fact)
    paragraphs, i = [], 0
    while i < len(sentences):
        size = rng.randint(4, 8)
        paragraphs.append(" ".join(sentences[i : i + size]))
        i += size
    return "\n\n".join(paragraphs)


def _lc_intro(rng: random.Random) -> str:
    return _pick(
        rng,
        (
            "Here is an extract from the harbour log of Saltmere, a fictional fishing town.",
            "The following notes were kept by the harbour master of the fictional town of Saltmere.",
        ),
    )


def _lc_needle(rng: random.Random) -> _Draft:
    words = _pick(rng, (300, 600, 900, 1200, 1500))
    locks = rng.sample(_LC_LOCKS, rng.randint(2, 4))
    codes = rng.sample(range(1000, 10000), len(locks))
    planted = [f"The code for the {lock} is {code}." for lock, code in zip(locks, codes, strict=True)]
    target = rng.randrange(len(locks))
    doc = _lc_document(rng, words, planted)
    prompt = (
        f"{_lc_intro(rng)}\n\n{doc}\n\nQuestion: according to the log, what is the code for the "
        f"{locks[target]}? Reply with the four-digit code."
    )
    return _Draft(prompt, "number", {"answer": str(codes[target])}, 64)


def _lc_sum(rng: random.Random) -> _Draft:
    words = _pick(rng, (300, 600, 900, 1200, 1500))
    stores = rng.sample(_LC_STORES, 3)
    barrels = [rng.randint(12, 480) for _ in stores]
    planted = [
        f"At the last count the {s} held {n} barrels of salted herring."
        for s, n in zip(stores, barrels, strict=True)
    ]
    doc = _lc_document(rng, words, planted)
    prompt = (
        f"{_lc_intro(rng)}\n\n{doc}\n\nQuestion: how many barrels of salted herring did the {stores[0]} and "
        f"the {stores[1]} hold together at the last count? Give the total as a number on the last line."
    )
    return _Draft(prompt, "number", {"answer": str(barrels[0] + barrels[1])}, 128)


_LC_SURNAMES = (
    "Abernathy",
    "Blackwood",
    "Carrow",
    "Delacourt",
    "Everdeen",
    "Fairbairn",
    "Galloway",
    "Holloway",
    "Ingleby",
    "Jessop",
    "Kettering",
    "Lockhart",
    "Merriweather",
    "Northcott",
    "Oakhurst",
    "Pemberton",
    "Quayle",
    "Rutherford",
    "Stanhope",
    "Thistlewood",
)


def _lc_lookup(rng: random.Random) -> _Draft:
    n = _pick(rng, (40, 80, 120, 160))
    ids = rng.sample(range(100, 1000), n)
    firsts = sorted({p.split()[0] for p in _LC_PEOPLE})
    pairs = rng.sample([(f, s) for f in firsts for s in _LC_SURNAMES], n)  # distinct full names
    people = [f"{f} {s}" for f, s in pairs]
    target = rng.randrange(n)
    lines = "\n".join(f"Mooring B-{i}: {p}" for i, p in zip(ids, people, strict=True))
    prompt = (
        f"Below is the mooring register of a small marina.\n\n{lines}\n\nWho holds mooring B-{ids[target]}? "
        "Answer with the full name."
    )
    return _Draft(prompt, "contains", {"needles": [people[target]]}, 48)


# ----------------------------------------------------------------------------------------------------------
# Builders: multilingual

_ML_PROBLEMS = {
    "es": (
        "En una biblioteca hay {a} estanterías con {b} libros cada una. Hoy se prestaron {c} libros. "
        "¿Cuántos libros quedan en las estanterías?",
        "Responde en español y termina con el número final en la última línea.",
    ),
    "fr": (
        "Un jardin compte {a} rangées de {b} tulipes. La jardinière en cueille {c} pour le marché. Combien "
        "de tulipes reste-t-il dans le jardin ?",
        "Répondez en français et terminez par le nombre final seul sur la dernière ligne.",
    ),
    "de": (
        "Ein Bus hat {a} Sitzreihen mit je {b} Plätzen. {c} Plätze sind schon besetzt. Wie viele Plätze sind "
        "noch frei?",
        "Antworte auf Deutsch und schreibe die Zahl allein in die letzte Zeile.",
    ),
    "it": (
        "Un frutteto ha {a} file di {b} alberi. Un temporale ne abbatte {c}. Quanti alberi restano in piedi?",
        "Rispondi in italiano e scrivi il numero finale da solo nell'ultima riga.",
    ),
    "pt": (
        "Um agricultor enche {a} caixas com {b} laranjas cada uma e depois vende {c} laranjas. Quantas "
        "laranjas ficam nas caixas?",
        "Responda em português e escreva o número final sozinho na última linha.",
    ),
}
# "of <country>" per language, then the accepted capital spellings (accents are ignored when checking)
_ML_COUNTRIES = (
    (
        {
            "es": "de Francia",
            "fr": "de la France",
            "de": "von Frankreich",
            "it": "della Francia",
            "pt": "da França",
        },
        ["Paris", "Parigi"],
    ),
    (
        {
            "es": "de Alemania",
            "fr": "de l'Allemagne",
            "de": "von Deutschland",
            "it": "della Germania",
            "pt": "da Alemanha",
        },
        ["Berlin", "Berlino", "Berlim", "Berlín"],
    ),
    (
        {"es": "de Japón", "fr": "du Japon", "de": "von Japan", "it": "del Giappone", "pt": "do Japão"},
        ["Tokio", "Tokyo", "Tóquio"],
    ),
    (
        {"es": "de Egipto", "fr": "de l'Égypte", "de": "von Ägypten", "it": "dell'Egitto", "pt": "do Egito"},
        ["Cairo", "Caire", "Kairo"],
    ),
    (
        {"es": "de Italia", "fr": "de l'Italie", "de": "von Italien", "it": "dell'Italia", "pt": "da Itália"},
        ["Roma", "Rome", "Rom"],
    ),
    (
        {
            "es": "de Noruega",
            "fr": "de la Norvège",
            "de": "von Norwegen",
            "it": "della Norvegia",
            "pt": "da Noruega",
        },
        ["Oslo"],
    ),
)
_ML_CAPITAL_Q = {
    "es": "¿Cuál es la capital {x}? Responde en español con una frase corta.",
    "fr": "Quelle est la capitale {x} ? Répondez en français en une phrase courte.",
    "de": "Wie heißt die Hauptstadt {x}? Antworte auf Deutsch in einem kurzen Satz.",
    "it": "Qual è la capitale {x}? Rispondi in italiano con una frase breve.",
    "pt": "Qual é a capital {x}? Responda em português numa frase curta.",
}
_ML_WORDS = (  # English word, then accepted translations per language
    (
        "water",
        {
            "Spanish": ["agua"],
            "French": ["eau"],
            "German": ["Wasser"],
            "Italian": ["acqua"],
            "Portuguese": ["água"],
        },
    ),
    (
        "bread",
        {
            "Spanish": ["pan"],
            "French": ["pain"],
            "German": ["Brot"],
            "Italian": ["pane"],
            "Portuguese": ["pão"],
        },
    ),
    (
        "house",
        {
            "Spanish": ["casa"],
            "French": ["maison"],
            "German": ["Haus"],
            "Italian": ["casa"],
            "Portuguese": ["casa"],
        },
    ),
    (
        "book",
        {
            "Spanish": ["libro"],
            "French": ["livre"],
            "German": ["Buch"],
            "Italian": ["libro"],
            "Portuguese": ["livro"],
        },
    ),
    (
        "dog",
        {
            "Spanish": ["perro"],
            "French": ["chien"],
            "German": ["Hund"],
            "Italian": ["cane"],
            "Portuguese": ["cão", "cachorro"],
        },
    ),
    (
        "moon",
        {
            "Spanish": ["luna"],
            "French": ["lune"],
            "German": ["Mond"],
            "Italian": ["luna"],
            "Portuguese": ["lua"],
        },
    ),
    (
        "friend",
        {
            "Spanish": ["amigo", "amiga"],
            "French": ["ami", "amie"],
            "German": ["Freund", "Freundin"],
            "Italian": ["amico", "amica"],
            "Portuguese": ["amigo", "amiga"],
        },
    ),
    (
        "green",
        {
            "Spanish": ["verde"],
            "French": ["vert", "verte"],
            "German": ["grün"],
            "Italian": ["verde"],
            "Portuguese": ["verde"],
        },
    ),
)


def _ml_problem(rng: random.Random) -> _Draft:
    lang = _pick(rng, sorted(_ML_PROBLEMS))
    text, tail = _ML_PROBLEMS[lang]
    a, b = rng.randint(4, 25), rng.randint(6, 30)
    c = rng.randint(1, a * b - 1)
    return _Draft(f"{text.format(a=a, b=b, c=c)} {tail}", "number", {"answer": str(a * b - c)}, 256)


def _ml_capital(rng: random.Random) -> _Draft:
    lang = _pick(rng, sorted(_ML_CAPITAL_Q))
    names, capitals = _pick(rng, _ML_COUNTRIES)
    return _Draft(_ML_CAPITAL_Q[lang].format(x=names[lang]), "contains", {"needles": [capitals]}, 48)


def _ml_translate(rng: random.Random) -> _Draft:
    word, options = _pick(rng, _ML_WORDS)
    lang = _pick(rng, sorted(options))
    q = _pick(
        rng,
        (
            f'How do you say the English word "{word}" in {lang}? Give the {lang} word.',
            f'Give the {lang} translation of the English word "{word}".',
        ),
    )
    return _Draft(q, "contains", {"needles": [options[lang]]}, 32)


# ----------------------------------------------------------------------------------------------------------
# Suites

_TEMPLATE = "template"
# Per capability, the cycle of sources item i draws from (source i mod len): builders and template slots.
_CYCLES: dict[str, tuple[str, ...]] = {
    "general_knowledge": (
        "gk_fact",
        "gk_fact",
        _TEMPLATE,
        "gk_fact",
        "gk_fact",
        "gk_fact",
        _TEMPLATE,
        "gk_fact",
    ),
    "steerability": (
        "instructions",
        "json",
        _TEMPLATE,
        "instructions",
        "instructions",
        "json",
        _TEMPLATE,
        "instructions",
    ),
    "reasoning": ("race", "ages", _TEMPLATE, "sequence", "boolean", "robot", _TEMPLATE, "sequence"),
    "math": ("arith", "equation", _TEMPLATE, "word", "percent", "divisors", _TEMPLATE, "word"),
    "code": ("function", "output", _TEMPLATE, "function", "function", "output", _TEMPLATE, "function"),
    "tool_use": (
        "tool_call",
        "tool_call",
        _TEMPLATE,
        "tool_call",
        "tool_call",
        "tool_call",
        _TEMPLATE,
        "tool_call",
    ),
    "long_context": ("needle", "lookup", _TEMPLATE, "sum", "needle", "lookup", _TEMPLATE, "needle"),
    "multilingual": (
        "ml_problem",
        "ml_capital",
        _TEMPLATE,
        "ml_translate",
        "ml_problem",
        "ml_capital",
        _TEMPLATE,
        "ml_translate",
    ),
}
_BUILDERS: dict[str, Callable[[random.Random], _Draft]] = {
    "gk_fact": _gk_fact,
    "instructions": _steer_instructions,
    "json": _steer_json,
    "race": _reason_race,
    "ages": _reason_ages,
    "sequence": _reason_sequence,
    "boolean": _reason_boolean,
    "robot": _reason_robot,
    "arith": _math_arith,
    "equation": _math_equation,
    "percent": _math_percent,
    "word": _math_word,
    "divisors": _math_divisors,
    "function": _code_function,
    "output": _code_output,
    "tool_call": _tool_call,
    "needle": _lc_needle,
    "lookup": _lc_lookup,
    "sum": _lc_sum,
    "ml_problem": _ml_problem,
    "ml_capital": _ml_capital,
    "ml_translate": _ml_translate,
}
_MAX_ATTEMPTS = 40  # redraws of a source that keeps producing a prompt already in the suite


def probes_dir() -> Path:
    """The probe-only templates shipped with the package (``read_ray/data/probes``)."""
    return Path(__file__).resolve().parent.parent / "data" / "probes"


def _item_seed(seed: int, capability: str, index: int, attempt: int) -> int:
    key = f"read_ray/probe-item|{seed}|{capability}|{index}|{attempt}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


def _capability_templates(capability: str, templates_dir: Path) -> tuple[Template, ...]:
    path = templates_dir / f"{capability}.jsonl"
    return load_templates(path) if path.is_file() else ()


def build_probe_suite(
    capabilities: Sequence[str],
    *,
    items_per_capability: int = 32,
    seed: int = 0,
    templates_dir: str | os.PathLike[str] | None = None,
    leakage_filter: LeakageFilter | None = None,
) -> dict[str, tuple[ProbeItem, ...]]:
    """The probe suite: ``items_per_capability`` items per capability, in the order given.

    Deterministic in ``seed``; item ``i`` does not depend on ``items_per_capability``. Prompts are unique
    within the suite (a source that repeats a prompt is redrawn with the next attempt's seed). Template
    items come from ``<templates_dir>/<capability>.jsonl`` (default :func:`probes_dir`); a capability
    without builders here (a custom one) needs that file and is probed with its templates only.

    ``leakage_filter`` (optional, e.g. built from downstream evaluation prompts or sample fills of the
    generation pools): a draft it blocks is redrawn like a duplicate; ValueError if a slot cannot find a
    clean prompt. The bundled probes are clean against the bundled generation templates by construction.
    """
    if isinstance(capabilities, str):
        raise TypeError("capabilities must be a sequence of names, not a single string")
    if (
        isinstance(items_per_capability, bool)
        or not isinstance(items_per_capability, int)
        or items_per_capability < 1
    ):
        raise ValueError(f"items_per_capability must be a positive int, got {items_per_capability!r}")
    if len(set(capabilities)) != len(capabilities):
        raise ValueError(f"capabilities must be unique, got {list(capabilities)}")
    tdir = Path(templates_dir) if templates_dir is not None else probes_dir()
    suite: dict[str, tuple[ProbeItem, ...]] = {}
    seen: set[str] = set()
    for cap in capabilities:
        templates = _capability_templates(cap, tdir)
        cycle = _CYCLES.get(cap)
        if cycle is None:
            if not templates:
                raise ValueError(
                    f"no probes for capability {cap!r}: it has no probe builders and no template file "
                    f"{tdir / (cap + '.jsonl')}"
                )
            cycle = (_TEMPLATE,)
        elif not templates:
            raise ValueError(
                f"no probe templates for capability {cap!r}: {tdir / (cap + '.jsonl')} is missing (the "
                "package ships read_ray/data/probes/*.jsonl as package data)"
            )
        items = []
        template_slot = 0
        for index in range(items_per_capability):
            source = cycle[index % len(cycle)]
            for attempt in range(_MAX_ATTEMPTS):
                rng = random.Random(_item_seed(seed, cap, index, attempt))
                if source == _TEMPLATE:
                    template = templates[(template_slot + attempt) % len(templates)]
                    filled = template.fill(rng.randrange(2**62))
                    draft = _Draft(filled.text, None, {}, template.max_new_tokens or _DEFAULT_MAX_NEW_TOKENS)
                else:
                    draft = _BUILDERS[source](rng)
                if draft.prompt not in seen and (
                    leakage_filter is None or not leakage_filter.check(draft.prompt)
                ):
                    break
            else:
                if leakage_filter is not None and leakage_filter.check(draft.prompt):
                    raise ValueError(
                        f"probe {cap}/{index:03d}: every draft of {source!r} is blocked by the leakage filter"
                    )
            if source == _TEMPLATE:
                template_slot += 1
            seen.add(draft.prompt)
            items.append(
                ProbeItem(
                    capability=cap,
                    item_id=f"{cap}/{index:03d}-{source}",
                    prompt=draft.prompt,
                    checker=draft.checker,
                    checker_data=draft.checker_data,
                    max_new_tokens=draft.max_new_tokens,
                )
            )
        suite[cap] = tuple(items)
    return suite


def _iter_items(suite: Mapping[str, Sequence[ProbeItem]]) -> Iterable[ProbeItem]:
    for items in suite.values():
        yield from items


def suite_fingerprint(suite: Mapping[str, Sequence[ProbeItem]]) -> str:
    """SHA-256 over every item's definition (capability order and item order included, references not)."""
    payload = {
        "format": _SUITE_FORMAT,
        "suite": [[cap, [item.spec() for item in items]] for cap, items in suite.items()],
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def probe_prompts(suite: Mapping[str, Sequence[ProbeItem]]) -> list[str]:
    """Every probe prompt, for the generation pools' leakage filter."""
    return [item.prompt for item in _iter_items(suite)]


# ----------------------------------------------------------------------------------------------------------
# Teacher references


def _sanitise(name: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-") or "teacher"
    if len(clean) > 96 or clean != name:
        clean = f"{clean[-80:]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return clean


def references_path(
    suite: Mapping[str, Sequence[ProbeItem]], cache_dir: str | os.PathLike[str], *, teacher_id: str
) -> Path:
    """Where :func:`attach_references` caches this suite's references for this teacher."""
    return Path(cache_dir) / _sanitise(str(teacher_id)) / f"{suite_fingerprint(suite)}.jsonl"


def _prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def _read_cache(path: Path, fingerprint: str) -> dict[str, tuple[str, str]]:
    """item_id -> (prompt hash, reference) from a cache file; empty if missing or unreadable."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    out: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(lines):
        try:
            record = json.loads(line)
        except ValueError:
            return out if number else {}
        if number == 0:
            if record.get("fingerprint") != fingerprint or record.get("format") != _CACHE_FORMAT:
                return {}
            continue
        if isinstance(record, dict) and isinstance(record.get("reference"), str):
            out[str(record.get("item_id"))] = (str(record.get("prompt_sha256")), record["reference"])
    return out


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _texts(outputs: Sequence, expected: int) -> list[str]:
    outputs = list(outputs)
    if len(outputs) != expected:
        raise ValueError(f"generate_fn returned {len(outputs)} answers for {expected} prompts")
    texts = [o if isinstance(o, str) else getattr(o, "text", None) for o in outputs]
    if any(not isinstance(t, str) for t in texts):
        raise TypeError("generate_fn must return strings (or objects with a .text string)")
    return texts  # type: ignore[return-value]


def attach_references(
    suite: Mapping[str, Sequence[ProbeItem]],
    generate_fn: Callable[[list[str]], Sequence],
    cache_dir: str | os.PathLike[str],
    *,
    teacher_id: str,
) -> dict[str, tuple[ProbeItem, ...]]:
    """The suite with every item's teacher reference attached, generated once and cached.

    The cache is ``<cache_dir>/<teacher_id, sanitised>/<suite fingerprint>.jsonl``: a header line, then one
    ``{"item_id", "prompt_sha256", "reference"}`` line per item, written atomically (temporary file +
    rename). Items found in the cache (same id and prompt) are not regenerated; ``generate_fn`` is called
    once, with the prompts of the missing items only (not at all when the cache is complete). It gets raw
    prompts (it applies the chat template itself, as :func:`probe_generate_fn` does) and returns one string
    (or object with ``.text``) per prompt.
    """
    path = references_path(suite, cache_dir, teacher_id=teacher_id)
    fingerprint = path.stem
    cached = _read_cache(path, fingerprint)
    items = list(_iter_items(suite))
    refs: dict[str, str] = {}
    missing = []
    for item in items:
        hit = cached.get(item.item_id)
        if hit is not None and hit[0] == _prompt_hash(item.prompt):
            refs[item.item_id] = hit[1]
        else:
            missing.append(item)
    if missing:
        texts = _texts(generate_fn([item.prompt for item in missing]), len(missing))
        refs.update({item.item_id: text for item, text in zip(missing, texts, strict=True)})
        header = {
            "format": _CACHE_FORMAT,
            "fingerprint": fingerprint,
            "teacher_id": str(teacher_id),
            "items": len(items),
        }
        lines = [json.dumps(header, ensure_ascii=False)]
        lines += [
            json.dumps(
                {
                    "item_id": item.item_id,
                    "prompt_sha256": _prompt_hash(item.prompt),
                    "reference": refs[item.item_id],
                },
                ensure_ascii=False,
            )
            for item in items
        ]
        _write_atomic(path, "\n".join(lines) + "\n")
    return {cap: tuple(item.with_reference(refs[item.item_id]) for item in its) for cap, its in suite.items()}


# ----------------------------------------------------------------------------------------------------------
# Checkers

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


def check_response(item: ProbeItem, text: str) -> bool:
    """Whether ``text`` answers ``item`` correctly according to its checker (ValueError without one)."""
    from read_ray.model import scoring

    data = item.checker_data
    if item.checker is None:
        raise ValueError(f"probe {item.item_id!r} has no checker")
    if item.checker == "number":
        return scoring.numbers_match(scoring.extract_final_number(text), str(data["answer"]))
    if item.checker == "contains":
        needles = data["needles"]
        return all(
            any(_contains_word(text, alt) for alt in ([n] if isinstance(n, str) else n)) for n in needles
        )
    if item.checker == "json":
        obj = scoring.extract_json(text)
        keys = data["keys"]
        return (
            isinstance(obj, dict)
            and set(obj) == set(keys)
            and all(_JSON_TYPES[kind](obj[key]) for key, kind in keys.items())
        )
    if item.checker == "tool_call":
        calls = scoring.parse_tool_calls(text)
        return (
            calls is not None
            and len(calls) == 1
            and scoring.tool_call_matches(calls[0], data["possible_answer"])
        )
    if item.checker == "code":
        return scoring.code_passes(_extract_program(text), data["tests"])
    if item.checker == "instructions":
        return _instructions_pass(text, data["instructions"], item.prompt)
    raise ValueError(f"probe {item.item_id!r}: unknown checker {item.checker!r}")  # pragma: no cover


# ----------------------------------------------------------------------------------------------------------
# Scoring


def probe_generate_fn(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Iterable[ProbeItem] | Mapping[str, Sequence[ProbeItem]],
    *,
    batch_size: int = 8,
    temperature: float = 0.0,
    seed: int = 0,
) -> Callable[[list[str]], list]:
    """A ``generate_fn`` for these items: greedy (by default) chat generation with each item's
    ``max_new_tokens``, in batches of ``batch_size`` (grouped by budget and prompt length). Returns
    :class:`~read_ray.model.generation.Completion` objects (exact token counts for ``probe_tokens``).
    Prompts that are not among the items get the default budget of 256 tokens.
    """
    from read_ray.model.generation import generate_batch

    pool = _iter_items(items) if isinstance(items, Mapping) else items
    budget = {item.prompt: item.max_new_tokens for item in pool}

    def generate(prompts: list[str]) -> list:
        order = sorted(
            range(len(prompts)),
            key=lambda i: (budget.get(prompts[i], _DEFAULT_MAX_NEW_TOKENS), len(prompts[i])),
        )
        out: list = [None] * len(prompts)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            completions = generate_batch(
                model,
                tokenizer,
                [prompts[i] for i in chunk],
                max_new_tokens=[budget.get(prompts[i], _DEFAULT_MAX_NEW_TOKENS) for i in chunk],
                temperature=temperature,
                seed=seed + start,
            )
            for i, completion in zip(chunk, completions, strict=True):
                out[i] = completion
        return out

    return generate


def _score_items(
    model, tokenizer, items: Sequence[ProbeItem], scorer: str, generate_fn, batch_size: int, max_length: int
) -> tuple[list[float], int]:
    """Item scores and the tokens processed to get them."""
    from read_ray.model.generation import render_prompts
    from read_ray.model.scoring import answer_logliks

    if scorer not in SCORERS:
        raise ValueError(f"unknown scorer {scorer!r}; expected one of {SCORERS}")
    items = list(items)
    if not items:
        return [], 0
    if scorer == "teacher_loglik":
        missing = [item.item_id for item in items if item.reference is None]
        if missing:
            raise ValueError(
                f"teacher_loglik needs references; attach_references first (missing: {missing[:3]}...)"
            )
        prompts = render_prompts(tokenizer, [item.prompt for item in items], chat=True)
        pairs = answer_logliks(
            model,
            tokenizer,
            prompts,
            [item.reference for item in items],
            batch_size=batch_size,
            max_length=max_length,
        )
        scores = [total / n if n else math.nan for total, n in pairs]
        prompt_lens = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
        tokens = sum(min(p + n, max_length) for p, (_, n) in zip(prompt_lens, pairs, strict=True) if n)
        return scores, int(tokens)
    if generate_fn is None:
        raise ValueError(
            "the accuracy scorer needs a generate_fn (e.g. probe_generate_fn(model, tokenizer, items))"
        )
    checked = [i for i, item in enumerate(items) if item.checker is not None]
    scores = [math.nan] * len(items)
    if not checked:
        return scores, 0
    outputs = list(generate_fn([items[i].prompt for i in checked]))
    texts = _texts(outputs, len(checked))
    tokens = 0
    for i, output, text in zip(checked, outputs, texts, strict=True):
        scores[i] = 1.0 if check_response(items[i], text) else 0.0
        if hasattr(output, "prompt_tokens") and hasattr(output, "completion_tokens"):
            tokens += int(output.prompt_tokens) + int(output.completion_tokens)
        else:  # plain strings: count by re-tokenising (approximate for the completion)
            rendered = render_prompts(tokenizer, [items[i].prompt], chat=True)[0]
            tokens += len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
            tokens += len(tokenizer(text, add_special_tokens=False)["input_ids"])
    return scores, tokens


def score_items(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[ProbeItem],
    *,
    scorer: str,
    generate_fn: Callable[[list[str]], Sequence] | None = None,
    batch_size: int = 8,
    max_length: int = _DEFAULT_LOGLIK_MAX_LENGTH,
) -> list[float]:
    """One score per item.

    ``teacher_loglik``: mean per-token log-likelihood of ``item.reference`` given the chat-rendered prompt
    (every item needs a reference; prompts longer than ``max_length`` tokens with their answer are cut from
    the left). ``accuracy``: ``generate_fn`` answers every item that has a checker, scored 1.0 / 0.0;
    items **without a checker are skipped and get nan** (they are never sent to ``generate_fn``).
    """
    return _score_items(model, tokenizer, items, scorer, generate_fn, batch_size, max_length)[0]


def score_items_and_tokens(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[ProbeItem],
    *,
    scorer: str,
    generate_fn: Callable[[list[str]], Sequence] | None = None,
    batch_size: int = 8,
    max_length: int = _DEFAULT_LOGLIK_MAX_LENGTH,
) -> tuple[list[float], int]:
    """:func:`score_items` plus the tokens processed (what ``CapabilityScores.probe_tokens`` counts)."""
    return _score_items(model, tokenizer, items, scorer, generate_fn, batch_size, max_length)


def bootstrap_ci(
    values: Sequence[float], *, samples: int = 1000, seed: int | Sequence[int] = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap CI of the mean of the non-nan ``values`` (numpy Generator seeded by ``seed``).

    ``(nan, nan)`` without values; ``(mean, mean)`` for one value or ``samples == 0``. The interval is
    widened to include the sample mean if resampling noise ever leaves it outside.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return (math.nan, math.nan)
    mean = float(x.mean())
    if x.size == 1 or samples <= 0:
        return (mean, mean)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(samples, x.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return (min(float(lo), mean), max(float(hi), mean))


@dataclass(frozen=True)
class CapabilityScores:
    """Raw per-capability probe scores (means over items), 95% bootstrap CIs, item counts and tokens used.

    ``n`` counts the items that were scored (for ``accuracy``: the items with a checker); a capability
    with none has ``raw = nan``.
    """

    raw: Mapping[str, float]
    ci: Mapping[str, tuple[float, float]]
    n: Mapping[str, int]
    probe_tokens: int

    def to_dict(self) -> dict:
        return {
            "raw": dict(self.raw),
            "ci": {k: list(v) for k, v in self.ci.items()},
            "n": dict(self.n),
            "probe_tokens": int(self.probe_tokens),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> CapabilityScores:
        return cls(
            raw={k: float(v) for k, v in data["raw"].items()},
            ci={k: (float(v[0]), float(v[1])) for k, v in data["ci"].items()},
            n={k: int(v) for k, v in data["n"].items()},
            probe_tokens=int(data["probe_tokens"]),
        )


def _capability_seed(seed: int, capability: str) -> list[int]:
    return [int(seed) & 0xFFFFFFFF, int.from_bytes(hashlib.sha256(capability.encode()).digest()[:4], "big")]


def profile_scores(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    suite: Mapping[str, Sequence[ProbeItem]],
    *,
    scorer: str = "teacher_loglik",
    bootstrap_samples: int = 1000,
    seed: int = 0,
    generate_fn: Callable[[list[str]], Sequence] | None = None,
    batch_size: int = 8,
    max_length: int = _DEFAULT_LOGLIK_MAX_LENGTH,
) -> CapabilityScores:
    """The capability profile: per capability the mean item score with a percentile-bootstrap 95% CI.

    All items are scored in one pass (batches across capabilities). Each capability's bootstrap uses its
    own generator seeded by ``(seed, capability)``, so a CI does not depend on the other capabilities.
    ``probe_tokens`` counts the tokens processed (prompt + scored answer tokens for ``teacher_loglik``,
    prompt + completion tokens for ``accuracy``).
    """
    items = list(_iter_items(suite))
    scores, tokens = _score_items(model, tokenizer, items, scorer, generate_fn, batch_size, max_length)
    by_id = {item.item_id: score for item, score in zip(items, scores, strict=True)}
    return aggregate_scores(suite, by_id, tokens, bootstrap_samples=bootstrap_samples, seed=seed)


def aggregate_scores(
    suite: Mapping[str, Sequence[ProbeItem]],
    scores: Mapping[str, float],
    probe_tokens: int,
    *,
    bootstrap_samples: int = 1000,
    seed: int = 0,
) -> CapabilityScores:
    """Per-capability means and bootstrap CIs from item scores (``item_id -> score``, nan = skipped).

    For scores gathered in shards (e.g. by several probe actors, see :func:`score_items_and_tokens`);
    :func:`profile_scores` is this applied to one pass over the whole suite. Every item of the suite needs
    a score (ValueError otherwise).
    """
    raw: dict[str, float] = {}
    ci: dict[str, tuple[float, float]] = {}
    n: dict[str, int] = {}
    missing = [item.item_id for item in _iter_items(suite) if item.item_id not in scores]
    if missing:
        raise ValueError(f"no score for {len(missing)} probe items, e.g. {missing[:3]}")
    for cap, cap_items in suite.items():
        values = np.asarray([float(scores[item.item_id]) for item in cap_items], dtype=np.float64)
        valid = values[~np.isnan(values)]
        n[cap] = int(valid.size)
        raw[cap] = float(valid.mean()) if valid.size else math.nan
        ci[cap] = bootstrap_ci(valid, samples=bootstrap_samples, seed=_capability_seed(seed, cap))
    return CapabilityScores(raw=raw, ci=ci, n=n, probe_tokens=int(probe_tokens))


# ----------------------------------------------------------------------------------------------------------
# Normalisation


@dataclass(frozen=True)
class Normaliser:
    """Per-capability affine map fixed at round 0: ``low`` (initial student) -> 0, ``high`` (teacher) -> 100.

    ``high`` is the *effective* upper anchor (see :func:`fit_normaliser`'s floor). Capabilities whose
    anchors are nan (nothing scored) map to nan.
    """

    low: Mapping[str, float]
    high: Mapping[str, float]

    def __post_init__(self) -> None:
        if set(self.low) != set(self.high):
            raise ValueError(
                f"normaliser: low and high name different capabilities: {sorted(self.low)} vs "
                f"{sorted(self.high)}"
            )
        for cap in self.low:
            lo, hi = float(self.low[cap]), float(self.high[cap])
            if math.isfinite(lo) and math.isfinite(hi) and not hi > lo:
                raise ValueError(f"normaliser: capability {cap!r} needs high > low, got low={lo}, high={hi}")
        object.__setattr__(self, "low", {k: float(v) for k, v in self.low.items()})
        object.__setattr__(self, "high", {k: float(v) for k, v in self.high.items()})

    def _scale(self, cap: str) -> float:
        if cap not in self.low:
            raise KeyError(f"normaliser has no capability {cap!r} (it knows {sorted(self.low)})")
        return 100.0 / (self.high[cap] - self.low[cap])

    def __call__(self, raw: Mapping[str, float]) -> dict[str, float]:
        """Normalised scores (0 = initial student, 100 = teacher) for the capabilities in ``raw``."""
        return {cap: (float(value) - self.low[cap]) * self._scale(cap) for cap, value in raw.items()}

    def ci(self, ci: Mapping[str, tuple[float, float]]) -> dict[str, float]:
        """Half-widths of raw CIs in normalised points."""
        return {cap: (float(hi) - float(lo)) / 2.0 * self._scale(cap) for cap, (lo, hi) in ci.items()}

    def to_dict(self) -> dict:
        return {"low": dict(self.low), "high": dict(self.high)}

    @classmethod
    def from_dict(cls, data: Mapping) -> Normaliser:
        return cls(low=dict(data["low"]), high=dict(data["high"]))


def fit_normaliser(
    student0: CapabilityScores, teacher: CapabilityScores, *, min_gap: float = MIN_NORMALISER_GAP
) -> Normaliser:
    """The round-0 normaliser: 0 = ``student0``'s raw score, 100 = ``teacher``'s.

    When the teacher is less than ``min_gap`` (raw units: nats per token for ``teacher_loglik``, accuracy
    for ``accuracy``) above the initial student, including when the student starts level with or above
    the teacher, the upper anchor becomes ``student0 + min_gap`` so the scale stays finite and increasing;
    the teacher then maps below 100.
    """
    if not min_gap > 0:
        raise ValueError(f"min_gap must be > 0, got {min_gap}")
    low, high = {}, {}
    for cap, lo in student0.raw.items():
        if cap not in teacher.raw:
            raise ValueError(f"fit_normaliser: teacher scores lack capability {cap!r}")
        lo, hi = float(lo), float(teacher.raw[cap])
        low[cap] = lo
        high[cap] = hi if not (math.isfinite(lo) and math.isfinite(hi)) else max(hi, lo + min_gap)
    return Normaliser(low=low, high=high)
