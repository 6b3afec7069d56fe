"""Build a container's OCI runtime config (``config.json``) from an image and a
``ContainerConfig``.

Pure functions over plain data, with Docker's semantics; the only I/O helpers
(``check_mount_sources``, ``read_passwd``) are separate so the engine calls them explicitly.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swarmpy.engine import seccomp, volumes
from swarmpy.engine.images.records import ImageConfig
from swarmpy.engine.spec import ContainerConfig, Mount, MountKind
from swarmpy.errors import InvalidArgument

# Annotation keys: how containers are recognised as ours after a daemon restart. Whoever
# orchestrates the engine adds its own keys under the same prefix.
ANN_PREFIX = "io.swarmpy."
ANN_IMAGE = ANN_PREFIX + "image"
ANN_NAME = ANN_PREFIX + "container.name"
ANN_LABEL_PREFIX = ANN_PREFIX + "label."

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Docker's default capability set (moby oci/caps/defaults.go); `runc spec` lacks e.g. NET_RAW.
DEFAULT_CAPS = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

# Every capability runc 1.1 knows, for "ALL".
ALL_CAPS = (
    *DEFAULT_CAPS,
    "CAP_DAC_READ_SEARCH",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_LEASE",
    "CAP_AUDIT_CONTROL",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)

CPU_PERIOD_US = 100_000
# Where Docker mounts its init binary for --init.
INIT_TARGET = "/sbin/docker-init"

# What `runc spec` (1.1.5) produces, minus the fields every container overrides, and minus
# its rlimits: containers inherit the daemon's, as raising them can be refused (EPERM).
_TEMPLATE: dict[str, Any] = json.loads(
    """
{
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["sh"],
    "env": [],
    "cwd": "/",
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": false},
  "hostname": "",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
  ],
  "linux": {
    "resources": {"devices": [{"allow": false, "access": "rwm"}]},
    "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "maskedPaths": [
      "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
      "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
      "/proc/scsi"
    ],
    "readonlyPaths": [
      "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
    ]
  }
}
"""
)

# Files written into the container dir and bind-mounted over the image's own /etc/<name>.
ETC_FILES = ("resolv.conf", "hosts", "hostname")


@dataclass(frozen=True)
class BundlePaths:
    """Where a container's files live on the host."""

    container_dir: Path  # holds config.json, the sandbox files, the log
    rootfs: Path
    volumes_root: Path  # named volumes live in <volumes_root>/<name>/_data


def process_args(image: ImageConfig, command: tuple[str, ...], args: tuple[str, ...]) -> list[str]:
    """Docker: ``command`` replaces the Entrypoint, ``args`` the Cmd; a new Entrypoint drops
    the image's Cmd too, because that Cmd was written for the old Entrypoint."""
    entrypoint = list(command) if command else list(image.entrypoint)
    if args:
        cmd = list(args)
    elif command:
        cmd = []
    else:
        cmd = list(image.cmd)
    argv = entrypoint + cmd
    if not argv:
        raise InvalidArgument("no command specified: the image has no Entrypoint or Cmd")
    return argv


def merge_env(image_env: tuple[str, ...], spec_env: tuple[str, ...]) -> list[str]:
    """Image env overlaid by the spec's, by variable name, keeping first-seen order."""
    merged: dict[str, str] = {}
    for entry in (*image_env, *spec_env):
        name = entry.split("=", 1)[0]
        merged[name] = entry
    merged.setdefault("PATH", f"PATH={DEFAULT_PATH}")
    return list(merged.values())


def _cap_name(cap: str) -> str:
    upper = cap.strip().upper()
    if upper == "ALL":
        return upper
    name = upper if upper.startswith("CAP_") else "CAP_" + upper
    if name not in ALL_CAPS:
        raise InvalidArgument(f"unknown capability: {cap!r}")
    return name


def capabilities(cap_add: tuple[str, ...], cap_drop: tuple[str, ...]) -> list[str]:
    """Docker's default set + cap_add - cap_drop; "ALL" works on either side."""
    add = {_cap_name(c) for c in cap_add}
    drop = {_cap_name(c) for c in cap_drop}
    # Explicit adds survive "drop ALL", as in Docker (--cap-drop ALL --cap-add NET_BIND_SERVICE).
    if "ALL" in drop:
        base: set[str] = set()
    elif "ALL" in add:
        base = set(ALL_CAPS)
    else:
        base = set(DEFAULT_CAPS)
    caps = (base | add) - drop
    return [c for c in ALL_CAPS if c in caps]


def resolve_user(user: str, passwd: str, group: str = "") -> tuple[int, int]:
    """``uid[:gid]`` or ``name[:group]`` → (uid, gid), names looked up in /etc/passwd text."""
    if not user:
        return 0, 0
    name, _, grp = user.partition(":")
    uid: int | None = int(name) if name.isdigit() else None
    gid: int | None = None
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) < 4:
            continue
        if (uid is None and fields[0] == name) or (uid is not None and fields[2] == str(uid)):
            uid, gid = int(fields[2]), int(fields[3])
            break
    if uid is None:
        raise InvalidArgument(f"unable to find user {name}: no matching entries in passwd file")
    if grp:
        gid = int(grp) if grp.isdigit() else _lookup_group(grp, group)
    return uid, gid if gid is not None else 0


def _lookup_group(name: str, group: str) -> int:
    for line in group.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name:
            return int(fields[2])
    raise InvalidArgument(f"unable to find group {name}: no matching entries in group file")


def volume_dir(volumes_root: Path, name: str) -> Path:
    return volumes_root / name / "_data"


def oci_mounts(mounts: tuple[Mount, ...], paths: BundlePaths) -> list[dict[str, Any]]:
    """The requested mounts, then the /etc files (which must win over a volume at /etc)."""
    out: list[dict[str, Any]] = []
    for m in mounts:
        ro = ["ro"] if m.readonly else ["rw"]
        if m.kind is MountKind.TMPFS:
            opts = ["nosuid", "nodev", f"mode={m.tmpfs_mode or 0o1777:o}", *ro]
            if m.tmpfs_size:
                opts.append(f"size={m.tmpfs_size}")
            out.append(
                {"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": opts}
            )
            continue
        source = (
            m.source if m.kind is MountKind.BIND else str(volume_dir(paths.volumes_root, m.source))
        )
        propagation = [m.propagation] if m.propagation else []
        out.append(
            {
                "destination": m.target,
                "type": "bind",
                "source": source,
                "options": ["rbind", *ro, *propagation],
            }
        )
    for name in ETC_FILES:
        out.append(
            {
                "destination": f"/etc/{name}",
                "type": "bind",
                "source": str(paths.container_dir / name),
                "options": ["rbind", "rw"],
            }
        )
    return out


def check_mount_sources(mounts: tuple[Mount, ...]) -> None:
    """Fail early on a missing bind source or a bad volume name (volumes themselves are made
    at create, by swarmpy.engine.volumes.prepare_mounts)."""
    for m in mounts:
        if not m.target.startswith("/"):
            raise InvalidArgument(f"invalid mount target {m.target!r}: must be an absolute path")
        if m.kind is MountKind.BIND and not Path(m.source).exists():
            raise InvalidArgument(
                f'invalid mount config for type "bind": bind source path does not exist: {m.source}'
            )
        if m.kind is MountKind.VOLUME and m.source:
            volumes.check_name(m.source)


def read_passwd(rootfs: Path) -> tuple[str, str]:
    """The rootfs' /etc/passwd and /etc/group text ("" when missing)."""

    def read(name: str) -> str:
        try:
            return (rootfs / "etc" / name).read_text(errors="replace")
        except OSError:
            return ""

    return read("passwd"), read("group")


def resources(container: ContainerConfig) -> dict[str, Any]:
    res: dict[str, Any] = {"devices": [{"allow": False, "access": "rwm"}]}
    if container.memory_bytes:
        res["memory"] = {"limit": container.memory_bytes}
    if container.nano_cpus:
        quota = container.nano_cpus * CPU_PERIOD_US // 10**9
        res["cpu"] = {"quota": quota, "period": CPU_PERIOD_US}
    if container.pids_limit:
        res["pids"] = {"limit": container.pids_limit}
    return res


def oci_annotations(container: ContainerConfig) -> dict[str, str]:
    """The orchestrator's annotations, then the engine's: image, name and labels."""
    ann = dict(container.annotations)
    ann[ANN_IMAGE] = container.image
    ann[ANN_NAME] = container.name
    for k, v in container.labels:
        ann[ANN_LABEL_PREFIX + k] = v
    return ann


def build_config(
    image: ImageConfig,
    container: ContainerConfig,
    paths: BundlePaths,
    *,
    cgroups_path: str,
    passwd: str = "",
    group: str = "",
    seccomp_profile: seccomp.Profile | None = None,
) -> dict[str, Any]:
    """The complete config.json for the container, confined by ``seccomp_profile`` (the
    engine always gives one; without, only for tests of the rest)."""
    config = copy.deepcopy(_TEMPLATE)
    proc = config["process"]
    proc["args"] = process_args(image, container.command, container.args)
    proc["env"] = merge_env(image.env, container.env)
    proc["cwd"] = container.workdir or image.workdir or "/"
    uid, gid = resolve_user(container.user or image.user, passwd, group)
    proc["user"] = {"uid": uid, "gid": gid}
    if container.groups:
        proc["user"]["additionalGids"] = [
            int(g) if g.isdigit() else _lookup_group(g, group) for g in container.groups
        ]
    caps = capabilities(container.cap_add, container.cap_drop)
    proc["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    config["root"]["path"] = str(paths.rootfs)
    config["root"]["readonly"] = container.read_only
    if container.tty:
        proc["terminal"] = True
        # Docker sets TERM for a container with a TTY unless the image or spec did.
        if not any(e.startswith("TERM=") for e in proc["env"]):
            proc["env"].append("TERM=xterm")
    config["hostname"] = container.hostname
    config["mounts"].extend(oci_mounts(container.mounts, paths))
    if container.init_path:
        # Docker's --init: its docker-init (tini) as pid 1, bind-mounted from the host.
        config["mounts"].append(
            {
                "destination": INIT_TARGET,
                "type": "bind",
                "source": container.init_path,
                "options": ["rbind", "ro"],
            }
        )
        proc["args"] = [INIT_TARGET, "--", *proc["args"]]
    if container.ulimits:
        proc["rlimits"] = [
            {"type": f"RLIMIT_{name.upper()}", "soft": _rlimit(soft), "hard": _rlimit(hard)}
            for name, soft, hard in container.ulimits
        ]
    linux = config["linux"]
    linux["namespaces"].append({"type": "network", "path": container.netns_path})
    linux["cgroupsPath"] = cgroups_path
    linux["resources"] = resources(container)
    if container.sysctls:
        linux["sysctl"] = dict(container.sysctls)
    if seccomp_profile is not None:
        linux["seccomp"] = seccomp.oci_seccomp(seccomp_profile, caps)
    config["annotations"] = oci_annotations(container)
    return config


def _rlimit(value: int) -> int:
    """-1 (Docker's unlimited) as the kernel's RLIM_INFINITY, which runc takes as uint64."""
    return 2**64 - 1 if value < 0 else value


def etc_files(container: ContainerConfig) -> dict[str, str]:
    """The contents of the files bind-mounted at /etc/<name>."""
    return {
        "resolv.conf": container.resolv_conf,
        "hosts": container.hosts,
        "hostname": container.hostname + "\n",
    }


def user_mounts(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The mounts in a config.json that were asked for (for inspect)."""
    fixed = {m["destination"] for m in _TEMPLATE["mounts"]}
    fixed |= {f"/etc/{name}" for name in ETC_FILES}
    return [m for m in config.get("mounts", []) if m.get("destination") not in fixed]
