"""`validate`: the value checks of a config (ranges, closed choices, finite numbers, names, plans no cluster
can run), pure: no file is read and nothing of read_ray outside `read_ray.config` is imported.

What needs files, packages or this machine (templates, task cards, model folders, the identifier, the
transition bank, tracking packages, the round-budget plan) is `read_ray.runtime.preflight.check_config`,
which `read-ray` and `jobs/` run before connecting to Ray. Every problem is one line that names its key
and the fix; all of them are listed at once.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from typing import Any

from read_ray.config.schema import ReadConfig, choices


def _check(problems: list[str], ok: bool, message: str) -> None:
    if not ok:
        problems.append(message)


MAX_SEED = 2**32 - 1
"""run.seed bound: decoding seeds are seed * 1_000_003 + ..., which must stay below 2**63 (torch, numpy)."""
MAX_TOTAL_TOKENS = 10**12
"""budget.total_tokens bound (a round of 10**20 planned ~10**16 prompts and never started)."""
VLLM_MAX_LOGPROBS = 20
"""Log-probs per token vLLM returns at most (its `max_logprobs` default; VLLMEngine does not raise it)."""
_INT64_MAX = 2**63 - 1


def _is_one_path_component(name: str) -> bool:
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0")


def _numeric_leaves(value: Any, key: str):
    """(dotted key, value) of every int or float in a config tree (sections, mappings, lists)."""
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            yield from _numeric_leaves(getattr(value, f.name), f"{key}.{f.name}" if key else f.name)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _numeric_leaves(v, f"{key}.{k}")
    elif isinstance(value, tuple):
        for i, v in enumerate(value):
            yield from _numeric_leaves(v, f"{key}[{i}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield key, value


def range_problems(cfg: ReadConfig) -> list[str]:
    """Numbers that parse but cannot run: non-finite floats, ints beyond int64, budgets beyond any machine."""
    p = []
    own_bound = ("run.seed", "budget.total_tokens")
    for key, value in _numeric_leaves(cfg, ""):
        if isinstance(value, float) and not math.isfinite(value):
            p.append(f"{key}: must be a finite number, got {value}")
        elif isinstance(value, int) and abs(value) > _INT64_MAX and key not in own_bound:
            p.append(f"{key}: {value} is out of range (at most 2**63 - 1)")
    _check(p, cfg.budget.total_tokens <= MAX_TOTAL_TOKENS,
           f"budget.total_tokens: must be <= 10**12 (a trillion tokens), got {cfg.budget.total_tokens}; give "
           f"the budget in tokens, e.g. 20000000")
    return p


def gpu_plan_problems(cfg: ReadConfig) -> list[str]:
    """Resource plans no cluster can run: each problem names the key and the fix (values only, no files)."""
    te, res, tr = cfg.teacher, cfg.resources, cfg.train
    p = []
    for f in dataclasses.fields(res):
        value = getattr(res, f.name)
        if 0 < value < 1e-4:
            p.append(f"resources.{f.name}: Ray schedules resources in steps of 0.0001, got {value}: use 0 or more")
        if "gpus" in f.name and value > 1 and not float(value).is_integer():
            p.append(f"resources.{f.name}: more than 1 GPU must be a whole number (Ray splits only single GPUs), "
                     f"got {value}")
    if te.engine == "vllm":
        if res.teacher_gpus_per_replica == 0:
            p.append("teacher.engine=vllm runs on GPUs only, but resources.teacher_gpus_per_replica is 0: give each "
                     "replica teacher.tensor_parallel_size GPUs, or use teacher.engine=hf on CPU")
        elif te.tensor_parallel_size > res.teacher_gpus_per_replica:
            p.append(f"teacher.tensor_parallel_size ({te.tensor_parallel_size}) is more than the GPUs a replica gets "
                     f"(resources.teacher_gpus_per_replica = {res.teacher_gpus_per_replica:g}): each tensor-parallel "
                     f"rank needs its own GPU; raise resources.teacher_gpus_per_replica to "
                     f"{te.tensor_parallel_size} or lower teacher.tensor_parallel_size")
        if tr.loss == "topk_kd" and tr.kd_top_k > VLLM_MAX_LOGPROBS:
            p.append(f"train.kd_top_k ({tr.kd_top_k}) is more than teacher.engine=vllm returns (at most "
                     f"{VLLM_MAX_LOGPROBS} log-probs per token, vLLM's max_logprobs): lower train.kd_top_k to "
                     f"<= {VLLM_MAX_LOGPROBS}")
    elif te.tensor_parallel_size > 1:
        p.append(f"teacher.tensor_parallel_size ({te.tensor_parallel_size}) needs teacher.engine=vllm: the "
                 f"{te.engine} engine runs a replica on one device; set teacher.tensor_parallel_size=1 or "
                 f"teacher.engine=vllm")
    if res.train_workers > 1 and 0 < res.train_gpus_per_worker < 1:
        p.append(f"resources.train_gpus_per_worker ({res.train_gpus_per_worker:g}) is a share of a GPU with "
                 f"resources.train_workers = {res.train_workers}: Ray may put two ranks on one GPU, which NCCL "
                 f"refuses; give each worker 1 GPU or use resources.train_workers=1")
    return p


def choice_problems(cfg: ReadConfig) -> list[str]:
    """Every closed choice (a `Literal` field, or a list of them) outside its choices, naming them all."""
    p = []
    for section in dataclasses.fields(cfg):
        value = getattr(cfg, section.name)
        for name, tp in typing.get_type_hints(type(value)).items():
            key, got = f"{section.name}.{name}", getattr(value, name)
            if typing.get_origin(tp) is tuple and typing.get_origin(typing.get_args(tp)[0]) is typing.Literal:
                tp, items = typing.get_args(tp)[0], got
            elif typing.get_origin(tp) is typing.Literal:
                items = (got,)
            else:
                continue
            p += [f"{key}: {item!r} is not one of {', '.join(choices(tp))}" for item in items if item not in choices(tp)]
    return p


def longest_completion_tokens(cfg: ReadConfig) -> int:
    """The most tokens one teacher completion may take (`max_new_tokens` and its per-capability overrides)."""
    return max([cfg.teacher.max_new_tokens, *cfg.teacher.max_new_tokens_by_capability.values()])


def value_problems(cfg: ReadConfig) -> list[str]:
    """Every value problem of `cfg`, one line each (key, cause, fix); [] when the values can run."""
    p = choice_problems(cfg)
    names = cfg.capabilities.names
    _check(p, _is_one_path_component(cfg.run.name),
           f"run.name: give a non-empty name without '/' (one folder under run.runs_dir: not '.' or '..', no "
           f"'\\' or NUL), got {cfg.run.name!r}")
    _check(p, 0 <= cfg.run.seed <= MAX_SEED,
           f"run.seed: must be in [0, 2**32 - 1] (numpy, torch and the teacher's decoding seeds derive from it), "
           f"got {cfg.run.seed}")
    _check(p, cfg.run.keep_round_students >= 0,
           f"run.keep_round_students: give how many of the last rounds keep their student checkpoint (0 = every "
           f"round's), got {cfg.run.keep_round_students}")
    _check(p, cfg.teacher.keep_warm or not cfg.run.pipeline,
           "run.pipeline: needs teacher.keep_warm=true (a pipelined round generates while the previous one "
           "trains, so the engine cannot be rebuilt between rounds)")
    _check(p, len(names) > 0, "capabilities.names: list at least one capability")
    _check(p, len(set(names)) == len(names), f"capabilities.names: duplicates in {list(names)}")
    _check(p, cfg.capabilities.long_context_max_words >= 50, "capabilities.long_context_max_words: must be >= 50")

    t = cfg.task
    _check(p, t.declared_capability in names,
           f"task.declared_capability: {t.declared_capability!r} is not one of capabilities.names")
    for cap, weight in t.requirement.items():
        _check(p, cap in names, f"task.requirement.{cap}: unknown capability (known: {', '.join(names)})")
        _check(p, weight >= 0, f"task.requirement.{cap}: weights must be >= 0, got {weight}")
    if t.requirement:
        _check(p, sum(max(w, 0.0) for w in t.requirement.values()) > 0,
               "task.requirement: the vector has no mass; give at least one capability a positive weight")
    _check(p, 0 <= t.requirement_epsilon < 1, "task.requirement_epsilon: must be in [0, 1)")
    _check(p, t.requirement_source != "learned" or bool(t.identifier_path),
           "task.identifier_path: requirement_source=learned needs the identifier.pt written by `read-ray identify`")
    _check(p, t.dev_size >= 1 and t.test_size >= 1, "task.dev_size and task.test_size: must be >= 1")
    _check(p, t.eval_limit >= 0, f"task.eval_limit: must be >= 0, got {t.eval_limit}")

    b = cfg.budget
    _check(p, 0 < b.gen_fraction < 1, f"budget.gen_fraction: must be strictly between 0 and 1, got {b.gen_fraction}")
    _check(p, b.num_rounds >= 1, f"budget.num_rounds: must be >= 1, got {b.num_rounds}")
    _check(p, b.total_tokens > 0, f"budget.total_tokens: must be > 0, got {b.total_tokens}")

    a = cfg.allocation
    _check(p, 1 <= a.top_k <= max(len(names), 1), f"allocation.top_k: must be in [1, {len(names)}], got {a.top_k}")
    _check(p, all(0 < w < 1 for w in a.weight_grid), f"allocation.weight_grid: weights must be in (0, 1), got {list(a.weight_grid)}")
    _check(p, 0 < a.perturb_delta < 1, f"allocation.perturb_delta: must be in (0, 1), got {a.perturb_delta}")

    r = cfg.reward
    _check(p, r.beta >= 0, f"reward.beta: must be >= 0, got {r.beta}")
    _check(p, 1 <= r.spill_top_k <= max(len(names), 1), f"reward.spill_top_k: must be in [1, {len(names)}]")
    _check(p, r.lambda_per_1k_tokens >= 0, f"reward.lambda_per_1k_tokens: must be >= 0, got {r.lambda_per_1k_tokens}")

    k = cfg.bandit
    _check(p, k.ensemble_size >= 2, f"bandit.ensemble_size: need >= 2 members for an uncertainty estimate, got {k.ensemble_size}")
    _check(p, k.hidden >= 1 and k.fit_steps >= 1 and k.lr > 0, "bandit.hidden, bandit.fit_steps, bandit.lr: must be positive")
    _check(p, k.kappa >= 0, f"bandit.kappa: must be >= 0, got {k.kappa}")
    _check(p, 0 < k.kappa_decay <= 1, f"bandit.kappa_decay: must be in (0, 1], got {k.kappa_decay}")
    _check(p, k.warmup_rounds >= 0, f"bandit.warmup_rounds: must be >= 0, got {k.warmup_rounds}")
    _check(p, k.dev_every_rounds >= 0, f"bandit.dev_every_rounds: must be >= 0, got {k.dev_every_rounds}")
    _check(p, r.refit_prior_weight > 0, f"reward.refit_prior_weight: must be > 0, got {r.refit_prior_weight}")
    _check(p, r.source == "proxy" or k.dev_every_rounds >= 1,
           f"reward.source={r.source} learns from dev checkpoints: set bandit.dev_every_rounds >= 1")
    _check(p, r.source != "dev_utility" or (k.target == "reward" and k.dev_every_rounds == 1),
           "reward.source=dev_utility: needs bandit.target=reward and bandit.dev_every_rounds=1 (each round's "
           "own utility change is its reward)")
    _check(p, 0 < k.exp3_gamma <= 1 and k.exp3_eta > 0, "bandit.exp3_gamma must be in (0, 1] and bandit.exp3_eta > 0")
    for cap, weight in k.static_mix.items():
        _check(p, cap in names, f"bandit.static_mix.{cap}: unknown capability (known: {', '.join(names)})")
        _check(p, weight >= 0, f"bandit.static_mix.{cap}: weights must be >= 0, got {weight}")
    for i, phase in enumerate(k.schedule):
        for cap, weight in phase.items():
            _check(p, cap in names, f"bandit.schedule[{i}].{cap}: unknown capability (known: {', '.join(names)})")
            _check(p, weight >= 0, f"bandit.schedule[{i}].{cap}: weights must be >= 0, got {weight}")
        _check(p, sum(max(w, 0.0) for w in phase.values()) > 0, f"bandit.schedule[{i}]: a mix needs positive mass")
    if k.policy == "schedule":
        _check(p, len(k.schedule) > 0, "bandit.schedule: policy=schedule needs mixes, e.g. "
               "bandit.schedule='[{math: 1}, {code: 1}]'")
    if k.policy == "static":
        _check(p, sum(max(w, 0.0) for w in k.static_mix.values()) > 0,
               "bandit.static_mix: policy=static needs a mix with positive mass, e.g. bandit.static_mix.math=1")

    c = cfg.compare
    _check(p, 0 < c.grid_pilot_frac < 1, f"compare.grid_pilot_frac: must be strictly between 0 and 1, got {c.grid_pilot_frac}")
    _check(p, 1 <= c.grid_top_k <= max(len(names), 1), f"compare.grid_top_k: must be in [1, {len(names)}], got {c.grid_top_k}")
    _check(p, all(0 < w < 1 for w in c.grid_weights), f"compare.grid_weights: weights must be in (0, 1), got {list(c.grid_weights)}")
    _check(p, c.grid_pilot_rounds >= 1, f"compare.grid_pilot_rounds: must be >= 1, got {c.grid_pilot_rounds}")

    te = cfg.teacher
    _check(p, bool(te.model), "teacher.model: give an HF id, a local path or 'smollm2-135m-instruct'")
    _check(p, te.temperature >= 0, f"teacher.temperature: must be >= 0, got {te.temperature}")
    _check(p, 0 < te.top_p <= 1, f"teacher.top_p: must be in (0, 1], got {te.top_p}")
    _check(p, te.max_new_tokens >= 1, f"teacher.max_new_tokens: must be >= 1, got {te.max_new_tokens}")
    for cap, n in te.max_new_tokens_by_capability.items():
        _check(p, cap in names, f"teacher.max_new_tokens_by_capability.{cap}: unknown capability")
        _check(p, n >= 1, f"teacher.max_new_tokens_by_capability.{cap}: must be >= 1, got {n}")
    _check(p, te.num_threads >= 1 and te.replicas >= 1 and te.tensor_parallel_size >= 1,
           "teacher.num_threads, teacher.replicas, teacher.tensor_parallel_size: must be >= 1")
    _check(p, te.max_ongoing_requests >= te.max_batch_size >= 1,
           f"teacher.max_ongoing_requests ({te.max_ongoing_requests}) must be >= teacher.max_batch_size "
           f"({te.max_batch_size}) >= 1, else Serve caps batches at 5")
    _check(p, 0 < te.http_port < 65536, f"teacher.http_port: not a port (1..65535): {te.http_port}")

    s = cfg.student
    if s.init == "prune":
        _check(p, len(s.keep_layers) > 0 and min(s.keep_layers, default=0) >= 0
               and len(set(s.keep_layers)) == len(s.keep_layers),
               f"student.keep_layers: give distinct layer indices >= 0, got {list(s.keep_layers)}")
    elif s.init == "model":
        _check(p, bool(s.model), "student.model: give an HF id or local path when student.init=model")

    tr = cfg.train
    _check(p, tr.lr > 0 and tr.weight_decay >= 0, "train.lr must be > 0 and train.weight_decay >= 0")
    _check(p, tr.micro_batch_size >= 1 and tr.grad_accum_steps >= 1,
           "train.micro_batch_size and train.grad_accum_steps: must be >= 1")
    _check(p, tr.zero_stage in (0, 1, 2, 3), f"train.zero_stage: must be 0, 1, 2 or 3, got {tr.zero_stage}")
    _check(p, tr.max_seq_len >= 16, f"train.max_seq_len: must be >= 16, got {tr.max_seq_len}")
    longest_completion = longest_completion_tokens(cfg)
    _check(p, tr.max_seq_len > longest_completion,
           f"train.max_seq_len ({tr.max_seq_len}) must exceed the longest teacher completion "
           f"({longest_completion} tokens), else paid-for completions are cut before training: raise "
           f"train.max_seq_len or lower teacher.max_new_tokens")
    _check(p, tr.kd_top_k >= 1 and 0 <= tr.kd_weight <= 1, "train.kd_top_k must be >= 1 and train.kd_weight in [0, 1]")
    _check(p, tr.max_failures >= 0, "train.max_failures: must be >= 0")

    pr = cfg.probes
    _check(p, pr.items_per_capability >= 1, f"probes.items_per_capability: must be >= 1, got {pr.items_per_capability}")
    _check(p, pr.bootstrap_samples >= 0 and pr.num_actors >= 1, "probes.bootstrap_samples >= 0 and probes.num_actors >= 1")

    res = cfg.resources
    for f in dataclasses.fields(res):
        _check(p, getattr(res, f.name) >= 0, f"resources.{f.name}: must be >= 0, got {getattr(res, f.name)}")
    _check(p, res.train_workers >= 1, f"resources.train_workers: must be >= 1, got {res.train_workers}")

    ranges = range_problems(cfg)          # a non-finite or oversized value: say that, not what it then breaks
    return ranges + without_keys(p, ranges) + gpu_plan_problems(cfg)


def without_keys(problems: list[str], named: list[str]) -> list[str]:
    """`problems` less those about a key that a line of `named` is already about (`key: ...`)."""
    keys = tuple(f"{m.split(':', 1)[0]}:" for m in named)
    return [m for m in problems if not m.startswith(keys)]


def validate(cfg: ReadConfig) -> ReadConfig:
    """Raise one ValueError listing every value problem (each line names its key and the fix); return cfg.

    Pure: files, packages and this machine are `read_ray.runtime.preflight`'s."""
    p = value_problems(cfg)
    if p:
        raise ValueError("invalid config:\n  - " + "\n  - ".join(p))
    return cfg
