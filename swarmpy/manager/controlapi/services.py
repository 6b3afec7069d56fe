"""The control API of services: create, inspect, update (or roll back) and remove them."""

from __future__ import annotations

import dataclasses

from swarmpy.errors import AlreadyExists, Conflict, InvalidArgument
from swarmpy.manager import constraint
from swarmpy.manager.allocator.network import NO_INGRESS, find_ingress
from swarmpy.manager.allocator.ports import check_ports, needs_ingress, port_conflict
from swarmpy.manager.controlapi.common import not_found, resolve, sequenced, serialise
from swarmpy.manager.controlapi.fileobjects import (
    check_credential_spec,
    check_exist,
    check_references,
)
from swarmpy.manager.controlapi.validate import check_service_spec
from swarmpy.manager.state.store import NETWORKS, SERVICES, Snapshot, Store, Tx
from swarmpy.model import (
    JobStatus,
    Network,
    Service,
    ServiceSpec,
    UpdateState,
    UpdateStatus,
    new_id,
    now,
)


def _service_name(service: Service) -> str:
    return service.spec.name


def _network_name(network: Network) -> str:
    return network.name


def check_published(tx: Tx, spec: ServiceSpec, service_id: str) -> None:
    """SwarmKit's port checks against the other services, inside the writing transaction
    (``serialise`` makes two concurrent writers of one port conflict)."""
    if needs_ingress(spec) and find_ingress(tx.snapshot.all(NETWORKS)) is None:
        raise Conflict(NO_INGRESS)
    conflict = port_conflict(spec, service_id, tx.snapshot.all(SERVICES))
    if conflict is not None:
        raise InvalidArgument(conflict)
    if spec.ports:
        serialise(tx)


def check_spec(snapshot: Snapshot, spec: ServiceSpec) -> ServiceSpec:
    """The spec as stored: checked, with its networks resolved to ids."""
    check_service_spec(spec)
    check_ports(spec)
    check_references("secret", spec.container.secrets)
    check_references("config", spec.container.configs)
    check_credential_spec(spec.container)
    constraint.parse_all(spec.constraints)
    network_ids = []
    for ref in spec.networks:
        network = resolve(snapshot, NETWORKS, ref, _network_name)
        if network.ingress:
            raise InvalidArgument(
                f'Service cannot be explicitly attached to the ingress network "{network.name}"'
            )
        network_ids.append(network.id)
    if len(set(network_ids)) != len(network_ids):
        raise InvalidArgument("a service can be attached to a network only once")
    # Aliases name their network as the spec's networks do (a name or an id): by its id.
    by_ref = dict(zip(spec.networks, network_ids, strict=True))
    aliases = []
    for alias in spec.network_aliases:
        network_id = by_ref.get(alias.network)
        if network_id is None:
            raise InvalidArgument(
                f"network aliases of {alias.network}: the service is not attached to it"
            )
        aliases.append(dataclasses.replace(alias, network=network_id))
    return dataclasses.replace(spec, networks=tuple(network_ids), network_aliases=tuple(aliases))


class ServiceAPI:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(self, spec: ServiceSpec) -> Service:
        spec = check_spec(self.store.view(), spec)

        def change(tx: Tx) -> Service:
            # SwarmKit's order: the references before the name (store.CreateService's check).
            check_exist(tx, spec)
            if any(s.spec.name == spec.name for s in tx.snapshot.all(SERVICES)):
                raise AlreadyExists(f"service {spec.name} already exists")
            check_published(tx, spec, "")
            stamp = now()
            service = Service(
                id=new_id(),
                spec=spec,
                created_at=stamp,
                updated_at=stamp,
                job_status=JobStatus(0, stamp) if spec.mode.is_job else None,
            )
            tx.create(SERVICES, service)
            serialise(tx)
            return service

        return await self.store.update(change)

    def get(self, ref: str) -> Service:
        service: Service = resolve(self.store.view(), SERVICES, ref, _service_name)
        return service

    def list(self) -> list[Service]:
        return sorted(self.store.view().all(SERVICES), key=_service_name)

    async def update(
        self, ref: str, spec: ServiceSpec | None, rollback: bool, version: int | None = None
    ) -> Service:
        """A new spec, or back to the previous one. A spec whose ``force_update`` counter
        changed replaces every task even if nothing else did (`service update --force`).
        ``version`` is the service's version the caller read the spec at (check_sequence)."""
        snapshot = self.store.view()
        service: Service = resolve(snapshot, SERVICES, ref, _service_name)
        if rollback:
            if service.previous_spec is None:
                # dockerd's words (cluster/services.go), what docker's CLI prints for it.
                raise Conflict("service does not have a previous spec")
            new_spec = service.previous_spec
        else:
            assert spec is not None
            new_spec = check_spec(snapshot, spec)
            if new_spec.name != service.spec.name:
                raise InvalidArgument("renaming services is not supported")
            if new_spec.mode != service.spec.mode:
                raise InvalidArgument("service mode change is not allowed")

        def change(tx: Tx) -> Service:
            current: Service | None = tx.get(SERVICES, service.id)
            if current is None:
                raise not_found(SERVICES, ref)
            read_at = sequenced(tx, SERVICES, current, version)
            stamp = now()
            if current.job_status is not None:
                return _rerun_job(tx, current, new_spec, stamp, read_at)
            if new_spec == current.spec and not rollback:
                return current
            if new_spec.ports != current.spec.ports:
                check_published(tx, new_spec, current.id)
            check_exist(tx, new_spec)
            only_scale = (
                dataclasses.replace(new_spec, replicas=current.spec.replicas) == current.spec
            )
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
                        state=UpdateState.ROLLBACK_STARTED if rollback else UpdateState.UPDATING,
                        started_at=stamp,
                        message="manually requested rollback" if rollback else "update in progress",
                        # The orchestrator's updater takes over a status of the current spec.
                        spec_version=current.spec_version + 1,
                    )
                ),
                updated_at=stamp,
                spec_changed_after=read_at,
            )
            tx.put(SERVICES, updated)
            return updated

        return await self.store.update(change)

    async def remove(self, ref: str) -> None:
        service = self.get(ref)

        def change(tx: Tx) -> None:
            tx.delete(SERVICES, service.id)

        await self.store.update(change)


def _rerun_job(
    tx: Tx, current: Service, new_spec: ServiceSpec, stamp: float, read_at: int
) -> Service:
    """As SwarmKit: every update of a job, even one changing nothing, starts its next
    iteration (the orchestrator runs it afresh); jobs have no rolling update to record."""
    assert current.job_status is not None
    updated = dataclasses.replace(
        current,
        spec=new_spec,
        previous_spec=current.spec,
        spec_version=current.spec_version + 1,
        job_status=JobStatus(current.job_status.iteration + 1, stamp),
        updated_at=stamp,
        spec_changed_after=read_at,
    )
    tx.put(SERVICES, updated)
    return updated
