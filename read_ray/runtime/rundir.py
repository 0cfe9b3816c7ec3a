"""The run directory: resolved config first, one folder per round with MANIFEST.json written last.

    runs/<name>/
      config.yaml                  resolved config, written before any work
      ledger.jsonl                 append-only, one line per complete round
      metrics.jsonl                append-only: per complete round, its train micro-steps, then the round
                                   (read_ray.runtime.tracking.metric_lines; other tracking backends mirror it)
      rounds/round_0003/  plan.json batch.jsonl report.json record.json state.json bandit.pt student/ MANIFEST.json
                                   (student/ only in the last `run.keep_round_students` rounds when that is > 0)
      report.md  plots/*.png

A round is built in `round_0003.partial/` and renamed into place after its MANIFEST.json is written, so a
round folder either is complete or does not exist; a leftover `.partial` folder (an interrupted round)
is removed on resume and the round is redone. Tokens are charged in the round's state, so a redone round
never charges twice. Plain file IO, no Ray.

A run directory always knows its config: one with rounds but no config.yaml is refused (its rounds were
made under an unknown config). Paths inside a run are stored relative to it (state.json's checkpoint), so
a run moves as a folder; absolute paths of runs written before that still load, re-rooted under the run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from read_ray.config import ReadConfig, config_from_dict, config_to_dict, read_yaml_file, to_yaml
from read_ray.core.files import atomic_write
from read_ray.core.rounds import RoundState
from read_ray.runtime.tracking import metric_lines

# keys a resumed run may change without --force (they do not change what the run computes): the run's
# location may change too, so a run directory can be moved or renamed and resumed
_MAY_DIFFER = ("logging", "compare", "run.runs_dir:", "run.name:", "run.keep_round_students:")
_ROUND_TAIL = re.compile(r"round_[0-9]{4}")


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts."""
    keys = sorted(set(old) | set(new))
    diffs = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        name = f"{prefix}{k}"
        if isinstance(a, Mapping) and isinstance(b, Mapping) and prefix == "":
            diffs += config_differences(a, b, f"{name}.")
        elif a != b:
            diffs.append(f"{name}: {a!r} -> {b!r}")
    return diffs


def read_json(path: Path, fix: str) -> Any:
    """json.loads of a run file; a missing or corrupt file raises ValueError naming it and `fix`."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path} is missing or not valid JSON ({exc}); {fix}") from None


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_run_location(cfg: ReadConfig) -> Path:
    """The run directory's absolute path, or ValueError when it cannot be created or written there."""
    runs_dir = Path(cfg.run.runs_dir).expanduser()
    root = (runs_dir / cfg.run.name).resolve()
    where = "give a folder you can write: run.runs_dir=PATH (or READ_RAY_RUNS_DIR for jobs/distill.py)"
    if runs_dir.exists() and not runs_dir.is_dir():
        raise ValueError(f"run.runs_dir: {runs_dir} is a file, not a folder; {where}")
    if root.exists() and not root.is_dir():
        raise ValueError(f"run directory {root} is a file, not a folder; move it away or choose another run.name")
    existing = _nearest_existing(root)
    if not existing.is_dir():
        raise ValueError(f"run.runs_dir: {existing} is a file, so {runs_dir} cannot be created; {where}")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = f"run directory {root} is not writable" if existing == root else \
            f"run.runs_dir: cannot create {root}: {existing} is not writable"
        raise ValueError(f"{what}; {where}")
    return root


def check_reopen(cfg: ReadConfig, *, force: bool = False) -> Path:
    """What `RunDirectory.open` checks before it writes anything (and the preflight, before Ray starts): the
    location, that a run with rounds has its config.yaml, that it was made with this config (unless
    `force`), that its normaliser.json reads. Returns the run directory's absolute path."""
    root = check_run_location(cfg)
    config_path = root / "config.yaml"
    rounds = sorted(p.name for p in (root / "rounds").glob("round_*")) if (root / "rounds").is_dir() else []
    if not config_path.exists() and rounds and not force:
        raise ValueError(
            f"run directory {root} has rounds ({', '.join(rounds[:3])}{', ...' if len(rounds) > 3 else ''}) but no "
            f"config.yaml, so the config they were made with is unknown and resuming could mix two configs: "
            f"restore its config.yaml, choose another run.name (or move the directory away) to start afresh, or "
            f"pass --force to continue it under this config")
    if config_path.exists():
        try:
            old = config_to_dict(config_from_dict(read_yaml_file(config_path)))
        except ValueError as exc:
            raise ValueError(f"{config_path} is not a valid read_ray config ({exc}); move the run "
                             f"directory away or choose another run.name") from None
        diffs = [d for d in config_differences(old, config_to_dict(cfg)) if not d.startswith(_MAY_DIFFER)]
        if diffs and not force:
            raise ValueError(
                f"run directory {root} was made with a different config:\n  - " + "\n  - ".join(diffs)
                + "\nresume with the same config, pass --force to continue with the new one, or choose "
                  "another run.name"
            )
    normaliser = root / "normaliser.json"
    if normaliser.exists():
        read_json(normaliser, "restore it from a copy, or delete it to probe the initial student and the teacher "
                              "again (the score scale is recomputed)")
    return root


def check_report_dir(path: str | Path) -> Path:
    """A run directory `read-ray report` can read and write into, or ValueError naming the path and the fix."""
    root = Path(path).expanduser()
    which = "give the folder `read-ray run` wrote (runs/<name>)"
    if not root.exists():
        raise ValueError(f"{root} does not exist; {which}")
    if not root.is_dir():
        raise ValueError(f"{root} is a file, not a run directory; {which}")
    config_path = root / "config.yaml"
    if not config_path.is_file():
        raise ValueError(f"{root} is not a run directory (no config.yaml in it); {which}")
    try:
        config_from_dict(read_yaml_file(config_path))
    except ValueError as exc:
        raise ValueError(f"{config_path} is not a valid read_ray config ({exc}); restore it from a copy") from None
    RunDirectory(root).records()                      # names a corrupt record.json
    if not os.access(root, os.W_OK | os.X_OK):
        raise ValueError(f"{root} is not writable (report.md and plots/ are written into it); copy the run "
                         f"directory somewhere writable and report on the copy")
    return root


class RunDirectory:
    def __init__(self, root: Path, capabilities: tuple[str, ...] = (), keep_round_students: int = 0):
        self.root = root
        self.rounds_dir = root / "rounds"
        self.capabilities = capabilities      # names the per-capability metrics
        self.train_steps = 0                  # student micro-steps in the complete rounds (metrics step axis)
        self.keep_round_students = keep_round_students    # run.keep_round_students (0 = every round's)

    @classmethod
    def open(cls, cfg: ReadConfig, *, force: bool = False) -> RunDirectory:
        """Create the run directory (writing config.yaml first) or reopen it to resume.

        Reopening with a config that differs in anything but logging and the run's location raises
        ValueError naming every difference, unless `force` (then the new config is written and the run
        continues); so does a directory with rounds but no config.yaml (`check_reopen`).
        """
        root = check_reopen(cfg, force=force)
        run = cls(root, cfg.capabilities.names, cfg.run.keep_round_students)
        config_path = root / "config.yaml"
        try:
            root.mkdir(parents=True, exist_ok=True)
            run.rounds_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise ValueError(f"could not create run directory {root}: {exc.strerror or exc}; give a folder you "
                             f"can write: run.runs_dir=PATH") from None
        atomic_write(config_path, to_yaml(cfg))
        run.discard_partial_rounds()
        run.remove_old_students()           # a run stopped between a commit and its removal, or newly given the key
        run.rebuild_logs()
        return run

    # ------------------------------------------------------------------ rounds

    def round_dir(self, index: int) -> Path:
        return self.rounds_dir / f"round_{index:04d}"

    def complete_rounds(self) -> list[int]:
        done = []
        for path in sorted(self.rounds_dir.glob("round_[0-9][0-9][0-9][0-9]")):
            if (path / "MANIFEST.json").is_file():
                done.append(int(path.name.split("_")[1]))
        return done

    def discard_partial_rounds(self) -> list[Path]:
        """Remove interrupted rounds (no manifest): they are redone from the last complete state."""
        removed = []
        for path in self.rounds_dir.iterdir():
            if path.name.endswith(".partial") or (path.is_dir() and not (path / "MANIFEST.json").is_file()):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        return removed

    def latest_state(self) -> RoundState | None:
        """State after the last complete round, its files checked against MANIFEST.json; None before round 0."""
        done = self.complete_rounds()
        if not done:
            return None
        self.verify_round(done[-1])
        path = self.round_dir(done[-1]) / "state.json"
        if self._student_removed(done[-1]):      # authoritative, even where a removal cut short left files behind
            raise ValueError(f"{path.parent}: run.keep_round_students removed this round's student checkpoint (the "
                             f"later rounds were deleted); {self._redo(done[-1] + 1)}")
        try:
            state = RoundState.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{path} is missing or corrupt ({exc}); {self._redo(done[-1])}") from None
        if state.checkpoint:
            state = dataclasses.replace(state, checkpoint=self.resolve(state.checkpoint))
        if state.checkpoint and not (Path(state.checkpoint) / "config.json").is_file():
            raise ValueError(f"{path}: the student checkpoint {state.checkpoint} is missing; {self._redo(done[-1])}")
        return state

    def _student_removed(self, index: int) -> bool:
        """Whether run.keep_round_students removed round `index`'s student (its manifest says so)."""
        try:
            return bool(json.loads((self.round_dir(index) / "MANIFEST.json").read_text()).get("student_removed"))
        except (OSError, ValueError, AttributeError):
            return False

    def _redo(self, index: int) -> str:
        """What to delete to redo round `index`: the round, and when the round before it lost its student to
        run.keep_round_students (so `index` cannot be redone from it), the earlier rounds back to one that kept
        its student (or round 0, which starts from the initial student)."""
        done = [i for i in self.complete_rounds() if i < index]
        removed = []
        while done and self._student_removed(done[-1]):
            removed.append(done.pop())
        if not removed:
            return f"delete {self.round_dir(index)} to redo that round"
        gone = [self.round_dir(i).name for i in sorted(removed)]
        delete = gone + ([self.round_dir(index).name] if self.round_dir(index).exists() else [])
        return (f"run.keep_round_students removed the student of {', '.join(gone)}, so delete "
                f"{', '.join(delete)} (in {self.rounds_dir}) to redo them")

    def relative(self, path: str) -> str:
        """`path` relative to the run directory when it lies inside it (stored so), else unchanged."""
        p = Path(path)
        if not p.is_absolute():
            return path
        try:
            return p.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return path

    def resolve(self, path: str) -> str:
        """An absolute path for a path stored in the run: relative ones are under the run directory; an absolute
        one that no longer exists but names rounds/round_NNNN/... (a run written before paths were relative,
        then moved) is re-rooted under this run directory."""
        p = Path(path)
        if not p.is_absolute():
            return str(self.root / p)
        if p.exists():
            return path
        parts = p.parts
        for i in range(len(parts) - 2, -1, -1):
            if parts[i] == "rounds" and _ROUND_TAIL.fullmatch(parts[i + 1]):
                moved = self.root.joinpath(*parts[i:])
                return str(moved) if moved.exists() else path
        return path

    def verify_round(self, index: int) -> None:
        """Raise ValueError naming the first file of a complete round that is missing or differs from its
        MANIFEST.json sha256 (a corrupt checkpoint); the fix is to delete the round folder and redo it."""
        folder = self.round_dir(index)
        try:
            files = json.loads((folder / "MANIFEST.json").read_text())["files"]
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{folder / 'MANIFEST.json'} is corrupt ({exc}); {self._redo(index)}") from None
        for name, digest in files.items():
            path = folder / name
            if not path.is_file():
                raise ValueError(f"{path} is missing (listed in MANIFEST.json); {self._redo(index)}")
            if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                raise ValueError(f"{path} does not match its MANIFEST.json checksum (corrupt); {self._redo(index)}")

    def next_choice(self, rounds_done: int):
        """(context, plan) that a pipelined run chose for round `rounds_done` before it stopped, else None."""
        from read_ray.core.bandit import Context
        from read_ray.core.rounds import RoundPlan

        path = self.round_dir(rounds_done - 1) / "next_choice.json"
        if not rounds_done or not path.is_file():
            return None
        saved = json.loads(path.read_text())
        ctx = Context(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved["context"].items()})
        return ctx, RoundPlan.from_dict(saved["plan"])

    def begin_round(self, index: int) -> Path:
        partial = self.rounds_dir / f"round_{index:04d}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        return partial

    def commit_round(self, index: int, partial: Path, files: Mapping[str, Any], record: Mapping[str, Any]) -> Path:
        """Write the round's JSON files, then MANIFEST.json (with sha256 of every file), then rename into place."""
        for name, content in files.items():
            if name == "state.json" and isinstance(content, Mapping) and content.get("checkpoint"):
                content = {**content, "checkpoint": self.relative(content["checkpoint"])}   # the run moves as a folder
            text = content if isinstance(content, str) else json.dumps(content, indent=1)
            atomic_write(partial / name, text)
        manifest = {"round": index, "files": {}}
        for path in sorted(p for p in partial.rglob("*") if p.is_file()):
            manifest["files"][str(path.relative_to(partial))] = hashlib.sha256(path.read_bytes()).hexdigest()
        atomic_write(partial / "MANIFEST.json", json.dumps(manifest, indent=1))
        final = self.round_dir(index)
        os.replace(partial, final)
        self._append("ledger.jsonl", {"round": index, **record["ledger"]})
        self._append("metrics.jsonl", *metric_lines(record, self.capabilities, self.train_steps))
        self.train_steps += len(record.get("train_step_losses", ()))
        self.remove_old_students()
        return final

    def remove_old_students(self) -> list[Path]:
        """With `keep_round_students` N > 0, remove the `student/` checkpoint of every complete round but the
        last N; returns the folders it removed from. The round's MANIFEST.json is rewritten without the
        student's files (and with `"student_removed": true`) before the folder goes, so every round still
        verifies; the flag is what counts from then on, so whatever a removal cut short or failed to delete (a
        busy file on NFS) is deleted by the next call, whatever N is then, and is never loaded."""
        done = self.complete_rounds()
        old = set(done[:-self.keep_round_students]) if self.keep_round_students > 0 else set()
        removed = []
        for index in done:
            folder = self.round_dir(index)
            if not (folder / "student").exists():
                continue
            if not self._student_removed(index):
                if index not in old:
                    continue
                manifest = json.loads((folder / "MANIFEST.json").read_text())
                manifest["files"] = {name: digest for name, digest in manifest["files"].items()
                                     if not name.startswith("student/")}
                atomic_write(folder / "MANIFEST.json", json.dumps({**manifest, "student_removed": True}, indent=1))
            shutil.rmtree(folder / "student", ignore_errors=True)     # what is left is retried by the next call
            removed.append(folder / "student")
        return removed

    # ------------------------------------------------------------------ logs

    def _append(self, name: str, *rows: Mapping[str, Any]) -> None:
        with open(self.root / name, "a") as f:
            f.write("".join(json.dumps(row) + "\n" for row in rows))
            f.flush()
            os.fsync(f.fileno())

    def rebuild_logs(self) -> None:
        """Make ledger.jsonl and metrics.jsonl hold exactly the lines of the complete rounds (after a crash)."""
        ledger, metrics = [], []
        self.train_steps = 0
        for index in self.complete_rounds():
            record = self._record(index)
            ledger.append(json.dumps({"round": index, **record["ledger"]}))
            metrics += [json.dumps(line) for line in metric_lines(record, self.capabilities, self.train_steps)]
            self.train_steps += len(record.get("train_step_losses", ()))
        atomic_write(self.root / "ledger.jsonl", "".join(line + "\n" for line in ledger))
        atomic_write(self.root / "metrics.jsonl", "".join(line + "\n" for line in metrics))

    def _record(self, index: int) -> dict:
        folder = self.round_dir(index)
        return read_json(folder / "record.json", f"restore it from a copy, or delete {folder} and every later round "
                                                 f"to redo them")

    def records(self) -> list[dict]:
        return [self._record(i) for i in self.complete_rounds()]

