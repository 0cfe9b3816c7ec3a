"""The teacher's probe references: generated once per teacher and suite, cached on disk, attached to the
suite's items (the ``teacher_loglik`` scorer scores them under the student).

Cache layout: ``<cache>/<teacher id, sanitised>/<suite fingerprint>.jsonl`` (:func:`references_path`), with
the teacher's own probe scores beside it (:func:`teacher_profile_path`). The package ships the `default`
preset's files (:data:`SHIPPED_REFERENCES_DIR`); :func:`read_ray.model.probes.probe_references_dir` seeds
the cache with them.

stdlib only: the teacher is a ``generate_fn`` the caller passes in.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from read_ray.content.probe_items.common import ProbeItem
from read_ray.content.probe_suite import iter_items, suite_fingerprint
from read_ray.core.files import atomic_write

if TYPE_CHECKING:
    from read_ray.config import ReadConfig

__all__ = [
    "SHIPPED_REFERENCES_DIR",
    "attach_references",
    "generated_texts",
    "reference_id",
    "references_path",
    "teacher_profile_path",
]

_CACHE_FORMAT = 1


def _sanitise(name: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-") or "teacher"
    if len(clean) > 96 or clean != name:
        clean = f"{clean[-80:]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return clean


def references_path(
    suite: Mapping[str, Sequence[ProbeItem]], cache_dir: str | os.PathLike[str], *, teacher_id: str
) -> Path:
    """Where :func:`attach_references` caches this suite's references for this teacher."""
    return Path(cache_dir) / _sanitise(str(teacher_id)) / f"{suite_fingerprint(suite)}.jsonl"


def teacher_profile_path(references: Path, *, scorer: str, bootstrap_samples: int, seed: int) -> Path:
    """Where the teacher's own probe scores are cached: beside the references (:func:`references_path`)
    they were scored against, keyed by the scorer, the bootstrap count and the seed."""
    return references.with_suffix(f".teacher-{scorer}-b{bootstrap_samples}-s{seed}.json")


SHIPPED_REFERENCES_DIR = Path(__file__).resolve().parent.parent / "data" / "probe_references"
"""References and teacher profiles that ship with the package (the `default` preset's, run seeds 0-2)."""


def reference_id(cfg: ReadConfig) -> str:
    """Cache key of the teacher's probe references: the teacher and how it decodes."""
    t = cfg.teacher
    return f"{t.model}-T{t.temperature:g}-p{t.top_p:g}-n{t.max_new_tokens}"


def _prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def _read_cache(path: Path, fingerprint: str) -> dict[str, tuple[str, str]]:
    """item_id -> (prompt hash, reference) from a cache file; empty if missing or unreadable."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    out: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(lines):
        try:
            record = json.loads(line)
        except ValueError:
            return out if number else {}
        if number == 0:
            if record.get("fingerprint") != fingerprint or record.get("format") != _CACHE_FORMAT:
                return {}
            continue
        if isinstance(record, dict) and isinstance(record.get("reference"), str):
            out[str(record.get("item_id"))] = (str(record.get("prompt_sha256")), record["reference"])
    return out


def generated_texts(outputs: Sequence, expected: int) -> list[str]:
    """The texts of a ``generate_fn``'s answers (strings, or objects with a ``.text`` string), checked to
    be ``expected`` many."""
    outputs = list(outputs)
    if len(outputs) != expected:
        raise ValueError(f"generate_fn returned {len(outputs)} answers for {expected} prompts")
    texts = [o if isinstance(o, str) else getattr(o, "text", None) for o in outputs]
    if any(not isinstance(t, str) for t in texts):
        raise TypeError("generate_fn must return strings (or objects with a .text string)")
    return texts  # type: ignore[return-value]


def attach_references(
    suite: Mapping[str, Sequence[ProbeItem]],
    generate_fn: Callable[[list[str]], Sequence],
    cache_dir: str | os.PathLike[str],
    *,
    teacher_id: str,
) -> dict[str, tuple[ProbeItem, ...]]:
    """The suite with every item's teacher reference attached, generated once and cached.

    The cache is ``<cache_dir>/<teacher_id, sanitised>/<suite fingerprint>.jsonl``: a header line, then one
    ``{"item_id", "prompt_sha256", "reference"}`` line per item, written atomically (temporary file +
    rename). Items found in the cache (same id and prompt), in this suite's file or in another suite's of the
    same teacher (a larger ``items_per_capability`` reuses the first items), are not regenerated; ``generate_fn`` is called
    once, with the prompts of the missing items only (not at all when the cache is complete). It gets raw
    prompts (it applies the chat template itself, as :func:`probe_generate_fn` does) and returns one string
    (or object with ``.text``) per prompt.
    """
    path = references_path(suite, cache_dir, teacher_id=teacher_id)
    fingerprint = path.stem
    cached = {  # every suite of this teacher, keyed by item id and prompt
        (item_id, prompt_hash): reference
        for other in sorted(path.parent.glob("*.jsonl"))
        for item_id, (prompt_hash, reference) in _read_cache(other, other.stem).items()
    }
    items = list(iter_items(suite))
    refs: dict[str, str] = {}
    missing = []
    for item in items:
        hit = cached.get((item.item_id, _prompt_hash(item.prompt)))
        if hit is not None:
            refs[item.item_id] = hit
        else:
            missing.append(item)
    if missing:
        texts = generated_texts(generate_fn([item.prompt for item in missing]), len(missing))
        refs.update({item.item_id: text for item, text in zip(missing, texts, strict=True)})
        header = {
            "format": _CACHE_FORMAT,
            "fingerprint": fingerprint,
            "teacher_id": str(teacher_id),
            "items": len(items),
        }
        lines = [json.dumps(header, ensure_ascii=False)]
        lines += [
            json.dumps(
                {
                    "item_id": item.item_id,
                    "prompt_sha256": _prompt_hash(item.prompt),
                    "reference": refs[item.item_id],
                },
                ensure_ascii=False,
            )
            for item in items
        ]
        atomic_write(path, "\n".join(lines) + "\n")
    return {cap: tuple(item.with_reference(refs[item.item_id]) for item in its) for cap, its in suite.items()}
