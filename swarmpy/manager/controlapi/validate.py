"""Checks of everything a spec carries, before it is stored (SwarmKit's controlapi checks).

A spec in the store is replayed by every manager on every start, so one that cannot be
served (a trillion replicas, a non-finite delay) takes the cluster down for good: the control
API refuses it here, with SwarmKit's (or Docker's) sentence where they have one. Pure
functions over model objects, raising InvalidArgument; the CLI runs the same ones where it
parses its flags, so it refuses early with the same words, but the control API is the guard.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import posixpath
import re
from collections.abc import Iterable, Sequence

from swarmpy import templates
from swarmpy.dockerjson import logdriver
from swarmpy.engine.images.reference import parse_reference
from swarmpy.errors import InvalidArgument
from swarmpy.manager.constraint import valid_attribute
from swarmpy.model import (
    ContainerSpec,
    HealthConfig,
    Mount,
    MountType,
    ResourceRequirements,
    Resources,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    UpdateConfig,
)

# A replicated service has a task per replica: the managers hold, schedule and dispatch each.
MAX_REPLICAS = 100_000
MIN_NANO_CPUS = 1_000_000  # 0.001 CPU
MIN_MEMORY_BYTES = 4 * 1024 * 1024
# Counts, CPUs and bytes travel as protobuf int64.
MAX_INT64 = 2**63 - 1
# Go's time.Duration (int64 nanoseconds): the longest duration Docker's API can carry.
MAX_DURATION_S = MAX_INT64 / 1e9
# The cluster's settings (`swarm init`, `swarm update`).
MIN_HEARTBEAT_S = 0.1
MAX_HEARTBEAT_S = 24 * 3600.0
# -1 keeps every ended task (SwarmKit's negative limit); more than this is a leak.
MAX_TASK_HISTORY_LIMIT = 10_000
# DNS: a label (a name component) is at most 63 characters, a whole hostname 253.
MAX_NAME = 63
MAX_HOSTNAME = 253
# Docker sets no limit on labels; these keep one object's metadata small beside its tasks.
MAX_LABEL_KEY = 1024
MAX_LABEL_VALUE = 4096
# distribution/reference: NameTotalLengthMax; a tag is at most 128 characters.
MAX_IMAGE_NAME = 255
_MAX_IMAGE_REF = MAX_IMAGE_NAME + 1 + 128 + 1 + len("sha256:") + 64

# SwarmKit: "name must be valid as a DNS name component".
_NAME_RE = re.compile(r"[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*")
_HOST_LABEL_RE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
# Docker's local volume driver: what may name a volume (it becomes a directory).
_VOLUME_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_CAPABILITY_RE = re.compile(r"[A-Za-z_]{1,64}")


def _reject(message: str) -> InvalidArgument:
    return InvalidArgument(message)


def _clip(value: str) -> str:
    """A value as a message quotes it: a megabyte of it would bury the sentence (and not fit
    the gRPC trailer that carries it)."""
    return value if len(value) <= 80 else value[:80] + "..."


def quoted(value: str) -> str:
    """A value quoted in a message, clipped."""
    return repr(_clip(value))


# ---------------------------------------------------------------- names, labels, strings


def check_name(name: str, kind: str = "name") -> None:
    """A service's or network's name: a DNS name component, as SwarmKit requires."""
    if not name:
        raise _reject(f"invalid {kind}: name must be provided")
    if len(name) > MAX_NAME:
        raise _reject(f"invalid {kind} {quoted(name)}: name must be 63 characters or fewer")
    if not _NAME_RE.fullmatch(name):
        raise _reject(f"invalid {kind} {quoted(name)}: must be valid as a DNS name component")


def check_text(value: str, what: str) -> None:
    """A string handed to the kernel or to execve, where a NUL byte would end it early."""
    if "\0" in value:
        raise _reject(f"invalid {what} {quoted(value)}: must not contain a NUL byte")


def check_label(key: str, value: str, what: str = "label") -> None:
    if not key or any(c.isspace() for c in key):
        raise _reject(f"invalid {what} {quoted(key)}: a key must be non-empty, without whitespace")
    if len(key) > MAX_LABEL_KEY:
        raise _reject(
            f"invalid {what} {quoted(key)}: a key must be at most {MAX_LABEL_KEY} characters"
        )
    if len(value) > MAX_LABEL_VALUE:
        raise _reject(
            f"invalid {what} {quoted(key)}: a value must be at most {MAX_LABEL_VALUE} characters"
        )
    check_text(key, what)
    check_text(value, what)


def check_labels(labels: Iterable[tuple[str, str]], what: str = "label") -> None:
    for key, value in labels:
        check_label(key, value, what)


def check_hostname(hostname: str) -> None:
    """RFC 1123: dot-separated labels of letters, digits and inner hyphens, 253 at most."""
    labels = hostname.split(".")
    if len(hostname) > MAX_HOSTNAME or not all(_HOST_LABEL_RE.fullmatch(x) for x in labels):
        raise _reject(f"invalid hostname {quoted(hostname)}: must be a valid RFC 1123 hostname")


def check_env_entry(item: str) -> None:
    key, sep, _value = item.partition("=")
    if not sep or not key:
        raise _reject(f"invalid environment variable {quoted(item)}: expected KEY=VALUE")
    check_text(item, "environment variable")


def check_env(env: Iterable[str]) -> None:
    for item in env:
        if "{{" in item:
            templates.check(item, "environment variable")  # filled in by the agent
        check_env_entry(item)


def check_image(image: str) -> None:
    if not image:
        raise _reject("ContainerSpec: image reference must be provided")
    bad = f'ContainerSpec: "{_clip(image)}" is not a valid repository/tag'
    # Checked before parsing: the grammar's regular expressions need not see a megabyte.
    if len(image) > _MAX_IMAGE_REF:
        raise _reject(f"{bad}: repository name must not be more than {MAX_IMAGE_NAME} characters")
    try:
        reference = parse_reference(image)
    except InvalidArgument:
        raise _reject(bad) from None
    if len(reference.name) > MAX_IMAGE_NAME:
        raise _reject(f"{bad}: repository name must not be more than {MAX_IMAGE_NAME} characters")


def check_node_address(addr: str, what: str, with_port: bool) -> None:
    """An address a joining node gives: an IP, or for a manager's endpoints IP:port."""
    host, port = addr, ""
    if with_port:
        host, _, port = addr.rpartition(":")
    try:
        ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
        if with_port and not 0 < int(port) < 65536:
            raise ValueError(port)
    except ValueError:
        shape = "IP:port" if with_port else "an IP address"
        raise _reject(f"invalid {what} {quoted(addr)}: expected {shape}") from None


def check_node_description(
    hostname: str, addr: str, manager_addrs: tuple[str, str] | None = None
) -> None:
    """What a node says of itself when it joins: its hostname (the machine's, which may not be
    RFC 1123's) and addresses, before a node record holds them."""
    if not hostname or len(hostname) > MAX_HOSTNAME or not hostname.isprintable():
        raise _reject(
            f"invalid hostname {quoted(hostname)}: 1 to {MAX_HOSTNAME} printable characters"
        )
    check_node_address(addr, "advertise address", with_port=False)
    for manager_addr in manager_addrs or ():
        check_node_address(manager_addr, "manager address", with_port=True)


# ---------------------------------------------------------------- numbers


def check_replicas(replicas: int) -> None:
    shown = str(replicas) if abs(replicas) <= MAX_INT64 else "out of range"
    if replicas < 0:
        raise _reject(f"invalid replicas value {shown}: must be >= 0")
    if replicas > MAX_REPLICAS:
        raise _reject(
            f"invalid replicas value {shown}: a service can have at most {MAX_REPLICAS} replicas"
        )


def check_job_counts(total: int, concurrent: int) -> None:
    """A replicated job's TotalCompletions and MaxConcurrent, in SwarmKit's words."""
    if concurrent < 0:
        raise _reject("Maximum concurrent jobs must not be negative")
    if total < 0:
        raise _reject("Total completed jobs must not be negative")
    if concurrent > MAX_REPLICAS:
        raise _reject(
            f"invalid max-concurrent value {concurrent}: a job runs at most {MAX_REPLICAS} tasks"
        )


def check_count(value: int, what: str) -> None:
    """A non-negative count (attempts, parallelism) that fits the API's int64."""
    if value < 0:
        raise _reject(f"TaskSpec: {what} cannot be negative")
    if value > MAX_INT64:
        raise _reject(f"TaskSpec: {what} is too large (at most {MAX_INT64})")


def check_duration(seconds: float, what: str) -> None:
    """A delay or period: finite, not negative, no longer than Go's time.Duration."""
    if math.isnan(seconds):
        raise _reject(f"TaskSpec: {what} must be a number")
    if seconds < 0:
        raise _reject(f"TaskSpec: {what} cannot be negative")
    if seconds > MAX_DURATION_S:
        raise _reject(f"TaskSpec: {what} cannot be longer than {MAX_DURATION_S:.0f}s")


def check_heartbeat_period(seconds: float) -> None:
    """Agents beat once a period and the leader reads a session as gone after a few missed
    beats: below the minimum the beats are load, above the maximum a dead node goes unnoticed
    for a day."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise _reject("invalid dispatcher heartbeat period: it must be positive, e.g. 5s")
    if not MIN_HEARTBEAT_S <= seconds <= MAX_HEARTBEAT_S:
        raise _reject(
            "invalid dispatcher heartbeat period: it must be between 100ms and 24h, e.g. 5s"
        )


def check_history_limit(limit: int) -> None:
    """Ended tasks kept per slot; -1 keeps every one (SwarmKit's negative limit)."""
    if not -1 <= limit <= MAX_TASK_HISTORY_LIMIT:
        shown = str(limit) if abs(limit) <= MAX_INT64 else "out of range"
        raise _reject(
            f"invalid task history limit {shown}: it must be between 0 and "
            f"{MAX_TASK_HISTORY_LIMIT} (-1 keeps all history)"
        )


def check_cpus(nano_cpus: int) -> None:
    # Beyond int64 first: such a number need not even fit a float to be refused.
    if nano_cpus > MAX_INT64:
        raise _reject(f"invalid cpu value: Must be at most {MAX_INT64 / 1e9:g}")
    if nano_cpus != 0 and nano_cpus < MIN_NANO_CPUS:
        shown = f"{nano_cpus / 1e9:g}" if nano_cpus >= -MAX_INT64 else "below zero"
        raise _reject(f"invalid cpu value {shown}: Must be at least {MIN_NANO_CPUS / 1e9:g}")


def check_memory(memory_bytes: int) -> None:
    if memory_bytes > MAX_INT64:
        raise _reject(f"invalid memory value: Must be at most {MAX_INT64}")
    if memory_bytes != 0 and memory_bytes < MIN_MEMORY_BYTES:
        shown = str(memory_bytes) if memory_bytes >= -MAX_INT64 else "below zero"
        raise _reject(f"invalid memory value {shown}: Must be at least 4MiB")


def check_resources(resources: Resources) -> None:
    check_cpus(resources.nano_cpus)
    check_memory(resources.memory_bytes)


def check_pids(pids: int) -> None:
    if pids < 0:
        shown = str(pids) if pids >= -MAX_INT64 else "below zero"
        raise _reject(f"invalid pids limit {shown}: must be >= 0 (0 is unlimited)")
    if pids > MAX_INT64:
        raise _reject(f"invalid pids limit: must be at most {MAX_INT64}")


def check_resource_requirements(requirements: ResourceRequirements) -> None:
    check_resources(requirements.limits)
    check_pids(requirements.limits.pids)
    check_resources(requirements.reservations)
    if requirements.reservations.pids:
        raise _reject("pids can only be limited, not reserved")


# ---------------------------------------------------------------- mounts


def _mount_error(mount: Mount, reason: str) -> InvalidArgument:
    """Docker's errMountConfig sentence."""
    return _reject(f'invalid mount config for type "{mount.type}": {reason}')


def _check_absolute(mount: Mount, path: str) -> None:
    if not posixpath.isabs(path):
        raise _mount_error(
            mount, f"invalid mount path: '{_clip(path)}' mount path must be absolute"
        )
    if "\0" in path:
        raise _mount_error(mount, f"invalid mount path: {quoted(path)} contains a NUL byte")


PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


def check_mount(mount: Mount) -> None:
    target = mount.target
    _check_absolute(mount, target)
    if target == "/":
        raise _mount_error(mount, "invalid specification: destination can't be '/'")
    # "//x", "/a/../b", "/a/" would each name a path other than they read as.
    if "//" in target or posixpath.normpath(target) != target:
        raise _mount_error(
            mount,
            f"invalid mount path: '{_clip(target)}' mount path must be normalised "
            f"('{_clip(posixpath.normpath(target))}')",
        )
    if mount.type == MountType.BIND:
        if not mount.source:
            raise _mount_error(mount, "field Source must not be empty")
        _check_absolute(mount, mount.source)
    elif mount.type == MountType.VOLUME:
        if not _VOLUME_NAME_RE.fullmatch(mount.source):
            raise _mount_error(
                mount,
                f'"{_clip(mount.source)}" includes invalid characters for a local volume '
                'name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass '
                "a host directory, use absolute path",
            )
    elif mount.source:
        raise _mount_error(mount, "field Source must not be specified")
    if mount.bind_propagation and mount.type != MountType.BIND:
        raise _mount_error(mount, "field BindOptions must not be specified")
    if mount.bind_propagation not in ("", *PROPAGATIONS):
        raise _mount_error(mount, f"invalid propagation mode {quoted(mount.bind_propagation)}")
    if (mount.tmpfs_size or mount.tmpfs_mode) and mount.type != MountType.TMPFS:
        raise _mount_error(mount, "field TmpfsOptions must not be specified")
    volume_options = mount.volume_nocopy or mount.volume_labels or mount.volume_options
    if volume_options and mount.type != MountType.VOLUME:
        raise _mount_error(mount, "field VolumeOptions must not be specified")
    if mount.tmpfs_size < 0 or mount.tmpfs_size > MAX_INT64:
        raise _mount_error(mount, "invalid tmpfs size")
    if not 0 <= mount.tmpfs_mode <= 0o7777:
        raise _mount_error(mount, "invalid tmpfs mode")


def check_mounts(mounts: Sequence[Mount]) -> None:
    seen: set[str] = set()
    for mount in mounts:
        # Templates in a source or target are filled in by the agent: checked as a value
        # of their shape.
        for path in (mount.source, mount.target):
            if "{{" in path:
                templates.check(path, "mount")
        check_mount(
            dataclasses.replace(
                mount,
                source=templates.sample(mount.source),
                target=templates.sample(mount.target),
            )
        )
        if mount.target in seen:
            raise _reject(f"ContainerSpec: duplicate mount point: {_clip(mount.target)}")
        seen.add(mount.target)


# ---------------------------------------------------------------- the spec


def check_container(container: ContainerSpec) -> None:
    check_image(container.image)
    logdriver.settings(container.log_driver)
    for word in (*container.command, *container.args):
        check_text(word, "command argument")
    check_env(container.env)
    check_labels(container.labels, "container label")
    if container.hostname:
        # A template ({{.Node.Hostname}}-{{.Task.Slot}}) is filled in by the agent.
        templates.check(container.hostname, "hostname")
        check_hostname(templates.sample(container.hostname))
    if container.workdir:
        check_text(container.workdir, "working directory")
        if not posixpath.isabs(container.workdir):
            raise _reject(
                f"the working directory '{_clip(container.workdir)}' is invalid, "
                "it needs to be an absolute path"
            )
    check_text(container.user, "user")
    for grp in container.groups:
        if not grp or ":" in grp or any(c.isspace() for c in grp):
            raise _reject(f"invalid group {quoted(grp)}: expected a group name or gid")
        check_text(grp, "group")
    for cap in (*container.cap_add, *container.cap_drop):
        if not _CAPABILITY_RE.fullmatch(cap):
            raise _reject(f"invalid capability {quoted(cap)}: expected a name such as NET_ADMIN")
    check_mounts(container.mounts)
    check_duration(container.stop_grace_s, "stop-grace-period")
    if container.stop_signal:
        check_signal(container.stop_signal)
    for server in container.dns_nameservers:
        _check_ip(server, "DNS server")
    for word in (*container.dns_search, *container.dns_options):
        if not word or any(c.isspace() for c in word) or "\0" in word:
            raise _reject(f"invalid DNS search domain or option {quoted(word)}")
    for line in container.hosts:
        parts = line.split()
        if len(parts) < 2:
            raise _reject(f'invalid host entry {quoted(line)}: expected "IP name [alias...]"')
        _check_ip(parts[0], "host entry address")
    for key, value in container.sysctls:
        check_sysctl(key, value)
    seen: set[str] = set()
    for limit in container.ulimits:
        check_ulimit(limit.name, limit.soft, limit.hard)
        if limit.name in seen:
            raise _reject(f"duplicate ulimit {limit.name}")
        seen.add(limit.name)
    if container.healthcheck is not None:
        check_healthcheck(container.healthcheck)


# SwarmKit's shortest healthcheck duration (other than 0, which inherits the image's).
MIN_HEALTH_DURATION_S = 0.001


def check_healthcheck(hc: HealthConfig) -> None:
    """SwarmKit's validateHealthCheck, in its words."""
    for what, seconds in (
        ("Interval", hc.interval_s),
        ("Timeout", hc.timeout_s),
        ("StartPeriod", hc.start_period_s),
    ):
        if seconds != 0 and not seconds >= MIN_HEALTH_DURATION_S:  # NaN too
            raise _reject(f"ContainerSpec: {what} in HealthConfig cannot be less than 1ms")
        check_duration(seconds, f"{what} in HealthConfig")
    if hc.retries < 0:
        raise _reject("ContainerSpec: Retries in HealthConfig cannot be negative")
    if hc.retries > MAX_INT64:
        raise _reject(f"ContainerSpec: Retries in HealthConfig is too large (at most {MAX_INT64})")
    for word in hc.test:
        check_text(word, "healthcheck command")


def check_signal(text: str) -> None:
    """A stop signal by name (SIGTERM, TERM) or number, as Docker's signal.ParseSignal."""
    import signal

    if text.isdigit():
        valid = int(text) in {s.value for s in signal.Signals}
    else:
        valid = ("SIG" + text.upper().removeprefix("SIG")) in signal.Signals.__members__
    if not valid:
        raise _reject(f"Invalid signal: {_clip(text)}")


def _check_ip(text: str, what: str) -> None:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise _reject(f"invalid {what} {quoted(text)}: not an IP address") from None


# Docker's validateSysctl: the namespaced sysctls a container may set.
_SYSCTL_PREFIXES = ("net.", "fs.mqueue.")
_SYSCTL_IPC = (
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
)


def check_sysctl(key: str, value: str) -> None:
    if key not in _SYSCTL_IPC and not key.startswith(_SYSCTL_PREFIXES):
        raise _reject(f"sysctl {quoted(key)} is not allowed: only namespaced sysctls "
                      "(net.*, fs.mqueue.*, kernel.msg*/sem/shm*) can be set")  # fmt: skip
    check_text(value, "sysctl")


# The RLIMIT_ names runc knows, as Docker's --ulimit spells them.
ULIMITS = (
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
    "nproc", "rss", "rtprio", "rttime", "sigpending", "stack", "as",
)  # fmt: skip


def check_ulimit(name: str, soft: int, hard: int) -> None:
    if name not in ULIMITS:
        raise _reject(f"invalid ulimit type: {_clip(name)}")
    if soft > hard:
        raise _reject(
            f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )
    if soft < -1 or hard < -1 or hard > MAX_INT64:
        raise _reject(f"invalid ulimit {name}: limits are -1 (unlimited) or a count")


def check_restart(policy: RestartPolicy) -> None:
    check_duration(policy.delay_s, "restart-delay")
    check_duration(policy.window_s, "restart-window")
    check_count(policy.max_attempts, "restart-max-attempts")


def check_update(config: UpdateConfig, flag: str = "update") -> None:
    """``flag`` is "update" or "rollback": the flags' prefix, named in the messages."""
    check_count(config.parallelism, f"{flag}-parallelism")
    check_duration(config.delay_s, f"{flag}-delay")
    check_duration(config.monitor_s, f"{flag}-monitor")
    ratio = config.max_failure_ratio
    if math.isnan(ratio) or not 0 <= ratio <= 1:
        raise _reject(f"TaskSpec: {flag}-maxfailureratio cannot be less than 0 or bigger than 1")


def check_service_spec(spec: ServiceSpec) -> None:
    """Everything in a service spec that needs no look-up in the store."""
    check_name(spec.name, "service name")
    check_labels(spec.labels)
    check_container(spec.container)
    if spec.mode == ServiceMode.REPLICATED_JOB:
        check_job_counts(spec.replicas, spec.max_concurrent)
    # A global service ignores it, but it is stored all the same.
    check_replicas(spec.replicas)
    check_restart(spec.restart)
    check_update(spec.update, "update")
    check_update(spec.rollback, "rollback")
    check_resource_requirements(spec.resources)
    for constraint in spec.constraints:
        check_text(constraint, "constraint")
    for alias in spec.network_aliases:
        for name in alias.aliases:
            if len(name) > MAX_HOSTNAME or not all(
                _HOST_LABEL_RE.fullmatch(label) for label in name.split(".")
            ):
                raise _reject(f"invalid network alias {quoted(name)}: must be a valid DNS name")
    for pref in spec.placement_prefs:
        if not valid_attribute(pref):
            raise _reject(
                f"invalid placement preference spread={_clip(pref)}: spread over "
                "node.labels.<label>, engine.labels.<label>, node.id, node.hostname or node.role"
            )
    check_count(spec.max_replicas, "replicas-max-per-node")
