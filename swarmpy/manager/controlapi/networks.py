"""The control API of networks: create (with a subnet and VNI), inspect and remove them."""

from __future__ import annotations

import dataclasses

from swarmpy.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from swarmpy.manager.allocator.network import allocate_network, find_ingress
from swarmpy.manager.allocator.ports import needs_ingress
from swarmpy.manager.controlapi.common import resolve, serialise
from swarmpy.manager.controlapi.validate import check_labels, check_name
from swarmpy.manager.state.store import CLUSTERS, NETWORKS, SERVICES, Store, Tx
from swarmpy.model import MAX_OVERLAY_MTU, MTU_OPTION, Network, now


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


class NetworkAPI:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(
        self,
        name: str,
        driver: str,
        subnet: str,
        gateway: str,
        attachable: bool,
        labels: dict[str, str],
        options: dict[str, str] | None = None,
        ingress: bool = False,
    ) -> Network:
        check_name(name, "network name")
        check_labels(labels.items(), "network label")
        mtu = network_mtu(options or {})
        if ingress and attachable:
            raise InvalidArgument("ingress network cannot be attachable")

        def change(tx: Tx) -> Network:
            present = find_ingress(tx.snapshot.all(NETWORKS))
            if ingress and present is not None:
                raise AlreadyExists(f"ingress network ({present.id}) is already present")
            cluster = tx.snapshot.cluster()
            network = allocate_network(
                name=name,
                driver=driver or "overlay",
                subnet=subnet,
                gateway=gateway,
                existing=tx.snapshot.all(NETWORKS),
                last_vni=cluster.last_vni if cluster is not None else 0,
            )
            network = dataclasses.replace(
                network,
                attachable=attachable,
                labels=tuple(sorted(labels.items())),
                created_at=now(),
                mtu=mtu,
                ingress=ingress,
            )
            tx.create(NETWORKS, network)
            if cluster is None:
                serialise(tx)
            else:
                # The VNI cursor moves on in the same write that serialises creates.
                tx.put(
                    CLUSTERS,
                    dataclasses.replace(cluster, last_vni=network.vni, updated_at=now()),
                )
            return network

        return await self.store.update(change)

    def get(self, ref: str) -> Network:
        try:
            network: Network = resolve(self.store.view(), NETWORKS, ref, lambda n: n.name)
        except NotFound:
            raise NotFound(f"network {ref} not found") from None
        return network

    def list(self) -> list[Network]:
        return sorted(self.store.view().all(NETWORKS), key=lambda n: n.name)

    async def remove(self, ref: str) -> None:
        network = self.get(ref)

        def change(tx: Tx) -> None:
            if network.ingress:
                needing = [s.id for s in tx.snapshot.all(SERVICES) if needs_ingress(s.spec)]
                if needing:
                    raise Conflict(
                        f"ingress network cannot be removed because service {needing[0]} "
                        "depends on it"
                    )
            users = [
                s.spec.name for s in tx.snapshot.all(SERVICES) if network.id in s.spec.networks
            ]
            if users:
                raise Conflict(f"network {network.name} is in use by service {users[0]}")
            tx.delete(NETWORKS, network.id)
            serialise(tx)

        await self.store.update(change)
