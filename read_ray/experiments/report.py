"""Human-readable summary of a run directory: report.md, PNG plots and a short terminal summary.

Reads only the run directory (config.yaml, rounds/*/record.json, normaliser.json), so it works on a
finished run, an interrupted one, or a copy fetched from a cluster.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from read_ray.config import config_from_dict, read_yaml_file


def load_records(run_dir: Path) -> list[dict]:
    records = []
    for path in sorted((run_dir / "rounds").glob("round_[0-9][0-9][0-9][0-9]")):
        if (path / "MANIFEST.json").is_file():
            records.append(json.loads((path / "record.json").read_text()))
    return records


def write_plots(run_dir: Path, caps: tuple[str, ...], records: list[dict]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = run_dir / "plots"
    out.mkdir(exist_ok=True)
    rounds = [r["round_index"] for r in records]
    profile = np.array([r["profile_after"] for r in records])
    ci = np.array([r["profile_ci"] for r in records])
    colours = plt.get_cmap("tab10")
    paths = []

    fig, ax = plt.subplots(figsize=(8, 4))
    plot_allocation(ax, caps, records)
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    paths.append(save_figure(fig, out / "allocation.png"))

    fig, ax = plt.subplots(figsize=(8, 4))
    for k, cap in enumerate(caps):
        ax.errorbar(rounds, profile[:, k], yerr=ci[:, k], label=cap, color=colours(k), marker="o", capsize=2)
    ax.axhline(0, color="grey", lw=0.5)
    ax.axhline(100, color="grey", lw=0.5, ls="--")
    ax.set(xlabel="round", ylabel="score (0 = initial student, 100 = teacher)", title="Capability profile")
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    paths.append(save_figure(fig, out / "profile.png"))

    fig, ax = plt.subplots(figsize=(8, 4))
    for key, style in (("reward", "-o"), ("gain", "--"), ("spill", ":"), ("cost", "-.")):
        ax.plot(rounds, [r["reward"][key] for r in records], style, label=key)
    ax.set(xlabel="round", ylabel="points", title="Reward per round")
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, out / "reward.png"))

    fig, ax = plt.subplots(figsize=(8, 4))
    gen = np.array([sum(r["generation_tokens"].get(c, 0) for r in records) for c in caps])
    train = np.array([sum(r["training_tokens"].get(c, 0) for r in records) for c in caps])
    x = np.arange(len(caps))
    ax.bar(x - 0.2, gen, 0.4, label="teacher (prompt + completion)")
    ax.bar(x + 0.2, train, 0.4, label="student training (prompt + label)")
    ax.set_xticks(x, caps, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="tokens", title="Tokens per capability and stage")
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, out / "tokens.png"))
    return paths


def plot_allocation(ax, caps: tuple[str, ...], records: list[dict], title: str = "Allocation per round") -> None:
    """Stacked bars: each round's share of the generation budget per capability."""
    import matplotlib.pyplot as plt

    rounds = [r["round_index"] for r in records]
    alloc = np.array([r["allocation"] for r in records])
    bottom = np.zeros(len(records))
    for k, cap in enumerate(caps):
        ax.bar(rounds, alloc[:, k], bottom=bottom, label=cap, color=plt.get_cmap("tab10")(k))
        bottom += alloc[:, k]
    ax.set(xlabel="round", ylabel="share of generation budget", title=title)


def save_figure(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def write_report(run_dir: str | Path) -> str:
    """Write report.md and plots/*.png; return a short terminal summary."""
    run_dir = Path(run_dir)
    cfg = config_from_dict(read_yaml_file(run_dir / "config.yaml"))
    caps = cfg.capabilities.names
    records = load_records(run_dir)
    if not records:
        raise ValueError(f"{run_dir} has no complete round yet: nothing to report")
    write_plots(run_dir, caps, records)
    last = records[-1]
    ledger = last["ledger"]
    seconds = {k: sum(r["seconds"].get(k, 0.0) for r in records)
               for k in ("generate", "train", "probe", "bandit", "orchestration", "round")}
    lines = [
        f"# read_ray run `{cfg.run.name}`",
        "",
        f"Task **{cfg.task.name}**, teacher `{cfg.teacher.model}`, policy `{cfg.bandit.policy}`, "
        f"{len(records)} rounds, budget {ledger['total_tokens']:,} tokens.",
        "",
        "## Budget",
        "",
        "| stage | tokens |",
        "| --- | ---: |",
        f"| teacher generation (prompt + completion) | {ledger['generation_tokens']:,} |",
        f"| student training (prompt + label) | {ledger['training_tokens']:,} |",
        f"| probes (metered{'' if ledger['charge_probes'] else ', not charged'}) | {ledger['probe_tokens']:,} |",
        "",
        "## Capability profile (0 = initial student, 100 = teacher; ± 95% CI half-width)",
        "",
        "| capability | final | CI | tokens (teacher) | tokens (training) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for k, cap in enumerate(caps):
        gen = sum(r["generation_tokens"].get(cap, 0) for r in records)
        train = sum(r["training_tokens"].get(cap, 0) for r in records)
        lines.append(f"| {cap} | {last['profile_after'][k]:.1f} | ±{last['profile_ci'][k]:.1f} | {gen:,} | {train:,} |")
    lines += ["", "## Rounds", "", "| round | allocation | reward | gain | spill | dev ΔU | seconds |",
              "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in records:
        mix = ", ".join(f"{c} {w:.2f}" for c, w in zip(caps, r["allocation"], strict=True) if w > 0)
        dev = "" if r.get("dev_utility_change") is None else f"{r['dev_utility_change']:+.3f}"
        lines.append(f"| {r['round_index']} | {mix} | {r['reward']['reward']:+.2f} | {r['reward']['gain']:+.2f} | "
                     f"{r['reward']['spill']:.2f} | {dev} | {r['seconds'].get('round', 0):.0f} |")
    total = max(seconds["round"], 1e-9)
    lines += ["", "## Wall-clock per stage", "", "| stage | seconds | share |", "| --- | ---: | ---: |"]
    for k in ("generate", "train", "probe", "bandit", "orchestration"):
        lines.append(f"| {k} | {seconds[k]:.1f} | {100 * seconds[k] / total:.1f}% |")
    lines += ["", "## Plots", "", "![allocation](plots/allocation.png)", "![profile](plots/profile.png)",
              "![reward](plots/reward.png)", "![tokens](plots/tokens.png)", ""]
    (run_dir / "report.md").write_text("\n".join(lines))
    best = np.argsort(last["profile_after"])[::-1][:3]
    return (f"{len(records)} rounds, {ledger['generation_tokens'] + ledger['training_tokens']:,}/"
            f"{ledger['total_tokens']:,} tokens, {seconds['round'] / 60:.1f} min; strongest capabilities: "
            + ", ".join(f"{caps[i]} {last['profile_after'][i]:.1f}" for i in best)
            + f"\nreport: {run_dir / 'report.md'}")
