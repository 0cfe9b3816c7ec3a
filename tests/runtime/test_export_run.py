"""`read-ray export` on the shared finished `tiny` run (conftest.py): its final student, trained by Ray Train +
DeepSpeed, as a Hugging Face folder that `from_pretrained` loads and that generates; the run's report ends
with the student's folder and its load line. (Errors and the precision conversion: tests/model/test_handover.py.)"""

import pytest
import torch

from read_ray.cli import main


@pytest.mark.slow
@pytest.mark.timeout(1800)   # the first test to use a shared run also pays for making it (or waits for it)
def test_export_a_finished_run_loads_and_generates(tiny_run, tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from read_ray.experiments.report import write_report

    run = tiny_run.run                                      # read only: exported from, reported on a copy
    copy = tiny_run.copy(tmp_path / "runs", "copy")
    lines = write_report(copy.root).splitlines()
    student = copy.round_dir(copy.complete_rounds()[-1]) / "student"
    assert lines[-1].endswith(f'AutoModelForCausalLM.from_pretrained("{student}")')
    assert lines[-2].startswith(f"final student: {student} ")
    student = run.round_dir(run.complete_rounds()[-1]) / "student"

    out = tmp_path / "student"
    assert main(["export", str(run.root), "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f'load it: AutoModelForCausalLM.from_pretrained("{out}")'
    model = AutoModelForCausalLM.from_pretrained(out)
    trained = AutoModelForCausalLM.from_pretrained(student)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), trained.state_dict().values(),
                                                  strict=True))
    tokenizer = AutoTokenizer.from_pretrained(out)
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2 + 3?"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] > inputs["input_ids"].shape[1]
    card = (out / "README.md").read_text()
    records = run.records()
    assert f"| **charged, of {tiny_run.cfg.budget.total_tokens:,}** |" in card
    assert all(f"| {r['round_index'] + 1} | " in card for r in records)
    assert f"dev split** after round {len(records)}" in card          # tiny: a dev checkpoint every 2 rounds
