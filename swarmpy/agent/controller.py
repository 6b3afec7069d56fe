"""The Controller that runs a task's container with the local engine.

The container id is the task id. Every method works from what the engine finds on the node,
so a controller made after a daemon restart can wait for, stop and remove an adopted
container.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from swarmpy.agent import container
from swarmpy.agent.exec import Controller, ImageSource, NetworkProvider
from swarmpy.agent.files import TaskFiles
from swarmpy.engine.lifecycle import Engine
from swarmpy.errors import RuntimeFailure, SwarmpyError
from swarmpy.model import HealthState, PortConfig, Task


class RuncController(Controller):
    """The Controller of one task's container."""

    def __init__(
        self,
        task: Task,
        engine: Engine,
        images: ImageSource,
        network: NetworkProvider,
        node_id: str,
        *,
        node_hostname: str = "",
        progress: Callable[[str], None] | None = None,
        files: TaskFiles | None = None,
    ) -> None:
        self.task = task
        self.engine = engine
        self.images = images
        self.network = network
        self.node_id = node_id
        self.node_hostname = node_hostname
        self.progress = progress
        self.files = files

    @property
    def id(self) -> str:
        return self.task.id

    async def prepare(self) -> None:
        spec = self.task.spec.container
        await self.images.ensure(spec.image, self.progress, spec.registry_auth)
        image = self.images.config(spec.image)
        container.check_isolation(spec)
        # A bad mount fails the task before a network sandbox is made for nothing.
        values = container.template_values(self.task, self.node_id, self.node_hostname)
        self.engine.check_mounts(container.mounts(spec, values))
        init_path = container.find_init() if spec.init else ""
        # Secrets and configs: from memory into the task's own tmpfs, bound read-only.
        files = self.files.mount(self.task) if self.files is not None else ()
        sandbox = await self.network.setup(self.task)
        config = container.container_config(
            self.task, sandbox, self.node_id, self.node_hostname, init_path
        )
        config = dataclasses.replace(config, mounts=config.mounts + files)
        await self.engine.create(config, image, self.images.layer_dirs(spec.image))

    async def start(self) -> None:
        await self.engine.start(self.id)

    async def wait(self) -> int:
        return await self.engine.wait(self.id)

    async def health_change(self, current: HealthState) -> HealthState:
        return await self.engine.health_change(self.id, current)

    async def shutdown(self, grace_s: float) -> None:
        # Docker's --stop-signal, else the image's STOPSIGNAL, else SIGTERM; SIGKILL after
        # the grace period.
        await self.engine.stop(self.id, grace_s, self.stop_signal())

    def stop_signal(self) -> str:
        spec = self.task.spec.container
        signal = spec.stop_signal
        if not signal:
            try:
                signal = self.images.config(spec.image).stop_signal
            except (SwarmpyError, OSError):  # the image is gone: the default
                signal = ""
        return signal.upper().removeprefix("SIG") or "TERM"

    async def terminate(self) -> None:
        await self.engine.stop(self.id, 0)

    async def release(self) -> None:
        await self.network.teardown(self.task)

    def port_status(self) -> tuple[PortConfig, ...]:
        return self.network.published_ports(self.id)

    async def remove(self) -> None:
        errors: list[str] = []
        try:
            # As SwarmKit's adapter: a task's anonymous volumes go with its container.
            await self.engine.remove(self.id, remove_volumes=True)
        except RuntimeFailure as e:
            errors.append(str(e))
        try:
            await self.network.teardown(self.task)
        except Exception as e:  # netlink, nft or ours: reported with the engine's  # noqa: BLE001
            errors.append(f"network teardown: {e}")
        if self.files is not None:
            try:
                self.files.release(self.id)
            except RuntimeFailure as e:
                errors.append(str(e))
        if errors:
            raise RuntimeFailure("; ".join(errors))
