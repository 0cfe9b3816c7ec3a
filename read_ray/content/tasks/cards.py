"""Task cards: the card YAML files (validated), and :func:`load_task`, a card with a deterministic, disjoint
dev/test split of its evaluation pool (composite cards: their subtasks' splits together).

stdlib + pyyaml.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from read_ray.config import CAPABILITIES
from read_ray.content.tasks.items import TaskCard, TaskItem
from read_ray.content.tasks.metrics import METRICS
from read_ray.content.tasks.pools import TASK_NAMES, excluded_items, task_pool

__all__ = [
    "CARDS_DIR",
    "COMPOSITE_CARD_FIELDS",
    "COMPOSITE_METRIC",
    "REQUIRED_CARD_FIELDS",
    "TASK_NAMES",
    "all_eval_prompts",
    "load_task",
    "read_card_file",
]

CARDS_DIR = Path(__file__).resolve().parents[2] / "data" / "tasks"
"""Where the task card YAML files live (``<name>.yaml``)."""

REQUIRED_CARD_FIELDS = (
    "name",
    "description",
    "input_format",
    "output_format",
    "exemplars",
    "requirement",
    "declared_capability",
    "metric",
)
COMPOSITE_METRIC = "gap_closure"
"""The metric name of a composite card (mean normalised gap closure over its subtasks)."""
COMPOSITE_CARD_FIELDS = (
    "name",
    "description",
    "input_format",
    "output_format",
    "subtasks",
    "requirement",
    "declared_capability",
)


def _normalise_prompt(text: str) -> str:
    return hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()


def _card_error(path: Path, message: str) -> ValueError:
    return ValueError(f"task card {path}: {message}")


def _exemplar_from_yaml(path: Path, index: int, raw: object) -> TaskItem:
    where = f"exemplars[{index}]"
    if not isinstance(raw, Mapping):
        raise _card_error(path, f"{where} must be a mapping with at least 'prompt' and 'gold'")
    for key in ("prompt", "gold"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise _card_error(path, f"{where}.{key}: missing or not a non-empty string")
    choices = raw.get("choices") or ()
    if not isinstance(choices, (list, tuple)) or not all(isinstance(c, str) for c in choices):
        raise _card_error(path, f"{where}.choices must be a list of strings")
    gold_index = raw.get("gold_index")
    if gold_index is not None and (
        isinstance(gold_index, bool) or not isinstance(gold_index, int) or not 0 <= gold_index < len(choices)
    ):
        raise _card_error(path, f"{where}.gold_index must be an index into choices, got {gold_index!r}")
    possible = raw.get("possible_answer")
    if possible is not None and not isinstance(possible, dict):
        raise _card_error(path, f"{where}.possible_answer must be a mapping")
    return TaskItem(
        item_id=str(raw.get("item_id") or f"{path.stem}/exemplar/{index}"),
        prompt=raw["prompt"],
        gold=raw["gold"],
        choices=tuple(choices),
        gold_index=gold_index,
        tests=str(raw.get("tests") or ""),
        entry_point=str(raw.get("entry_point") or ""),
        possible_answer=possible,
    )


def read_card_file(path: str | Path) -> dict[str, Any]:
    """A task card YAML, validated: every field of ``REQUIRED_CARD_FIELDS`` (a composite card, one with
    ``subtasks``: of ``COMPOSITE_CARD_FIELDS``) present and well-formed.

    Returns the mapping with ``exemplars`` as a tuple of :class:`TaskItem` (a composite card: ``subtasks``
    as a tuple of task names, and no exemplars or metric of its own). ``ValueError`` names the file and the
    field on any problem.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise _card_error(path, f"not valid YAML: {error}") from error
    if not isinstance(raw, Mapping):
        raise _card_error(path, "expected a mapping of card fields")
    composite = "subtasks" in raw
    required = COMPOSITE_CARD_FIELDS if composite else REQUIRED_CARD_FIELDS
    for key in required:
        if key not in raw or raw[key] is None or raw[key] == "":
            raise _card_error(path, f"missing required field {key!r} (required: {', '.join(required)})")
    for key in ("name", "description", "input_format", "output_format", "declared_capability", "metric"):
        if key not in required:
            continue
        if not isinstance(raw[key], str):
            raise _card_error(path, f"field {key!r} must be a string, got {type(raw[key]).__name__}")
    if raw["name"] != path.stem:
        raise _card_error(path, f"field 'name' is {raw['name']!r} but the file is {path.name}")
    if not composite and raw["metric"] not in METRICS:
        raise _card_error(path, f"field 'metric': {raw['metric']!r} is not one of {', '.join(METRICS)}")
    if raw["declared_capability"] not in CAPABILITIES:
        raise _card_error(
            path,
            f"field 'declared_capability': {raw['declared_capability']!r} is not one of {', '.join(CAPABILITIES)}",
        )
    requirement = raw["requirement"]
    if not isinstance(requirement, Mapping) or not requirement:
        raise _card_error(path, "field 'requirement' must be a non-empty mapping capability -> weight")
    for cap, weight in requirement.items():
        if cap not in CAPABILITIES:
            raise _card_error(
                path, f"field 'requirement': unknown capability {cap!r} (known: {', '.join(CAPABILITIES)})"
            )
        if (
            isinstance(weight, bool)
            or not isinstance(weight, (int, float))
            or not math.isfinite(weight)
            or weight < 0
        ):
            raise _card_error(
                path, f"field 'requirement.{cap}': weight must be a finite number >= 0, got {weight!r}"
            )
    if sum(requirement.values()) <= 0:
        raise _card_error(path, "field 'requirement': no positive weight")
    if composite:
        return _composite_card_fields(path, raw)
    exemplars = raw["exemplars"]
    if not isinstance(exemplars, list) or not exemplars:
        raise _card_error(path, "field 'exemplars' must be a non-empty list")
    out = dict(raw)
    out["requirement"] = {str(k): float(v) for k, v in requirement.items()}
    out["exemplars"] = tuple(_exemplar_from_yaml(path, i, ex) for i, ex in enumerate(exemplars))
    return out


def _composite_card_fields(path: Path, raw: Mapping[str, Any]) -> dict[str, Any]:
    """A composite card's fields: ``subtasks`` are distinct single-task names; exemplars and the metric come
    from the subtasks, so the card may not set its own."""
    for key in ("metric", "exemplars"):
        if key in raw:
            raise _card_error(path, f"field {key!r}: a composite card (with 'subtasks') takes it from its subtasks")
    subtasks = raw["subtasks"]
    if not isinstance(subtasks, list) or not subtasks or not all(isinstance(s, str) for s in subtasks):
        raise _card_error(path, "field 'subtasks' must be a non-empty list of task names")
    if len(set(subtasks)) != len(subtasks):
        raise _card_error(path, f"field 'subtasks': duplicates in {subtasks}")
    unknown = [s for s in subtasks if s not in TASK_NAMES]
    if unknown:
        raise _card_error(
            path, f"field 'subtasks': {', '.join(map(repr, unknown))} not single tasks ({', '.join(TASK_NAMES)})"
        )
    out = dict(raw)
    out["requirement"] = {str(k): float(v) for k, v in raw["requirement"].items()}
    out["subtasks"] = tuple(subtasks)
    return out


def _split(
    pool: Sequence[TaskItem], dev_size: int, test_size: int, seed: int, drop: Iterable[str] = ()
) -> tuple[tuple, tuple]:
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    dropped = set(drop)
    # after the shuffle, so that the other items keep their places
    order = [i for i in order if pool[i].item_id not in dropped]
    dev = order[:dev_size]
    test = order[max(dev_size, len(order) - test_size) :]
    return tuple(pool[i] for i in dev), tuple(pool[i] for i in test)


def load_task(
    name: str,
    *,
    dev_size: int = 50,
    test_size: int = 200,
    seed: int = 0,
    cards_dir: str | Path | None = None,
) -> TaskCard:
    """The task card ``name`` with a deterministic, disjoint dev/test split of its evaluation data.

    dev = the first ``dev_size`` items of a ``seed``-ed permutation of the pool, test = the last
    ``test_size`` (fewer when the pool is smaller than ``dev_size + test_size``). Exemplar items are never
    in the pool. ``cards_dir`` overrides where the card YAML is read from (default :data:`CARDS_DIR`).

    A composite card (``subtasks``) loads each subtask with the same sizes and seed; its dev, test and
    exemplars are the subtasks' concatenated in card order, its metric :data:`COMPOSITE_METRIC`.
    """
    folder = Path(cards_dir if cards_dir is not None else CARDS_DIR)
    path = folder / f"{name}.yaml"
    if name not in TASK_NAMES and not (path.is_file() and "/" not in name and "\\" not in name):
        known = sorted({*TASK_NAMES, *(p.stem for p in folder.glob("*.yaml"))})
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(known)}")
    for label, size in (("dev_size", dev_size), ("test_size", test_size)):
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"{label} must be an integer >= 0, got {size!r}")
    if not path.is_file():
        raise FileNotFoundError(f"task {name!r}: no card file {path}")
    card = read_card_file(path)
    if "subtasks" in card:
        subtasks = tuple(
            load_task(sub, dev_size=dev_size, test_size=test_size, seed=seed, cards_dir=cards_dir)
            for sub in card["subtasks"]
        )
        return TaskCard(
            name=name,
            description=card["description"],
            input_format=card["input_format"],
            output_format=card["output_format"],
            exemplars=tuple(ex for sub in subtasks for ex in sub.exemplars),
            requirement=card["requirement"],
            declared_capability=card["declared_capability"],
            metric=COMPOSITE_METRIC,
            dev=tuple(item for sub in subtasks for item in sub.dev),
            test=tuple(item for sub in subtasks for item in sub.test),
            subtasks=subtasks,
        )
    if name not in TASK_NAMES:
        raise ValueError(f"task card {path}: task {name!r} has no evaluation data and no 'subtasks'")
    exemplars: tuple[TaskItem, ...] = card["exemplars"]
    blocked_ids = {ex.item_id for ex in exemplars}
    blocked_prompts = {_normalise_prompt(ex.prompt) for ex in exemplars}
    pool = [
        item
        for item in task_pool(name)
        if item.item_id not in blocked_ids and _normalise_prompt(item.prompt) not in blocked_prompts
    ]
    if dev_size >= len(pool) and dev_size > 0:
        raise ValueError(f"task {name!r}: dev_size={dev_size} leaves no test items (pool has {len(pool)})")
    dev, test = _split(pool, dev_size, test_size, seed, drop=excluded_items(name))
    return TaskCard(
        name=name,
        description=card["description"],
        input_format=card["input_format"],
        output_format=card["output_format"],
        exemplars=exemplars,
        requirement=card["requirement"],
        declared_capability=card["declared_capability"],
        metric=card["metric"],
        dev=dev,
        test=test,
    )


def all_eval_prompts(card: TaskCard) -> list[str]:
    """Every exemplar, dev and test prompt of the card (for the leakage filter)."""
    return [item.prompt for item in (*card.exemplars, *card.dev, *card.test)]
