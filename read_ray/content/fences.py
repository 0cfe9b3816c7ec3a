"""Fenced code blocks in a model's answer: the one reader every grader uses.

The task metric ``pass_at_1``, the probes' ``code`` checker, and the JSON and tool-call parsers all read
blocks with :func:`fenced_blocks`, and the two code graders pick the program with :func:`extract_code`, so
a probe and a task never disagree on which code an answer holds.

stdlib only.
"""

from __future__ import annotations

import re

__all__ = ["PYTHON_TAGS", "extract_code", "fenced_blocks"]

PYTHON_TAGS = frozenset({"python", "py", "python3"})
"""Language tags (lower-cased) that mark a block as Python."""

# ``` + optional language tag + the rest of the info line, then the body up to the next ``` or the end of
# the text (an answer cut off by its token budget leaves its last fence open). The tag stops at a '.' or
# ':' so that "python3.11" and "python:solution.py" still read as Python.
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced block of ``text`` in order, as ``(language tag lower-cased, body)``; the tag is ``""``
    for an unlabelled block. A fence still open at the end of the text runs to the end."""
    return [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text or "")]


def extract_code(text: str) -> str:
    """The program in a model's answer: the first Python-tagged block (:data:`PYTHON_TAGS`), else the first
    unlabelled block, else the first block of any language, else the whole text (an answer without a fence).
    Blocks left open at the end of the text count (see :func:`fenced_blocks`)."""
    blocks = fenced_blocks(text)
    for wanted in (lambda tag: tag in PYTHON_TAGS, lambda tag: tag == "", lambda tag: True):
        for tag, body in blocks:
            if wanted(tag):
                return body
    return text
