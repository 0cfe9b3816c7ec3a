"""Long context: synthetic reports, logs or staff-record lists with planted facts to retrieve."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from read_ray.content.generators.common import _is_int, _Procedural
from read_ray.content.generators.documents_tables import (
    LD_ADJ,
    LD_ATTRS,
    LD_NOUN,
    LD_WORDS,
    LOG_MESSAGES,
    LOG_SERVICES,
    RP_PREDICATES,
    RP_SUBJECTS,
    RP_TAILS,
)
from read_ray.content.generators.vocab import _CITIES, _DEPARTMENTS, _FIRST_NAMES, _LAST_NAMES

__all__ = ["LongDocumentSource"]

_LD_KINDS = ("report", "log", "records")
_LD_HOLDERS = ("Project", "the warehouse", "the laboratory", "the vessel", "the server cluster")


def _ld_value(rng: random.Random, attr: str) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    if attr == "access code":
        return f"{rng.randint(1000, 9999)}-{rng.choice(letters)}{rng.choice(letters)}"
    if attr == "serial number":
        return f"SN-{rng.choice(letters)}{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    if attr == "room number":
        return f"{rng.choice('ABCDEF')}-{rng.randint(100, 699)}"
    if attr == "backup passphrase":
        return f"{rng.choice(LD_WORDS)}-{rng.choice(LD_WORDS)}-{rng.randint(10, 99)}"
    if attr == "reference number":
        return f"REF{rng.randint(100000, 999999)}"
    if attr == "budget code":
        return f"BC-{rng.randint(10, 99)}-{rng.choice(letters)}{rng.randint(100, 999)}"
    if attr == "emergency extension":
        return f"ext. {rng.randint(2000, 8999)}"
    return f"TRK{rng.choice(letters)}{rng.randint(10**7, 10**8 - 1)}"


_LOG_LEVELS = ("INFO", "INFO", "INFO", "DEBUG", "WARN")


def _report_sentence(rng: random.Random) -> str:
    return f"{rng.choice(RP_SUBJECTS)} {rng.choice(RP_PREDICATES)} {rng.choice(RP_TAILS)}."


_TS = "@date @time"  # placeholder with as many words as a "2026-03-08 17:49:47" timestamp


class _Clock:
    def __init__(self, rng: random.Random) -> None:
        self.seconds = rng.randint(0, 20 * 3600)
        self.day = rng.randint(1, 28)

    def tick(self, rng: random.Random) -> str:
        self.seconds += rng.randint(1, 90)
        s = self.seconds % 86400
        return f"2026-03-{self.day:02d} {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


@dataclass(frozen=True)
class LongDocumentSource(_Procedural):
    """A synthetic document (``kind``: report, log or records) of up to ``max_words`` words with planted
    facts; the question asks for 1..max_asked of them. Answer = the value(s), ``; ``-separated in order.

    Factors: doc_words (words inside <document>), asked (facts asked), distractors (report/log: similar
    planted facts not asked, i.e. the same attribute of another holder or another attribute of the same
    holder) or other_records (records: every record not asked about), needle_depth (mean share of the
    document between an asked fact and the question, so 1 = at the very start, farthest from the question).
    """

    source_id: str = ""
    capability: str = "long_context"
    kind: str = "report"
    max_words: int = 2000
    min_words: int = 150
    max_asked: int = 3
    max_new_tokens: int | None = 128

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kind not in _LD_KINDS:
            raise ValueError(f"{self.source_id}: kind must be one of {_LD_KINDS}")
        if not _is_int(self.max_words) or self.max_words < 200:
            raise ValueError(f"{self.source_id}: max_words={self.max_words!r} must be an int >= 200")
        if not 1 <= self.max_asked <= 5:
            raise ValueError(f"{self.source_id}: max_asked must be in 1..5")

    def _generate(self, rng: random.Random) -> tuple[str, dict[str, float], str | None]:
        target = rng.randint(min(self.min_words, self.max_words), self.max_words)
        asked = rng.randint(1, self.max_asked)
        if self.kind == "records":
            return self._records(rng, target, asked)
        n_distractors = rng.randint(0, 4)
        keys = rng.sample(
            [
                (a, h, x, y)
                for a in range(len(LD_ATTRS))
                for h in range(len(_LD_HOLDERS))
                for x in range(len(LD_ADJ))
                for y in range(4)
            ],
            asked,
        )
        needles = []
        for a, h, x, y in keys:
            holder = f"{_LD_HOLDERS[h]} {LD_ADJ[x]} {LD_NOUN[(x + y * 5) % len(LD_NOUN)]}"
            needles.append((LD_ATTRS[a], holder))
        taken = set(needles)
        distractors = []
        while len(distractors) < n_distractors:
            attr, holder = rng.choice(needles)
            if rng.random() < 0.5:
                cand = (rng.choice(LD_ATTRS), holder)
            else:
                other = f"{rng.choice(_LD_HOLDERS)} {rng.choice(LD_ADJ)} {rng.choice(LD_NOUN)}"
                cand = (attr, other)
            if cand not in taken:
                taken.add(cand)
                distractors.append(cand)
        facts = [(attr, holder, _ld_value(rng, attr)) for attr, holder in needles + distractors]
        clock = _Clock(rng)
        if self.kind == "report":
            header = f"Operations report, {rng.choice(('Q1', 'Q2', 'Q3', 'Q4'))} {rng.randint(2019, 2026)}."
            units = [
                f"Note for the record: the {attr} for {holder} is {value}." for attr, holder, value in facts
            ]

            def filler() -> str:
                return _report_sentence(rng)
        else:
            header = f"Log excerpt from host node-{rng.randint(1, 64)}."
            # timestamps are stamped after planting so that they increase down the log
            units = [
                f"{_TS} NOTICE [registry] the {attr} for {holder} is {value}" for attr, holder, value in facts
            ]

            def filler() -> str:
                message = rng.choice(LOG_MESSAGES).format(
                    n=rng.randint(100, 99999),
                    ms=rng.randint(2, 2500),
                    p=rng.randint(5, 99),
                    a=rng.randint(1, 9),
                )
                return f"{_TS} {rng.choice(_LOG_LEVELS)} [{rng.choice(LOG_SERVICES)}] {message}"

        doc_lines, offsets, doc_words = _plant(rng, header, units, filler, target, self.kind == "log")
        doc_lines = [
            clock.tick(rng) + line[len(_TS) :] if line.startswith(_TS) else line for line in doc_lines
        ]
        questions = [f"What is the {attr} for {holder}?" for attr, holder, _ in facts[:asked]]
        values = [value for _, _, value in facts[:asked]]
        depth = sum((doc_words - offsets[i]) / doc_words for i in range(asked)) / asked
        return self._finish(doc_lines, questions, values, doc_words, asked, len(distractors), depth)

    def _records(
        self, rng: random.Random, target: int, asked: int
    ) -> tuple[str, dict[str, float], str | None]:
        letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
        n_names = len(_FIRST_NAMES) * len(_LAST_NAMES)
        order = rng.sample(range(n_names), min(n_names, 40 + target // 8))

        def record(index: int) -> tuple[str, dict[str, str]]:
            name = f"{_FIRST_NAMES[index // len(_LAST_NAMES)]} {_LAST_NAMES[index % len(_LAST_NAMES)]}"
            fields = {
                "badge code": f"{rng.choice(letters)}{rng.choice(letters)}-{rng.randint(1000, 9999)}",
                "phone extension": str(rng.randint(2000, 8999)),
                "department": rng.choice(_DEPARTMENTS),
                "office city": rng.choice(_CITIES),
            }
            line = (
                f"ID {rng.randint(1000, 9999)} | {name} | department: {fields['department']} | office: "
                f"{fields['office city']} | badge: {fields['badge code']} | ext. {fields['phone extension']}"
            )
            return name, {"line": line, **fields}

        planted = [record(i) for i in order[:asked]]
        spare = iter(order[asked:])

        def filler() -> str:
            index = next(spare, None)
            if index is None:  # out of unique names: stop the document here
                return "x " * (target + 1)
            return record(index)[1]["line"]

        header = "Staff directory (one record per line)."
        doc_lines, offsets, doc_words = _plant(
            rng, header, [r[1]["line"] for r in planted], filler, target, True
        )
        questions, values = [], []
        for name, fields in planted:
            attr = rng.choice(("badge code", "phone extension", "department", "office city"))
            questions.append(f"What is the {attr} of {name}?")
            values.append(fields[attr])
        depth = sum((doc_words - offsets[i]) / doc_words for i in range(asked)) / asked
        return self._finish(
            doc_lines,
            questions,
            values,
            doc_words,
            asked,
            len(doc_lines) - 1 - asked,
            depth,
            distractor_name="other_records",
        )

    def _finish(
        self,
        doc_lines: list[str],
        questions: list[str],
        values: list[str],
        doc_words: int,
        asked: int,
        distractors: int,
        depth: float,
        distractor_name: str = "distractors",
    ) -> tuple[str, dict[str, float], str | None]:
        document = "\n".join(doc_lines)
        if asked == 1:
            ask = (
                f"Question: {questions[0]}\n\nReply with the value only, exactly as written in the document."
            )
        else:
            numbered = "\n".join(f"{i}. {q}" for i, q in enumerate(questions, start=1))
            ask = (
                f"Questions:\n{numbered}\n\nReply with the values only, in the order asked, separated by "
                "semicolons, exactly as written in the document."
            )
        text = (
            f"Read the document below and answer using only information from it.\n\n<document>\n{document}\n"
            f"</document>\n\n{ask}"
        )
        factors = {
            "doc_words": doc_words,
            "asked": asked,
            distractor_name: distractors,
            "needle_depth": round(depth, 4),
        }
        return text, factors, "; ".join(values)


def _plant(
    rng: random.Random,
    header: str,
    needles: list[str],
    filler: Callable[[], str],
    target: int,
    one_per_line: bool,
) -> tuple[list[str], list[int], int]:
    """Fill up to ``target`` words with filler units and plant ``needles`` at random positions.

    Returns the document lines, the word offset of each needle and the document's word count (<= target
    unless the header and needles alone exceed it).
    """
    budget = target - len(header.split()) - sum(len(n.split()) for n in needles)
    units: list[str] = []
    used = 0
    while True:
        unit = filler()
        words = len(unit.split())
        if used + words > budget:
            break
        units.append(unit)
        used += words
    slots = sorted((rng.randint(0, len(units)), rng.random(), i) for i in range(len(needles)))
    merged: list[tuple[str, int]] = [(u, -1) for u in units]
    for position, _, index in reversed(slots):
        merged.insert(position, (needles[index], index))
    offsets = [0] * len(needles)
    words_so_far = len(header.split())
    lines = [header]
    paragraph: list[str] = []
    for unit, index in merged:
        if index >= 0:
            offsets[index] = words_so_far
        words_so_far += len(unit.split())
        if one_per_line:
            lines.append(unit)
        else:
            paragraph.append(unit)
            if len(paragraph) >= 6 and rng.random() < 0.3:
                lines.append(" ".join(paragraph))
                paragraph = []
    if paragraph:
        lines.append(" ".join(paragraph))
    return lines, offsets, words_so_far
