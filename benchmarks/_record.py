"""Shared by the benchmark scripts: the machine note, peak RSS, and `--record` (append a dated section to
benchmarks/RESULTS.md: the exact command, a Markdown table of the figures, the machine note). Other
sections of the file are never rewritten. Importing it applies `cluster.LOCAL_ENV` (PLATFORM.md's local
Ray settings) to this process's environment."""

from __future__ import annotations

import contextlib
import datetime
import os
import shlex
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from read_ray.runtime.cluster import LOCAL_ENV  # imports no ray

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"

for _key, _value in LOCAL_ENV.items():      # PLATFORM.md's local settings, before anything imports ray
    os.environ.setdefault(_key, _value)


def peak_rss_mib() -> float:
    """Peak resident set size of this process (the driver) so far, MiB."""
    from read_ray.runtime.cluster import peak_rss_bytes

    return round(peak_rss_bytes() / 2**20, 1)


def machine_note() -> dict:
    """Cores, memory, the 1/5/15-minute load averages right now (the machine is shared) and this process's
    nice value."""
    with open("/proc/meminfo") as f:
        total_kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    return {"cpus": os.cpu_count(), "mem_gib": round(total_kib / 2**20, 1),
            "loadavg": [round(x, 2) for x in os.getloadavg()], "nice": os.nice(0)}


def command_line() -> str:
    """The command that is running, as typed from the repository root."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(Path(__file__).resolve().parents[1])
    except ValueError:
        pass
    return shlex.join(["python", str(script), *sys.argv[1:]])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    def cell(value) -> str:
        return "—" if value is None else str(value)

    lines = ["| " + " | ".join(headers) + " |",
             "| " + " | ".join("---" if k == 0 else "---:" for k in range(len(headers))) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def append_section(title: str, tables: Sequence[str], note: str, *, machine_before: dict,
                   machine_after: dict) -> None:
    """Append `## <date> — title`, the command, the tables, the note and the machine note to RESULTS.md."""
    def load(m: dict) -> str:
        return " / ".join(f"{x:g}" for x in m["loadavg"])

    machine = (f"Machine: {machine_before['cpus']} CPUs, {machine_before['mem_gib']} GiB, shared; load average "
               f"(1/5/15 min) {load(machine_before)} at the start, {load(machine_after)} at the end; the benchmark ran at "
               f"nice {machine_before['nice']}.")
    parts = [f"## {datetime.date.today().isoformat()} — {title}", f"`{command_line()}`:", *tables]
    if note:
        parts.append(note)
    parts.append(machine)
    ends_with_newline = RESULTS_MD.read_text().endswith("\n")
    with open(RESULTS_MD, "a") as f:        # append only: earlier sections stay byte for byte
        f.write(("\n" if ends_with_newline else "\n\n") + "\n\n".join(parts) + "\n")


@contextlib.contextmanager
def connected(cfg, num_cpus: int, attempts: int = 4) -> Iterator[dict]:
    """`read_ray.runtime.cluster.connect`, retried: on a loaded machine a niced raylet can miss Ray's fixed
    30 s registration window. The processes a failed start left behind (children of this process) are
    ended by PID before the next attempt."""
    import psutil

    from read_ray.runtime.cluster import connect

    for attempt in range(attempts):
        before = {p.pid for p in psutil.Process().children(recursive=True)}
        try:
            context = connect(cfg, num_cpus=num_cpus)
            available = context.__enter__()
            break
        except Exception as exc:  # noqa: BLE001 - Ray raises a bare Exception on a start-up timeout
            for p in psutil.Process().children(recursive=True):
                if p.pid not in before:
                    with contextlib.suppress(psutil.Error):
                        p.kill()
            if attempt == attempts - 1 or "timed out during startup" not in str(exc):
                raise
            print(f"Ray start timed out (attempt {attempt + 1}); retrying", file=sys.stderr)
    try:
        yield available
    finally:
        context.__exit__(*sys.exc_info())
