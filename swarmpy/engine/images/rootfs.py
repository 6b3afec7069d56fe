"""A container's root filesystem: the image's layers as overlayfs lowerdirs plus a private
writable layer.

``<container_dir>/upper`` holds the container's changes, ``work`` is overlayfs' scratch dir,
``merged`` is the mounted rootfs handed to runc. All calls are idempotent so an agent that
restarts can simply call them again.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
from pathlib import Path

from swarmpy.engine import modes
from swarmpy.errors import RuntimeFailure

_MNT_DETACH = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def mount_rootfs(layers: list[Path], container_dir: Path) -> Path:
    """Mount the layers (lowest first) under ``container_dir/merged`` and return that path."""
    if not layers:
        raise RuntimeFailure("cannot mount a rootfs without layers")
    for layer in layers:
        if ":" in str(layer) or "," in str(layer):
            # Both separate overlayfs options; such a path cannot be expressed.
            raise RuntimeFailure(f"layer path {layer} contains ':' or ','")
    upper, work, merged = (container_dir / n for n in ("upper", "work", "merged"))
    if is_mounted(merged):
        return merged
    # The rootfs' own / takes the upper dir's mode.
    modes.make_dir(upper)
    for path in (work, merged):
        path.mkdir(parents=True, exist_ok=True)
    # overlayfs lists lowerdirs topmost first.
    lower = ":".join(str(p) for p in reversed(layers))
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    if _libc.mount(b"overlay", str(merged).encode(), b"overlay", 0, options.encode()) != 0:
        err = ctypes.get_errno()
        raise RuntimeFailure(f"mounting the rootfs at {merged} failed: {os.strerror(err)}")
    return merged


def unmount_rootfs(container_dir: Path) -> None:
    """Unmount the rootfs if mounted; the writable layer stays."""
    merged = container_dir / "merged"
    if not is_mounted(merged):
        return
    if _libc.umount2(str(merged).encode(), _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise RuntimeFailure(f"unmounting the rootfs at {merged} failed: {os.strerror(err)}")


def remove_rootfs(container_dir: Path) -> None:
    """Unmount and delete the writable layer and mount point (the image layers stay)."""
    unmount_rootfs(container_dir)
    for name in ("upper", "work", "merged"):
        shutil.rmtree(container_dir / name, ignore_errors=True)


def is_mounted(path: Path) -> bool:
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo") as info:
        return any(_unescape(line.split()[4]) == target for line in info)


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field
