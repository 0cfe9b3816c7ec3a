"""Checks that need files, packages or this machine, run before Ray starts.

`read_ray.config.validate` checks values only; `preflight` adds what a value check cannot see: where the run
directory goes (a file, a read-only folder, rounds without config.yaml, another config), whether the student
shares the teacher's tokenizer under `train.loss=topk_kd`, whether `kd_top_k` fits the teacher's vocabulary,
and whether this machine's CPU can train in the configured precision. `read-ray run/compare/sweep/identify`
and `jobs/distill.py` (also with `--dry-run`) call it before connecting to Ray. Imports no Ray.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from read_ray.config import ReadConfig


def preflight(cfg: ReadConfig, *, force: bool = False, run_dir: bool = True) -> ReadConfig:
    """Raise one ValueError listing every problem (each names its key or file and the fix); return cfg.

    `run_dir=False` skips the run directory (commands that write elsewhere: compare, sweep, identify)."""
    problems = []
    if run_dir:
        from read_ray.runtime.rundir import check_reopen

        try:
            check_reopen(cfg, force=force)
        except ValueError as exc:
            problems.append(str(exc))
    problems += tokenizer_problems(cfg)
    problems += precision_problems(cfg)
    if problems:
        raise ValueError("cannot start:\n  - " + "\n  - ".join(problems))
    return cfg


def check_output_dir(path: str | Path, flag: str) -> Path:
    """An output folder a command may create and write (`compare --out`, ...), or ValueError naming it."""
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"{flag} {out} is a file, not a folder; give a folder (it is created if missing)")
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{flag} {out}: {existing} is a file, so the folder cannot be created; give another folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {out}: {existing} is not writable; give a folder you can write")
    return out


def _local_model_dir(name: str) -> Path | None:
    """A model directory on this machine for `name` without building or downloading anything, else None."""
    from read_ray.model.loading import BUNDLED_TEACHER, TINY_RANDOM, default_cache_dir

    built_once = name in (BUNDLED_TEACHER, TINY_RANDOM)          # built in the cache by the first run
    path = default_cache_dir() / name if built_once else Path(name).expanduser()
    return path if (path / "config.json").is_file() else None


def tokenizer_problems(cfg: ReadConfig) -> list[str]:
    """Logit KD compares the student's and the teacher's distributions token id by token id: both must use one
    tokenizer, and kd_top_k cannot exceed the vocabulary. Checked where both models are on this machine."""
    if cfg.train.loss != "topk_kd":
        return []
    problems = []
    teacher = _local_model_dir(cfg.teacher.model)
    if teacher is not None:
        try:
            vocab = int(json.loads((teacher / "config.json").read_text())["vocab_size"])
        except (OSError, ValueError, KeyError, TypeError):
            vocab = None
        if vocab is not None and cfg.train.kd_top_k > vocab:
            problems.append(f"train.kd_top_k ({cfg.train.kd_top_k}) is more than the teacher's vocabulary "
                            f"({vocab} tokens, {teacher}/config.json): lower train.kd_top_k")
    if cfg.student.init != "model":
        return problems                           # a pruned student keeps the teacher's tokenizer
    student = _local_model_dir(cfg.student.model)
    if teacher is None or student is None:
        return problems
    from read_ray.model.loading import load_tokenizer

    t_tok, s_tok = load_tokenizer(str(teacher)), load_tokenizer(str(student))
    if t_tok.get_vocab() != s_tok.get_vocab():
        only_t = len(set(t_tok.get_vocab().items()) - set(s_tok.get_vocab().items()))
        problems.append(
            f"student.model: {cfg.student.model} has another tokenizer than teacher.model {cfg.teacher.model} "
            f"({len(s_tok)} vs {len(t_tok)} tokens, {only_t} teacher tokens differ), so train.loss=topk_kd would "
            f"match the wrong token ids: use a student of the teacher's family, student.init=prune, or train.loss=sft")
    return problems


def precision_problems(cfg: ReadConfig) -> list[str]:
    """DeepSpeed refuses fp16 on a CPU without fp16 kernels ("Type fp16 is not supported on your device"): a
    CPU-trained student (resources.train_gpus_per_worker = 0) on a local Ray uses this machine's CPU."""
    if cfg.train.precision != "fp16" or cfg.resources.train_gpus_per_worker > 0 or os.environ.get("RAY_ADDRESS"):
        return []
    import torch

    try:
        supported = bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())
    except (AttributeError, RuntimeError):
        supported = False
    if supported:
        return []
    return ["train.precision=fp16: this machine's CPU has no fp16 kernels and DeepSpeed refuses fp16 on it "
            "(the student trains on CPU: resources.train_gpus_per_worker = 0); use train.precision=fp32 or bf16, "
            "or give the Train workers GPUs"]
