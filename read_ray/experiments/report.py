"""Human-readable summary of a run directory: report.md, PNG plots and a short terminal summary; and the
plots of a comparison (`write_compare_plots`, from its results.json).

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
    """plots/: allocation.png (stacked shares per round), profile.png (from the initial student at "start"),
    reward.png, tokens.png. Rounds are counted from 1 on the x-axes (round 1 = rounds/round_0000)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = run_dir / "plots"
    out.mkdir(exist_ok=True)
    rounds = [r["round_index"] + 1 for r in records]
    paths = []

    fig, ax = plt.subplots(figsize=(8, 4))
    plot_allocation(ax, caps, records)
    paths.append(save_figure(fig, out / "allocation.png"))

    fig, ax = plt.subplots(figsize=(8, 4))
    plot_profile(ax, caps, records)
    paths.append(save_figure(fig, out / "profile.png"))

    fig, ax = plt.subplots(figsize=(8, 4))
    for key, style in (("reward", "-o"), ("gain", "--s"), ("spill", ":^"), ("cost", "-.v")):
        ax.plot(rounds, [r["reward"][key] for r in records], style, label=key)
    ax.axhline(0, color="grey", lw=0.5)
    round_ticks(ax, rounds)
    ax.set(xlabel=ROUND_AXIS, ylabel="points", title="Reward per round (gain - spill - cost)")
    outside_legend(ax)
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


ROUND_AXIS = "round (1 = rounds/round_0000)"


def round_ticks(ax, positions: list[int], *, start: bool = False) -> None:
    """Integer ticks at the rounds (and "start", the initial student, at 0)."""
    ticks = ([0] if start else []) + list(positions)
    ax.set_xticks(ticks, ["start" if start and i == 0 else str(t) for i, t in enumerate(ticks)])


def outside_legend(ax, **kwargs) -> None:
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, **kwargs)


def plot_profile(ax, caps: tuple[str, ...], records: list[dict]) -> None:
    """Each capability's probe score from the initial student ("start", before round 1) through every round,
    with its 95% CI."""
    import matplotlib.pyplot as plt

    x = [0] + [r["round_index"] + 1 for r in records]
    profile = np.array([records[0]["profile_before"]] + [r["profile_after"] for r in records])
    ci = np.array([np.zeros(len(caps))] + [r["profile_ci"] for r in records])
    markers = "osD^v<>ph*"
    for k, cap in enumerate(caps):
        ax.errorbar(x, profile[:, k], yerr=ci[:, k], label=cap, color=plt.get_cmap("tab10")(k % 10),
                    marker=markers[k % len(markers)], capsize=2, alpha=0.9)
    ax.axhline(0, color="grey", lw=0.5)
    ax.axhline(100, color="grey", lw=0.5, ls="--")
    round_ticks(ax, x[1:], start=True)
    ax.set(xlabel="after round (start = the initial student)", ylabel="score (0 = initial student, 100 = teacher)",
           title="Capability profile (95% CI)")
    outside_legend(ax)


def plot_allocation(ax, caps: tuple[str, ...], records: list[dict], title: str = "Allocation per round") -> None:
    """Stacked bars: each round's share of the generation budget per capability (legend: the capabilities
    that got a share, top of the stack first)."""
    import matplotlib.pyplot as plt

    rounds = [r["round_index"] + 1 for r in records]
    alloc = np.array([r["allocation"] for r in records])
    bottom = np.zeros(len(records))
    for k, cap in enumerate(caps):
        if alloc[:, k].max() <= 0:
            continue
        ax.bar(rounds, alloc[:, k], bottom=bottom, label=cap, color=plt.get_cmap("tab10")(k % 10),
               edgecolor="white", lw=0.5)
        bottom += alloc[:, k]
    round_ticks(ax, rounds)
    ax.set_ylim(0, 1.0)
    ax.set(xlabel=ROUND_AXIS, ylabel="share of the round's generation budget", title=title)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def save_figure(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")          # legends placed outside the axes stay in
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
    lines += ["", "## Rounds", "", "Round 1 is `rounds/round_0000`.", "", "| round | allocation | reward | gain | spill | dev ΔU | seconds |",
              "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in records:
        mix = ", ".join(f"{c} {w:.2f}" for c, w in zip(caps, r["allocation"], strict=True) if w > 0)
        dev = "" if r.get("dev_utility_change") is None else f"{r['dev_utility_change']:+.3f}"
        lines.append(f"| {r['round_index'] + 1} | {mix} | {r['reward']['reward']:+.2f} | {r['reward']['gain']:+.2f} | "
                     f"{r['reward']['spill']:.2f} | {dev} | {r['seconds'].get('round', 0):.0f} |")
    total = max(seconds["round"], 1e-9)
    lines += ["", "## Wall-clock per stage", "", "| stage | seconds | share |", "| --- | ---: | ---: |"]
    for k in ("generate", "train", "probe", "bandit", "orchestration"):
        lines.append(f"| {k} | {seconds[k]:.1f} | {100 * seconds[k] / total:.1f}% |")
    lines += ["", "## The distilled student", "", *(f"- {line}" for line in student_lines(run_dir, relative=True))]
    lines += ["", "## Plots", "", "![allocation](plots/allocation.png)", "![profile](plots/profile.png)",
              "![reward](plots/reward.png)", "![tokens](plots/tokens.png)", ""]
    (run_dir / "report.md").write_text("\n".join(lines))
    best = np.argsort(last["profile_after"])[::-1][:3]
    return (f"{len(records)} rounds, {ledger['generation_tokens'] + ledger['training_tokens']:,}/"
            f"{ledger['total_tokens']:,} tokens, {seconds['round'] / 60:.1f} min; strongest capabilities: "
            + ", ".join(f"{caps[i]} {last['profile_after'][i]:.1f}" for i in best)
            + f"\nreport: {run_dir / 'report.md'}\n" + "\n".join(student_lines(run_dir)))


def student_lines(run_dir: Path, *, relative: bool = False) -> list[str]:
    """The final student's folder and the line that loads it (last on a run's console; in report.md relative
    to the run directory, which moves as a folder); a copy of a run without its checkpoints says so."""
    from read_ray.experiments.export import handover_lines

    try:
        return handover_lines(run_dir, relative=relative)
    except ValueError as exc:
        return [f"final student: not in this run directory ({exc})"]


# ---------------------------------------------------------------- a comparison (`read-ray compare`)


def paired_against(results: dict) -> tuple[str, dict[str, dict]] | None:
    """(reference, {policy: paired Δ utility summary}) for the plot: against task_static (w = r_tau) when it
    ran, else the first paired reference. Reads results.json written before several references were paired
    too (one `paired_reference`, each row's `paired_utility_change` holding that one's summary)."""
    table = results["policies"]
    if results.get("paired_references") is None and results.get("paired_reference"):
        reference = results["paired_reference"]
        return reference, {p: row["paired_utility_change"] for p, row in table.items()
                           if p != reference and "paired_utility_change" in row}
    references = results.get("paired_references") or []
    if not references:
        return None
    reference = "task_static" if "task_static" in references else references[0]
    return reference, {p: row["paired_utility_change"][reference] for p, row in table.items() if p != reference}


def write_compare_plots(out: Path, results: dict) -> list[Path]:
    """plots/: paired_utility.png (Δ utility against task_static per policy, paired by seed, 95% CI),
    utility_vs_tokens.png, utility.png, read_allocation.png (when read ran), profile.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (out / "plots").mkdir(exist_ok=True)
    caps, table = results["capabilities"], results["policies"]
    policies = list(table)
    colour = {p: plt.get_cmap("tab10")(j % 10) for j, p in enumerate(policies)}
    paths = []

    def err(m: dict) -> float:
        return 0.0 if m["ci95"] is None else m["ci95"]

    paired = paired_against(results)
    if paired and paired[1]:
        reference, diffs = paired
        order = sorted(diffs, key=lambda p: diffs[p]["mean"])
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(order) + 1.8))
        tones = {"tab:green": "above 0", "tab:blue": "includes 0", "tab:red": "below 0"}
        used = set()
        for y, policy in enumerate(order):
            d = diffs[policy]
            lo, hi = d["mean"] - err(d), d["mean"] + err(d)
            tone = "tab:green" if d["ci95"] and lo > 0 else "tab:red" if d["ci95"] and hi < 0 else "tab:blue"
            used.add(tone)
            ax.errorbar(d["mean"], y, xerr=err(d), fmt="o", color=tone, capsize=4, ms=7)
            ax.scatter(d["values"], [y] * len(d["values"]), color="grey", s=12, zorder=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(len(order)), order)
        for tone, words in tones.items():
            if tone in used:
                ax.errorbar([], [], xerr=[], fmt="o", color=tone, capsize=4, label=f"mean ± 95% CI, {words}")
        ax.scatter([], [], color="grey", s=12, label="one seed")
        ax.set(xlabel=f"Δ test utility minus {reference}'s, same seed", ylim=(-0.7, len(order) - 0.3),
               title=f"Each policy against {reference}, paired by seed ({len(results['seeds'])} seeds)")
        outside_legend(ax)
        paths.append(save_figure(fig, out / "plots" / "paired_utility.png"))

    if all("tokens/total" in table[p]["metrics"] for p in policies):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for policy in policies:
            m = table[policy]["metrics"]
            tokens, change = m["tokens/total"], m["test_utility_change"]
            ax.scatter(tokens["values"], change["values"], color=colour[policy], s=14, alpha=0.5)
            ax.errorbar(tokens["mean"], change["mean"], xerr=err(tokens), yerr=err(change), fmt="o", ms=8,
                        capsize=3, color=colour[policy], label=policy)
        ax.set(xlabel="tokens spent (teacher + training; grid: with its pilots)",
               ylabel="Δ test utility from the initial student",
               title=f"Utility against tokens spent (budget {results['total_tokens']:,}; dots: seeds)")
        outside_legend(ax, title="policy (mean ± 95% CI)", title_fontsize=8)
        paths.append(save_figure(fig, out / "plots" / "utility_vs_tokens.png"))

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(policies))
    for ax, key, ylabel in ((left, "test_utility", f"test utility ({results['utility']})"),
                            (right, "test_utility_change", "change from the initial student")):
        m = [table[p]["metrics"][key] for p in policies]
        ax.errorbar(x, [v["mean"] for v in m], yerr=[err(v) for v in m], fmt="o", capsize=4, color="tab:blue")
        ax.set_xticks(x, policies, rotation=30, ha="right")
        ax.set(ylabel=ylabel)
    right.axhline(0, color="grey", lw=0.8)
    fig.suptitle("Downstream utility on the test split per policy (mean, 95% CI over seeds)")
    paths.append(save_figure(fig, out / "plots" / "utility.png"))

    if "read" in table:
        seeds = list(table["read"]["allocations"])
        fig, axes = plt.subplots(1, len(seeds), figsize=(4 * len(seeds) + 2, 4), squeeze=False)
        for ax, seed in zip(axes[0], seeds, strict=True):
            records = [{"round_index": i, "allocation": w} for i, w in enumerate(table["read"]["allocations"][seed])]
            plot_allocation(ax, tuple(caps), records, title=f"read, seed {seed}")
        paths.append(save_figure(fig, out / "plots" / "read_allocation.png"))

    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / len(policies)
    x = np.arange(len(caps))
    for j, policy in enumerate(policies):
        m = [table[policy]["metrics"][f"profile/{c}"] for c in caps]
        ax.bar(x + (j - (len(policies) - 1) / 2) * width, [v["mean"] for v in m], width,
               yerr=[err(v) for v in m], capsize=2, label=policy, color=colour[policy])
    ax.axhline(100, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x, caps, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="score after the run\n(0 = initial student, 100 = teacher)",
           title="Capability profile after the run, per policy (mean, 95% CI over seeds)")
    outside_legend(ax, title="policy", title_fontsize=8)
    paths.append(save_figure(fig, out / "plots" / "profile.png"))
    return paths


def replot_compare(out: str | Path) -> str:
    """Draw a finished comparison's plots again from its results.json (`read-ray report COMPARE_OUT`)."""
    out = Path(out)
    try:
        results = json.loads((out / "results.json").read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{out / 'results.json'} is missing or not valid JSON ({exc}); give a folder that "
                         f"`read-ray compare` finished") from None
    return "\n".join(str(p) for p in write_compare_plots(out, results))
