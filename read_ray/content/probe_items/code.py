"""Probe item builders: code (functions checked against asserts, program output)."""

from __future__ import annotations

import contextlib
import io
import random
from collections.abc import Callable
from typing import Any

from read_ray.content.probe_items.common import Draft, pick

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
            (pick(r, ("banana split", "Queue", "xyz AEIOU")),),
        ],
    ),
    (
        "rotate_left",
        "rotate_left(items: list, k: int) -> list",
        "returns a new list with the elements of `items` rotated {k_word} by `k` positions; `k` may be "
        "larger than the length, and an empty list stays empty",
        "def rotate_left(items, k):\n    if not items:\n        return []\n    k %= len(items)\n"
        "    return {body}\n",
        lambda r: pick(
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
            (pick(r, ("No lemon, no melon", "Step on no pets!")),),
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


def code_function(rng: random.Random) -> Draft:
    name, signature, description, solution, params_of, inputs_of = pick(rng, _CODE_TASKS)
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
    style = pick(
        rng,
        (
            "Reply with the function inside one ```python code block.",
            "Give only the function, in a single ```python fenced block.",
        ),
    )
    prompt = f"Implement the Python function `{signature}` that {description}. {style}"
    data = {"entry_point": name, "tests": "\n".join(lines) + "\n", "solution": solution}
    return Draft(prompt, "code", data, 256)


def code_output(rng: random.Random) -> Draft:
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
        word = pick(rng, ("mississippi", "banana", "abracadabra", "committee", "bookkeeper", "assessment"))
        ch, k = pick(rng, sorted(set(word))), rng.randint(2, 5)
        program = f"s = '{word}'\nprint(len(s) * {k} + s.count('{ch}'))\n"
    else:
        words = rng.sample(("red", "green", "blue", "teal", "amber", "ivory", "jade", "navy"), 4)
        seq = [pick(rng, words) for _ in range(rng.randint(6, 10))]
        target = pick(rng, seq)
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
    return Draft(prompt, "number", {"answer": out.getvalue().strip()}, 256)
