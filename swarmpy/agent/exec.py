"""The executor's interfaces: what the agent needs of the node to run tasks.

Like SwarmKit's agent/exec: an ``Executor`` describes the node and makes a ``Controller`` per
task; the ``TaskRunner`` (``runner.py``) walks a task through its states by calling the
controller. The controller here (``controller.py``) runs a task's container with the local
engine (``swarmpy/engine``) and takes its network sandbox from a ``NetworkProvider``.

Every method raises ``swarmpy.errors`` types, whose one-line message becomes the task's error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from swarmpy.engine.images.records import ImageConfig
from swarmpy.model import ENGINE_VERSION, HealthState, PortConfig, Resources, Task
from swarmpy.overlay.sandbox import SandboxInfo


@dataclass(frozen=True)
class NodeDescription:
    """What the node tells the managers about itself when its session opens."""

    hostname: str
    addr: str  # the advertise address: VXLAN endpoint, reachability
    resources: Resources = field(default_factory=Resources)
    engine_version: str = ENGINE_VERSION


class Controller(Protocol):
    """Runs one task's container; one controller per task, made by ``Executor.controller``.

    The runner calls the methods in the order the task's states go (prepare, start, wait,
    then shutdown when the managers ask, release before any end is reported, remove when the
    agent no longer keeps the task). A controller may be made for a task whose container an
    earlier daemon left behind (after a restart): every method must then work from what is
    on the node, not from what this object remembers.
    """

    async def prepare(self) -> None:
        """Called once the task is ACCEPTED, towards READY: pull the image, make the network
        sandbox, create the container (not run it). Idempotent: a prepare that was cut short
        is repeated from a clean slate. May be cancelled (the managers asked for shutdown
        meanwhile). Raising rejects the task with the error's message."""
        ...

    async def start(self) -> None:
        """Called once RUNNING is wanted, from READY: run the container and return once it
        runs. Idempotent: a no-op for a container already started (e.g. by the daemon before
        a restart). Raising fails the task."""
        ...

    async def wait(self) -> int:
        """Called while the task is RUNNING: block until the container exits and return its
        exit code, at once for one that has exited already (also in an earlier daemon's
        life). May be cancelled (shutdown wanted), and called again after. Raising fails the
        task."""
        ...

    async def health_change(self, current: HealthState) -> HealthState:
        """Called once the container runs: wait until its health is no longer ``current``
        and return the new one (with ``current`` NONE: its health now, NONE when it has no
        healthcheck). A container that ended reads UNHEALTHY, so whoever waits on its
        health waits on its end too. May be cancelled."""
        ...

    async def shutdown(self, grace_s: float) -> None:
        """Called when the managers want the task down (desired SHUTDOWN or beyond): SIGTERM,
        then SIGKILL if it still runs after ``grace_s``; return once it has stopped. A no-op
        when it is not running; idempotent. Raising fails the task."""
        ...

    async def terminate(self) -> None:
        """Stop the container at once (SIGKILL): ``shutdown`` without a grace period.
        Idempotent; not called by the runner."""
        ...

    async def release(self) -> None:
        """Called when the task ends, before the end is reported: let go of what an ended
        container holds besides its record, i.e. its network sandbox and addresses, which the
        managers give to other tasks once its end is reported (a sandbox left plugged in would
        answer for an address that has moved on). Idempotent; the runner logs a failure and
        reports the end all the same."""
        ...

    async def remove(self) -> None:
        """Called when the agent no longer keeps the task (no longer assigned, after it
        ended): delete the container, its files, cgroup and network sandbox. Idempotent, also
        after a crash half-way; raises with every part that could not be removed."""
        ...

    def port_status(self) -> tuple[PortConfig, ...]:
        """The task's host-mode ports as the node opened them (a published port the node
        chose filled in), once prepared; () before, or when it publishes none."""
        ...


class Executor(Protocol):
    """The node as the agent sees it (SwarmKit's exec.Executor)."""

    def describe(self) -> NodeDescription:
        """The node's description, sent to the managers when a session opens."""
        ...

    def controller(self, task: Task) -> Controller:
        """A controller for ``task``; cheap and side-effect free (the work is in its
        methods), called once per task the worker starts running."""
        ...


class NetworkProvider(Protocol):
    async def setup(self, task: Task) -> SandboxInfo:
        """Make the task's network sandbox (netns, addresses, resolv.conf and hosts)."""
        ...

    def published_ports(self, task_id: str) -> tuple[PortConfig, ...]:
        """The host-mode ports opened for the task (set up or adopted), as PortStatus."""
        ...

    async def teardown(self, task: Task) -> None:
        """Remove the task's sandbox; idempotent."""
        ...


class ImageSource(Protocol):
    async def ensure(
        self, ref: str, progress: Callable[[str], None] | None, registry_auth: str = ""
    ) -> None:
        """Pull ``ref`` unless it is already present (with the service's X-Registry-Auth
        credentials, if it has some)."""
        ...

    def layer_dirs(self, ref: str) -> list[Path]:
        """The unpacked layers, lowest first."""
        ...

    def config(self, ref: str) -> ImageConfig: ...
