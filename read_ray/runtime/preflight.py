"""Checks that need files, packages or this machine, run before Ray starts.

`read_ray.config.validate` checks values only. `check_config` adds what the values name on disk or in this
environment: the capability templates (present and parseable), the task card, the round-budget plan (a round
must afford one teacher completion), the requirement identifier, the transition bank, local model folders
(and the layers a pruned student keeps), and the packages of the tracking backends. `preflight` runs
`check_config` and then what only a run needs: where the run directory goes (a file, a read-only folder,
rounds without config.yaml, another config), whether the student shares the teacher's tokenizer under
`train.loss=topk_kd`, whether `kd_top_k` fits the teacher's vocabulary, and whether this machine's CPU can
train in the configured precision. `read-ray run/compare/sweep/identify` and `jobs/*.py` (also with
`--dry-run`) call `preflight` before connecting to Ray; the other `read-ray` commands call `check_config`.
Imports no Ray.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from read_ray.config import ReadConfig, longest_completion_tokens, value_problems, without_keys
from read_ray.content.tasks.cards import CARDS_DIR
from read_ray.core.budget import plan_round_budget
from read_ray.core.templates import bundled_templates_dir, load_templates, templates_file
from read_ray.runtime.tracking import missing_backend_packages


def check_config(cfg: ReadConfig) -> ReadConfig:
    """`validate` plus the files and packages the config names: raise one ValueError listing every problem
    (each names its key and the fix; a value problem hides the file problems of its key); return cfg."""
    values = value_problems(cfg)
    problems = values + without_keys(config_file_problems(cfg), values)
    if problems:
        raise ValueError("invalid config:\n  - " + "\n  - ".join(problems))
    return cfg


def config_file_problems(cfg: ReadConfig) -> list[str]:
    """What the config's values name on disk or in this environment, one line per problem."""
    return (template_problems(cfg) + task_card_problems(cfg) + budget_plan_problems(cfg)
            + identifier_problems(cfg) + bank_problems(cfg) + model_path_problems(cfg)
            + missing_backend_packages(cfg.logging.backends))


def preflight(cfg: ReadConfig, *, force: bool = False, run_dir: bool = True) -> ReadConfig:
    """`check_config`, then what a run needs (run directory, tokenizers, precision on this CPU): raise one
    ValueError listing every problem (each names its key or file and the fix); return cfg.

    `run_dir=False` skips the run directory (commands that write elsewhere: compare, sweep, identify)."""
    check_config(cfg)
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


def template_problems(cfg: ReadConfig) -> list[str]:
    """Each capability needs a template file that parses (a bad line fails here, before Ray, not in a round)."""
    names = cfg.capabilities.names
    folder = Path(cfg.capabilities.templates_dir) if cfg.capabilities.templates_dir else None
    if folder is not None and not folder.is_dir():
        return [f"capabilities.templates_dir: folder {folder} does not exist"]
    problems = []
    for cap in names:
        path = templates_file(folder or bundled_templates_dir(), cap)
        if not path.is_file():
            problems.append(f"capabilities.names: capability {cap!r} has no templates ({path} is missing)")
            continue
        try:
            load_templates(path)
        except ValueError as exc:                          # names the file and the line
            problems.append(f"capabilities.templates_dir: {exc}; fix or remove that line")
    return problems


def task_card_problems(cfg: ReadConfig) -> list[str]:
    known = sorted(f.stem for f in CARDS_DIR.glob("*.yaml"))           # the packaged task cards
    if cfg.task.name in known:
        return []
    return [f"task.name: unknown task {cfg.task.name!r}; choose one of {', '.join(known)}"]


def budget_plan_problems(cfg: ReadConfig) -> list[str]:
    """The round-budget plan (`plan_round_budget`) must leave each round at least one teacher completion."""
    b = cfg.budget
    if not (b.total_tokens > 0 and b.num_rounds >= 1 and 0 < b.gen_fraction < 1):
        return []                                          # validate names these
    try:
        rb = plan_round_budget(b.total_tokens, b.num_rounds, b.gen_fraction)
    except ValueError as exc:
        return [f"budget.total_tokens: {exc}"]
    longest = longest_completion_tokens(cfg)
    if rb.generation_tokens >= longest:
        return []
    return [f"budget.total_tokens: {b.total_tokens} tokens over {b.num_rounds} rounds leave "
            f"{rb.generation_tokens} generation tokens per round, less than one teacher completion "
            f"({longest} tokens): raise budget.total_tokens or lower budget.num_rounds"]


def identifier_problems(cfg: ReadConfig) -> list[str]:
    """task.requirement_source=learned: the identifier must load and score this config's capabilities."""
    t, names = cfg.task, cfg.capabilities.names
    if t.requirement_source != "learned" or not t.identifier_path:
        return []                                          # a missing path is validate's
    from read_ray.core.requirements import load_requirement_head  # torch: only for a learned requirement

    try:
        _, meta = load_requirement_head(t.identifier_path)
    except ValueError as exc:
        return [f"task.identifier_path: {exc}"]
    if tuple(meta["capabilities"]) != tuple(names):
        return [f"task.identifier_path: the identifier scores capabilities {meta['capabilities']}, the config "
                f"has {list(names)}: run `read-ray identify` with this config's capabilities"]
    return []


def bank_problems(cfg: ReadConfig) -> list[str]:
    path = cfg.bandit.bank_path
    if not path or Path(path).is_file():
        return []
    return [f"bandit.bank_path: no such file {path!r}: build one with `read-ray bank`"]


def _looks_like_path(name: str) -> bool:
    """A local path, not a Hub id ('org/name'): absolute, ./ ../ ~, or more than one '/'."""
    return name.startswith(("/", "./", "../", "~")) or name.count("/") > 1


def _model_path_problem(key: str, name: str) -> list[str]:
    if not name or not _looks_like_path(name) or (Path(name).expanduser() / "config.json").is_file():
        return []
    return [f"{key}: {name} is not a Hugging Face model directory (no config.json there); "
            f"give an existing model directory, a Hub id or 'smollm2-135m-instruct'"]


def _local_num_layers(name: str) -> int | None:
    """Decoder layers of a local model directory (read from its config.json), else None."""
    try:
        return int(json.loads((Path(name).expanduser() / "config.json").read_text())["num_hidden_layers"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def model_path_problems(cfg: ReadConfig) -> list[str]:
    """Model paths that are not model folders, and pruned layers the local teacher does not have."""
    te, s = cfg.teacher, cfg.student
    problems = _model_path_problem("teacher.model", te.model)
    if s.init == "model":
        return problems + _model_path_problem("student.model", s.model)
    num_layers = _local_num_layers(te.model)
    if num_layers is not None and s.keep_layers and max(s.keep_layers) >= num_layers:
        problems.append(f"student.keep_layers: layer {max(s.keep_layers)} is out of range: the teacher "
                        f"{te.model} has {num_layers} layers (indices 0..{num_layers - 1})")
    return problems
