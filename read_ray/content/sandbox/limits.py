"""What one sandboxed run may use (``SandboxLimits``) and what it gave (``SandboxResult``)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DEFAULT_LIMITS", "FULL_ISOLATION", "STATUSES", "SandboxError", "SandboxLimits", "SandboxResult"]

FULL_ISOLATION = frozenset({"netns", "mntns", "pidns", "nproc", "seccomp"})
"""Layers ``require_isolation`` insists on: no network, private read-only root, pid namespace, process cap,
system-call filter."""

STATUSES = ("ok", "error", "timeout", "memory", "killed")


class SandboxError(RuntimeError):
    """The sandbox itself could not be set up (never raised for what the program does)."""


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one sandboxed run."""

    wall_time_s: float = 40.0
    """Backstop only (programs that sleep or block); keep it well above ``cpu_time_s`` so load never decides."""
    cpu_time_s: int = 10
    """``RLIMIT_CPU`` of the program's process (and of each process it forks): the limit that decides."""
    memory_bytes: int = 512 * 2**20
    max_processes: int = 16
    max_output_bytes: int = 1 << 20
    disk_bytes: int = 64 * 2**20
    """Size of each private tmpfs (working directory, /tmp, ...) and the largest file (RLIMIT_FSIZE)."""
    require_isolation: bool = False
    """Raise ``SandboxError`` (without running the program) unless every layer of ``FULL_ISOLATION`` applies."""

    def __post_init__(self) -> None:
        if not self.wall_time_s > 0:
            raise ValueError(f"wall_time_s must be > 0, got {self.wall_time_s}")
        if self.cpu_time_s < 1:
            raise ValueError(f"cpu_time_s must be >= 1, got {self.cpu_time_s}")
        if self.memory_bytes < 64 * 2**20:
            raise ValueError(
                f"memory_bytes must be >= 64 MiB (the interpreter needs it), got {self.memory_bytes}"
            )
        if self.max_processes < 1:
            raise ValueError(f"max_processes must be >= 1, got {self.max_processes}")
        if self.max_output_bytes < 0:
            raise ValueError(f"max_output_bytes must be >= 0, got {self.max_output_bytes}")
        if self.disk_bytes < 2**20:
            raise ValueError(f"disk_bytes must be >= 1 MiB, got {self.disk_bytes}")


DEFAULT_LIMITS = SandboxLimits()


@dataclass(frozen=True)
class SandboxResult:
    """Outcome of one run. ``status``: ok | error (nonzero exit) | timeout | memory | killed (signal, stop)."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    isolation: frozenset[str] = field(default_factory=frozenset)
    """Layers actually applied, e.g. ``{"uid", "netns", "mntns", "pidns", "ipcns", "nproc", "seccomp"}``."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"
