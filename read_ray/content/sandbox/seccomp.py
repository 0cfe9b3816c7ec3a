"""The sandbox's system-call filter as data: classic BPF instructions for ``prctl(PR_SET_SECCOMP)``.

Built here, in the caller, and handed to the bootstrap (``bootstrap.py``) in its JSON configuration, which
installs it just before it ``execve``s the program. What the filter refuses is listed in the package
docstring ("System calls"). Stdlib only.
"""

from __future__ import annotations

__all__ = ["CLONE_NEW_ANY", "SYSCALLS", "DENIED", "seccomp_program", "syscall_number"]

CLONE_NEW_ANY = 0x7E020000  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
_EPERM, _ENOSYS = 1, 38

# Per machine: (AUDIT_ARCH, pivot_root, clone, clone3, denied system calls by name).
SYSCALLS = {
    "x86_64": (
        0xC000003E,
        {
            "socket": 41, "clone": 56, "clone3": 435, "unshare": 272, "setns": 308,
            "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "bpf": 321,
            "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250, "add_key": 248, "request_key": 249,
            "io_uring_setup": 425,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "socket": 198, "clone": 220, "clone3": 435, "unshare": 97, "setns": 268,
            "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "bpf": 280,
            "perf_event_open": 241, "userfaultfd": 282, "keyctl": 219, "add_key": 217, "request_key": 218,
            "io_uring_setup": 425,
        },
    ),
}  # fmt: skip
DENIED = (
    "socket", "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "bpf", "perf_event_open",
    "userfaultfd", "keyctl", "add_key", "request_key", "io_uring_setup",
)  # fmt: skip


def seccomp_program(machine: str) -> list[tuple[int, int, int, int]]:
    """The seccomp filter as classic BPF instructions ``(code, jt, jf, k)`` (see the package docstring)."""
    if machine not in SYSCALLS:
        raise ValueError(f"no seccomp filter for machine {machine!r} (only {', '.join(SYSCALLS)})")
    arch, nr = SYSCALLS[machine]
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, JMP|JEQ|K, JGE, JSET, RET|K
    allow, kill, errno = 0x7FFF0000, 0x80000000, 0x00050000
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, kill), (ld, 0, 0, 0)]
    if machine == "x86_64":  # the x32 ABI: same arch, syscall numbers with bit 30 set
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, errno | _EPERM)]
    for name in DENIED:
        prog += [(jeq, 0, 1, nr[name]), (ret, 0, 0, errno | _EPERM)]
    prog += [(jeq, 0, 1, nr["clone3"]), (ret, 0, 0, errno | _ENOSYS)]
    # clone: refuse any CLONE_NEW* flag (arg 0, low 32 bits at offset 16 of struct seccomp_data)
    prog += [
        (jeq, 0, 3, nr["clone"]),
        (ld, 0, 0, 16),
        (jset, 0, 1, CLONE_NEW_ANY),
        (ret, 0, 0, errno | _EPERM),
    ]
    prog += [(ret, 0, 0, allow)]
    return prog


def syscall_number(machine: str, name: str) -> int | None:
    """The number of system call ``name`` on ``machine`` (``os.uname().machine``), None if unknown."""
    return SYSCALLS[machine][1][name] if machine in SYSCALLS else None
