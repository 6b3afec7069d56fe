"""Everything a node needs to run tasks, wired once per daemon: the agent's Executor.

The engine (images, runc, the reaper), container networking and the embedded DNS are
separate packages; this is where they meet: a controller per task, DNS sockets that follow
the sandboxes, and the NetworkView from the manager fanned out to the data path and the
resolver.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from swarmpy import genericresource
from swarmpy.agent.attachments import AttachClient, AttachmentController, Attachments
from swarmpy.agent.container import SWARM_LABELS
from swarmpy.agent.controller import RuncController
from swarmpy.agent.exec import Controller, Executor, NodeDescription
from swarmpy.agent.files import TaskFiles
from swarmpy.config import DaemonConfig
from swarmpy.dns.server import DnsServer
from swarmpy.engine.containers import Containers
from swarmpy.engine.events import ContainerEvents
from swarmpy.engine.images.records import ImageConfig
from swarmpy.engine.images.registry import credentials_of_header
from swarmpy.engine.images.store import ImageStore
from swarmpy.engine.lifecycle import Engine
from swarmpy.engine.reaper import Reaper
from swarmpy.engine.runc import Runc
from swarmpy.engine.sinks import Sinks
from swarmpy.errors import NotFound, RuntimeFailure, SwarmpyError
from swarmpy.model import Network, NetworkView, Resources, Task
from swarmpy.netns import netns_path
from swarmpy.overlay.attachment import Attachment
from swarmpy.overlay.bridges import BridgeNetworks
from swarmpy.overlay.names import Names
from swarmpy.overlay.provider import OverlayNetworkProvider, SandboxEvent

log = logging.getLogger(__name__)


def host_resources(generic: Sequence[str] = ()) -> Resources:
    """What this node offers: its CPUs, its memory, and the generic resources the daemon was
    told to advertise (dockerd's --node-generic-resource, already checked at startup)."""
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return Resources(
        nano_cpus=(os.cpu_count() or 1) * 1_000_000_000,
        memory_bytes=pages,
        generic=genericresource.parse(generic),
    )


class AsyncImages:
    """The executor's ImageSource over the (blocking) image store."""

    def __init__(self, store: ImageStore) -> None:
        self.store = store
        self._pulls: dict[str, asyncio.Future[None]] = {}

    async def ensure(
        self, ref: str, progress: Callable[[str], None] | None = None, registry_auth: str = ""
    ) -> None:
        try:
            self.store.get(ref)
            return
        except NotFound:
            pass
        # One pull per reference however many tasks want it at once.
        pending = self._pulls.get(ref)
        if pending is None:
            pending = asyncio.ensure_future(self._pull(ref, progress, registry_auth))
            self._pulls[ref] = pending
            pending.add_done_callback(lambda _f: self._pulls.pop(ref, None))
        await asyncio.shield(pending)

    async def _pull(
        self, ref: str, progress: Callable[[str], None] | None, registry_auth: str
    ) -> None:
        credentials = credentials_of_header(registry_auth) if registry_auth else None
        await asyncio.to_thread(self.store.pull, ref, progress, credentials)

    def layer_dirs(self, ref: str) -> list[Path]:
        return self.store.layer_dirs(ref)

    def config(self, ref: str) -> ImageConfig:
        return self.store.config(ref)


# How long a container's start waits for the managers to place it on an overlay.
ATTACH_WAIT_S = 30.0

# Where tasks' secret and config tmpfs mounts live, one folder per daemon (its name prefix).
FILES_ROOT = Path("/run/swarmpy/files")


class NodeRuntime(Executor):
    """This node's Executor, and the wiring the daemon and local API use beside it."""

    def __init__(self, config: DaemonConfig, node_addr: str, node_id: str) -> None:
        self.config = config
        self.node_addr = node_addr
        self.node_id = node_id
        self.images = ImageStore(
            config.data_root / "images",
            insecure_registries=config.insecure_registries,
            mirrors=config.registry_mirrors,
        )
        self.runc = Runc(config.runc_root)
        self.reaper = Reaper()
        self.container_root = config.data_root / "containers"
        # Outside the data root, each task's in a tmpfs of its own: never on the disk.
        self.files = TaskFiles(FILES_ROOT / config.name_prefix)
        # One stream of container events, whether the agent or the Engine API acted.
        self.events = ContainerEvents(SWARM_LABELS)
        self.engine = Engine(
            self.runc,
            self.container_root,
            config.data_root / "volumes",
            cgroup_parent=f"swarmpy-{config.name_prefix}",
            reaper=self.reaper,
            events=self.events,
        )
        # The node's local volumes (Docker's local driver), those of tasks and of the API.
        self.volumes = self.engine.volumes
        self.containers = Containers(
            self.runc,
            self.container_root,
            reaper=self.reaper,
            annotation_labels=SWARM_LABELS,
            events=self.events,
        )
        self.dns = DnsServer(resolv_conf=config.resolv_conf)
        self.network = OverlayNetworkProvider(
            node_addr=node_addr,
            data_root=config.data_root,
            name_prefix=config.name_prefix,
            local_subnet=config.local_subnet,
            on_sandbox=self._sandbox_event,
        )
        # The node's local networks: bridge, host, none and user bridges (whose containers
        # resolve each other's names at 127.0.0.11).
        # Docker's events of the local networks (create, destroy, connect, disconnect).
        self.network_events = Sinks()
        self.bridges = BridgeNetworks(
            config.data_root,
            Names(config.name_prefix),
            config.local_subnet,
            on_container=self._bridge_container,
            on_event=self.network_events.tell,
        )
        self._async_images = AsyncImages(self.images)
        # The swarm networks this node currently has (a task on it runs here).
        self.networks: dict[str, Network] = {}
        # Standalone containers on attachable overlays: the managers' attachment tasks as
        # they arrive, the calls that ask for them (while the node is in a swarm), and the
        # overlay each container is on.
        self.attachments = Attachments()
        self.attach_client: AttachClient | None = None
        self._overlay_of: dict[str, str] = {}  # container id -> network id

    async def start(self) -> None:
        self.reaper.start()

    def volume_users(self) -> dict[str, list[str]]:
        return self.engine.volume_users()

    async def stop(self) -> None:
        await self.dns.close()
        await self.bridges.close()
        await self.network.close()
        await self.reaper.stop()

    def describe(self) -> NodeDescription:
        return NodeDescription(
            hostname=self.config.hostname,
            addr=self.node_addr,
            resources=host_resources(self.config.node_generic_resources),
        )

    def controller(self, task: Task) -> Controller:
        if task.is_attachment:
            return AttachmentController(task, self.attachments)
        return RuncController(
            task,
            self.engine,
            self._async_images,
            self.network,
            self.node_id,
            node_hostname=self.config.hostname,
            files=self.files,
        )

    async def _sandbox_event(self, event: SandboxEvent, task: Task, netns_path: str) -> None:
        if event == "created":
            networks = self._dns_networks(task)
            await self.dns.add_container(
                task.id, netns_path, networks, task.spec.container.dns_nameservers
            )
        else:
            await self.dns.remove_container(task.id)

    async def _bridge_container(
        self, container_id: str, netns_path: str, networks: tuple[str, ...]
    ) -> None:
        """A container joined or left a user bridge: every container's names as they are
        now, and its DNS socket serving the networks it is on."""
        self.dns.update_local(self.bridges.dns_names())
        overlay = self._overlay_of.get(container_id)
        if overlay is not None:
            networks = (overlay, *networks)
        if networks:
            await self.dns.add_container(container_id, netns_path, networks)
        else:
            await self.dns.remove_container(container_id)

    @property
    def in_swarm(self) -> bool:
        return self.attach_client is not None

    async def attach_overlay(
        self,
        network: str,
        container_id: str,
        name: str,
        aliases: Sequence[str] = (),
        ip: str = "",
    ) -> tuple[str, Attachment]:
        """A standalone container's start on a swarm overlay (moby's findAndAttachNetwork):
        the managers' attachment (its id), then the container's eth0 on the overlay at the
        address they gave, and its names served at 127.0.0.11."""
        if self.attach_client is None:
            raise NotFound(f"network {network} not found")
        attachment_id, network_id = await self.attach_client.attach(
            network, container_id, name, (container_id[:12], *aliases), ip
        )
        try:
            try:
                task = await self.attachments.wait(attachment_id, ATTACH_WAIT_S)
            except TimeoutError:
                raise RuntimeFailure(
                    f"Could not attach to network {network}: timed out waiting for an address"
                ) from None
            att = await self.network.attach_overlay(container_id, task)
        except BaseException:
            await self.detach_overlay(container_id, attachment_id)
            raise
        self._overlay_of[container_id] = network_id
        path = netns_path(self.network.sandbox_name(container_id))
        bridges = tuple(e.network_id for e in self.bridges.endpoints(container_id=container_id))
        await self._bridge_container(container_id, path, bridges)
        return attachment_id, att

    async def readopt_overlay(self, container_id: str, attachment_id: str) -> None:
        """After a daemon restart: a running container's leg on its overlay and its names
        at 127.0.0.11 taken back, once its attachment task is here again."""
        try:
            task = await self.attachments.wait(attachment_id, ATTACH_WAIT_S)
        except TimeoutError:
            raise RuntimeFailure(f"its attachment {attachment_id} did not come back") from None
        if not await self.network.adopt_overlay(container_id, task):
            return
        self._overlay_of[container_id] = task.spec.networks[0]
        path = netns_path(self.network.sandbox_name(container_id))
        bridges = tuple(e.network_id for e in self.bridges.endpoints(container_id=container_id))
        await self._bridge_container(container_id, path, bridges)

    async def detach_overlay(self, container_id: str, attachment_id: str) -> None:
        """Its leg off the overlay first, then the managers told (which frees the address):
        never the address handed on while this node still answers for it."""
        self._overlay_of.pop(container_id, None)
        await self.dns.remove_container(container_id)
        await self.network.detach_overlay(attachment_id, container_id)
        if self.attach_client is not None:
            try:
                await self.attach_client.detach(attachment_id)
            except SwarmpyError as exc:
                # As moby's releaseNetwork: the container goes on leaving; its task stays
                # until a manager is back and the node's next detach or `node rm` ends it.
                log.warning(
                    "container %s: cannot detach from the swarm network: %s", container_id[:12], exc
                )

    def _dns_networks(self, task: Task) -> list[str]:
        """The networks whose names the task resolves: not the ingress network, which
        carries the routing mesh and no service discovery (as Docker's)."""
        return [
            a.network_id
            for a in task.networks
            if not (a.network_id in self.networks and self.networks[a.network_id].ingress)
        ]

    async def apply_view(self, view: NetworkView) -> None:
        self.networks = {n.id: n for n in view.networks}
        self.dns.update(view)
        await self.network.apply_view(view)

    async def readopt(self, task: Task) -> None:
        """After a restart the namespace and container live on; take back their wiring."""
        try:
            if not await self.network.adopt(task):
                return
            path = netns_path(Names(self.config.name_prefix).sandbox(task.id))
            await self.dns.add_container(task.id, path, self._dns_networks(task))
        except Exception as exc:  # its runner goes on without the wiring  # noqa: BLE001
            log.warning("task %s: cannot re-adopt its network: %s", task.id, exc)
