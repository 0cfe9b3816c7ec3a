"""Bad input as the user meets it: `read-ray config show` (load + validate, what `read-ray run` and the job
entrypoint do before any Ray resource) exits with status 2 and one message that names the cause (key, file,
line) and what to do, with no traceback. Also the cluster-fit check (`check_resources`, pure) that turns a
role Ray could never place into an error instead of a silent wait. docs/RELIABILITY.md tabulates these.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

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
    ("capability_without_templates", lambda t: ["capabilities.names=[math, cooking]", "task.requirement={math: 1}",
                                                "allocation.top_k=2", "reward.spill_top_k=2",
                                                "teacher.max_new_tokens_by_capability={}"],
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
    ("keep_round_students_negative", lambda t: ["run.keep_round_students=-1"],
     ["run.keep_round_students: give how many of the last rounds keep their student checkpoint", "got -1"]),
    # files that are not a config
    ("duplicate_section_in_yaml",
     lambda t: ["--config", _write(t, "dup.yaml", "budget:\n  total_tokens: 9000\ntask:\n  name: mbpp\nbudget:\n  num_rounds: 2\n")],
     ["dup.yaml: key 'budget' appears twice (first at line 1)", "the second would replace the first",
      "merge them into one (line 5)"]),
    ("duplicate_key_in_section",
     lambda t: ["--config", _write(t, "dup2.yaml", "budget:\n  num_rounds: 2\n  num_rounds: 3\n")],
     ["dup2.yaml: key 'num_rounds' appears twice (first at line 2)"]),
    ("duplicate_key_in_override", lambda t: ["task.requirement={math: 1, math: 2}"],
     ["override 'task.requirement={math: 1, math: 2}': the value is not valid YAML", "'math' appears twice"]),
    ("empty_config_file", lambda t: ["--config", _write(t, "empty.yaml", "")],
     ["empty.yaml: the file is empty", "would silently mean every default", "give a preset name (e.g. --config default)"]),
    ("comments_only_config_file", lambda t: ["--config", _write(t, "comments.yaml", "# budget:\n#   total_tokens: 5\n")],
     ["comments.yaml: the file is empty"]),
    ("config_is_a_directory", lambda t: ["--config", str(t)],
     ["--config ", "is a directory, not a YAML file; give a YAML file path or a preset (default"]),
    ("config_is_a_yaml_named_directory", lambda t: ["--config", str(_mkdir(t, "conf.yaml"))],
     ["conf.yaml is a directory, not a YAML file"]),
    ("config_not_text", lambda t: ["--config", _write_bytes(t, "bin.yaml", b"\xff\xfe\x00\x01budget")],
     ["bin.yaml: not a text file", "give a YAML file"]),
    # values that parse but cannot run
    ("lr_infinite", lambda t: ["train.lr=.inf"], ["train.lr: must be a finite number, got inf"]),
    ("nan_float", lambda t: ["reward.beta=.nan"], ["reward.beta: must be a finite number, got nan"]),
    ("nan_in_a_mapping", lambda t: ["bandit.static_mix.math=.nan"], ["bandit.static_mix.math: must be a finite number"]),
    ("total_tokens_too_large", lambda t: ["budget.total_tokens=100000000000000000000"],
     ["budget.total_tokens: must be <= 10**12 (a trillion tokens), got 100000000000000000000"]),
    ("seed_too_large", lambda t: ["run.seed=18446744073709551616"],
     ["run.seed: must be in [0, 2**32 - 1]", "got 18446744073709551616"]),
    ("seed_just_too_large", lambda t: ["run.seed=4294967296"], ["run.seed: must be in [0, 2**32 - 1]"]),
    ("seed_negative", lambda t: ["run.seed=-1"], ["run.seed: must be in [0, 2**32 - 1]", "got -1"]),
    ("int_beyond_int64", lambda t: ["probes.bootstrap_samples=100000000000000000000"],
     ["probes.bootstrap_samples: 100000000000000000000 is out of range (at most 2**63 - 1)"]),
    ("run_name_dotdot", lambda t: ["run.name=.."], ["run.name: give a non-empty name without '/'", "not '.' or '..'",
                                                     "got '..'"]),
    ("run_name_dot", lambda t: ["run.name=."], ["run.name: give a non-empty name", "got '.'"]),
    ("run_name_empty", lambda t: ["run.name="], ["run.name: give a non-empty name", "got ''"]),
    ("run_name_backslash", lambda t: ["run.name=a\\b"], ["run.name: give a non-empty name", "no '\\' or NUL"]),
    # GPU plans no cluster can run (issue 17.8)
    ("vllm_without_gpus", lambda t: ["teacher.engine=vllm"],
     ["teacher.engine=vllm runs on GPUs only, but resources.teacher_gpus_per_replica is 0"]),
    ("tensor_parallel_above_replica_gpus",
     lambda t: ["teacher.engine=vllm", "teacher.tensor_parallel_size=8", "resources.teacher_gpus_per_replica=4"],
     ["teacher.tensor_parallel_size (8) is more than the GPUs a replica gets (resources.teacher_gpus_per_replica = 4)",
      "raise resources.teacher_gpus_per_replica to 8 or lower teacher.tensor_parallel_size"]),
    ("tensor_parallel_on_the_hf_engine", lambda t: ["teacher.tensor_parallel_size=2"],
     ["teacher.tensor_parallel_size (2) needs teacher.engine=vllm"]),
    ("kd_top_k_above_vllm_logprobs",
     lambda t: ["teacher.engine=vllm", "resources.teacher_gpus_per_replica=1", "train.loss=topk_kd", "train.kd_top_k=50"],
     ["train.kd_top_k (50) is more than teacher.engine=vllm returns (at most 20 log-probs per token",
      "lower train.kd_top_k to <= 20"]),
    ("fractional_gpus_above_one", lambda t: ["resources.train_gpus_per_worker=1.5"],
     ["resources.train_gpus_per_worker: more than 1 GPU must be a whole number", "got 1.5"]),
    ("train_ranks_sharing_a_gpu", lambda t: ["resources.train_workers=2", "resources.train_gpus_per_worker=0.5"],
     ["resources.train_gpus_per_worker (0.5) is a share of a GPU with resources.train_workers = 2", "NCCL"]),
    ("resource_below_ray_precision", lambda t: ["resources.learner_cpus=0.00001"],
     ["resources.learner_cpus: Ray schedules resources in steps of 0.0001"]),
]


def _mkdir(tmp_path, name: str):
    (tmp_path / name).mkdir()
    return tmp_path / name


def _write_bytes(tmp_path, name: str, data: bytes) -> str:
    (tmp_path / name).write_bytes(data)
    return str(tmp_path / name)


@pytest.mark.parametrize(("build", "needles"), [pytest.param(b, n, id=i) for i, b, n in CASES])
def test_bad_input_gives_one_clear_error(capsys, tmp_path, build, needles):
    message = user_error(capsys, build(tmp_path))
    for needle in needles:
        assert needle in message, f"{needle!r} not in:\n{message}"
    assert message.count("\n  - ") <= 1, f"one problem, one line:\n{message}"


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


# ----------------------------------------------------------------------------- bad paths, every command
# Each is caught before Ray starts: `ray` is made unimportable, so reaching Ray would fail the test.

def _run_dir_without_config(t) -> str:
    (t / "runs" / "r" / "rounds" / "round_0000").mkdir(parents=True)
    return str(t / "runs")


def _file(t, name: str = "taken.txt") -> str:
    return _write(t, name, "a file\n")


def _run_dir_with_corrupt_record(t) -> str:
    from read_ray.config import save_config

    root = t / "run"
    (root / "rounds" / "round_0000").mkdir(parents=True)
    save_config(load_config("tiny"), root / "config.yaml")
    (root / "rounds" / "round_0000" / "MANIFEST.json").write_text("{}")
    (root / "rounds" / "round_0000" / "record.json").write_bytes(b"\x00\xffnot json")
    return str(root)


COMMAND_CASES = [
    ("report_missing_folder", lambda t: ["report", str(t / "runs" / "nope")],
     ["nope does not exist; give the folder `read-ray run` wrote (runs/<name>)"]),
    ("report_on_a_file", lambda t: ["report", _file(t)], ["taken.txt is a file, not a run directory"]),
    ("report_on_a_non_run_folder", lambda t: ["report", str(t)],
     ["is not a run directory (no config.yaml in it); give the folder `read-ray run` wrote"]),
    ("report_corrupt_record", lambda t: ["report", _run_dir_with_corrupt_record(t)],
     ["round_0000/record.json is missing or not valid JSON", "restore it from a copy"]),
    ("compare_out_is_a_file", lambda t: ["compare", "--config", "tiny", "--out", _file(t)],
     ["--out ", "taken.txt is a file, not a folder; give a folder (it is created if missing)"]),
    ("compare_out_under_a_file", lambda t: ["compare", "--config", "tiny", "--out", _file(t) + "/sub"],
     ["taken.txt is a file, so the folder cannot be created"]),
    ("sweep_out_is_a_file", lambda t: ["sweep", "--mode", "sim", "--config", "tiny", "--out", _file(t)],
     ["--out ", "taken.txt is a file, not a folder"]),
    ("sweep_search_space_missing", lambda t: ["sweep", "--mode", "sim", "--config", "tiny", "--search-space",
                                              str(t / "space.yaml")], ["space.yaml does not exist"]),
    ("identify_out_is_a_file", lambda t: ["identify", "--config", "tiny", "--tasks", "gsm8k", "--out", _file(t)],
     ["--out ", "taken.txt is a file, not a folder"]),
    ("run_runs_dir_is_a_file", lambda t: ["run", "--config", "tiny", f"run.runs_dir={_file(t)}"],
     ["cannot start:", "run.runs_dir: ", "taken.txt is a file, not a folder; give a folder you can write"]),
    ("run_dir_is_a_file", lambda t: ["run", "--config", "tiny", f"run.runs_dir={t}", f"run.name={Path(_file(t)).name}"],
     ["run directory ", "taken.txt is a file, not a folder; move it away or choose another run.name"]),
    ("run_dir_with_rounds_but_no_config", lambda t: ["run", "--config", "tiny", f"run.runs_dir={_run_dir_without_config(t)}",
                                                     "run.name=r"],
     ["has rounds (round_0000) but no config.yaml", "restore its config.yaml", "pass --force"]),
    ("profile_model_path_missing", lambda t: ["profile", "--config", "tiny", "--model", str(t / "no_model")],
     ["--model ", "no_model is not a Hugging Face model directory (no config.json there)"]),
]


@pytest.mark.parametrize(("build", "needles"), [pytest.param(b, n, id=i) for i, b, n in COMMAND_CASES])
def test_bad_paths_give_one_clear_error_before_ray(capsys, tmp_path, monkeypatch, build, needles):
    monkeypatch.setitem(sys.modules, "ray", None)           # `import ray` now fails: no case may get that far
    assert main(build(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("read-ray: error: ") and "Traceback" not in err
    for needle in needles:
        assert needle in err, f"{needle!r} not in:\n{err}"
    assert err.count("\n  - ") <= 1, f"one problem, one line:\n{err}"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_runs_dir_before_ray(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert main(["run", "--config", "tiny", f"run.runs_dir={locked}"]) == 2
    finally:
        locked.chmod(0o755)
    assert "locked is not writable; give a folder you can write" in capsys.readouterr().err


def test_the_same_paths_that_work_are_not_refused(capsys, tmp_path):
    """The checks refuse only what cannot work: a fresh folder, a valid run dir pass them."""
    from read_ray.runtime.preflight import check_output_dir, preflight
    from read_ray.runtime.rundir import RunDirectory

    cfg = load_config("tiny", [f"run.runs_dir={tmp_path / 'runs'}", "run.name=r"])
    assert preflight(cfg) is cfg
    assert check_output_dir(tmp_path / "new" / "deeper", "--out") == tmp_path / "new" / "deeper"
    RunDirectory.open(cfg)
    assert preflight(cfg) is cfg                                 # reopening with the same config is fine


# ----------------------------------------------------------------------------- GPU plans (issue 17.8)

JOB = Path(__file__).resolve().parents[2] / "jobs" / "distill.py"


def dry_run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "READ_RAY_RUNS_DIR": str(tmp_path / "runs")}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run([sys.executable, str(JOB), "--dry-run", *args], capture_output=True, text=True,
                          timeout=180, env=env)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        pytest.param(["--config", "gpu-llama70b-8b", "teacher.tensor_parallel_size=8"],
                     "teacher.tensor_parallel_size (8) is more than the GPUs a replica gets", id="tp8_on_4_gpus"),
        pytest.param(["--config", "gpu-llama70b-8b", "resources.teacher_gpus_per_replica=0"],
                     "teacher.engine=vllm runs on GPUs only", id="vllm_with_0_gpus"),
        pytest.param(["--config", "gpu-llama70b-8b", "train.loss=topk_kd", "train.kd_top_k=64"],
                     "train.kd_top_k (64) is more than teacher.engine=vllm returns", id="kd_top_k_above_vllm"),
        pytest.param(["--config", "gpu-single", "resources.train_gpus_per_worker=1.5"],
                     "resources.train_gpus_per_worker: more than 1 GPU must be a whole number", id="gpus_1_5"),
    ],
)
def test_dry_run_refuses_impossible_gpu_plans(tmp_path, args, needle):
    proc = dry_run(tmp_path, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("distill: error: ") and needle in proc.stderr and "Traceback" not in proc.stderr


def test_the_shipped_plans_pass(tmp_path):
    from read_ray.config import validate
    from read_ray.runtime.preflight import preflight

    for preset in ("default", "tiny", "gpu-single", "gpu-llama70b-8b"):      # every preset: test_config.py
        preflight(validate(load_config(preset, [f"run.runs_dir={tmp_path}"])))
    proc = dry_run(tmp_path, "--config", "gpu-llama70b-8b")
    assert proc.returncode == 0, proc.stderr
    assert "# resource plan" in proc.stdout


@pytest.fixture(scope="module")
def two_tokenizers(tmp_path_factory):
    """Two local model folders: one with the bundled teacher's tokenizer, one whose tokenizer has extra tokens."""
    from read_ray.model.loading import BUNDLED_TEACHER, build_tiny_model, load_tokenizer, resolve_model_dir

    base = tmp_path_factory.mktemp("tok")
    source = resolve_model_dir(BUNDLED_TEACHER)
    same = build_tiny_model(base / "same", tokenizer_source=source, num_layers=2)
    other = shutil.copytree(same, base / "other")
    tokenizer = load_tokenizer(other)
    tokenizer.add_tokens(["<|new_token_a|>", "<|new_token_b|>"])
    tokenizer.save_pretrained(other)
    return str(same), str(other)


@pytest.mark.slow         # loads the bundled teacher's tokenizer (seconds, more on a loaded machine)
def test_dry_run_refuses_a_student_with_another_tokenizer_under_logit_kd(tmp_path, two_tokenizers):
    same, other = two_tokenizers
    kd = ["--config", "tiny", f"teacher.model={same}", "student.init=model", "train.loss=topk_kd", "train.kd_top_k=8"]
    proc = dry_run(tmp_path, *kd, f"student.model={other}")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"student.model: {other} has another tokenizer than teacher.model {same}" in proc.stderr
    assert "train.loss=topk_kd would match the wrong token ids" in proc.stderr

    from read_ray.runtime.preflight import preflight

    overrides = [f"teacher.model={same}", "student.init=model", "train.kd_top_k=8"]
    preflight(load_config("tiny", [*overrides, "train.loss=topk_kd", f"student.model={same}"]), run_dir=False)
    preflight(load_config("tiny", [*overrides, "train.loss=sft", f"student.model={other}"]), run_dir=False)


@pytest.mark.slow         # loads the bundled teacher's tokenizer (seconds, more on a loaded machine)
def test_kd_top_k_above_the_teacher_vocabulary(two_tokenizers):
    from read_ray.runtime.preflight import preflight

    same, _ = two_tokenizers
    vocab = json.loads((Path(same) / "config.json").read_text())["vocab_size"]
    cfg = load_config("tiny", [f"teacher.model={same}", "student.keep_layers=[0, 1]", "train.loss=topk_kd",
                               f"train.kd_top_k={vocab + 1}"])
    with pytest.raises(ValueError, match=rf"train.kd_top_k \({vocab + 1}\) is more than the teacher's vocabulary"):
        preflight(cfg, run_dir=False)


def test_fp16_on_a_cpu_without_fp16_kernels(tmp_path, monkeypatch):
    import torch

    from read_ray.runtime.preflight import preflight

    if torch.ops.mkldnn._is_mkldnn_fp16_supported():
        pytest.skip("this CPU has fp16 kernels: DeepSpeed accepts fp16 on it")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(ValueError, match=r"train.precision=fp16: this machine's CPU has no fp16 kernels"):
        preflight(load_config("tiny", ["train.precision=fp16"]), run_dir=False)
    preflight(load_config("tiny", ["train.precision=bf16"]), run_dir=False)          # DeepSpeed's CPU has bf16


def test_the_reliability_tables_name_real_tests_with_their_messages():
    """docs/RELIABILITY.md's tables and these tests agree: every test a row names exists, and a row naming a
    case of CASES or COMMAND_CASES shows a message holding every substring that case requires."""
    root = Path(__file__).resolve().parents[2]
    defined = {(str(path.relative_to(root)), name) for path in (root / "tests").rglob("*.py")
               for name in re.findall(r"^def (test_\w+)", path.read_text(), re.M)}
    names = {name for _, name in defined}
    cases = {case_id: needles for case_id, _, needles in CASES + COMMAND_CASES}
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in (root / "docs" / "RELIABILITY.md").read_text().splitlines() if line.startswith("| ")]
    checked = 0
    for *cells, named in rows:
        for file, test in re.findall(r"`(?:([\w/.]+\.py)::)?(test_\w+)", named):
            assert ((file, test) in defined) if file else (test in names), \
                f"docs/RELIABILITY.md names {file + '::' if file else ''}{test}, which no test defines"
        case = re.fullmatch(r"`(\w+)`", named)
        if case and not case.group(1).startswith("test_"):
            assert case.group(1) in cases, f"docs/RELIABILITY.md names case {case.group(1)}, which is not in CASES"
            missing = [n for n in cases[case.group(1)] if n not in cells[1]]
            assert not missing, f"docs/RELIABILITY.md's message for {case.group(1)} lacks {missing}"
            checked += 1
    assert checked >= 30
