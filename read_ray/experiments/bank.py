"""`read-ray bank`: a transition bank from finished run directories (the warm start of METHOD.md).

Every run directory under the given paths (a folder with `rounds/round_*/record.json`) contributes its
complete rounds as transitions (`core.bank.transitions_from_records`). A run's own `config.yaml` gives
its capabilities and r_tau; a run without one (the committed `benchmarks/compare_*` arms ship only their
round records) is read with the `--config` preset's. Runs whose capabilities differ from the preset's are
refused by name. The tokens those runs spent are summed into the bank: its cost, reported outside the
budget of any run that uses it (as the paper reports its profiling split).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from read_ray.config import ReadConfig, load_config
from read_ray.core.bank import TransitionBank, save_bank, transitions_from_records
from read_ray.core.budget import Ledger


def run_directories(paths: Sequence[Path]) -> list[Path]:
    """The run directories at or under `paths` (sorted, each once)."""
    found: set[Path] = set()
    for path in paths:
        if not path.is_dir():
            raise ValueError(f"{path}: not a folder: give run directories or folders that hold them")
        found |= {p.parent.parent.parent for p in path.glob("**/rounds/round_*/record.json")}
    if not found:
        raise ValueError(f"no run directory (rounds/round_*/record.json) under {', '.join(map(str, paths))}")
    return sorted(found)


def _records(run_dir: Path) -> list[dict]:
    """Complete rounds only (MANIFEST.json written last), in round order."""
    records = []
    for folder in sorted((run_dir / "rounds").glob("round_*")):
        record = folder / "record.json"
        if record.is_file() and ((folder / "MANIFEST.json").is_file() or not (folder / "student").exists()):
            try:
                records.append(json.loads(record.read_text()))
            except ValueError as exc:
                raise ValueError(f"{record}: not valid JSON ({exc}): delete that round folder or leave the run "
                                 f"out of the bank") from None
    return records


def build_bank(cfg: ReadConfig, paths: Sequence[Path], out: Path) -> TransitionBank:
    from read_ray.content.tasks.cards import load_task
    from read_ray.runtime.downstream import task_requirement

    caps = cfg.capabilities.names
    transitions, sources, spent = [], [], 0
    for run_dir in run_directories(paths):
        run_cfg = load_config(str(run_dir / "config.yaml")) if (run_dir / "config.yaml").is_file() else cfg
        if run_cfg.capabilities.names != caps:
            raise ValueError(f"{run_dir}: its capabilities {list(run_cfg.capabilities.names)} differ from the "
                             f"bank's {list(caps)}: leave it out or pass --config with its capabilities")
        records = _records(run_dir)
        if not records:
            continue
        card = load_task(run_cfg.task.name, dev_size=run_cfg.task.dev_size, test_size=run_cfg.task.test_size,
                         seed=run_cfg.run.seed)
        transitions += transitions_from_records(records, task_requirement(run_cfg, card))
        sources.append(run_dir.name)
        spent += Ledger.from_dict(records[-1]["ledger"]).spent_tokens
    bank = TransitionBank(caps, tuple(transitions), tuple(sources), spent)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_bank(bank, out)
    return bank
