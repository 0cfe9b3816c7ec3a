"""One typed, frozen configuration tree for a read_ray run; a leaf: imports nothing else of read_ray.

`ReadConfig` is the root (`schema`: sections, closed choices as `Literal`s). YAML in (`load_config`),
`key.sub=value` overrides (strict: an unknown key or a value of the wrong type is an error that names the key
and what was expected) and YAML out (`to_yaml`, `save_config`) are `yaml_io`. `validate` (`checks`) checks
values only and names every problem; the files and packages a config names are checked by
`read_ray.runtime.preflight` before any cluster resource is requested.

Imports nothing heavy: stdlib and pyyaml only.
"""

from read_ray.config.checks import (
    MAX_SEED,
    MAX_TOTAL_TOKENS,
    VLLM_MAX_LOGPROBS,
    choice_problems,
    gpu_plan_problems,
    longest_completion_tokens,
    range_problems,
    validate,
    value_problems,
    without_keys,
)
from read_ray.config.schema import (
    ABLATIONS,
    BACKENDS,
    CAPABILITIES,
    LEAVE_PRIOR_RULES,
    POLICIES,
    PRIORS,
    REQUIREMENT_SOURCES,
    REWARD_SOURCES,
    AllocationConfig,
    Backend,
    BanditConfig,
    BanditTarget,
    BudgetConfig,
    CapabilitiesConfig,
    CompareConfig,
    Engine,
    LeavePriorRule,
    LoggingConfig,
    Loss,
    Policy,
    Precision,
    Prior,
    ProbesConfig,
    ReadConfig,
    RequirementSource,
    ResourcesConfig,
    RewardConfig,
    RewardSource,
    RunConfig,
    Scorer,
    StudentConfig,
    StudentInit,
    TaskConfig,
    TeacherConfig,
    TrainConfig,
    Utility,
    choices,
)
from read_ray.config.yaml_io import (
    PRESETS_DIR,
    config_from_dict,
    config_to_dict,
    load_config,
    parse_overrides,
    preset_names,
    read_yaml_file,
    replace,
    resolve_preset,
    save_config,
    to_yaml,
)

__all__ = [
    "ABLATIONS", "BACKENDS", "CAPABILITIES", "LEAVE_PRIOR_RULES", "MAX_SEED", "MAX_TOTAL_TOKENS", "POLICIES",
    "PRESETS_DIR", "PRIORS", "REQUIREMENT_SOURCES", "REWARD_SOURCES", "VLLM_MAX_LOGPROBS",
    "AllocationConfig", "Backend", "BanditConfig", "BanditTarget", "BudgetConfig", "CapabilitiesConfig",
    "CompareConfig", "Engine", "LeavePriorRule", "LoggingConfig", "Loss", "Policy", "Precision", "Prior",
    "ProbesConfig", "ReadConfig", "RequirementSource", "ResourcesConfig", "RewardConfig", "RewardSource",
    "RunConfig", "Scorer", "StudentConfig", "StudentInit", "TaskConfig", "TeacherConfig", "TrainConfig",
    "Utility", "choice_problems", "choices", "config_from_dict", "config_to_dict", "gpu_plan_problems",
    "load_config", "longest_completion_tokens", "parse_overrides", "preset_names", "range_problems",
    "read_yaml_file", "replace", "resolve_preset", "save_config", "to_yaml", "validate", "value_problems",
    "without_keys",
]
