"""Code prompts: composed list / string operations, as a function spec with reference asserts
(``CodeFunctionSource``) or as a program whose printed output is asked for (``CodeOutputSource``)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from read_ray.content.generators.common import _capitalise, _Procedural, derive_rng

__all__ = ["CodeFunctionSource", "CodeOutputSource"]


@dataclass(frozen=True)
class _Op:
    """One operation: English description, Python statement(s) on variable ``v``, reference function."""

    text: str
    code: str
    apply: Callable[[Any], Any]
    terminal: bool = False


def _digit_sum(x: int) -> int:
    return sum(int(ch) for ch in str(abs(x)))


def _list_op(rng: random.Random, terminal: bool) -> _Op:
    if terminal:
        kind = rng.randrange(4)
        if kind == 0:
            return _Op("returns the sum of the numbers (0 for an empty list)", "return sum(v)", sum, True)
        if kind == 1:
            return _Op("returns how many numbers are left", "return len(v)", len, True)
        if kind == 2:
            return _Op(
                "returns the largest number, or None if the list is empty",
                "return max(v) if v else None",
                lambda v: max(v) if v else None,
                True,
            )
        return _Op(
            "returns the smallest number, or None if the list is empty",
            "return min(v) if v else None",
            lambda v: min(v) if v else None,
            True,
        )
    kind = rng.randrange(17)
    k = rng.randint(2, 5)
    t = rng.randint(-5, 10)
    if kind == 0:
        return _Op(
            "keeps only the even numbers",
            "v = [x for x in v if x % 2 == 0]",
            lambda v: [x for x in v if x % 2 == 0],
        )
    if kind == 1:
        return _Op(
            "keeps only the odd numbers",
            "v = [x for x in v if x % 2 != 0]",
            lambda v: [x for x in v if x % 2 != 0],
        )
    if kind == 2:
        return _Op(
            f"keeps only the numbers greater than {t}",
            f"v = [x for x in v if x > {t}]",
            lambda v: [x for x in v if x > t],
        )
    if kind == 3:
        return _Op(
            f"keeps only the numbers less than {t}",
            f"v = [x for x in v if x < {t}]",
            lambda v: [x for x in v if x < t],
        )
    if kind == 4:
        return _Op(
            f"removes every number divisible by {k}",
            f"v = [x for x in v if x % {k} != 0]",
            lambda v: [x for x in v if x % k != 0],
        )
    if kind == 5:
        return _Op(
            f"multiplies every number by {k}", f"v = [x * {k} for x in v]", lambda v: [x * k for x in v]
        )
    if kind == 6:
        return _Op(f"adds {t} to every number", f"v = [x + {t} for x in v]", lambda v: [x + t for x in v])
    if kind == 7:
        return _Op(
            "replaces every number by its square", "v = [x * x for x in v]", lambda v: [x * x for x in v]
        )
    if kind == 8:
        return _Op(
            "replaces every number by its absolute value",
            "v = [abs(x) for x in v]",
            lambda v: [abs(x) for x in v],
        )
    if kind == 9:
        return _Op(
            f"replaces every number by its remainder modulo {k} (always between 0 and {k - 1})",
            f"v = [x % {k} for x in v]",
            lambda v: [x % k for x in v],
        )
    if kind == 10:
        return _Op(
            "replaces every number by the sum of its decimal digits (ignoring the sign)",
            "v = [sum(int(d) for d in str(abs(x))) for x in v]",
            lambda v: [_digit_sum(x) for x in v],
        )
    if kind == 11:
        if rng.random() < 0.5:
            return _Op("sorts the numbers in ascending order", "v = sorted(v)", sorted)
        return _Op(
            "sorts the numbers in descending order",
            "v = sorted(v, reverse=True)",
            lambda v: sorted(v, reverse=True),
        )
    if kind == 12:
        return _Op("reverses the order of the numbers", "v = v[::-1]", lambda v: v[::-1])
    if kind == 13:
        return _Op(
            f"keeps only the first {k} numbers (all of them if there are fewer)",
            f"v = v[:{k}]",
            lambda v: v[:k],
        )
    if kind == 14:
        return _Op(
            f"drops the first {k} numbers (leaving nothing if there are fewer)",
            f"v = v[{k}:]",
            lambda v: v[k:],
        )
    if kind == 15:
        return _Op(
            "removes duplicates, keeping the first occurrence of each number",
            "v = list(dict.fromkeys(v))",
            lambda v: list(dict.fromkeys(v)),
        )
    return _Op(
        "replaces every number by the running total of the numbers up to and including it",
        "v = [sum(v[:i + 1]) for i in range(len(v))]",
        lambda v: [sum(v[: i + 1]) for i in range(len(v))],
    )


_CODE_WORDS = (
    "apple",
    "river",
    "Stone",
    "cloud",
    "Tiger",
    "lamp",
    "orbit",
    "piano",
    "Maple",
    "ember",
    "x42",
    "delta",
    "Quartz",
    "noodle",
    "vivid",
    "ocean",
    "zebra",
    "Book",
    "pixel",
    "storm9",
)


def _string_op(rng: random.Random, terminal: bool) -> _Op:
    if terminal:
        kind = rng.randrange(3)
        if kind == 0:
            return _Op("returns its length", "return len(v)", len, True)
        if kind == 1:
            return _Op(
                "returns the number of vowels (a, e, i, o, u, in either case) in it",
                "return sum(1 for c in v if c in 'aeiouAEIOU')",
                lambda v: sum(1 for c in v if c in "aeiouAEIOU"),
                True,
            )
        return _Op(
            "returns the number of words, where words are the non-empty pieces between spaces",
            "return len(v.split())",
            lambda v: len(v.split()),
            True,
        )
    kind = rng.randrange(13)
    k = rng.randint(2, 12)
    letter = rng.choice("aeinorst")
    sep = rng.choice("-_.")
    if kind == 0:
        return _Op("converts it to lower case", "v = v.lower()", str.lower)
    if kind == 1:
        return _Op("converts it to upper case", "v = v.upper()", str.upper)
    if kind == 2:
        return _Op("reverses it", "v = v[::-1]", lambda v: v[::-1])
    if kind == 3:
        return _Op(
            "removes every vowel (a, e, i, o, u, in either case)",
            "v = ''.join(c for c in v if c not in 'aeiouAEIOU')",
            lambda v: "".join(c for c in v if c not in "aeiouAEIOU"),
        )
    if kind == 4:
        return _Op(
            f"replaces every space with '{sep}'",
            f"v = v.replace(' ', '{sep}')",
            lambda v: v.replace(" ", sep),
        )
    if kind == 5:
        return _Op(f"keeps only its first {k} characters", f"v = v[:{k}]", lambda v: v[:k])
    if kind == 6:
        return _Op(
            "removes every digit",
            "v = ''.join(c for c in v if not c.isdigit())",
            lambda v: "".join(c for c in v if not c.isdigit()),
        )
    if kind == 7:
        return _Op(
            "collapses every run of the same character into a single character",
            "v = ''.join(c for i, c in enumerate(v) if i == 0 or v[i - 1] != c)",
            lambda v: "".join(c for i, c in enumerate(v) if i == 0 or v[i - 1] != c),
        )
    if kind == 8:
        return _Op("swaps the case of every letter", "v = v.swapcase()", str.swapcase)
    if kind == 9:
        return _Op(
            "reverses the order of the words (split on single spaces, rejoined with single spaces)",
            "v = ' '.join(v.split(' ')[::-1])",
            lambda v: " ".join(v.split(" ")[::-1]),
        )
    if kind == 10:
        return _Op(
            "upper-cases the first character of every word (split on single spaces)",
            "v = ' '.join(w[:1].upper() + w[1:] for w in v.split(' '))",
            lambda v: " ".join(w[:1].upper() + w[1:] for w in v.split(" ")),
        )
    if kind == 11:
        return _Op(
            f"removes every occurrence of the letter '{letter}' (lower case only)",
            f"v = v.replace('{letter}', '')",
            lambda v: v.replace(letter, ""),
        )
    return _Op(
        "doubles every character", "v = ''.join(c + c for c in v)", lambda v: "".join(c + c for c in v)
    )


def _code_ops(rng: random.Random, kind: str, n_ops: int) -> list[_Op]:
    make = _list_op if kind == "list" else _string_op
    terminal = rng.random() < 0.4
    ops = [make(rng, False) for _ in range(n_ops - 1 if terminal else n_ops)]
    if terminal:
        ops.append(make(rng, True))
    return ops


def _code_input(rng: random.Random, kind: str, size: int) -> Any:
    if kind == "list":
        return [rng.randint(-20, 30) for _ in range(size)]
    return " ".join(rng.choice(_CODE_WORDS) for _ in range(size))


def _run_ops(ops: Sequence[_Op], value: Any) -> Any:
    value = list(value) if isinstance(value, list) else value
    for op in ops:
        value = op.apply(value)
    return value


def _render_function(name: str, arg: str, ops: Sequence[_Op]) -> str:
    lines = [f"def {name}({arg}):", f"    v = {arg}"]
    lines += [f"    {op.code}" for op in ops]
    if not ops or not ops[-1].terminal:
        lines.append("    return v")
    return "\n".join(lines)


_CODE_NAMES = ("transform", "process", "pipeline", "clean_up", "reshape", "apply_rules", "convert", "solve")
_CODE_KINDS = ("list", "string")


@dataclass(frozen=True)
class CodeFunctionSource(_Procedural):
    """Write a Python function from a numbered spec of composed operations; answer = reference asserts.
    Factors: ops (operations composed), list_size or string_words (size of the test inputs), tests."""

    source_id: str = ""
    capability: str = "code"
    kind: str = "list"
    max_ops: int = 6
    max_new_tokens: int | None = 512

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kind not in _CODE_KINDS:
            raise ValueError(f"{self.source_id}: kind must be one of {_CODE_KINDS}")

    def _spec(self, rng: random.Random) -> tuple[list[_Op], int, int, str]:
        n_ops = rng.randint(1, self.max_ops)
        ops = _code_ops(rng, self.kind, n_ops)
        size = rng.randint(2, 12) if self.kind == "list" else rng.randint(1, 6)
        return ops, size, rng.randint(3, 6), rng.choice(_CODE_NAMES)

    def reference_solution(self, seed: int) -> str:
        """A reference implementation (Python source) of the function asked for by ``fill(seed)``."""
        ops, _, _, name = self._spec(derive_rng(self.source_id, self.split, seed))
        return _render_function(name, "xs" if self.kind == "list" else "s", ops)

    def _generate(self, rng: random.Random) -> tuple[str, dict[str, float], str | None]:
        ops, size, n_tests, name = self._spec(rng)
        n_ops = len(ops)
        arg, typ = ("xs", "list[int]") if self.kind == "list" else ("s", "str")
        if ops[-1].terminal:
            ret = "int | None" if "None" in ops[-1].text else "int"
        else:
            ret = typ
        what = "a list of integers" if self.kind == "list" else "a string"
        steps = "\n".join(f"{i}. {_capitalise(op.text)}." for i, op in enumerate(ops, start=1))
        ending = (
            ""
            if ops[-1].terminal
            else f"\nFinally, it returns the resulting {'list' if self.kind == 'list' else 'string'}."
        )
        inputs = [_code_input(rng, self.kind, rng.randint(max(0, size - 2), size)) for _ in range(n_tests)]
        example = inputs[0]
        text = (
            f"Write a Python function `{name}({arg}: {typ}) -> {ret}` that takes {what} and applies these "
            f"steps in order, each to the result of the previous one:\n{steps}{ending}\n"
            f"The input must not be modified. For example, it is called as `{name}({example!r})`.\n\n"
            "Reply with the function in a single ```python code block, followed by one sentence on edge "
            "cases."
        )
        asserts = "\n".join(f"assert {name}({value!r}) == {_run_ops(ops, value)!r}" for value in inputs)
        size_name = "list_size" if self.kind == "list" else "string_words"
        return text, {"ops": n_ops, size_name: size, "tests": n_tests}, asserts


@dataclass(frozen=True)
class CodeOutputSource(_Procedural):
    """Predict what a small generated Python program prints; answer = the printed line.
    Factors: ops (statements composed), list_size or string_words (size of the input)."""

    source_id: str = ""
    capability: str = "code"
    kind: str = "list"
    max_ops: int = 6
    max_new_tokens: int | None = 384

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kind not in _CODE_KINDS:
            raise ValueError(f"{self.source_id}: kind must be one of {_CODE_KINDS}")

    def _generate(self, rng: random.Random) -> tuple[str, dict[str, float], str | None]:
        n_ops = rng.randint(1, self.max_ops)
        ops = _code_ops(rng, self.kind, n_ops)
        size = rng.randint(2, 10) if self.kind == "list" else rng.randint(1, 5)
        value = _code_input(rng, self.kind, size)
        name = rng.choice(_CODE_NAMES)
        arg = "xs" if self.kind == "list" else "s"
        program = f"{_render_function(name, arg, ops)}\n\n\nprint({name}({value!r}))"
        text = (
            f"What does this Python program print?\n\n```python\n{program}\n```\n\n"
            "Trace the execution step by step, then give the exact printed output on the last line as "
            "'Output: <printed text>'."
        )
        size_name = "list_size" if self.kind == "list" else "string_words"
        return text, {"ops": n_ops, size_name: size}, str(_run_ops(ops, value))
