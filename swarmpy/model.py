"""Domain types shared by managers, agents and the CLI.

Every object is a frozen dataclass over plain data (str, int, tuples, nested frozen
dataclasses), so a decision function can take a snapshot without fearing that somebody
mutates it underneath, and the same objects can be pickled into the Raft log and
converted to/from protobuf messages generically (see swarmpy.codec).
Changes are made with ``dataclasses.replace``.
"""

from __future__ import annotations

import enum
import pickle
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from swarmpy.interning import Interned

ENGINE_VERSION = "0.1.0"
# Docker's default node certificate validity: 90 days (2160h).
DEFAULT_NODE_CERT_EXPIRY_S = 90 * 24 * 3600.0


_BASE36 = b"0123456789abcdefghijklmnopqrstuvwxyz"
# Random bytes map to a base-36 digit each; 252 (7 x 36) and above are dropped, so every
# digit is equally likely.
_DIGIT_OF_BYTE = bytes(_BASE36[b % 36] for b in range(252)) + bytes(4)
_UNEVEN_BYTES = bytes(range(252, 256))
# Random bytes drawn per id: 25 digits are needed, and 32 bytes give fewer than 25 usable
# ones about once in 10^11 draws (then more are drawn).
_ID_BYTES = 32


def new_id() -> str:
    """A 25-character lowercase alphanumeric id, like SwarmKit's object ids (~129 random
    bits in base 36). One table lookup per digit in C: the digit-by-digit division it
    replaced took 18 us an id, a second of the leader's loop for the 60,000 tasks that
    replace those of 1,500 nodes gone down at once."""
    while True:
        digits = secrets.token_bytes(_ID_BYTES).translate(_DIGIT_OF_BYTE, _UNEVEN_BYTES)
        if len(digits) >= 25:
            return digits[:25].decode()


def now() -> float:
    return time.time()


class TaskState(enum.IntEnum):
    """SwarmKit's task states, in their order: a task only ever moves forward."""

    NEW = 0
    PENDING = 64
    ASSIGNED = 192
    ACCEPTED = 256
    PREPARING = 320
    READY = 384
    STARTING = 448
    RUNNING = 512
    COMPLETE = 576
    SHUTDOWN = 640
    FAILED = 704
    REJECTED = 768
    REMOVE = 800
    ORPHANED = 832

    @property
    def terminal(self) -> bool:
        return self >= TaskState.COMPLETE

    @property
    def label(self) -> str:
        return self.name.capitalize()


class NodeRole(enum.StrEnum):
    WORKER = "worker"
    MANAGER = "manager"


class NodeAvailability(enum.StrEnum):
    ACTIVE = "active"
    PAUSE = "pause"
    DRAIN = "drain"


class NodeState(enum.StrEnum):
    UNKNOWN = "unknown"
    READY = "ready"
    DOWN = "down"
    DISCONNECTED = "disconnected"


class ServiceMode(enum.StrEnum):
    REPLICATED = "replicated"
    GLOBAL = "global"
    # Docker's jobs (API 1.41): tasks run to completion instead of being kept running.
    REPLICATED_JOB = "replicated-job"
    GLOBAL_JOB = "global-job"

    @property
    def is_job(self) -> bool:
        return self in (ServiceMode.REPLICATED_JOB, ServiceMode.GLOBAL_JOB)

    @property
    def is_global(self) -> bool:
        """One task per eligible node (a global service or a global job)."""
        return self in (ServiceMode.GLOBAL, ServiceMode.GLOBAL_JOB)


class RestartCondition(enum.StrEnum):
    ANY = "any"
    ON_FAILURE = "on-failure"
    NONE = "none"


class FailureAction(enum.StrEnum):
    PAUSE = "pause"
    CONTINUE = "continue"
    ROLLBACK = "rollback"


class UpdateOrder(enum.StrEnum):
    """Docker's --update-order: stop a task before its replacement starts, or after."""

    STOP_FIRST = "stop-first"
    START_FIRST = "start-first"


class UpdateState(enum.StrEnum):
    """Where a service's rolling update (or rollback) stands; UNKNOWN before the first."""

    UNKNOWN = ""
    UPDATING = "updating"
    PAUSED = "paused"
    COMPLETED = "completed"
    ROLLBACK_STARTED = "rollback_started"
    ROLLBACK_PAUSED = "rollback_paused"
    ROLLBACK_COMPLETED = "rollback_completed"


class EndpointMode(enum.StrEnum):
    VIP = "vip"
    DNSRR = "dnsrr"


class PortProtocol(enum.StrEnum):
    TCP = "tcp"
    UDP = "udp"
    SCTP = "sctp"


class PublishMode(enum.StrEnum):
    """Docker's PublishMode: through the routing mesh on every node, or on the task's node."""

    INGRESS = "ingress"
    HOST = "host"


class HealthState(enum.StrEnum):
    """A container's health (Docker's State.Health.Status); NONE: it has no healthcheck."""

    NONE = ""
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


class MountType(enum.StrEnum):
    BIND = "bind"
    VOLUME = "volume"
    TMPFS = "tmpfs"


# ---------------------------------------------------------------- nodes


@dataclass(frozen=True)
class GenericResource:
    """Docker's GenericResource (SwarmKit's user-defined resources, e.g. GPUs): one named unit
    of a kind (NamedResourceSpec, ``gpu=UUID1``) or a count of it (DiscreteResourceSpec,
    ``SSD=3``). A service reserves counts only; see swarmpy.genericresource."""

    kind: str
    value: str = ""  # a named unit's name
    count: int = 0  # a discrete resource's count
    named: bool = False


@dataclass(frozen=True)
class Resources:
    nano_cpus: int = 0  # 1e9 == one CPU
    memory_bytes: int = 0
    # The most processes a task's container may have (Docker's Resources.Limits.Pids); only
    # limited, never reserved. 0: unlimited.
    pids: int = 0
    # A node's advertised user-defined resources (dockerd's --node-generic-resource), or a
    # service's reservation of them (--generic-resource). A plain default, for objects
    # pickled before it existed.
    generic: tuple[GenericResource, ...] = ()


@dataclass(frozen=True)
class ManagerStatus:
    raft_addr: str = ""  # host:port of this manager's Raft endpoint
    api_addr: str = ""  # host:port of this manager's gRPC endpoint
    leader: bool = False
    reachable: bool = True


@dataclass(frozen=True)
class TLSInfo:
    """Docker's Description.TLSInfo: the roots a node trusts (PEM) and the issuer of its
    certificate (raw subject and SubjectPublicKeyInfo, base64). Recorded by the manager that
    signs, so a root rotation can tell which nodes still hold an old certificate."""

    trust_root: str = ""
    cert_issuer_subject: str = ""
    cert_issuer_public_key: str = ""


@dataclass(frozen=True)
class Node:
    id: str
    hostname: str
    role: NodeRole = NodeRole.WORKER
    availability: NodeAvailability = NodeAvailability.ACTIVE
    state: NodeState = NodeState.UNKNOWN
    addr: str = ""  # advertise address (underlay IP): VXLAN endpoint, reachability
    labels: tuple[tuple[str, str], ...] = ()
    engine_version: str = ENGINE_VERSION
    resources: Resources = field(default_factory=Resources)
    manager: ManagerStatus | None = None
    message: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    tls_info: TLSInfo | None = None
    # The address of the node's ingress sandbox on the ingress network ("10.0.0.3/24"), where
    # the routing mesh sends connections from; given by the allocator.
    ingress_addr: str = ""
    # As Service.spec_changed_after, for what `node update` sets (role, availability, labels).
    spec_changed_after: int = 0

    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


# ---------------------------------------------------------------- services


@dataclass(frozen=True)
class RestartPolicy:
    condition: RestartCondition = RestartCondition.ANY
    delay_s: float = 5.0
    max_attempts: int = 0  # 0 == unlimited
    window_s: float = 0.0


@dataclass(frozen=True)
class UpdateConfig:
    parallelism: int = 1
    delay_s: float = 0.0
    failure_action: FailureAction = FailureAction.PAUSE
    monitor_s: float = 5.0
    max_failure_ratio: float = 0.0
    order: UpdateOrder = UpdateOrder.STOP_FIRST


@dataclass(frozen=True)
class Mount:
    type: MountType
    target: str
    source: str = ""
    readonly: bool = False
    # Docker's BindOptions.Propagation ("" is rprivate, the default) and TmpfsOptions.
    bind_propagation: str = ""
    tmpfs_size: int = 0  # bytes; 0: the kernel's default (half the memory)
    tmpfs_mode: int = 0  # permission bits of the tmpfs root; 0: 1777
    # Docker's VolumeOptions: no copy of the image's content into a new volume; the labels
    # and local driver options (DriverConfig.Options) a volume is made with on first use.
    volume_nocopy: bool = False
    volume_labels: tuple[tuple[str, str], ...] = ()
    volume_options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Ulimit:
    """Docker's --ulimit: a resource limit (RLIMIT_<name>) for the container's processes."""

    name: str  # "nofile", "nproc", ...
    soft: int
    hard: int


@dataclass(frozen=True)
class HealthConfig:
    """Docker's HealthConfig: how the agent checks that a task's container works.

    ``test``: () inherits the image's HEALTHCHECK; ("NONE",) disables it; ("CMD", arg...)
    runs a command; ("CMD-SHELL", line) runs a line with /bin/sh -c. A zero duration or
    count inherits the image's value, and Docker's default when the image has none.
    """

    test: tuple[str, ...] = ()
    interval_s: float = 0.0
    timeout_s: float = 0.0
    retries: int = 0
    start_period_s: float = 0.0


@dataclass(frozen=True)
class PortConfig:
    """Docker's PortConfig: a container port published on the nodes' addresses.

    ``published`` 0 in a spec: the allocator picks one (ingress mode, from 30000-32767 as
    Docker). A service's ``endpoint_ports`` carry the ports as allocated.
    """

    target: int
    published: int = 0
    protocol: PortProtocol = PortProtocol.TCP
    publish_mode: PublishMode = PublishMode.INGRESS
    name: str = ""


@dataclass(frozen=True)
class NetworkAlias:
    """Names a service also answers to on one network (a network id once stored)."""

    network: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class FileReference:
    """Docker's SecretReference / ConfigReference: a secret or config a task's container
    gets as a file (``target``: Docker's File.Name; relative is under /run/secrets/ for a
    secret, under / for a config)."""

    id: str
    name: str
    target: str
    uid: str = "0"
    gid: str = "0"
    mode: int = 0o444
    # Docker's ConfigReference Runtime target: a config the runtime reads (a credential spec,
    # ``--credential-spec config://``), not a file in the container; its target stays "".
    runtime: bool = False


@dataclass(frozen=True)
class LogDriver:
    """Docker's TaskTemplate.LogDriver (`--log-driver`, `--log-opt`); see
    swarmpy.dockerjson.logdriver for the drivers swarmpy has."""

    name: str
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    command: tuple[str, ...] = ()  # replaces the image's Entrypoint when set
    args: tuple[str, ...] = ()  # replaces the image's Cmd when set
    env: tuple[str, ...] = ()  # "K=V"
    labels: tuple[tuple[str, str], ...] = ()
    hostname: str = ""
    workdir: str = ""
    user: str = ""
    mounts: tuple[Mount, ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    stop_grace_s: float = 10.0
    stop_signal: str = ""  # "" is the image's StopSignal, else SIGTERM
    tty: bool = False
    read_only: bool = False  # the root filesystem
    init: bool = False  # an init process as the container's pid 1
    # Docker's DNSConfig: written to the container's resolv.conf instead of the defaults.
    dns_nameservers: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()  # extra /etc/hosts lines, "IP name [alias...]"
    sysctls: tuple[tuple[str, str], ...] = ()
    ulimits: tuple[Ulimit, ...] = ()
    # None: the image's HEALTHCHECK, if any (a plain default: specs pickled before read it).
    healthcheck: HealthConfig | None = None
    # Docker's --group: supplementary groups (names or gids) of the container's process.
    groups: tuple[str, ...] = ()
    secrets: tuple[FileReference, ...] = ()
    configs: tuple[FileReference, ...] = ()
    # Docker's PullOptions.RegistryAuth: the X-Registry-Auth of --with-registry-auth
    # (base64url JSON credentials), handed to the nodes for their pulls; never shown.
    registry_auth: str = ""
    # None: swarmpy's default keeping (json-file, bounded); Docker shows it as no LogDriver.
    log_driver: LogDriver | None = None
    # Docker's Isolation, normalised as its daemon does ("default", "process", "hyperv"); a
    # Linux node rejects a task asking for anything but the default. A plain default, as above.
    isolation: str = "default"
    # Docker's Privileges.CredentialSpec as "file://x", "registry://x" or "config://<id>"
    # (Windows only: a Linux node rejects the task, as dockerd's security options do). "": none.
    credential_spec: str = ""


@dataclass(frozen=True)
class ResourceRequirements:
    limits: Resources = field(default_factory=Resources)
    reservations: Resources = field(default_factory=Resources)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    container: ContainerSpec
    labels: tuple[tuple[str, str], ...] = ()
    mode: ServiceMode = ServiceMode.REPLICATED
    # Replicated: the tasks kept running. Replicated job: the tasks to complete (Docker's
    # ReplicatedJob.TotalCompletions). Global modes: unused.
    replicas: int = 1
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    update: UpdateConfig = field(default_factory=UpdateConfig)
    rollback: UpdateConfig = field(default_factory=UpdateConfig)
    constraints: tuple[str, ...] = ()
    resources: ResourceRequirements = field(default_factory=ResourceRequirements)
    networks: tuple[str, ...] = ()  # network ids
    endpoint_mode: EndpointMode = EndpointMode.VIP
    # Docker's TaskTemplate.ForceUpdate: `service update --force` bumps it, and as a change
    # of the task-relevant spec it has every task replaced by a rolling update. A plain
    # default, so a spec pickled before this field existed reads 0.
    force_update: int = 0
    # Docker's Placement.Preferences (spread over a node attribute, e.g. node.labels.zone) and
    # Placement.MaxReplicas (tasks per node; 0: unlimited).
    placement_prefs: tuple[str, ...] = ()
    max_replicas: int = 0
    # A replicated job's most tasks at once (Docker's ReplicatedJob.MaxConcurrent); unused by
    # the other modes. A plain default, for specs pickled before it existed.
    max_concurrent: int = 0
    # Docker's EndpointSpec.Ports (its Mode is ``endpoint_mode``). A plain default, for specs
    # pickled before it existed.
    ports: tuple[PortConfig, ...] = ()
    # Docker's NetworkAttachmentConfig.Aliases: more names of the service on one of its
    # networks (``--network name=back,alias=db``). A plain default, as above.
    network_aliases: tuple[NetworkAlias, ...] = ()

    # One spec is carried by every task made from it: converted to protobuf once (codec).
    __proto_shared__: ClassVar[bool] = True

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        # Pickled once per object, then as those bytes: every Task carries its service's spec
        # (~1.3 KB pickled), and one spec object is shared by all the tasks made from it.
        return _load_spec, (_spec_bytes(self),)


# ---------------------------------------------------------------- pickled specs
#
# A Raft command writing a Task pickles the Task, spec included, on the leader, and every
# follower unpickles it: the spec was most of both (bench/README.md, "Raft store against etcd,
# one writer"), and every manager but the one that made them held its own copy of the spec in
# each task. A ServiceSpec now pickles as a call of ``_load_spec`` with its own pickle, made
# once per object and kept on it; loading looks those bytes up in a bounded cache of specs
# already loaded, so the tasks of one service share one spec object on every manager. A spec
# pickled the old way (a plain pickle of its fields, in journals and dumps written before)
# still loads as any dataclass does.

# The attribute a spec keeps its pickle under: not a field, so equality, repr, replace and
# the protobuf codec never see it.
_PICKLED = "_pickled"
# Distinct specs whose objects are shared by what is loaded; a spec not among them still
# loads, as an object of its own. A service has one spec per update (and its previous one).
SPEC_CACHE_SIZE = 4096
_loaded_specs: Interned[bytes, ServiceSpec] = Interned(SPEC_CACHE_SIZE)


def _spec_bytes(spec: ServiceSpec) -> bytes:
    data: bytes | None = spec.__dict__.get(_PICKLED)
    if data is None:
        state = {f: v for f, v in spec.__dict__.items() if f != _PICKLED}
        data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        # Frozen: set as the unpickler sets fields. Two threads may both set it, to equal bytes.
        object.__setattr__(spec, _PICKLED, data)
    return data


def _load_spec(data: bytes) -> ServiceSpec:
    def load() -> ServiceSpec:
        spec = ServiceSpec.__new__(ServiceSpec)
        # As pickle restores a dataclass: a field missing from older bytes reads its class
        # default.
        spec.__dict__.update(pickle.loads(data))
        object.__setattr__(spec, _PICKLED, data)
        return spec

    return _loaded_specs.get(data, load)


@dataclass(frozen=True)
class JobStatus:
    """Docker's JobStatus: which run of a job the service is on. Every update of a job's
    spec (``service update --force`` included) starts the next iteration, whose tasks run
    afresh; the tasks of earlier iterations are history."""

    iteration: int = 0  # Docker's JobIteration.Index
    last_execution: float = 0.0  # when the iteration started


@dataclass(frozen=True)
class VirtualIP:
    network_id: str
    addr: str  # "10.0.0.2/24"


@dataclass(frozen=True)
class UpdateStatus:
    state: UpdateState = UpdateState.UNKNOWN
    started_at: float = 0.0
    completed_at: float = 0.0
    message: str = ""
    # The service spec_version this status is about: a newer spec starts a new update even
    # if the last one was left paused.
    spec_version: int = 0

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Raft logs and snapshots written before UpdateState carry the state as a plain str.
        self.__dict__.update(state, state=UpdateState(state.get("state", "")))


@dataclass(frozen=True)
class Service:
    id: str
    spec: ServiceSpec
    previous_spec: ServiceSpec | None = None
    spec_version: int = 1  # bumped on every spec change: tasks with an older one are outdated
    virtual_ips: tuple[VirtualIP, ...] = ()
    update_status: UpdateStatus | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    job_status: JobStatus | None = None  # set for jobs only
    # Docker's Endpoint.Ports: the spec's ports with the published ports the allocator gave.
    endpoint_ports: tuple[PortConfig, ...] = ()
    # The store version this service had just before its spec last changed (0: never since it
    # was created). A client that read any later version read the current spec, so its
    # update loses nothing even if the store wrote other fields since
    # (swarmpy.manager.controlapi.common.check_sequence).
    spec_changed_after: int = 0


# ---------------------------------------------------------------- tasks


@dataclass(frozen=True)
class NetworkAttachment:
    network_id: str
    addresses: tuple[str, ...] = ()  # "10.0.0.5/24"
    mac: str = ""  # derived from the address, so peers can program FDB entries


@dataclass(frozen=True)
class NetworkAttachmentSpec:
    """SwarmKit's NetworkAttachmentSpec: the standalone container a task with no service puts
    on an attachable overlay (``docker run --network``); empty for a service's task."""

    container_id: str = ""
    container_name: str = ""
    # More names it answers to on the network: its short id and its --network-alias'es.
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskStatus:
    state: TaskState = TaskState.NEW
    timestamp: float = 0.0
    message: str = ""  # short, e.g. "scheduler assigned task to node"
    err: str = ""  # why the task failed or cannot be scheduled
    container_id: str = ""
    exit_code: int = 0
    pid: int = 0
    # When a manager received this status from the task's agent, on the manager's clock (0 for
    # a status the managers wrote themselves: their ``timestamp`` is already their clock).
    # ``timestamp`` stays the agent's, for display, as SwarmKit keeps both.
    applied_at: float = 0.0
    # The container's health while it has a healthcheck: STARTING until it passes (the task
    # stays STARTING meanwhile, as with Docker), then HEALTHY, UNHEALTHY once it fails.
    health: HealthState = HealthState.NONE
    # Docker's PortStatus: the task's host-mode ports as its node opened them, a published
    # port the node chose filled in (the spec's may be 0).
    port_status: tuple[PortConfig, ...] = ()

    @property
    def seen_at(self) -> float:
        """When the managers learnt of this status, on their own clock: what they time
        restart delays and update monitors from, so an agent's skewed clock cannot."""
        return self.applied_at or self.timestamp


@dataclass(frozen=True)
class Task:
    id: str
    service_id: str
    service_name: str
    spec: ServiceSpec  # the service spec this task was made from
    spec_version: int = 1
    slot: int = 0  # replicated: 1..N; global: 0 (node_id identifies it)
    node_id: str = ""
    desired_state: TaskState = TaskState.RUNNING
    status: TaskStatus = field(default_factory=TaskStatus)
    networks: tuple[NetworkAttachment, ...] = ()
    created_at: float = 0.0
    updated_at: float = 0.0
    # The job iteration the task runs for (``JobStatus.iteration``); jobs only.
    job_iteration: int = 0
    # The units of the node's generic resources the scheduler gave the task (SwarmKit's
    # AssignedGenericResources); its container gets them as DOCKER_RESOURCE_<KIND>.
    assigned_generic_resources: tuple[GenericResource, ...] = ()
    # Set on a network attachment task (SwarmKit's Runtime: NetworkAttachment), which holds a
    # standalone container's address on an attachable overlay and has no service. A plain
    # default (immutable), so a task pickled before this field existed reads none.
    attachment: NetworkAttachmentSpec = NetworkAttachmentSpec()

    @property
    def is_attachment(self) -> bool:
        return bool(self.attachment.container_id)

    @property
    def name(self) -> str:
        """Docker's container name: <service>.<slot>.<task id> (global: node id for slot);
        an attachment's is its container's, the name its peers resolve."""
        if self.is_attachment:
            return self.attachment.container_name
        slot = str(self.slot) if self.slot else self.node_id
        return f"{self.service_name}.{slot}.{self.id}"


def serves_traffic(task: Task) -> bool:
    """Whether a task is a backend of its service's VIPs, DNS names and published ports:
    running, meant to run, and not failing its healthcheck (one that has not passed yet
    keeps the task STARTING). Every place that picks backends asks this."""
    return (
        task.status.state == TaskState.RUNNING
        # A job's tasks are wanted COMPLETE: they serve while they run.
        and task.desired_state <= TaskState.COMPLETE
        and task.status.health != HealthState.UNHEALTHY
    )


def on_network(task: Task) -> bool:
    """Whether a task's container is on its networks, reachable at its addresses from every
    node: started and not ended, a backend of its service (``serves_traffic``) or not."""
    return task.status.state >= TaskState.STARTING and not task.status.state.terminal


def task_relevant(spec: ServiceSpec) -> ServiceSpec:
    """The part of a spec whose change means new tasks (scaling or tuning updates does not)."""
    return replace(spec, replicas=0, update=UpdateConfig(), rollback=UpdateConfig())


def outdated(task: Task, service: Service) -> bool:
    """Whether the service's rolling update replaces the task (the orchestrator's plan and
    the CLI's progress view ask the same question)."""
    return task.spec_version < service.spec_version and task_relevant(task.spec) != task_relevant(
        service.spec
    )


# ---------------------------------------------------------------- networks


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    driver: str = "overlay"
    subnet: str = ""  # "10.0.1.0/24"
    gateway: str = ""  # "10.0.1.1"
    vni: int = 0
    attachable: bool = False
    labels: tuple[tuple[str, str], ...] = ()
    created_at: float = 0.0
    mtu: int = 0  # 0: OVERLAY_MTU, what fits a 1500-byte underlay
    # Docker's Ingress: the routing mesh's network, made by `swarm init`, one per swarm.
    ingress: bool = False

    @property
    def effective_mtu(self) -> int:
        return self.mtu or OVERLAY_MTU


# An overlay network's MTU unless created with MTU_OPTION: 1500 minus the 50 bytes of
# VXLAN/UDP/IP encapsulation, Docker's default too.
OVERLAY_MTU = 1450
# Docker's driver option for it (`network create --opt com.docker.network.driver.mtu=8950`
# on an underlay of 9000-byte jumbo frames).
MTU_OPTION = "com.docker.network.driver.mtu"
MAX_OVERLAY_MTU = 65535 - 50


# ---------------------------------------------------------------- secrets and configs


@dataclass(frozen=True)
class Secret:
    """Docker's Secret. ``data`` is sealed with the cluster's data key (swarmpy.manager.sealing)
    before it enters the store: a manager's disk never holds it in clear."""

    id: str
    name: str
    data: bytes
    labels: tuple[tuple[str, str], ...] = ()
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True)
class Config:
    """Docker's Config: as a secret, but its data is no secret (kept and shown in clear)."""

    id: str
    name: str
    data: bytes
    labels: tuple[tuple[str, str], ...] = ()
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True)
class FileData:
    """A secret's or config's bytes as the dispatcher hands them to a node that runs a task
    using it (over the node's mutual-TLS session; never stored by the agent)."""

    id: str
    data: bytes


# ---------------------------------------------------------------- cluster


@dataclass(frozen=True)
class JoinTokens:
    worker: str
    manager: str


@dataclass(frozen=True)
class RemovedNode:
    """A node `node rm` took out: its certificates are refused until the last one expires."""

    id: str
    expires_at: float  # when every certificate it may hold has expired: then it is forgotten


@dataclass(frozen=True)
class RootRotation:
    """The root a rotation moves to: its certificate and key, and the same certificate
    signed by the current root (the intermediate old-root nodes verify new certificates by)."""

    ca_cert: str
    ca_key: str
    cross_signed_ca_cert: str


@dataclass(frozen=True)
class RaftKeys:
    """Where replacing the Raft transport's secret stands (swarmpy.manager.raftsecret); the
    secret every manager sends with is ``Cluster.raft_secret``."""

    epoch: int = 0  # counts the switches to a new secret
    next: str = ""  # accepted by every manager, sent by none yet
    previous: str = ""  # still accepted while the managers switch away from it
    holders: tuple[str, ...] = ()  # raft addresses of the managers given the current secret


@dataclass(frozen=True)
class Cluster:
    id: str
    name: str = "default"
    root_ca_cert: str = ""  # PEM
    root_ca_key: str = ""  # PEM; replicated only among managers (workers never see the store)
    tokens: JoinTokens = field(default_factory=lambda: JoinTokens("", ""))
    heartbeat_period_s: float = 5.0
    task_history_limit: int = 5
    raft_secret: str = ""  # pysyncobj password; managers only
    created_at: float = 0.0
    updated_at: float = 0.0
    # How long the node certificates the managers sign are valid (Docker's CAConfig.NodeCertExpiry).
    node_cert_expiry_s: float = DEFAULT_NODE_CERT_EXPIRY_S
    # Set while the root CA is being replaced (`swarm ca --rotate`); see swarmpy.ca.rotation.
    root_rotation: RootRotation | None = None
    # As SwarmKit's RemovedNodes: every manager refuses these nodes' certificates.
    removed_nodes: tuple[RemovedNode, ...] = ()
    # A plain default (immutable): a cluster pickled before this field existed reads it.
    raft_keys: RaftKeys = RaftKeys()
    # Docker's CAConfig.ForceRotate: the counter an Engine API client last sent, shown back so
    # that its get, increment, update starts a root rotation and a resent value does not.
    force_rotate: int = 0
    # Autolock (Docker's EncryptionConfig.AutoLockManagers): the unlock key, sealed with the
    # data key (swarmpy.manager.sealing, "unlock-key" as its id), b"" when autolock is off.
    autolock: bool = False
    unlock_key: bytes = b""
    # The id (swarmpy.manager.sealing.key_id) of the data key managers seal with now; the key
    # itself never enters the store. "" until the leader names one (a swarm from before).
    data_key_id: str = ""
    # Set when the data key must be replaced (autolock turned on); the leader does it.
    rotate_data_key: bool = False
    # The VXLAN id the swarm gave a network last: the next network's is the next free one
    # after it (swarmpy.manager.allocator.network.next_vni), so a removed network's is not
    # reused while its nodes still tear it down. 0: none yet.
    last_vni: int = 0
    # As Service.spec_changed_after, for what `swarm update` sets (Docker's swarm Spec).
    spec_changed_after: int = 0

    def is_removed(self, node_id: str) -> bool:
        return any(r.id == node_id for r in self.removed_nodes)


# ---------------------------------------------------------------- what an agent sees of the network


@dataclass(frozen=True)
class Endpoint:
    """One running task's presence on one network, as every node on that network sees it."""

    task_id: str
    service_id: str
    service_name: str
    container_name: str  # <service>.<slot>.<task id>
    slot: int
    node_id: str
    node_addr: str  # the node's underlay address: where VXLAN packets for this MAC go
    network_id: str
    ip: str  # "10.0.1.5" (no prefix)
    mac: str
    # On the network, so every node forwards to its address, but no backend of its service
    # (VIPs, DNS, the routing mesh): its healthcheck has not passed yet or has failed, or it
    # is on its way down. Docker disables such a task's service binding and keeps its
    # endpoint until its container stops.
    reachable_only: bool = False
    # A standalone container's (no service): more names it answers to, as its name does
    # (its short id and its --network-alias'es). A plain default, for pickled views.
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceEndpoint:
    service_id: str
    name: str
    endpoint_mode: EndpointMode
    virtual_ips: tuple[VirtualIP, ...]
    # The ingress-mode published ports (allocated), balanced over the service's endpoints on
    # the ingress network by every node's ingress sandbox.
    ports: tuple[PortConfig, ...] = ()
    # The service's aliases per network (its spec's network_aliases), answered by DNS as
    # its name is.
    aliases: tuple[NetworkAlias, ...] = ()


@dataclass(frozen=True)
class NetworkView:
    """The manager's view of the networks that matter to one node, pushed by the dispatcher.

    Only networks on which the node runs a task appear, with every running endpoint on them
    (local and remote) and every service attached to them; the agent derives FDB/neighbour
    entries, VIP maps and DNS records from it.
    """

    networks: tuple[Network, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    services: tuple[ServiceEndpoint, ...] = ()


def mac_for_ip(ip: str) -> str:
    """Docker derives a container's MAC from its IPv4 address: 02:42:a.b.c.d."""
    octets = [int(o) for o in ip.split("/")[0].split(".")]
    return "02:42:" + ":".join(f"{o:02x}" for o in octets)
