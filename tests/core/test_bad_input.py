"""Bad input as the user meets it: `read-ray config show` (load + validate, what `read-ray run` and the job
entrypoint do before any Ray resource) exits with status 2 and one message that names the cause (key, file,
line) and what to do, with no traceback. Also the cluster-fit check (`check_resources`, pure) that turns a
role Ray could never place into an error instead of a silent wait. docs/RELIABILITY.md tabulates these.
"""

import json
import shutil

import pytest

from read_ray.cli import main
from read_ray.config import load_config
from read_ray.core.templates import bundled_templates_dir
from read_ray.runtime.cluster import check_resources


def user_error(capsys, args: list[str]) -> str:
    """Run `read-ray config show ARGS`; return the one error message it prints (status 2, no traceback)."""
    assert main(["config", "show", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("read-ray: error: ") and "Traceback" not in err
    return err


def _write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _templates_with_line(tmp_path, line: str) -> str:
    folder = tmp_path / "templates"
    shutil.copytree(bundled_templates_dir(), folder)
    with open(folder / "math.jsonl", "a") as f:
        f.write(line + "\n")
    return str(folder)


_GOOD_TEMPLATE = {"id": "math/extra", "capability": "math", "text": "Add {a} and {b}.",
                  "slots": {"a": {"kind": "int", "low": 1, "high": 9}, "b": {"kind": "int", "low": 1, "high": 9}}}


def _model_dir(tmp_path, num_layers: int) -> str:
    folder = tmp_path / "teacher"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "num_hidden_layers": num_layers}))
    return str(folder)


# Each case: (id, build(tmp_path) -> CLI args, substrings the message must contain: the cause and the fix).
CASES = [
    ("malformed_yaml", lambda t: ["--config", _write(t, "bad.yaml", "budget:\n  total_tokens: [unclosed\n")],
     ["bad.yaml: malformed YAML", 'bad.yaml", line 2', "fix the YAML syntax at the line shown"]),
    ("yaml_list_not_mapping", lambda t: ["--config", _write(t, "list.yaml", "- budget\n- task\n")],
     ["list.yaml: expected a mapping of config sections"]),
    ("section_not_mapping", lambda t: ["--config", _write(t, "s.yaml", "budget: 5\n")],
     ["budget: expected a mapping of BudgetConfig fields"]),
    ("unknown_key_in_yaml", lambda t: ["--config", _write(t, "k.yaml", "budget:\n  total_tokenz: 5\n")],
     ["unknown config key 'budget.total_tokenz'", "valid keys here: total_tokens"]),
    ("unknown_section_override", lambda t: ["buget.total_tokens=5"],
     ["unknown config key 'buget.total_tokens'", "valid keys: run, capabilities"]),
    ("wrong_type", lambda t: ["budget.total_tokens=lots"], ["budget.total_tokens: expected int, got 'lots'"]),
    ("float_for_int", lambda t: ["budget.num_rounds=2.5"], ["budget.num_rounds: expected int, got 2.5"]),
    ("override_without_equals", lambda t: ["budget.total_tokens"], ["is not of the form key.sub=value"]),
    ("override_value_not_yaml", lambda t: ["allocation.weight_grid=[0.5,"], ["the value is not valid YAML"]),
    ("unknown_preset", lambda t: ["--config", "tinyy"], ["unknown preset 'tinyy'", "default", "tiny"]),
    ("missing_config_file", lambda t: ["--config", str(t / "nope.yaml")], ["nope.yaml does not exist", "give an existing YAML path or a preset (default"]),
    ("negative_budget", lambda t: ["budget.total_tokens=-100"], ["budget.total_tokens: must be > 0, got -100"]),
    ("budget_below_one_completion", lambda t: ["budget.total_tokens=1000"],
     ["less than one teacher completion", "raise budget.total_tokens or lower budget.num_rounds"]),
    ("gen_fraction_out_of_range", lambda t: ["budget.gen_fraction=1.5"],
     ["budget.gen_fraction: must be strictly between 0 and 1, got 1.5"]),
    ("zero_rounds", lambda t: ["budget.num_rounds=0"], ["budget.num_rounds: must be >= 1"]),
    ("unknown_capability_in_requirement", lambda t: ["task.requirement={math: 0.5, cooking: 0.5}"],
     ["task.requirement.cooking: unknown capability", "known: general_knowledge"]),
    ("requirement_without_mass", lambda t: ["task.requirement={math: 0, code: 0}"],
     ["task.requirement: the vector has no mass", "give at least one capability a positive weight"]),
    ("negative_requirement_weight", lambda t: ["task.requirement={math: -1, code: 2}"],
     ["task.requirement.math: weights must be >= 0"]),
    ("unknown_task", lambda t: ["task.name=gsm9k"], ["task.name: unknown task 'gsm9k'", "choose one of", "gsm8k"]),
    ("capability_without_templates", lambda t: ["capabilities.names=[math, cooking]", "task.requirement={math: 1}"],
     ["capability 'cooking' has no templates", "cooking.jsonl is missing"]),
    ("template_with_unknown_slot",
     lambda t: ["capabilities.templates_dir=" + _templates_with_line(t, json.dumps({**_GOOD_TEMPLATE, "text": "Add {a} and {c}."}))],
     ["math.jsonl:", "{c} is not a declared slot", "fix or remove that line"]),
    ("template_corrupt_jsonl_line",
     lambda t: ["capabilities.templates_dir=" + _templates_with_line(t, '{"id": "math/broken", ')],
     ["math.jsonl:", "invalid JSON", "fix or remove that line"]),
    ("missing_teacher_path", lambda t: [f"teacher.model={t / 'no_such_model'}"],
     ["teacher.model:", "no_such_model is not a Hugging Face model directory", "give an existing model directory"]),
    ("missing_student_path", lambda t: ["student.init=model", f"student.model={t / 'gone'}"],
     ["student.model:", "gone is not a Hugging Face model directory"]),
    ("keep_layers_out_of_range", lambda t: [f"teacher.model={_model_dir(t, 4)}", "student.keep_layers=[0, 1, 7]"],
     ["student.keep_layers: layer 7 is out of range", "has 4 layers (indices 0..3)"]),
    ("max_seq_len_below_completion", lambda t: ["train.max_seq_len=64"],
     ["train.max_seq_len (64) must exceed the longest teacher completion (160 tokens)",
      "raise train.max_seq_len or lower teacher.max_new_tokens"]),
    ("probe_items_zero", lambda t: ["probes.items_per_capability=0"],
     ["probes.items_per_capability: must be >= 1, got 0"]),
    ("unknown_policy", lambda t: ["bandit.policy=best"], ["bandit.policy: 'best' is not one of read, "]),
    ("batch_above_ongoing_requests", lambda t: ["teacher.max_batch_size=32", "teacher.max_ongoing_requests=8"],
     ["teacher.max_ongoing_requests (8) must be >= teacher.max_batch_size (32)", "Serve caps batches at 5"]),
    ("http_port_out_of_range", lambda t: ["teacher.http_port=70000"], ["teacher.http_port: not a port (1..65535): 70000"]),
    ("run_name_with_slash", lambda t: ["run.name=../escape"], ["run.name: give a non-empty name without '/'"]),
]


@pytest.mark.parametrize(("build", "needles"), [pytest.param(b, n, id=i) for i, b, n in CASES])
def test_bad_input_gives_one_clear_error(capsys, tmp_path, build, needles):
    message = user_error(capsys, build(tmp_path))
    for needle in needles:
        assert needle in message, f"{needle!r} not in:\n{message}"


def test_every_problem_is_listed_at_once(capsys):
    message = user_error(capsys, ["budget.gen_fraction=2", "probes.items_per_capability=0", "bandit.policy=x"])
    assert message.count("\n  - ") == 3


@pytest.mark.parametrize(
    ("overrides", "available", "needles"),
    [
        pytest.param(["resources.train_cpus_per_worker=4"], {"CPU": 2.0},
                     ["the config needs 8.55 CPU at once", "train 8", "but the cluster has 2",
                      "lower resources.*", "otherwise Ray would wait forever"], id="cpus_the_cluster_lacks"),
        pytest.param(["resources.teacher_gpus_per_replica=1"], {"CPU": 16.0},
                     ["the config needs 1 GPU at once (teacher 1) but the cluster has 0"], id="gpu_on_a_cpu_cluster"),
    ],
)
def test_resources_the_cluster_cannot_provide(overrides, available, needles):
    with pytest.raises(ValueError) as info:
        check_resources(load_config("default", overrides), available)
    for needle in needles:
        assert needle in str(info.value)
