"""The control API's logic: validate a request, then write the store (thin on purpose).

Every method takes and returns model objects; swarmpy.manager.controlapi.servicer converts
them from and to protobuf. It runs on any manager: writes go through Raft, which forwards
them to the leader, so a follower serves the CLI as well as the leader does.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from swarmpy.ca import certificates as ca
from swarmpy.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from swarmpy.manager.state.store import Snapshot, Store, Tx
from swarmpy.model import (
    MAX_OVERLAY_MTU,
    MTU_OPTION,
    Cluster,
    EndpointMode,
    JoinTokens,
    ManagerStatus,
    Network,
    Node,
    NodeAvailability,
    NodeRole,
    NodeState,
    Service,
    ServiceMode,
    ServiceSpec,
    Task,
    UpdateStatus,
    new_id,
    now,
)

# SwarmKit: "name must be valid as a DNS name component".
_NAME_RE = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")

T = TypeVar("T")


@dataclass(frozen=True)
class RaftMember:
    addr: str
    leader: bool
    reachable: bool


def check_name(name: str, kind: str = "name") -> None:
    if not name or len(name) > 63 or not _NAME_RE.match(name):
        raise InvalidArgument(f"invalid {kind} {name!r}: must be valid as a DNS name component")


def network_mtu(options: dict[str, str]) -> int:
    """The MTU a `network create --opt` asks for (0: the default); other options refused."""
    unknown = sorted(set(options) - {MTU_OPTION})
    if unknown:
        raise InvalidArgument(
            f"network option {unknown[0]!r} is not supported (supported: {MTU_OPTION})"
        )
    text = options.get(MTU_OPTION, "")
    if not text:
        return 0
    try:
        mtu = int(text)
    except ValueError:
        mtu = -1
    if not 68 <= mtu <= MAX_OVERLAY_MTU:
        raise InvalidArgument(
            f"invalid MTU {text!r}: must be an integer from 68 to {MAX_OVERLAY_MTU}"
        )
    return mtu


def resolve(snapshot: Snapshot, table: str, ref: str, name_of: Callable[[Any], str]) -> Any:
    """Find an object by id, then by name, then by unambiguous id prefix."""
    obj = snapshot.get(table, ref)
    if obj is not None:
        return obj
    rows = snapshot.all(table)
    named = [o for o in rows if name_of(o) == ref]
    if len(named) == 1:
        return named[0]
    prefixed = [o for o in rows if o.id.startswith(ref)] if ref else []
    if len(prefixed) == 1:
        return prefixed[0]
    if len(named) > 1 or len(prefixed) > 1:
        raise InvalidArgument(f"{ref} is ambiguous ({len(named) or len(prefixed)} matches found)")
    kinds = {"services": "service", "nodes": "node", "networks": "network", "tasks": "task"}
    raise NotFound(f"No such {kinds[table]}: {ref}")


def check_demotion(node: Node, members: Sequence[RaftMember]) -> None:
    """Refuse to demote the last manager, or one whose leaving would lose quorum."""
    assert node.manager is not None
    others = [m for m in members if m.addr != node.manager.raft_addr]
    if not others:
        raise Conflict(f"attempting to demote the last manager of the swarm ({node.id})")
    reachable = sum(1 for m in others if m.reachable)
    if reachable <= len(others) / 2:
        raise Conflict(
            f"can't remove {node.id} from the raft: this would result in a loss of quorum"
        )


class ControlAPI:
    def __init__(
        self,
        store: Store,
        raft_members: Callable[[], Sequence[RaftMember]],
        validate_constraints: Callable[[Sequence[str]], object],
        allocate_network: Callable[..., Network],
        remove_raft_member: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self._raft_members = raft_members
        self._remove_raft_member = remove_raft_member
        self._validate_constraints = validate_constraints
        self._allocate_network = allocate_network

    # ------------------------------------------------------------------ nodes

    def _with_manager_status(self, nodes: Sequence[Node]) -> list[Node]:
        """Leader/Reachable come from Raft as it is now, not from the store."""
        members = {m.addr: m for m in self._raft_members()}
        out = []
        for node in nodes:
            if node.manager is not None:
                member = members.get(node.manager.raft_addr)
                status = ManagerStatus(
                    raft_addr=node.manager.raft_addr,
                    api_addr=node.manager.api_addr,
                    leader=bool(member and member.leader),
                    reachable=bool(member and member.reachable),
                )
                node = dataclasses.replace(node, manager=status)
            out.append(node)
        return out

    def list_nodes(self) -> list[Node]:
        nodes = sorted(self.store.view().nodes(), key=lambda n: (n.hostname, n.id))
        return self._with_manager_status(nodes)

    def get_node(self, ref: str) -> Node:
        node = resolve(self.store.view(), "nodes", ref, lambda n: n.hostname)
        return self._with_manager_status([node])[0]

    async def update_node(
        self,
        ref: str,
        availability: str = "",
        label_add: dict[str, str] | None = None,
        label_rm: Sequence[str] = (),
    ) -> Node:
        node = resolve(self.store.view(), "nodes", ref, lambda n: n.hostname)
        if availability:
            try:
                NodeAvailability(availability)
            except ValueError:
                raise InvalidArgument(
                    f"invalid availability {availability!r}: expected active, pause or drain"
                ) from None
        for key in label_rm:
            if key not in node.label_dict():
                raise NotFound(f"key {key} doesn't exist in node's labels")

        def change(tx: Tx) -> Node:
            current: Node | None = tx.get("nodes", node.id)
            if current is None:
                raise NotFound(f"No such node: {ref}")
            labels = current.label_dict()
            labels.update(label_add or {})
            for key in label_rm:
                labels.pop(key, None)
            updated: Node = tx.replace(
                "nodes",
                node.id,
                availability=NodeAvailability(availability or current.availability),
                labels=tuple(sorted(labels.items())),
                updated_at=now(),
            )
            return updated

        updated = await self.store.update(change)
        return self._with_manager_status([updated])[0]

    async def set_role(self, ref: str, role: str) -> Node:
        """`node promote` / `node demote`. The store records the role; the node renews its
        certificate when its session tells it, and a new manager joins Raft then."""
        try:
            wanted = NodeRole(role)
        except ValueError:
            raise InvalidArgument(f"invalid role {role!r}: expected worker or manager") from None
        node = resolve(self.store.view(), "nodes", ref, lambda n: n.hostname)
        if node.role == wanted:
            return self._with_manager_status([node])[0]
        if wanted == NodeRole.WORKER and node.manager is not None:
            check_demotion(node, self._raft_members())

        def change(tx: Tx) -> Node:
            manager = node.manager if wanted == NodeRole.MANAGER else None
            updated: Node = tx.replace(
                "nodes", node.id, role=wanted, manager=manager, updated_at=now()
            )
            return updated

        updated = await self.store.update(change)
        if wanted == NodeRole.WORKER and node.manager is not None:
            assert self._remove_raft_member is not None
            await self._remove_raft_member(node.manager.raft_addr)
        return self._with_manager_status([updated])[0]

    async def remove_node(self, ref: str, force: bool) -> None:
        node = resolve(self.store.view(), "nodes", ref, lambda n: n.hostname)
        # A manager that is gone for good (it left, or died) may be forced out.
        if node.role == NodeRole.MANAGER and not (force and node.state != NodeState.READY):
            raise Conflict(
                f"node {node.id} is a cluster manager and is a member of the raft cluster. "
                "It must be demoted to worker before removal"
            )
        if node.state == NodeState.READY and not force:
            raise Conflict(
                f"node {node.id} is not down and can't be removed (use --force to remove it)"
            )

        def change(tx: Tx) -> None:
            tx.delete("nodes", node.id)

        await self.store.update(change)

    # ------------------------------------------------------------------ cluster

    def cluster(self) -> Cluster:
        cluster = self.store.view().cluster()
        if cluster is None:
            raise NotFound("the swarm has no cluster object yet")
        return cluster

    def manager_addrs(self) -> list[str]:
        return [
            n.manager.api_addr
            for n in self.store.view().nodes()
            if n.manager is not None and n.role == NodeRole.MANAGER
        ]

    async def rotate_join_token(self, role: str) -> Cluster:
        if role not in (NodeRole.WORKER, NodeRole.MANAGER):
            raise InvalidArgument(f"unknown role {role}: expected worker or manager")

        def change(tx: Tx) -> Cluster:
            cluster = tx.snapshot.cluster()
            if cluster is None:
                raise NotFound("the swarm has no cluster object yet")
            fresh = ca.new_join_token(cluster.root_ca_cert)
            tokens = (
                JoinTokens(worker=fresh, manager=cluster.tokens.manager)
                if role == NodeRole.WORKER
                else JoinTokens(worker=cluster.tokens.worker, manager=fresh)
            )
            rotated: Cluster = tx.replace("clusters", cluster.id, tokens=tokens, updated_at=now())
            return rotated

        return await self.store.update(change)

    # ------------------------------------------------------------------ services

    def _check_spec(self, snapshot: Snapshot, spec: ServiceSpec) -> ServiceSpec:
        check_name(spec.name, "service name")
        if not spec.container.image:
            raise InvalidArgument("image reference must be provided")
        if spec.mode == ServiceMode.REPLICATED and spec.replicas < 0:
            raise InvalidArgument(f"invalid replicas value {spec.replicas}: must be >= 0")
        self._validate_constraints(spec.constraints)
        network_ids = []
        for ref in spec.networks:
            network = resolve(snapshot, "networks", ref, lambda n: n.name)
            network_ids.append(network.id)
        if len(set(network_ids)) != len(network_ids):
            raise InvalidArgument("a service can be attached to a network only once")
        return dataclasses.replace(spec, networks=tuple(network_ids))

    async def create_service(self, spec: ServiceSpec) -> Service:
        spec = self._check_spec(self.store.view(), spec)

        def change(tx: Tx) -> Service:
            if any(s.spec.name == spec.name for s in tx.snapshot.services()):
                raise AlreadyExists(f"service {spec.name} already exists")
            stamp = now()
            service = Service(id=new_id(), spec=spec, created_at=stamp, updated_at=stamp)
            tx.create("services", service)
            # Touching the cluster object serialises creates, so two concurrent creates
            # of the same name cannot both pass the check above.
            self._serialise(tx)
            return service

        return await self.store.update(change)

    def _serialise(self, tx: Tx) -> None:
        cluster = tx.snapshot.cluster()
        if cluster is not None:
            tx.put("clusters", dataclasses.replace(cluster, updated_at=now()))

    def get_service(self, ref: str) -> Service:
        return resolve(self.store.view(), "services", ref, lambda s: s.spec.name)  # type: ignore[no-any-return]

    def list_services(self) -> list[Service]:
        return sorted(self.store.view().services(), key=lambda s: s.spec.name)

    async def update_service(
        self, ref: str, spec: ServiceSpec | None, rollback: bool, force: bool
    ) -> Service:
        snapshot = self.store.view()
        service: Service = resolve(snapshot, "services", ref, lambda s: s.spec.name)
        if rollback:
            if service.previous_spec is None:
                raise Conflict(f"service {service.spec.name} has no previous spec to roll back to")
            new_spec = service.previous_spec
        else:
            assert spec is not None
            new_spec = self._check_spec(snapshot, spec)
            if new_spec.name != service.spec.name:
                raise InvalidArgument("renaming services is not supported")
            if new_spec.mode != service.spec.mode:
                raise InvalidArgument("service mode change is not allowed")

        def change(tx: Tx) -> Service:
            current: Service | None = tx.get("services", service.id)
            if current is None:
                raise NotFound(f"No such service: {ref}")
            if new_spec == current.spec and not force and not rollback:
                return current
            only_scale = (
                dataclasses.replace(new_spec, replicas=current.spec.replicas) == current.spec
                and not force
            )
            stamp = now()
            updated = dataclasses.replace(
                current,
                spec=new_spec,
                previous_spec=current.spec if not only_scale else current.previous_spec,
                # Scaling alone must not replace running tasks: keep the version.
                spec_version=current.spec_version + (0 if only_scale else 1),
                update_status=(
                    current.update_status
                    if only_scale
                    else UpdateStatus(
                        state="rollback_started" if rollback else "updating",
                        started_at=stamp,
                        message="manually requested rollback" if rollback else "update in progress",
                        # The orchestrator's updater takes over a status of the current spec.
                        spec_version=current.spec_version + 1,
                    )
                ),
                updated_at=stamp,
            )
            tx.put("services", updated)
            return updated

        return await self.store.update(change)

    async def remove_service(self, ref: str) -> None:
        service = self.get_service(ref)

        def change(tx: Tx) -> None:
            tx.delete("services", service.id)

        await self.store.update(change)

    def list_tasks(self, services: Sequence[str], nodes: Sequence[str]) -> list[Task]:
        snapshot = self.store.view()
        service_ids = {resolve(snapshot, "services", r, lambda s: s.spec.name).id for r in services}
        node_ids = {resolve(snapshot, "nodes", r, lambda n: n.hostname).id for r in nodes}
        tasks = [
            t
            for t in snapshot.tasks()
            if (not service_ids or t.service_id in service_ids)
            and (not node_ids or t.node_id in node_ids)
        ]
        return sorted(tasks, key=lambda t: (t.service_name, t.slot, t.node_id, -t.created_at))

    # ------------------------------------------------------------------ networks

    async def create_network(
        self,
        name: str,
        driver: str,
        subnet: str,
        gateway: str,
        attachable: bool,
        labels: dict[str, str],
        options: dict[str, str] | None = None,
    ) -> Network:
        check_name(name, "network name")
        mtu = network_mtu(options or {})

        def change(tx: Tx) -> Network:
            network = self._allocate_network(
                name=name,
                driver=driver or "overlay",
                subnet=subnet,
                gateway=gateway,
                existing=tx.snapshot.networks(),
            )
            network = dataclasses.replace(
                network,
                attachable=attachable,
                labels=tuple(sorted(labels.items())),
                created_at=now(),
                mtu=mtu,
            )
            tx.create("networks", network)
            self._serialise(tx)
            return network

        return await self.store.update(change)

    def get_network(self, ref: str) -> Network:
        snapshot = self.store.view()
        try:
            return resolve(snapshot, "networks", ref, lambda n: n.name)  # type: ignore[no-any-return]
        except NotFound:
            raise NotFound(f"network {ref} not found") from None

    def list_networks(self) -> list[Network]:
        return sorted(self.store.view().networks(), key=lambda n: n.name)

    async def remove_network(self, ref: str) -> None:
        network = self.get_network(ref)

        def change(tx: Tx) -> None:
            users = [s.spec.name for s in tx.snapshot.services() if network.id in s.spec.networks]
            if users:
                raise Conflict(f"network {network.name} is in use by service {users[0]}")
            tx.delete("networks", network.id)
            self._serialise(tx)

        await self.store.update(change)


def endpoint_mode(value: str) -> EndpointMode:
    try:
        return EndpointMode(value)
    except ValueError:
        raise InvalidArgument(f"invalid endpoint mode {value!r}: expected vip or dnsrr") from None
