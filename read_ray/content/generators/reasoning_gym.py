"""``reasoning_gym`` datasets as prompt sources (math, reasoning): per-seed difficulty knobs, datasets
cached per config. ``reasoning_gym`` is imported on first use only."""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from read_ray.content.generators.common import _Procedural

__all__ = ["Knob", "ReasoningGymSource"]

_RG_SIZE = 2**31  # virtual dataset size; items are indexed by a per-seed index below it


@dataclass(frozen=True)
class Knob:
    """A difficulty knob of a reasoning_gym config: sampled from ``values`` (easy -> hard), written to
    every config key in ``keys`` (e.g. both ``min_terms`` and ``max_terms``) and recorded as factor
    ``name``."""

    name: str
    values: tuple[float, ...]
    keys: tuple[str, ...]
    factor_values: tuple[float, ...] = ()  # recorded instead of ``values`` (e.g. digits for a max value)

    def __post_init__(self) -> None:
        if not self.values or not self.keys:
            raise ValueError(f"knob {self.name!r}: needs values and config keys")
        if self.factor_values and len(self.factor_values) != len(self.values):
            raise ValueError(f"knob {self.name!r}: factor_values must match values one to one")
        for value in self.values + self.factor_values:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"knob {self.name!r}: value {value!r} is not a number")


@functools.lru_cache(maxsize=1024)
def _rg_dataset(name: str, config: tuple[tuple[str, Any], ...]) -> Any:
    import reasoning_gym  # heavy: first use only

    return reasoning_gym.create_dataset(name, seed=0, size=_RG_SIZE, **dict(config))


@dataclass(frozen=True)
class ReasoningGymSource(_Procedural):
    """One ``reasoning_gym`` dataset as a prompt source; answer = the item's answer.

    Per seed: each knob's value is sampled, the dataset for that config is taken from a cache (one
    object per distinct config) and indexed with a per-seed index (reasoning_gym items are
    ``Random(dataset_seed + index)``-deterministic). Without knobs the factor is the question's words.
    """

    dataset: str = ""
    knobs: tuple[Knob, ...] = ()
    config: tuple[tuple[str, Any], ...] = ()
    suffix: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.dataset:
            raise ValueError(f"{self.source_id}: dataset name is required")
        names = [knob.name for knob in self.knobs]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.source_id}: duplicate knob names {names}")

    def _generate(self, rng: random.Random) -> tuple[str, dict[str, float], str | None]:
        config = dict(self.config)
        factors: dict[str, float] = {}
        for knob in self.knobs:
            index = rng.randrange(len(knob.values))
            value = knob.values[index]
            factors[knob.name] = knob.factor_values[index] if knob.factor_values else value
            for key in knob.keys:
                config[key] = value
        item = _rg_dataset(self.dataset, tuple(sorted(config.items())))[rng.randrange(_RG_SIZE)]
        question = str(item["question"]).strip()
        if not factors:
            factors["question_words"] = len(question.split())
        text = f"{question}\n\n{self.suffix}" if self.suffix else question
        return text, factors, str(item["answer"])


def _k(name: str, values: Sequence[float], *keys: str) -> Knob:
    return Knob(name=name, values=tuple(values), keys=tuple(keys) or (name,))


def _digits(name: str, digits: Sequence[int], *keys: str) -> Knob:
    """A knob over a maximum value 10**d - 1, recorded as the number of digits d."""
    return Knob(
        name=name, values=tuple(10**d - 1 for d in digits), keys=tuple(keys), factor_values=tuple(digits)
    )


# (dataset, knobs, fixed config) per capability. Not used: gsm_symbolic (its templates are GSM8K test
# items, a downstream task), and datasets measured at several ms per item (number_sequence, zebra).
_RG_MATH: tuple[tuple[str, tuple[Knob, ...], tuple[tuple[str, Any], ...]], ...] = (
    (
        "basic_arithmetic",
        (
            _k("terms", range(2, 7), "min_terms", "max_terms"),
            _k("digits", (1, 2, 3), "min_digits", "max_digits"),
        ),
        (),
    ),
    (
        "chain_sum",
        (
            _k("terms", range(2, 9), "min_terms", "max_terms"),
            _k("digits", (1, 2, 3, 4), "min_digits", "max_digits"),
        ),
        (),
    ),
    (
        "decimal_chain_sum",
        (
            _k("terms", range(2, 7), "min_terms", "max_terms"),
            _k("decimals", (1, 2, 3, 4), "min_decimal_places", "max_decimal_places"),
        ),
        (),
    ),
    (
        "decimal_arithmetic",
        (
            _k("terms", range(2, 6), "min_terms", "max_terms"),
            _k("decimals", (1, 2, 3, 4), "min_num_decimal_places", "max_num_decimal_places"),
        ),
        (),
    ),
    (
        "fraction_simplification",
        (
            _k("fraction_max_value", (20, 50, 100, 300, 1000), "max_value"),
            _k("fraction_max_factor", (5, 10, 25, 50, 100), "max_factor"),
        ),
        (),
    ),
    (
        "lcm",
        (
            _k("numbers", (2, 3, 4), "min_numbers", "max_numbers"),
            _k("lcm_max_value", (30, 60, 100, 200), "max_value"),
        ),
        (),
    ),
    (
        "gcd",
        (
            _k("numbers", (2, 3, 4), "min_numbers", "max_numbers"),
            _digits("gcd_digits", (2, 3, 4), "max_value"),
        ),
        (),
    ),
    ("prime_factorization", (_digits("factorize_digits", (2, 3, 4, 5), "max_value"),), ()),
    ("simple_equations", (_k("terms", (2, 3, 4), "min_terms", "max_terms"),), ()),
    (
        "products",
        (
            _k("terms", (2, 3), "min_terms", "max_terms"),
            _k("digits", (1, 2, 3, 4), "min_digits", "max_digits"),
        ),
        (),
    ),
    ("count_primes", (_k("primes_max_n", (200, 1000, 5000, 10000), "max_n"),), ()),
    ("base_conversion", (_digits("base_digits", (2, 3, 4, 5), "max_value"),), ()),
    ("coin_flip", (_k("trials", range(3, 16, 2), "min_trials", "max_trials"),), ()),
    ("simple_geometry", (_k("sides", range(3, 11), "min_sides", "max_sides"),), ()),
    ("dice", (_k("num_dice", (2, 3, 4, 5)), _k("dice_sides", (6, 10, 20), "max_dice_size")), ()),
)

_RG_REASONING: tuple[tuple[str, tuple[Knob, ...], tuple[tuple[str, Any], ...]], ...] = (
    (
        "propositional_logic",
        (
            _k("variables", (2, 3, 4, 5), "min_vars", "max_vars"),
            _k("statements", (2, 3, 4, 5), "min_statements", "max_statements"),
            _k("complexity", (1, 2, 3), "min_complexity", "max_complexity"),
        ),
        (),
    ),
    ("family_relationships", (_k("family_size", range(4, 11), "min_family_size", "max_family_size"),), ()),
    ("letter_counting", (_k("text_words", (5, 10, 15, 20, 30), "min_words", "max_words"),), ()),
    ("word_sorting", (_k("words", (3, 5, 8, 12, 15), "min_words", "max_words"),), ()),
    (
        "knights_knaves",
        (_k("people", (2, 3, 4), "n_people"),),
        (("depth_constraint", 2), ("width_constraint", 2)),
    ),
    ("aiw", (_k("max_entities", (3, 4, 5, 6, 8)),), ()),
    (
        "circuit_logic",
        (
            _k("gates", (2, 3, 4, 5, 6), "min_terms", "max_terms"),
            _k("inputs", (2, 3, 4, 5), "min_inputs", "max_inputs"),
        ),
        (),
    ),
    ("course_schedule", (_k("courses", range(4, 13, 2), "min_num_courses", "max_num_courses"),), ()),
    ("shortest_path", (_k("grid_side", range(4, 11), "min_rows", "max_rows", "min_cols", "max_cols"),), ()),
    ("self_reference", (_k("self_reference_level", range(1, 11), "difficulty"),), ()),
    ("tower_of_hanoi", (_k("disks", range(3, 8), "min_disks", "max_disks"),), (("max_pegs", 3),)),
    ("mini_sudoku", (_k("empty_cells", range(4, 13, 2), "min_empty", "max_empty"),), ()),
    (
        "string_manipulation",
        (
            _k("string_length", (5, 10, 15, 20), "min_string_length", "max_string_length"),
            _k("rules", range(3, 9), "min_num_rules", "max_num_rules"),
        ),
        (),
    ),
    ("word_sequence_reversal", (_k("words", (3, 6, 9, 12, 15), "min_words", "max_words"),), ()),
    ("caesar_cipher", (_k("words", (3, 6, 9, 12, 15), "min_words", "max_words"),), ()),
    ("calendar_arithmetic", (_k("calendar_offset_days", (30, 100, 365, 1000), "offset_upper_bound"),), ()),
    ("number_sorting", (_k("numbers", (3, 5, 8, 12), "min_numbers", "max_numbers"),), ()),
    ("leg_counting", (_k("animals", (2, 4, 6, 8, 10), "min_animals", "max_animals"),), ()),
    ("syllogism", (), ()),
)


def _rg_sources(
    capability: str, table: Sequence[tuple[str, tuple[Knob, ...], tuple[tuple[str, Any], ...]]], split: str
) -> tuple[ReasoningGymSource, ...]:
    return tuple(
        ReasoningGymSource(
            source_id=f"{capability}/rg_{name}",
            capability=capability,
            split=split,
            dataset=name,
            knobs=knobs,
            config=config,
            max_new_tokens=512,
        )
        for name, knobs, config in table
    )
