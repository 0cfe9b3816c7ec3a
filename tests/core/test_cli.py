"""The `read-ray` console script: config show and simulate, through the installed entry point."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

SCRIPT = shutil.which("read-ray", path=str(Path(sys.executable).parent)) or shutil.which("read-ray")


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    assert SCRIPT, "the read-ray console script is not installed (pip install -e .)"
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=timeout)


def test_config_show_prints_the_resolved_default():
    out = cli("config", "show")
    assert out.returncode == 0, out.stderr
    data = yaml.safe_load(out.stdout)
    assert data["teacher"]["model"] == "smollm2-135m-instruct"
    assert data["budget"]["total_tokens"] > 0 and "bandit" in data


def test_config_show_applies_overrides_and_presets(tmp_path):
    out = cli("config", "show", "--config", "tiny", "budget.num_rounds=3")
    assert out.returncode == 0, out.stderr
    assert yaml.safe_load(out.stdout)["budget"]["num_rounds"] == 3
    path = tmp_path / "mine.yaml"
    path.write_text(out.stdout)
    again = cli("config", "show", "--config", str(path))
    assert again.returncode == 0 and again.stdout == out.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["budget.total_tokens=abc"], "budget.total_tokens"),
        (["budget.nosuchkey=1"], "budget.nosuchkey"),
        (["--config", "nope"], "unknown preset 'nope'"),
        (["budget.gen_fraction=1.5"], "budget.gen_fraction"),
    ],
)
def test_config_show_bad_input_exits_nonzero_naming_the_key(args, needle):
    out = cli("config", "show", *args)
    assert out.returncode != 0
    assert needle in out.stderr and "Traceback" not in out.stderr


def test_simulate_json_has_every_policy():
    out = cli("simulate", "--json", "--seeds", "2", "--rounds", "6", "--policies", "read,uniform,exp3")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert set(result["policies"]) == {"read", "uniform", "exp3"}
    for row in result["policies"].values():
        assert row["tokens_spent"] <= result["total_tokens"]
        assert set(row["final_utility"]) == {"mean", "ci95"}


def test_simulate_table_and_bad_policy():
    out = cli("simulate", "--seeds", "2", "--rounds", "4", "--world", "shifting",
              "--policies", "oracle,task_static,single_cap,no_ident")
    assert out.returncode == 0 and "95%" in out.stdout and "world 'shifting'" in out.stdout
    rows = {line.split()[0]: line for line in out.stdout.splitlines()[2:6]}
    assert set(rows) == {"oracle", "task_static", "single_cap", "no_ident"}
    assert rows["oracle"].count("±") == 3 and rows["task_static"].count("±") == 2   # paired vs task_static
    bad = cli("simulate", "--policies", "static")
    assert bad.returncode == 2 and "static" in bad.stderr
    bad = cli("simulate", "--world", "nowhere")
    assert bad.returncode == 2 and "nowhere" in bad.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--tasks", "gsm8k,nope"], "--tasks: give task names from"),
        (["--tasks", "gsm8k,gsm8k"], "names a task twice"),
        (["--tasks", "gsm8k", "--interventions", "0"], "--interventions: need at least 1"),
    ],
)
def test_identify_bad_input_fails_before_ray(args, needle, tmp_path):
    out = cli("identify", "--config", "tiny", "--out", str(tmp_path / "out"), *args)
    assert out.returncode == 2 and needle in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists()
