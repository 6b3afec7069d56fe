"""What the engine is asked to create: a plain description of one container.

The engine knows containers, images and mounts, not tasks or services; whoever orchestrates
it (the agent's container adapter) maps its own objects onto this, as SwarmKit's adapter maps
a task onto Docker's container and host config.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from swarmpy.dockerjson.logdriver import LogSettings
from swarmpy.model import HealthConfig


class MountKind(enum.StrEnum):
    BIND = "bind"
    VOLUME = "volume"  # a named local volume, made on first use
    TMPFS = "tmpfs"


@dataclass(frozen=True)
class Mount:
    kind: MountKind
    target: str  # an absolute path in the container
    # A host path (bind) or a volume name (volume; "" makes an anonymous volume).
    source: str = ""
    readonly: bool = False
    propagation: str = ""  # a bind's: rprivate (""), rshared, rslave, ...
    tmpfs_size: int = 0  # bytes; 0: the kernel's default
    tmpfs_mode: int = 0  # 0: 1777
    # A volume's: not filled from the image (volume-nocopy); the labels and driver options
    # (volume-label, volume-opt) it is made with if it does not exist yet.
    volume_nocopy: bool = False
    volume_labels: tuple[tuple[str, str], ...] = ()
    volume_options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ContainerConfig:
    """One container to create. Empty fields take the image's defaults, as with Docker."""

    id: str
    name: str
    image: str  # the reference it was asked for, shown by ps and inspect
    netns_path: str  # the network namespace to join, made beforehand
    hostname: str
    resolv_conf: str  # contents of the container's /etc/resolv.conf
    hosts: str  # contents of its /etc/hosts
    command: tuple[str, ...] = ()  # replaces the image's Entrypoint
    args: tuple[str, ...] = ()  # replaces the image's Cmd
    env: tuple[str, ...] = ()  # NAME=value, overlaid on the image's
    workdir: str = ""
    user: str = ""  # uid[:gid] or name[:group]
    groups: tuple[str, ...] = ()  # supplementary groups: names (the image's) or gids
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    mounts: tuple[Mount, ...] = ()
    memory_bytes: int = 0  # 0: no limit
    nano_cpus: int = 0  # 1e9 == one CPU; 0: no limit
    pids_limit: int = 0  # the most processes in the container's cgroup; 0: no limit
    labels: tuple[tuple[str, str], ...] = ()
    read_only: bool = False  # the root filesystem
    tty: bool = False  # a terminal as the process's stdio (its output kept as stdout)
    # A host path of an init binary (Docker's docker-init, tini) run as pid 1 in front of
    # the command; "" runs the command itself as pid 1.
    init_path: str = ""
    sysctls: tuple[tuple[str, str], ...] = ()
    ulimits: tuple[tuple[str, int, int], ...] = ()  # (name, soft, hard); -1 is unlimited
    # Merged with the image's HEALTHCHECK at create (None: the image's alone).
    healthcheck: HealthConfig | None = None
    # Set by the orchestrator to recognise its containers later; written before the engine's
    # own annotations.
    annotations: tuple[tuple[str, str], ...] = ()
    # What is kept of its output (a service's --log-driver/--log-opt): json-file rotated as
    # set, or none.
    log: LogSettings = field(default_factory=LogSettings)
