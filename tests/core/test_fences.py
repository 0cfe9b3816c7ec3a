"""One reader of fenced code (read_ray.content.fences): which block an answer's program is, and the probe and
task graders agreeing on it.

Before, the probes' ``code`` checker, the tasks' ``pass_at_1`` metric and the JSON/tool-call parsers each had
their own fence regex; a shell block before a cut-off Python block failed the probe and passed the task.
"""

from __future__ import annotations

import sys

import pytest

from read_ray.content.answers import extract_json
from read_ray.content.fences import extract_code, fenced_blocks
from read_ray.content.probe_items.checks import check_response
from read_ray.content.probe_items.common import ProbeItem
from read_ray.content.tasks.items import TaskItem
from read_ray.content.tasks.metrics import score_prediction
from read_ray.content.tool_calls import parse_tool_calls

RIGHT = "def add_one(x):\n    return x + 1\n"
WRONG = "def add_one(x):\n    return x\n"

# (answer, whether add_one is right in it): every grader must reach the same verdict
TRICKY = [
    (f"Here it is:\n```python\n{RIGHT}```\nDone.", True),
    (f"Sure:\n```python\n{RIGHT}", True),  # cut off by the token budget: the fence never closes
    (f"Run it with:\n```bash\npython add.py\n```\nThe code:\n```python\n{RIGHT}", True),  # shell, then cut off
    (f"It prints:\n```text\n2\n```\nbecause:\n```\n{RIGHT}```", True),  # output block, then unlabelled code
    (f"```Python3\n{RIGHT}```", True),  # tag case
    (f"```python:add_one.py\n{RIGHT}```", True),  # tag with a file name
    (RIGHT, True),  # no fence at all
    (f"```python\n{WRONG}```\nor, shorter:\n```\n{RIGHT}```", False),  # the Python-tagged block decides
]


def test_blocks_carry_their_tag_and_an_open_fence_runs_to_the_end():
    text = "a\n```JSON\n{}\n```\nb\n``` \nx = 1\n```\nc\n```py\nprint(2)"
    assert fenced_blocks(text) == [("json", "{}\n"), ("", "x = 1\n"), ("py", "print(2)")]
    assert fenced_blocks("no fence here") == [] and fenced_blocks("") == []


def test_the_program_is_the_first_python_block_else_unlabelled_else_any_else_the_text():
    assert extract_code("```sh\nls\n```\n```\nu = 1\n```\n```python\np = 1\n```") == "p = 1\n"
    assert extract_code("```sh\nls\n```\n```\nu = 1\n```") == "u = 1\n"
    assert extract_code("```sh\nls\n```\n```js\nx\n```") == "ls\n"
    assert extract_code("x = 1") == "x = 1"


@pytest.mark.parametrize(("answer", "expected"), [(a, e) for a, e in TRICKY if a != RIGHT])
def test_every_tricky_answer_holds_the_expected_program(answer, expected):
    assert extract_code(answer) == (RIGHT if expected else WRONG)


def test_json_and_tool_calls_read_the_same_blocks():
    assert extract_json('Result:\n```json\n{"a": 1}') == {"a": 1}  # an open fence still counts
    assert parse_tool_calls("```python\nget_weather(city='Oslo')") == [
        {"name": "get_weather", "arguments": {"city": "Oslo"}}
    ]


@pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux-only")
def test_probe_and_task_graders_agree_on_tricky_answers():
    tests = "assert add_one(1) == 2\nassert add_one(-3) == -2\n"
    probe = ProbeItem(capability="code", item_id="code/000-function", prompt="Write add_one(x).",
                      checker="code", checker_data={"tests": tests, "entry_point": "add_one", "solution": RIGHT})
    task = TaskItem(item_id="mbpp/add_one", prompt="Write add_one(x).", gold=f"```python\n{RIGHT}```",
                    tests=tests, entry_point="add_one")
    verdicts = [(check_response(probe, a), score_prediction("pass_at_1", task, a) == 1.0) for a, _ in TRICKY]
    assert verdicts == [(e, e) for _, e in TRICKY]
