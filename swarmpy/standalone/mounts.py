"""A standalone container's mounts: HostConfig.Binds, HostConfig.Mounts and Config.Volumes
as the engine's ``Mount``s (pure).

This is the one place a create request's mounts are resolved: binds here; named and
anonymous volumes become the engine's volume mounts, which the engine makes on first use
(``swarmpy.engine.volumes``). Whoever adds volume drivers or options extends ``resolve``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from swarmpy.engine.spec import Mount, MountKind
from swarmpy.errors import InvalidArgument
from swarmpy.standalone.spec import CreateSpec, MountRequest

KINDS = {"bind": MountKind.BIND, "volume": MountKind.VOLUME, "tmpfs": MountKind.TMPFS}


def resolve(spec: CreateSpec) -> tuple[Mount, ...]:
    """The engine's mounts, in the request's order; a target given twice is refused, as
    Docker's "Duplicate mount point"."""
    out: list[Mount] = [_engine_mount(m) for m in spec.mounts]
    taken = {m.target for m in out}
    for target in spec.volumes:
        if target not in taken:  # -v /data: an anonymous volume
            out.append(Mount(MountKind.VOLUME, target))
    seen: set[str] = set()
    for m in out:
        target = m.target.rstrip("/") or "/"
        if target in seen:
            raise InvalidArgument(f"Duplicate mount point: {m.target}")
        seen.add(target)
    return tuple(out)


def _engine_mount(m: MountRequest) -> Mount:
    return Mount(
        KINDS[m.type],
        m.target,
        source=m.source,
        readonly=m.readonly,
        propagation=m.propagation,
        tmpfs_size=m.tmpfs_size,
        tmpfs_mode=m.tmpfs_mode,
    )


def make_bind_sources(spec: CreateSpec) -> None:
    """-v's host directories that are missing, made (0755) as dockerd makes them at each
    start; --mount's are left for the engine to refuse, as Docker refuses them."""
    for m in spec.mounts:
        if m.make_source and not os.path.lexists(m.source):
            _make_dirs(Path(m.source))


def _make_dirs(path: Path) -> None:
    """Each missing directory down to ``path``, 0755 whatever the daemon's umask (077)."""
    missing = [p for p in (path, *path.parents) if not os.path.lexists(p)]
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another start made it meanwhile
            directory.mkdir()
        directory.chmod(0o755)
