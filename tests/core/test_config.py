"""Config: presets load, overrides are strict, validation names every problem, YAML round-trips; `validate`
checks values only and the files a config names are `check_config`'s (read_ray.runtime.preflight)."""

import dataclasses
import typing

import pytest

from read_ray.config import (
    ReadConfig,
    choices,
    config_from_dict,
    load_config,
    parse_overrides,
    preset_names,
    replace,
    to_yaml,
    validate,
)
from read_ray.runtime.preflight import check_config


def test_presets_load_and_validate():
    assert {"default", "tiny"} <= set(preset_names())
    for name in preset_names():
        cfg = check_config(validate(load_config(name)))
        assert isinstance(cfg, ReadConfig)


def test_yaml_round_trip(tmp_path):
    cfg = load_config("default", ["budget.num_rounds=5", "teacher.max_new_tokens_by_capability.code=64"])
    path = tmp_path / "resolved.yaml"
    path.write_text(to_yaml(cfg))
    again = load_config(str(path))
    assert again == cfg
    assert again.budget.num_rounds == 5
    assert again.teacher.max_new_tokens_by_capability["code"] == 64


def test_overrides_convert_types():
    cfg = load_config("default", ["budget.total_tokens=1_000_000", "budget.gen_fraction=0.5",
                                  "allocation.weight_grid=[0.2, 0.8]", "logging.progress=false",
                                  "budget.charge_probes=true"])
    assert cfg.budget.total_tokens == 1_000_000
    assert cfg.budget.gen_fraction == 0.5
    assert cfg.allocation.weight_grid == (0.2, 0.8)
    assert cfg.logging.progress is False and cfg.budget.charge_probes is True


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("budget.total_tokens=abc", "budget.total_tokens: expected int"),
        ("budget.nosuchkey=1", "unknown config key 'budget.nosuchkey'"),
        ("nosection.x=1", "unknown config key 'nosection.x'"),
        ("budget.num_rounds=2.5", "budget.num_rounds: expected int"),
        ("budget.charge_probes=3", "budget.charge_probes: expected bool"),
        ("capabilities.names=math", "capabilities.names: expected a list"),
        ("budget.total_tokens.deeper=1", "unknown config key 'budget.total_tokens.deeper'"),
    ],
)
def test_bad_overrides_name_the_key(override, needle):
    with pytest.raises(ValueError, match=needle.replace(".", r"\.").replace("(", r"\(")):
        load_config("default", [override])


def test_override_syntax_error():
    with pytest.raises(ValueError, match="key.sub=value"):
        parse_overrides(["budget.total_tokens"])


def test_unknown_key_in_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("budget:\n  total_tokens: 10\n  bogus: 1\n")
    with pytest.raises(ValueError, match="budget.bogus"):
        load_config(str(path))


def test_malformed_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("budget: [unclosed\n")
    with pytest.raises(ValueError, match="malformed YAML"):
        load_config(str(path))


def test_top_level_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping of config sections"):
        load_config(str(path))


def test_unknown_preset_lists_presets():
    with pytest.raises(ValueError, match="unknown preset 'nope'.*default"):
        load_config("nope")


def test_missing_yaml_path():
    with pytest.raises(ValueError, match="does not exist"):
        load_config("/nonexistent/config.yaml")


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["budget.gen_fraction=1.0"], "budget.gen_fraction: must be strictly between 0 and 1"),
        (["budget.gen_fraction=0"], "budget.gen_fraction"),
        (["budget.total_tokens=-5"], "budget.total_tokens: must be > 0"),
        (["budget.num_rounds=0"], "budget.num_rounds: must be >= 1"),
        (["task.requirement={math: 0, code: 0}"], "no mass"),
        (["task.requirement={cooking: 1}"], "task.requirement.cooking: unknown capability"),
        (["task.declared_capability=cooking"], "task.declared_capability"),
        (["bandit.policy=magic"], "bandit.policy"),
        (["bandit.ensemble_size=1"], "bandit.ensemble_size"),
        (["teacher.max_batch_size=32", "teacher.max_ongoing_requests=8"], "max_ongoing_requests"),
        (["teacher.engine=tgi"], "teacher.engine"),
        (["train.zero_stage=4"], "train.zero_stage"),
        (["train.precision=fp8"], "train.precision"),
        (["student.init=model"], "student.model"),
        (["student.keep_layers=[1, 1]"], "student.keep_layers"),
        (["resources.train_workers=0"], "resources.train_workers"),
        (["resources.learner_cpus=-1"], "resources.learner_cpus"),
        (["logging.backends=[jsonl, splunk]"], "logging.backends"),
        (["allocation.top_k=9"], "allocation.top_k"),
        (["allocation.weight_grid=[0.5, 1.5]"], "allocation.weight_grid"),
        (["run.name=a/b"], "run.name"),
        (["task.requirement_source=oracle"], "task.requirement_source"),
        (["task.requirement_source=learned"], "task.identifier_path: requirement_source=learned needs"),
        (["bandit.policy=static"], "bandit.static_mix: policy=static needs a mix"),
        (["bandit.policy=static", "bandit.static_mix.maths=1"], "bandit.static_mix.maths: unknown capability"),
    ],
)
def test_validate_names_the_problem(overrides, needle):
    cfg = load_config("default", overrides)
    with pytest.raises(ValueError, match="invalid config") as info:
        validate(cfg)
    assert needle in str(info.value)
    with pytest.raises(ValueError, match="invalid config") as info:       # check_config says it too
        check_config(cfg)
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["budget.total_tokens=1000"], "less than one teacher completion"),
        (["capabilities.names=[math, cooking]", "task.requirement={math: 1}"], "'cooking' has no templates"),
        (["capabilities.templates_dir=/nonexistent"], "capabilities.templates_dir: folder /nonexistent does not exist"),
        (["task.requirement_source=learned", "task.identifier_path=/nonexistent/identifier.pt"],
         "task.identifier_path: requirement identifier file /nonexistent/identifier.pt does not exist"),
        (["task.name=gsm9k"], "task.name: unknown task 'gsm9k'; choose one of"),
        (["bandit.bank_path=/nonexistent/bank.json"], "bandit.bank_path: no such file '/nonexistent/bank.json'"),
        (["teacher.model=/nonexistent/model"], "teacher.model: /nonexistent/model is not a Hugging Face model"),
    ],
)
def test_check_config_names_what_the_files_lack(overrides, needle):
    cfg = load_config("default", overrides)
    with pytest.raises(ValueError, match="invalid config") as info:
        check_config(cfg)
    assert needle in str(info.value)


def test_validate_reads_no_file():
    """Values that name files which are not there pass `validate`; `check_config` lists every one at once."""
    cfg = validate(load_config("default", ["capabilities.templates_dir=/nonexistent", "task.name=gsm9k",
                                           "teacher.model=/nonexistent/model", "bandit.bank_path=/nonexistent/b",
                                           "budget.total_tokens=1000"]))
    with pytest.raises(ValueError) as info:
        check_config(cfg)
    message = str(info.value)
    assert message.count("\n  - ") == 5
    for key in ("capabilities.templates_dir", "task.name", "teacher.model", "bandit.bank_path", "budget.total_tokens"):
        assert f"\n  - {key}: " in message


def test_a_value_problem_and_a_file_problem_are_listed_together():
    cfg = load_config("default", ["task.name=gsm9k", "bandit.kappa=-1"])
    with pytest.raises(ValueError) as info:
        check_config(cfg)
    assert "task.name: unknown task" in str(info.value) and "bandit.kappa: must be >= 0" in str(info.value)


def _choice_fields():
    for section in dataclasses.fields(ReadConfig):
        for name, tp in typing.get_type_hints(typing.get_type_hints(ReadConfig)[section.name]).items():
            if typing.get_origin(tp) is tuple:
                tp = typing.get_args(tp)[0]
            if typing.get_origin(tp) is typing.Literal:
                yield f"{section.name}.{name}", tp


@pytest.mark.parametrize(("key", "alias"), list(_choice_fields()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_closed_choice_lists_its_values(key, alias):
    allowed = ", ".join(choices(alias))
    section, field = key.split(".")
    bad = "[jsonl, nope]" if isinstance(getattr(getattr(ReadConfig(), section), field), tuple) else "nope"
    with pytest.raises(ValueError) as info:
        validate(load_config("default", [f"{key}={bad}"]))
    assert f"{key}: 'nope' is not one of {allowed}" in str(info.value)
    wrong_type = "[3]" if bad.startswith("[") else "3"
    with pytest.raises(ValueError, match=f"expected one of {allowed}, got 3 "):       # the wrong type: on load
        load_config("default", [f"{key}={wrong_type}"])


def test_validate_lists_every_problem():
    cfg = load_config("default", ["budget.gen_fraction=2", "train.zero_stage=9", "bandit.kappa=-1"])
    with pytest.raises(ValueError) as info:
        validate(cfg)
    message = str(info.value)
    assert "budget.gen_fraction" in message and "train.zero_stage" in message and "bandit.kappa" in message


def test_templates_dir_without_a_capability_file(tmp_path):
    (tmp_path / "math.jsonl").write_text("")
    cfg = replace(load_config("default"), capabilities={"templates_dir": str(tmp_path)})
    with pytest.raises(ValueError, match="'reasoning' has no templates"):
        check_config(cfg)


def test_config_is_frozen():
    cfg = load_config("default")
    with pytest.raises(AttributeError):
        cfg.budget.total_tokens = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.task.requirement["math"] = 2.0  # type: ignore[index]


def test_from_dict_defaults():
    cfg = config_from_dict({})
    assert cfg == ReadConfig()


def test_learned_requirement_source_checks_the_identifier(tmp_path):
    from read_ray.core.requirements import RequirementHead, save_requirement_head

    path = tmp_path / "identifier.pt"
    save_requirement_head(RequirementHead(4, 2, 3), path, {"capabilities": ["math", "reasoning"]})
    overrides = ["task.requirement_source=learned", f"task.identifier_path={path}"]
    with pytest.raises(ValueError, match="the identifier scores capabilities"):
        check_config(load_config("tiny", overrides))
    cfg = check_config(load_config("tiny", [*overrides, "capabilities.names=[math, reasoning]",
                                            "allocation.top_k=2", "reward.spill_top_k=2"]))
    assert cfg.task.requirement_source == "learned"



def _float_fields():
    import dataclasses
    import typing

    for section in dataclasses.fields(ReadConfig):
        cls = typing.get_type_hints(ReadConfig)[section.name]
        for f, tp in typing.get_type_hints(cls).items():
            if tp is float:
                yield f"{section.name}.{f}"


@pytest.mark.parametrize("key", list(_float_fields()))
def test_every_float_field_refuses_inf_and_nan(key):
    for bad in (".inf", "-.inf", ".nan"):
        with pytest.raises(ValueError) as info:
            validate(load_config("default", [f"{key}={bad}"]))
        assert f"{key}: must be a finite number" in str(info.value)


def test_duplicate_keys_are_refused_in_files_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("run:\n  seed: 1\nbudget:\n  num_rounds: 2\nrun:\n  name: x\n")
    with pytest.raises(ValueError, match=r"c.yaml: key 'run' appears twice \(first at line 1\).*\(line 5\)"):
        load_config(str(path))
    with pytest.raises(ValueError, match="'math' appears twice"):
        load_config("default", ["task.requirement={math: 1, math: 0.5}"])
    path.write_text("run:\n  seed: 1\nbudget:\n  num_rounds: 2\n")          # the same keys once each: fine
    assert load_config(str(path)).budget.num_rounds == 2


def test_empty_or_directory_config_is_an_error(tmp_path):
    (tmp_path / "empty.yaml").write_text("\n# nothing\n")
    with pytest.raises(ValueError, match="empty.yaml: the file is empty"):
        load_config(str(tmp_path / "empty.yaml"))
    with pytest.raises(ValueError, match="is a directory, not a YAML file"):
        load_config(str(tmp_path))


def test_gpu_plans_that_can_run_pass():
    validate(load_config("gpu-llama70b-8b", ["train.loss=topk_kd", "train.kd_top_k=20"]))
    validate(load_config("gpu-llama70b-8b", ["teacher.tensor_parallel_size=2"]))     # fewer ranks than GPUs
    validate(load_config("default", ["resources.train_gpus_per_worker=2", "resources.train_workers=2"]))
    validate(load_config("default", ["run.seed=4294967295", "budget.total_tokens=1000000000000"]))
