"""Steerability: prose records to exact JSON / CSV / pipe lines under filter, sort and limit rules."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from read_ray.content.generators.common import _Procedural
from read_ray.content.generators.vocab import _CITIES, _DEPARTMENTS, _FIRST_NAMES, _LAST_NAMES

__all__ = ["StructuredFormatSource"]

_SF_FIELDS = ("name", "age", "city", "department", "salary", "start_year")
_SF_NUMERIC = ("age", "salary", "start_year")


def _sf_record(rng: random.Random, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "age": rng.randint(21, 64),
        "city": rng.choice(_CITIES),
        "department": rng.choice(_DEPARTMENTS),
        "salary": rng.randrange(28000, 150001, 500),
        "start_year": rng.randint(1995, 2025),
    }


@dataclass(frozen=True)
class StructuredFormatSource(_Procedural):
    """Convert prose records into exact JSON / CSV / pipe lines under filter, sort and limit rules.
    Answer = the exact expected output. Factors: records, fields, rules."""

    source_id: str = ""
    capability: str = "steerability"
    max_records: int = 10
    max_new_tokens: int | None = 512

    def _generate(self, rng: random.Random) -> tuple[str, dict[str, float], str | None]:
        n = rng.randint(2, self.max_records)
        names = [
            f"{_FIRST_NAMES[i // len(_LAST_NAMES)]} {_LAST_NAMES[i % len(_LAST_NAMES)]}"
            for i in rng.sample(range(len(_FIRST_NAMES) * len(_LAST_NAMES)), n)
        ]
        records = [_sf_record(rng, name) for name in names]
        lines = [
            f"- {r['name']} is {r['age']}, lives in {r['city']}, works in {r['department']}, "
            f"earns {r['salary']} "
            f"a year and joined in {r['start_year']}."
            for r in records
        ]
        fields = ["name"] + rng.sample(_SF_FIELDS[1:], rng.randint(1, 5))
        rules: list[str] = []
        rows = list(records)
        if rng.random() < 0.5:
            field = rng.choice(_SF_NUMERIC)
            threshold = sorted(r[field] for r in records)[rng.randrange(n)]
            rows = [r for r in rows if r[field] >= threshold]
            rules.append(f"Keep only the records whose {field} is at least {threshold}.")
        if rng.random() < 0.6:
            field = rng.choice(_SF_FIELDS)
            descending = rng.random() < 0.5
            rows = sorted(rows, key=lambda r: r["name"])
            rows = sorted(rows, key=lambda r: r[field], reverse=descending)
            order = "descending" if descending else "ascending"
            rules.append(f"Sort the records by {field} in {order} order, breaking ties by name (A to Z).")
        if rng.random() < 0.3 and len(rows) > 1:
            k = rng.randint(1, len(rows) - 1)
            rows = rows[:k]
            what = "record" if k == 1 else f"{k} records"
            rules.append(f"Output only the first {what}{' left after the previous rules' if rules else ''}.")
        fmt = rng.choice(("json", "csv", "pipe"))
        keys = ", ".join(fields)
        if fmt == "json":
            target = (
                f"a JSON array with one object per record, with exactly the keys {keys} in this order "
                "(numbers as JSON numbers)"
            )
            answer = json.dumps([{f: r[f] for f in fields} for r in rows], ensure_ascii=False)
        elif fmt == "csv":
            target = (
                f"CSV with the header line `{','.join(fields)}` followed by one line per record, without "
                "quotes or spaces around the commas"
            )
            answer = "\n".join([",".join(fields)] + [",".join(str(r[f]) for f in fields) for r in rows])
        else:
            target = (
                f"one line per record with the fields {keys} in this order, separated by ' | ', and no header"
            )
            answer = "\n".join(" | ".join(str(r[f]) for f in fields) for r in rows)
        rule_text = "".join(f"\n{i}. {rule}" for i, rule in enumerate(rules, start=1))
        text = (
            "Here are some employee records:\n"
            + "\n".join(lines)
            + f"\n\nConvert them to {target}."
            + (
                f"\nApply these rules in order:{rule_text}"
                if rules
                else " Keep the records in the order given."
            )
            + "\n\nReply with the converted data only, nothing before or after it."
        )
        return text, {"records": n, "fields": len(fields), "rules": len(rules)}, answer
