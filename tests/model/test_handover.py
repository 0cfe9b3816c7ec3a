"""The student handed over, without Ray (fast): `read-ray export` writes a run's final student as a Hugging Face
folder that `from_pretrained` loads and that generates; the run's report names the student and its load
line last, and draws its plots.

The run directory is built as the controller builds it, without the distillation: `RunDirectory.open` writes
config.yaml, each round is committed with `commit_round` holding a real core round record (`settle_round`) and
a real student checkpoint (the `tiny` preset's pruned student, what round 0 trains from), state.json naming it.
The whole `tiny` run, exported: tests/runtime/test_export_run.py (on the shared finished run).
"""

import dataclasses
import shutil

import numpy as np
import pytest
import torch

from read_ray.cli import main
from read_ray.config import load_config, replace
from read_ray.core.budget import Ledger
from read_ray.core.rounds import (
    GenerationSummary,
    ProbeSummary,
    RoundPlan,
    TrainingSummary,
    initial_state,
    settle_round,
)
from read_ray.experiments.export import export_student, handover_lines, weight_dtypes
from read_ray.experiments.report import write_report
from read_ray.model.loading import TINY_RANDOM, build_pruned_student, resolve_model_dir
from read_ray.runtime.rundir import RunDirectory

ALLOCATIONS = ({"math": 0.6, "reasoning": 0.4}, {"math": 1.0})


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory) -> str:
    """The `tiny` preset's initial student: its teacher pruned to layers [0, 3]."""
    cfg = load_config("tiny")
    return build_pruned_student(resolve_model_dir(TINY_RANDOM), cfg.student.keep_layers,
                                tmp_path_factory.mktemp("student") / "student")


def finished_run(runs_dir, student: str, name: str = "done", rounds: int = 2, **sections) -> RunDirectory:
    """A `tiny` run directory with `rounds` complete rounds, the last one's student a real checkpoint."""
    cfg = replace(load_config("tiny"), run={"name": name, "runs_dir": str(runs_dir)}, **sections)
    caps = cfg.capabilities.names
    run = RunDirectory.open(cfg)
    state = initial_state(Ledger(cfg.budget.total_tokens), np.zeros(len(caps)), checkpoint=student)
    for index in range(rounds):
        mix = ALLOCATIONS[index % 2]
        plan = RoundPlan(round_index=index, allocation=tuple(mix.get(c, 0.0) for c in caps), prompts=(),
                         prompts_per_capability={c: 2 for c in mix}, max_new_tokens={c: 16 for c in caps},
                         generation_cap_tokens=1200, training_cap_tokens=1200, progress_frac=index / rounds,
                         recent_source_ids={}, blocked_count=0, capped_count=0)
        profile = tuple(10.0 * (index + 1) * mix.get(c, 0.1) for c in caps)
        state, record = settle_round(
            state, plan, GenerationSummary({c: 2 for c in mix}, {c: 40 for c in mix}, {c: 30 for c in mix}, 2.0),
            TrainingSummary({c: 70 for c in mix}, 3.0 - index, None, 5.0),
            ProbeSummary(profile, (4.0,) * len(caps), 500, 3.0),
            requirement=np.array([{"math": 0.6, "reasoning": 0.4}.get(c, 0.0) for c in caps]), beta=0.5,
            spill_top_k=2, lambda_per_1k_tokens=0.01)
        rec = {**record.to_dict(), "dev_utility_change": 0.25 if index == 1 else None, "train_step_losses": [2.0]}
        partial = run.begin_round(index)
        shutil.copytree(student, partial / "student")
        state = dataclasses.replace(state, checkpoint=str(run.round_dir(index) / "student"))
        run.commit_round(index, partial, {"record.json": rec, "state.json": state.to_dict()}, rec)
    return run


def test_export_loads_with_from_pretrained_and_generates(student_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = finished_run(tmp_path / "runs", student_dir)
    out = tmp_path / "exported"
    done = export_student(run.root, out)
    assert done["round"] == 1 and done["weights"] == "copied" and done["chat_template"]
    assert {"config.json", "generation_config.json", "model.safetensors", "README.md", "read_ray_config.yaml",
            "tokenizer.json"} <= {p.name for p in out.iterdir()}
    assert not (tmp_path / ".exported.partial").exists()

    model = AutoModelForCausalLM.from_pretrained(out)
    source = AutoModelForCausalLM.from_pretrained(run.round_dir(1) / "student")
    assert model.dtype == torch.float32                                  # train.precision=fp32
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), source.state_dict().values(),
                                                  strict=True))
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template and tokenizer.chat_template == AutoTokenizer.from_pretrained(student_dir).chat_template
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "What is 12 * 7?"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] == inputs["input_ids"].shape[1] + 4 or generated[0, -1] == tokenizer.eos_token_id

    card = (out / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: transformers")
    assert f"`{load_config('tiny').teacher.model}`" in card                  # the teacher
    ledger = run.records()[-1]["ledger"]
    assert f"| **charged, of 6,000** | **{ledger['generation_tokens'] + ledger['training_tokens']:,}** |" in card
    assert "| 1 | " in card and "| 2 | " in card                             # allocation per round
    assert "| math | " in card and "dev split** after round 2" in card and "+0.2500" in card
    assert "read-ray run --config read_ray_config.yaml" in card and f'from_pretrained("{out}")' in card


def test_export_writes_the_training_precision(student_dir, tmp_path):
    """A checkpoint whose weights are not in train.precision is converted: bf16 safetensors, bf16 on load."""
    from transformers import AutoModelForCausalLM

    run = finished_run(tmp_path / "runs", student_dir, rounds=1, train={"precision": "bf16"})
    assert weight_dtypes(run.round_dir(0) / "student") == {"F32"}
    done = export_student(run.root, tmp_path / "bf16")
    assert done["weights"] == "converted" and weight_dtypes(tmp_path / "bf16") == {"BF16"}
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "bf16")
    assert model.dtype == torch.bfloat16
    assert model.generate(input_ids=torch.tensor([[1, 2, 3]]), max_new_tokens=2, do_sample=False).shape[1] >= 4


def test_export_refuses_bad_input(student_dir, tmp_path, capsys):
    """One line naming the cause, exit status 2: not a run directory, no complete round, --out not empty."""
    run = finished_run(tmp_path / "runs", student_dir, rounds=1)
    empty = RunDirectory.open(replace(load_config("tiny"), run={"name": "empty", "runs_dir": str(tmp_path / "runs")}))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x.txt").write_text("x")
    cases = [([str(tmp_path)], "is not a run directory (no config.yaml in it)"),
             ([str(tmp_path / "nope")], "does not exist"),
             ([str(empty.root)], "has no complete round yet"),
             ([str(run.root), "--out", str(tmp_path / "taken")], "exists and is not empty"),
             ([str(run.root), "--out", str(tmp_path / "taken" / "x.txt")], "is a file")]
    for args, message in cases:
        argv = ["export", *args] if "--out" in args else ["export", *args, "--out", str(tmp_path / "new")]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and err.startswith("read-ray: error:") and "\n" not in err
    assert not (tmp_path / "new").exists() and (tmp_path / "taken" / "x.txt").read_text() == "x"
    (tmp_path / "fresh").mkdir()                                      # an empty --out is fine
    assert main(["export", str(run.root), "--out", str(tmp_path / "fresh")]) == 0
    assert "load it: AutoModelForCausalLM.from_pretrained(" in capsys.readouterr().out
    assert (tmp_path / "fresh" / "model.safetensors").is_file()


def test_report_ends_with_the_student_and_draws_the_plots(student_dir, tmp_path):
    run = finished_run(tmp_path / "runs", student_dir)
    summary = write_report(run.root)
    last = summary.splitlines()[-1]
    student = run.round_dir(1) / "student"
    assert last == f'load it: from transformers import AutoModelForCausalLM; model = ' \
                   f'AutoModelForCausalLM.from_pretrained("{student}")'
    assert summary.splitlines()[-2].startswith(f"final student: {student} (read-ray export {run.root} --out DIR")
    report = (run.root / "report.md").read_text()
    assert 'from_pretrained("rounds/round_0001/student")' in report and str(tmp_path) not in report
    for name in ("allocation", "profile", "reward", "tokens"):
        path = run.root / "plots" / f"{name}.png"
        assert path.stat().st_size > 5_000 and path.read_bytes()[:4] == b"\x89PNG"
    assert handover_lines(run.root, relative=True)[0].startswith("final student: rounds/round_0001/student")


def test_profile_plot_starts_at_the_initial_student_on_integer_rounds(student_dir, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from read_ray.experiments.report import plot_allocation, plot_profile

    run = finished_run(tmp_path / "runs", student_dir)
    caps, records = load_config("tiny").capabilities.names, run.records()
    fig, (a, b) = plt.subplots(1, 2)
    plot_profile(a, caps, records)
    plot_allocation(b, caps, records)
    fig.canvas.draw()
    assert [t.get_text() for t in a.get_xticklabels()] == ["start", "1", "2"]
    assert list(a.get_xticks()) == [0, 1, 2] and list(b.get_xticks()) == [1, 2]
    assert [t.get_text() for t in a.get_legend().get_texts()] == list(caps)
    assert {t.get_text() for t in b.get_legend().get_texts()} == {"math", "reasoning"}     # the shares given
    tops = [sum(bar.get_height() for bar in c.patches if bar.get_x() < 1.5) for c in b.containers]
    assert sum(tops) == pytest.approx(1.0)                                               # round 1's shares stack to 1
    plt.close(fig)
