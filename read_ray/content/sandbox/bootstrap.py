"""The sandbox's bootstrap, run as a standalone script by ``runner.run_python`` (see the package docstring).

``python -I -S -B bootstrap.py '<json config>'``: in isolated mode nothing of this package is importable,
so this file is stdlib only and imports nothing of ours. Single-threaded (no ``preexec_fn`` in a possibly
multi-threaded Ray worker), it unshares the namespaces, builds the private root, forks the pid-1 helper,
sets the limits, drops to the sandbox uid, installs the seccomp filter that the caller built
(``seccomp.py``) and ``execve``s the program; it writes what it applied to the report pipe (JSON lines).
"""

from __future__ import annotations

import functools
import json
import os
import re
import resource
import signal
import sys

SETUP_FAILED = 125
"""Exit code of a bootstrap that could not set the sandbox up (the reason is on the report pipe)."""

_CLONE_NEWNS, _CLONE_NEWIPC, _CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
_CLONE_NEWPID, _CLONE_NEWNET = 0x20000000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_NOATIME, _MS_NODIRATIME, _MS_BIND, _MS_REC = 32, 1024, 2048, 4096, 16384
_MS_PRIVATE, _MS_RELATIME, _MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
_MNT_DETACH = 2
_MOUNT_OPT_FLAGS = {
    "nosuid": _MS_NOSUID,
    "nodev": _MS_NODEV,
    "noexec": _MS_NOEXEC,
    "noatime": _MS_NOATIME,
    "nodiratime": _MS_NODIRATIME,
    "relatime": _MS_RELATIME,
    "strictatime": _MS_STRICTATIME,
}
_PR_SET_PDEATHSIG, _PR_SET_SECCOMP, _PR_SET_NO_NEW_PRIVS = 1, 22, 38
_SECCOMP_MODE_FILTER = 2
_ENOSYS = 38


class _Libc:
    def __init__(self) -> None:
        import ctypes

        self._ctypes = ctypes
        try:
            lib = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:
            lib = ctypes.CDLL(None, use_errno=True)
        lib.unshare.argtypes = [ctypes.c_int]
        lib.mount.argtypes = [
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_char_p,
        ]
        lib.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        lib.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        self._lib = lib

    def _check(self, rc: int, what: str) -> None:
        if rc != 0:
            err = self._ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def unshare(self, flags: int) -> None:
        self._check(self._lib.unshare(flags), "unshare")

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None:
        args = [None if a is None else os.fsencode(a) for a in (source, target, fstype)]
        self._check(self._lib.mount(*args, flags, None if data is None else data.encode()), f"mount {target}")

    def remount_readonly(self, target: str, opts: str) -> None:
        """Read-only view of one mount in this namespace: MS_BIND makes it a per-mount (not superblock) change."""
        flags = _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID
        for opt in opts.split(","):
            flags |= _MOUNT_OPT_FLAGS.get(opt, 0)
        self.mount(None, target, None, flags, None)

    def pivot_root(self, new_root: str, nr: int | None) -> None:
        """Make ``new_root`` the root of this mount namespace and detach the old root (the "." "." idiom).

        ``nr``: the number of the ``pivot_root`` system call here (from the caller; None: unknown)."""
        if nr is None:
            raise OSError(_ENOSYS, f"pivot_root: unknown system call number on {os.uname().machine}")
        os.chdir(new_root)
        lib = self._lib
        self._check(lib.syscall(nr, b".", b"."), "pivot_root")
        self._check(lib.umount2(b".", _MNT_DETACH), "umount old root")
        os.chdir("/")

    def prctl(self, option: int, arg: int) -> None:
        self._check(self._lib.prctl(option, arg, 0, 0, 0), f"prctl {option}")

    def seccomp(self, program: list[tuple[int, int, int, int]]) -> None:
        ct = self._ctypes

        class SockFilter(ct.Structure):
            _fields_ = [("code", ct.c_ushort), ("jt", ct.c_ubyte), ("jf", ct.c_ubyte), ("k", ct.c_uint)]

        class SockFprog(ct.Structure):
            _fields_ = [("len", ct.c_ushort), ("filter", ct.POINTER(SockFilter))]

        insns = (SockFilter * len(program))(*(SockFilter(*insn) for insn in program))
        fprog = SockFprog(len(program), ct.cast(insns, ct.POINTER(SockFilter)))
        self._check(
            self._lib.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ct.addressof(fprog), 0, 0), "seccomp"
        )


def _report(fd: int, obj: dict) -> None:
    try:
        os.write(fd, (json.dumps(obj) + "\n").encode())
    except OSError:
        pass


def _mountinfo() -> list[tuple[str, str]]:
    unescape = functools.partial(re.sub, r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)))
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        return [(unescape(p[4]), p[5]) for p in (line.split() for line in f) if len(p) > 5]


def _tmpfs(libc: _Libc, target: str, size: int, mode: int, inodes: int) -> None:
    data = f"size={size},nr_inodes={inodes},mode={mode:o}"
    libc.mount("tmpfs", target, "tmpfs", _MS_NOSUID | _MS_NODEV, data)


def _mirror(libc: _Libc, path: str, new_root: str) -> str | None:
    """Make ``path`` of the host appear at the same place under ``new_root``: a symlink is copied, a
    directory or file is bind-mounted. Returns the target if something was mounted."""
    target = new_root + path
    if os.path.islink(path):
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(path), target)
        return None
    if os.path.isdir(path):
        os.makedirs(target, 0o755, exist_ok=True)
        libc.mount(path, target, None, _MS_BIND | _MS_REC, None)
        return target
    if os.path.exists(path):
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        with open(target, "a"):
            pass
        libc.mount(path, target, None, _MS_BIND, None)
        return target
    return None


def _build_root(libc: _Libc, cfg: dict, notes: list[str]) -> str:
    """A new root on a tmpfs over the sandbox folder, entered later by pid 1 (see the package docstring).

    Returns its path. Everything in it is read-only except the scratch tmpfs mounts and the sandbox's own
    folder (mounted at its host path inside the new root) and the device nodes.
    """
    disk = cfg["limits"]["disk"]
    libc.mount(None, "/", None, _MS_REC | _MS_PRIVATE, None)  # nothing below may propagate to the host
    new = cfg["box"]
    _tmpfs(libc, new, 1 << 20, 0o755, 4096)
    system = cfg["system"]
    inside_system = [k for k in cfg["keep"] if any(k == s or k.startswith(s + "/") for s in system)]
    for path in [*system, *(k for k in cfg["keep"] if k not in inside_system)]:
        _mirror(libc, path, new)
    for name in cfg["etc"]:
        _mirror(libc, f"/etc/{name}", new)
    os.makedirs(f"{new}/dev", 0o755, exist_ok=True)
    devices = {t for t in (_mirror(libc, f"/dev/{name}", new) for name in cfg["devices"]) if t}
    for name, link in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1")):
        os.symlink(link, f"{new}/dev/{name}")
    os.symlink("/proc/self/fd/2", f"{new}/dev/stderr")
    os.makedirs(f"{new}/proc", 0o555, exist_ok=True)
    writable = set()
    for d in cfg["scratch"]:
        os.makedirs(new + d, 0o1777, exist_ok=True)
        _tmpfs(libc, new + d, disk, 0o1777, 16384)
        writable.add(new + d)
    box = new + cfg["box"]
    os.makedirs(box, 0o755, exist_ok=True)
    _tmpfs(libc, box, disk, 0o755, 16384)
    writable.add(box)
    for target, opts in _mountinfo():  # read-only view (per mount, in this namespace only)
        if (target == new or target.startswith(new + "/")) and target not in writable | devices:
            try:
                libc.remount_readonly(target, opts)
            except OSError as exc:  # still private and without the host's files; writable though
                notes.append(f"read-only {target[len(new) :] or '/'}: {exc}")
    return new


def _prepare_box(cfg: dict, source: bytes, prefix: str) -> None:
    """(Re)create main.py and the empty working directory (under ``prefix``), owned by the sandbox uid."""
    script, work = prefix + cfg["script"], prefix + cfg["work"]
    if not os.path.exists(script):
        with open(script, "wb") as f:
            f.write(source)
        os.chmod(script, 0o644)
    if not os.path.isdir(work):
        os.mkdir(work, 0o700)
    if cfg["uid"] is not None:
        os.chown(work, cfg["uid"], cfg["gid"])


def _count_tasks(uid: int) -> int:
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    n += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                pass
    return n


def _exec_program(libc: _Libc, cfg: dict, rep: int, nproc: int) -> None:
    """Final limits, drop to the sandbox uid, seccomp filter, exec. Never returns."""
    try:
        lim = cfg["limits"]
        os.chdir(cfg["work"])
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu"], lim["cpu"] + 1))
        resource.setrlimit(resource.RLIMIT_AS, (lim["mem"], lim["mem"]))
        resource.setrlimit(resource.RLIMIT_FSIZE, (lim["disk"], lim["disk"]))
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        cap = 1024 if hard == resource.RLIM_INFINITY else min(hard, 1024)
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (min(soft, cap) if soft != resource.RLIM_INFINITY else cap, cap)
        )
        if cfg["uid"] is not None:
            os.setgroups([])
            os.setresgid(cfg["gid"], cfg["gid"], cfg["gid"])
            os.setresuid(cfg["uid"], cfg["uid"], cfg["uid"])
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1)
        layers, notes = [], []
        try:
            if cfg["seccomp"] is None:  # no filter for this machine: the caller's reason
                raise ValueError(cfg["seccomp_error"])
            libc.seccomp([tuple(insn) for insn in cfg["seccomp"]])
            layers.append("seccomp")
        except (OSError, ValueError) as exc:
            notes.append(f"seccomp: {exc}")
            if "seccomp" in cfg["require"]:
                _report(rep, {"error": f"isolation incomplete (missing ['seccomp']): {exc}"})
                os._exit(SETUP_FAILED)
        _report(rep, {"exec": True, "layers": layers, "notes": notes})
        os.execve(cfg["exe"], [cfg["exe"], "-I", "-S", "-B", cfg["script"]], cfg["env"])
    except BaseException as exc:  # noqa: BLE001 - report anything, then die
        _report(rep, {"error": f"{type(exc).__name__}: {exc}"})
    os._exit(SETUP_FAILED)


def _finish_setup(rep: int, cfg: dict, applied: list[str], notes: list[str]) -> None:
    """Report the layers applied; refuse (before the program runs) if a required one is missing."""
    _report(rep, {"setup": sorted(applied), "notes": notes})
    missing = sorted(set(cfg["require"]) - set(applied) - {"seccomp"})  # seccomp: checked at exec
    if missing:
        _report(rep, {"error": f"isolation incomplete (missing {missing}): {'; '.join(notes)}"})
        os._exit(SETUP_FAILED)


def _bootstrap(cfg: dict) -> None:
    rep = cfg["report_fd"]
    os.set_inheritable(rep, False)  # the program itself never gets the report pipe
    libc = _Libc()
    with open(cfg["script"], "rb") as f:
        source = f.read()
    root = os.geteuid() == 0
    applied: list[str] = []
    notes: list[str] = []
    uid, gid = os.getuid(), os.getgid()
    running = 0 if cfg["uid"] is not None else _count_tasks(uid)  # before a user namespace hides owners
    flags = _CLONE_NEWNS | _CLONE_NEWNET | _CLONE_NEWPID | _CLONE_NEWIPC
    ns = False
    if cfg["namespaces"]:
        attempts = [(flags, "")] if root else []
        attempts.append((flags | _CLONE_NEWUSER, "userns"))
        for attempt, extra in attempts:
            try:
                libc.unshare(attempt)
            except OSError as exc:
                notes.append(f"unshare{'(user)' if extra else ''}: {exc}")
                continue
            if extra:
                try:
                    with open("/proc/self/setgroups", "w") as f:
                        f.write("deny")
                    with open("/proc/self/uid_map", "w") as f:
                        f.write(f"{uid} {uid} 1")
                    with open("/proc/self/gid_map", "w") as f:
                        f.write(f"{gid} {gid} 1")
                except OSError as exc:
                    notes.append(f"user namespace maps: {exc}")
                applied.append(extra)
            applied += ["netns", "pidns", "ipcns"]
            ns = True
            break
    else:
        notes.append("namespaces disabled")
    new_root = None
    if ns:
        try:
            new_root = _build_root(libc, cfg, notes)
        except OSError as exc:
            notes.append(f"private root: {exc}")
    if cfg["uid"] is not None and new_root is None and cfg["exe_for_uid"] != cfg["exe"]:
        if cfg["exe_for_uid"] is None:
            notes.append(f"no interpreter an unprivileged uid can run ({cfg['exe']} is not reachable)")
            cfg["uid"] = cfg["gid"] = None
        else:
            notes.append(f"{cfg['exe']} unreachable without a private root; using {cfg['exe_for_uid']}")
            cfg["exe"] = cfg["exe_for_uid"]
    if cfg["uid"] is not None:
        applied.append("uid")
    _prepare_box(cfg, source, new_root or "")
    # A fresh uid starts at zero; otherwise the count is shared with the caller's processes: leave room.
    nproc = cfg["limits"]["nproc"] + running
    if cfg["uid"] is not None or not root:  # root without a uid change is exempt from RLIMIT_NPROC
        applied.append("nproc")

    if "pidns" not in applied:
        _finish_setup(rep, cfg, applied, notes)
        _exec_program(libc, cfg, rep, nproc)
    pid = os.fork()
    if pid:  # outside the namespace: stay alive, the pid-1 helper dies with us (PDEATHSIG)
        os.waitpid(pid, 0)
        os._exit(0)
    # pid 1 of the new namespace: when it exits the kernel kills everything left in the namespace.
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if new_root is not None:
        try:  # mounted before the old root goes: a user namespace may mount proc only while one is visible
            libc.mount("proc", f"{new_root}/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
        except OSError as exc:
            notes.append(f"/proc: {exc}")
        try:
            libc.pivot_root(new_root, cfg["pivot_root_nr"])
            applied.append("mntns")
        except OSError as exc:
            try:
                os.chroot(new_root)
                os.chdir("/")
                applied.append("mntns")
                notes.append(f"{exc}; used chroot")
            except OSError as exc2:
                notes.append(f"{exc}; chroot: {exc2}")
    _finish_setup(rep, cfg, applied, notes)
    child = os.fork()
    if child == 0:
        _exec_program(libc, cfg, rep, nproc)
    while True:
        try:
            done, status = os.waitpid(-1, os.WUNTRACED)
        except ChildProcessError:
            os._exit(SETUP_FAILED)
        if done != child:
            continue
        if os.WIFSTOPPED(status):  # stopped (SIGSTOP, or traced after PTRACE_TRACEME): no progress; kill
            os.kill(child, signal.SIGKILL)
            continue
        _report(rep, {"status": status})
        os._exit(0)


def _bootstrap_main(argv: list[str]) -> None:
    cfg = json.loads(argv[0])
    try:
        _bootstrap(cfg)
    except BaseException as exc:  # noqa: BLE001 - report anything, then die
        import traceback

        _report(cfg["report_fd"], {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()})
        os._exit(SETUP_FAILED)


if __name__ == "__main__":
    _bootstrap_main(sys.argv[1:])
