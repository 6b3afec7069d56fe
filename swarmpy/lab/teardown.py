"""Finding and removing what lab hosts left behind: processes, runc containers, mounts, cgroups.

Everything is found from the kernel's own tables (/proc, mountinfo, /sys/fs/cgroup) rather
than from memory, so a teardown after the creating process crashed finds the same things.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
_MNT_DETACH = 2


# ---------------------------------------------------------------- processes


def start_time(pid: int) -> int | None:
    """Kernel start time of ``pid`` (clock ticks since boot): tells a process from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm (field 2) may hold spaces and parentheses; the fields after the last ')' are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def pids_in_netns(inodes: set[int]) -> set[int]:
    found = set()
    for pid in _all_pids():
        try:
            link = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            continue
        if int(link[link.index("[") + 1 : -1]) in inodes:
            found.add(pid)
    return found


def with_descendants(pids: set[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        parent = _parent(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    tree, todo = set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree.add(pid)
            todo.extend(children.get(pid, ()))
    return tree


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith(("Z", "X"))
    except (FileNotFoundError, ProcessLookupError):
        return True


def kill_and_wait(pids: Iterable[int], timeout: float = 10.0) -> None:
    """SIGKILL every pid, then wait until none runs (zombies count as gone: their parent reaps)."""
    pids = {p for p in pids if p != os.getpid()}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        pids = {p for p in pids if not _gone(p)}
        if pids:
            time.sleep(0.02)
    if pids:
        log.warning("processes still running after SIGKILL: %s", sorted(pids))


# ---------------------------------------------------------------- runc


def delete_runc_containers(runc_root: Path) -> None:
    if not runc_root.is_dir():
        return
    listed = subprocess.run(
        ["runc", "--root", str(runc_root), "list", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    for container in listed.stdout.split():
        subprocess.run(
            ["runc", "--root", str(runc_root), "delete", "--force", container],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )


# ---------------------------------------------------------------- mounts


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes.
    return (field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")).replace(
        "\\134", "\\"
    )


def mounts_under(root: Path) -> list[Path]:
    """Mount points at or below ``root``, deepest first."""
    root = root.resolve()
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = Path(_unescape(line.split()[4]))
        if point == root or root in point.parents:
            found.append(point)
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def unmount_all(root: Path) -> None:
    """Unmount everything under ``root``; a busy mount is detached lazily so the tree can go."""
    libc = ctypes.CDLL(None, use_errno=True)
    for point in mounts_under(root):
        target = os.fsencode(point)
        if libc.umount2(target, 0) == 0:
            continue
        if ctypes.get_errno() in (errno.EINVAL, errno.ENOENT):
            continue  # already gone, e.g. a stacked mount we just removed
        if libc.umount2(target, _MNT_DETACH) != 0:
            log.warning("cannot unmount %s: %s", point, os.strerror(ctypes.get_errno()))


# ---------------------------------------------------------------- cgroups


def _hierarchies() -> list[Path]:
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT]  # pure cgroup v2
    return [p for p in CGROUP_ROOT.iterdir() if p.is_dir() and not p.is_symlink()]


def cgroups_matching(prefixes: Iterable[str]) -> list[Path]:
    """Every cgroup named with one of ``prefixes`` in every hierarchy, plus its subtree,
    deepest first so they can be removed in order."""
    prefixes = tuple(prefixes)
    if not prefixes or not CGROUP_ROOT.is_dir():
        return []
    found: list[Path] = []
    for hierarchy in _hierarchies():
        for top, dirs, _ in os.walk(hierarchy):
            for name in dirs:
                if name.startswith(prefixes):
                    found.extend(Path(d) for d, _, _ in os.walk(Path(top, name)))
            dirs[:] = [d for d in dirs if not d.startswith(prefixes)]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def _cgroup_pids(cgroup: Path) -> set[int]:
    try:
        return {int(p) for p in (cgroup / "cgroup.procs").read_text().split()}
    except OSError:
        return set()


def _thaw(cgroup: Path) -> None:
    # A frozen task never handles SIGKILL, and a cgroup with tasks cannot be removed.
    for knob, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
        with contextlib.suppress(OSError):
            (cgroup / knob).write_text(value)


def remove_cgroups(prefixes: Iterable[str]) -> None:
    cgroups = cgroups_matching(prefixes)
    for cgroup in cgroups:
        _thaw(cgroup)
    kill_and_wait(set().union(*(_cgroup_pids(c) for c in cgroups)))
    for cgroup in cgroups:
        try:
            cgroup.rmdir()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove cgroup %s: %s", cgroup, exc)
