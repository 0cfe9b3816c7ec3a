"""The distilled student, handed over: where it lies, the one line that loads it, and `read-ray export`.

A run's final student is the `student/` folder of its last complete round (`rounds/round_NNNN/student/`,
named by that round's state.json). `export_student` writes it as a clean Hugging Face folder:

    OUT/
      config.json  generation_config.json
      model.safetensors (or shards + index)     the weights in the run's training precision (train.precision)
      tokenizer files + chat template
      read_ray_config.yaml                       the run's resolved config (every override in it)
      README.md                                  model card: teacher, budget spent, allocation per round,
                                                 final capability profile, downstream utility, the command

The folder is built beside OUT and renamed into place, so OUT is either absent, or complete.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from read_ray.config import ReadConfig, config_from_dict, read_yaml_file
from read_ray.runtime.rundir import RunDirectory, read_json

_WHICH = "give the folder `read-ray run` wrote (runs/<name>)"
# train.precision -> the dtype safetensors records for the weights
_SAFETENSORS_DTYPES = {"fp32": "F32", "bf16": "BF16", "fp16": "F16"}


def open_run(path: str | Path) -> tuple[Path, ReadConfig, RunDirectory]:
    """The run directory, its config and its RunDirectory; ValueError naming the path when it is not a run
    directory or has no complete round."""
    root = Path(path).expanduser()
    if not root.exists():
        raise ValueError(f"{root} does not exist; {_WHICH}")
    if not root.is_dir():
        raise ValueError(f"{root} is a file, not a run directory; {_WHICH}")
    if not (root / "config.yaml").is_file():
        raise ValueError(f"{root} is not a run directory (no config.yaml in it); {_WHICH}")
    try:
        cfg = config_from_dict(read_yaml_file(root / "config.yaml"))
    except ValueError as exc:
        raise ValueError(f"{root / 'config.yaml'} is not a valid read_ray config ({exc}); restore it from a copy") \
            from None
    run = RunDirectory(root.resolve(), cfg.capabilities.names)
    if not run.rounds_dir.is_dir() or not run.complete_rounds():
        raise ValueError(f"{root} has no complete round yet, so it has no distilled student; resume the run "
                         f"(read-ray run --config {root / 'config.yaml'}) and export it when a round is complete")
    return root.resolve(), cfg, run


def final_student_dir(run: RunDirectory, *, verify: bool = False) -> Path:
    """The last complete round's student folder (from its state.json). `verify` checks the round's files
    against MANIFEST.json first (a corrupt checkpoint raises ValueError naming the file)."""
    done = run.complete_rounds() if run.rounds_dir.is_dir() else []
    if not done:
        raise ValueError(f"{run.root} has no complete round, so it has no distilled student yet")
    last = done[-1]
    if verify:
        run.verify_round(last)
    folder = run.round_dir(last)
    state = read_json(folder / "state.json", f"delete {folder} to redo that round")
    student = Path(run.resolve(state.get("checkpoint") or str(folder / "student")))
    if not (student / "config.json").is_file():
        raise ValueError(f"{student} holds no model (no config.json); delete {folder} to redo that round")
    return student


def load_line(path: str | Path) -> str:
    return f'AutoModelForCausalLM.from_pretrained("{path}")'


def handover_lines(run_dir: str | Path, *, relative: bool = False) -> list[str]:
    """What a finished run tells its user last: the final student's folder, then the one line that loads it
    (`relative`: paths relative to the run directory, for report.md)."""
    run = RunDirectory(Path(run_dir).resolve())
    student = final_student_dir(run)
    where, shown = (".", run.relative(str(student))) if relative else (str(run.root), str(student))
    return [f"final student: {shown} (read-ray export {where} --out DIR: a Hugging Face folder with a model card)",
            f"load it: from transformers import AutoModelForCausalLM; model = {load_line(shown)}"]


def check_out_dir(out: str | Path) -> Path:
    """--out: absent or an empty folder, in a writable parent; ValueError naming it otherwise."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a new or empty folder")
    if out.is_dir() and any(out.iterdir()):
        raise ValueError(f"--out {out} exists and is not empty; give a new or empty folder (nothing is overwritten)")
    parent = out.resolve().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: cannot create it ({parent} is not a writable folder); give a folder you can "
                         f"write")
    return out.resolve()


def weight_dtypes(folder: Path) -> set[str] | None:
    """The safetensors dtypes of the floating-point weights in `folder`, or None when it has no safetensors."""
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    dtypes = set()
    for path in files:
        with safe_open(str(path), framework="pt") as f:
            for name in f.keys():
                dtype = f.get_slice(name).get_dtype()
                if dtype.startswith(("F", "BF")):
                    dtypes.add(dtype)
    return dtypes


def _write_weights(student: Path, tmp: Path, precision: str) -> str:
    """The weights in the training precision as safetensors: copied when they already are, else converted."""
    from read_ray.model.loading import load_causal_lm
    from read_ray.runtime.student import TRAIN_DTYPES

    want = _SAFETENSORS_DTYPES[precision]
    if weight_dtypes(student) == {want}:
        for path in sorted(student.glob("*.safetensors")) + sorted(student.glob("*.safetensors.index.json")):
            shutil.copy2(path, tmp / path.name)
        shutil.copy2(student / "config.json", tmp / "config.json")
        return "copied"
    model = load_causal_lm(student, dtype=TRAIN_DTYPES[precision])
    model.save_pretrained(tmp, safe_serialization=True)
    (tmp / "generation_config.json").unlink(missing_ok=True)      # written below from the student's own
    return "converted"


def _write_tokenizer_and_generation(student: Path, tmp: Path) -> bool:
    """Tokenizer (with its chat template) and generation config; returns whether a chat template is there."""
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(student, local_files_only=True)
    tokenizer.save_pretrained(tmp)
    if (student / "generation_config.json").is_file():
        generation = GenerationConfig.from_pretrained(student, local_files_only=True)
    else:
        generation = GenerationConfig.from_model_config(AutoConfig.from_pretrained(student, local_files_only=True))
    generation.save_pretrained(tmp)
    return bool(getattr(tokenizer, "chat_template", None))


def export_student(run_dir: str | Path, out: str | Path, *, command: str | None = None) -> dict:
    """Write the run's final student to `out` as a Hugging Face folder with a model card; returns a summary
    {"out", "student", "round", "precision", "weights" (copied | converted), "chat_template"}."""
    root, cfg, run = open_run(run_dir)
    out = check_out_dir(out)
    student = final_student_dir(run, verify=True)
    records = run.records()
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        weights = _write_weights(student, tmp, cfg.train.precision)
        chat = _write_tokenizer_and_generation(student, tmp)
        shutil.copy2(root / "config.yaml", tmp / "read_ray_config.yaml")
        command = command or f"read-ray export {root} --out {out}"
        (tmp / "README.md").write_text(model_card(cfg, records, root, out, chat_template=chat, export_command=command))
        if out.is_dir():
            out.rmdir()                     # empty (checked): replaced by the complete folder
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"out": str(out), "student": str(student), "round": records[-1]["round_index"],
            "precision": cfg.train.precision, "weights": weights, "chat_template": chat}


def compare_arm(root: Path) -> dict | None:
    """The `read-ray compare` arm this run belongs to (OUT/runs/<arm> with OUT/arms/<arm>.json), else None."""
    path = root.parent.parent / "arms" / f"{root.name}.json"
    if root.parent.name != "runs" or not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _utility_lines(cfg: ReadConfig, records: list[dict], root: Path) -> list[str]:
    lines = []
    arm = compare_arm(root)
    if arm and "test_utility" in arm.get("metrics", {}):
        m = arm["metrics"]
        lines.append(f"- **test split** (`read-ray compare`, arm `{arm['policy']}` seed {arm['seed']}): utility "
                     f"{m['test_utility']:.4f}, change from the initial student {m['test_utility_change']:+.4f} "
                     f"(`task.utility={cfg.task.utility}`)")
    dev = [(r["round_index"], r["dev_utility_change"]) for r in records if r.get("dev_utility_change") is not None]
    if dev:
        index, change = dev[-1]
        lines.append(f"- **dev split** after round {index + 1} (the bandit's dev checkpoint): change from the initial "
                     f"student {change:+.4f} (`task.utility={cfg.task.utility}`)")
    if not lines:
        lines.append("- not measured by this run (no dev checkpoint: `bandit.dev_every_rounds=0`); `read-ray compare` "
                     "scores every policy on the task's test split")
    return lines


def model_card(cfg: ReadConfig, records: list[dict], root: Path, out: Path, *, chat_template: bool,
               export_command: str) -> str:
    """README.md of an exported student (Hugging Face model card with YAML front matter)."""
    caps = cfg.capabilities.names
    last, ledger = records[-1], records[-1]["ledger"]
    spent = ledger["generation_tokens"] + ledger["training_tokens"] + (ledger["probe_tokens"] if ledger[
        "charge_probes"] else 0)
    student = (f"the teacher pruned to layers {list(cfg.student.keep_layers)}" if cfg.student.init == "prune"
               else f"`{cfg.student.model}`")
    lines = ["---", "library_name: transformers", "pipeline_tag: text-generation", "tags:", "- read_ray",
             "- distillation", "---", "", f"# `{cfg.run.name}`: a student distilled with read_ray (ReAD)", "",
             f"Distilled from the teacher **`{cfg.teacher.model}`** into {student}, for the task **{cfg.task.name}**, "
             f"under a budget of {ledger['total_tokens']:,} tokens in {len(records)} rounds (allocation policy "
             f"`{cfg.bandit.policy}`, loss `{cfg.train.loss}`). Weights in the training precision "
             f"(`train.precision={cfg.train.precision}`), safetensors.", "", "## Load it", "", "```python",
             "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
             f'model = {load_line(out)}', f'tokenizer = AutoTokenizer.from_pretrained("{out}")']
    if chat_template:
        lines += ['messages = [{"role": "user", "content": "What is 12 * 7?"}]',
                  "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors=\"pt\","
                  " return_dict=True)"]
    else:
        lines += ['inputs = tokenizer("What is 12 * 7?", return_tensors="pt")']
    lines += ["print(tokenizer.decode(model.generate(**inputs, max_new_tokens=64)[0]))", "```", ""]
    if not chat_template:
        lines += ["The tokenizer has no chat template: prompt it with plain text.", ""]
    lines += ["## Budget spent", "", "| stage | tokens |", "| --- | ---: |",
              f"| teacher generation (prompt + completion) | {ledger['generation_tokens']:,} |",
              f"| student training (prompt + label) | {ledger['training_tokens']:,} |",
              f"| probes (metered{'' if ledger['charge_probes'] else ', not charged'}) | {ledger['probe_tokens']:,} |",
              f"| **charged, of {ledger['total_tokens']:,}** | **{spent:,}** |", "",
              "## Allocation per round (share of the round's generation budget)", "",
              "| round | " + " | ".join(caps) + " | reward |", "| ---: |" + " ---: |" * (len(caps) + 1)]
    for r in records:
        lines.append(f"| {r['round_index'] + 1} | " + " | ".join(f"{w:.2f}" for w in r["allocation"])
                     + f" | {r['reward']['reward']:+.2f} |")
    lines += ["", "## Final capability profile", "",
              "Probe scores after the last round: 0 = the initial student, 100 = the teacher (± 95% CI half-width).",
              "", "| capability | score |", "| --- | ---: |"]
    lines += [f"| {c} | {last['profile_after'][k]:.1f} ± {last['profile_ci'][k]:.1f} |" for k, c in enumerate(caps)]
    lines += ["", f"## Downstream utility on `{cfg.task.name}`", "", *_utility_lines(cfg, records, root), "",
              "## How it was made", "",
              "The run's resolved config, with every override, is `read_ray_config.yaml` beside this card; it "
              "reproduces the run (`run.runs_dir=DIR run.name=NAME` after it to run it somewhere new):", "", "```bash",
              "read-ray run --config read_ray_config.yaml", "```", "",
              f"Exported from round {last['round_index'] + 1} of the run (`rounds/round_{last['round_index']:04d}/"
              f"student/`) with `{export_command}`.", ""]
    return "\n".join(lines)
