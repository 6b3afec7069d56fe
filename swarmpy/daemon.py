"""One process per host: always an agent, also a manager when its certificate says so.

Clients talk to this daemon through the Docker Engine API on its -H sockets
(swarmpy.server), the CLI as Docker's does; gRPC is only spoken between the swarm's nodes.
This module is the process's life: the sockets, signals, logging, and switching the roles on
and off; swarm membership (init, join, leave, role changes) is swarmpy.membership's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import replace
from pathlib import Path

from swarmpy import keyfiles, tls
from swarmpy.agent.agent import Agent
from swarmpy.agent.attachments import AttachClient
from swarmpy.agent.runtime import NodeRuntime, host_resources
from swarmpy.agent.worker import Worker
from swarmpy.ca import keywrap
from swarmpy.config import DaemonConfig, SwarmState
from swarmpy.errors import Conflict, NotInSwarm
from swarmpy.loopwatch import watch_loop_lag
from swarmpy.manager.controlapi.controlapi import ControlAPI
from swarmpy.manager.manager import Manager
from swarmpy.membership import Membership
from swarmpy.model import NodeRole
from swarmpy.server.listeners import EngineApiServer
from swarmpy.standalone.manager import StandaloneContainers

log = logging.getLogger(__name__)

DAEMON_UMASK = 0o077
DATA_ROOT_MODE = 0o700


class NodeIdFilter(logging.Filter):
    """Prefixes every log line with the node id (or the hostname before a swarm)."""

    def __init__(self) -> None:
        super().__init__()
        self.node = os.uname().nodename

    def filter(self, record: logging.LogRecord) -> bool:
        record.node = self.node
        return True


class Daemon:
    def __init__(self, config: DaemonConfig, log_filter: NodeIdFilter | None = None) -> None:
        self.config = config
        self._log_filter = log_filter
        self.state: SwarmState | None = None
        self.creds: tls.NodeCredentials | None = None
        self.manager: Manager | None = None
        # Set whenever the manager role starts or stops, so that the API server's event
        # recorder follows the new store before its first writes (swarm init's bootstrap).
        self.roles_changed = asyncio.Event()
        self.agent: Agent | None = None
        self.runtime: NodeRuntime | None = None
        self.membership = Membership(self)
        # Containers made by `run`/`create`, over whichever engine the node has.
        self.standalone = StandaloneContainers(
            self.require_runtime, config.data_root, config.hostname, config.resolv_conf
        )
        self._engine_api = EngineApiServer(self, config)
        self._stop = asyncio.Event()
        self._role_change: asyncio.Task[None] | None = None
        # Autolock: the unlock key this node's key material is encrypted under on disk (None:
        # in clear). Known once the node is unlocked, or from the cluster object
        # (swarmpy.manager.autolock).
        self._kek: bytes | None = None
        self._key_fetches = 0

    # ------------------------------------------------------------------ life cycle

    async def run(self) -> None:
        make_data_root(self.config.data_root)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        self.state = SwarmState.load(self.config.state_file)
        self.creds = tls.load_node_credentials(self.config.certs_dir)
        watchdog = asyncio.create_task(watch_loop_lag())
        try:
            # A bad listener or TLS setting ends the start here, with nothing left listening.
            await self._engine_api.start()
        except BaseException:
            watchdog.cancel()
            await self.shutdown()
            raise
        if self.locked:
            assert self.state is not None
            self.set_node(self.state.node_id)
            log.warning('swarm is locked: run "swarmpy swarm unlock" with the unlock key')
        elif self.state is not None and self.creds is not None:
            self.set_node(self.state.node_id)
            try:
                await self.start_roles()
            except BaseException:
                # A role that cannot start (damaged Raft files) ends the daemon with its one-line
                # error: stop what already runs first, or gRPC complains at exit.
                watchdog.cancel()
                await self.shutdown()
                raise
        # Standalone containers back under watch, those their restart policy wants started.
        await self.standalone.recover()
        log.info("daemon ready on %s", ", ".join(self.config.hosts))
        await self._stop.wait()
        watchdog.cancel()
        await self.shutdown()

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("received %s: stopping (containers keep running)", sig.name)
        self._stop.set()

    async def shutdown(self) -> None:
        await self.standalone.close()
        await self.stop_roles()
        await self._engine_api.stop()

    def control_api(self) -> ControlAPI | None:
        return self.manager.control if self.manager is not None else None

    def set_node(self, node_id: str) -> None:
        if self._log_filter is not None:
            self._log_filter.node = node_id[:12]

    # ------------------------------------------------------------------ autolock

    @property
    def locked(self) -> bool:
        """Autolock kept this manager's keys encrypted, and no one gave the unlock key yet."""
        return self.state is not None and (
            self.state.locked
            or (self.creds is not None and keywrap.key_is_encrypted(self.creds.key_pem))
        )

    async def unlock(self, human_key: str) -> None:
        """`swarm unlock`: open the keys with the unlock key, then start the roles."""
        if self.state is None:
            raise NotInSwarm("This node is not part of a swarm")
        if not self.locked:
            raise Conflict("swarm is not locked")
        assert self.creds is not None
        kek = keywrap.parse_human_readable(human_key)
        state, previous = self.state.opened(kek)
        key_pem = keyfiles.open_tls_key(self.creds.key_pem, kek, previous)
        self.state, self.creds, self._kek = state, replace(self.creds, key_pem=key_pem), kek
        if previous is not None:
            # A move to this key stopped halfway (keyfiles): finish it.
            self._rekey(previous, kek)
        log.info("swarm unlocked")
        await self.start_roles()

    def kek(self) -> bytes | None:
        return self._kek

    def use_kek(self, kek: bytes | None) -> None:
        """Write the node's key material again under ``kek`` (None: in clear)."""
        old, self._kek = self._kek, kek
        self._rekey(old, kek)

    def _rekey(self, old: bytes | None, new: bytes | None) -> None:
        certs = self.config.certs_dir
        keyfiles.rekey(self.config.state_file, certs, self.state, self.creds, old, new)

    def data_keys(self) -> tuple[str, ...]:
        return self.state.data_keys if self.state is not None else ()

    def add_data_key(self, key: str) -> None:
        if self.state is not None:
            self.state = self.state.with_data_key(key)
            self.state.save(self.config.state_file, self._kek)

    async def fetch_data_keys(self) -> None:
        """The data keys, with a certificate renewal: first from the manager of the agent's
        session (the leader), then from each other manager in turn, as this manager may be
        the leader itself, elected before it fetched a key the old leader made."""
        self._key_fetches += 1
        others = [m for m in self.state.managers if m != self.state.api_addr] if self.state else []
        via = others[self._key_fetches % len(others)] if others and self._key_fetches > 1 else None
        await self.membership.renew_certificate(via)

    # ------------------------------------------------------------------ roles on and off

    async def start_roles(self, force_new_cluster: bool = False) -> None:
        assert self.state is not None
        assert self.creds is not None
        if self.runtime is not None:
            # The engine made outside a swarm (standalone containers): replaced by the node's.
            await self.runtime.stop()
        self.runtime = NodeRuntime(self.config, self.state.advertise_addr, self.state.node_id)
        await self.runtime.start()
        self.standalone.runtime_changed()
        if self.state.role == NodeRole.MANAGER:
            await self.start_manager(force_new_cluster)
        runtime = self.runtime
        self.agent = Agent(
            self.creds,
            managers=list(self.state.managers),
            hostname=self.config.hostname,
            addr=self.state.advertise_addr,
            worker_factory=lambda report: Worker(runtime.controller, report, runtime.readopt),
            on_view=runtime.apply_view,
            on_managers=self._remember_managers,
            logs=runtime.containers.logs,
            resources=host_resources(self.config.node_generic_resources),
            on_role=self._role_changed,
            on_removed=self.membership.removed,
            on_roots=self.membership.renewer.renew_soon,
            on_files=runtime.files.replace,
        )
        agent = self.agent
        runtime.attach_client = AttachClient(
            self._current_creds, lambda: agent.managers, lambda: agent.connected_to
        )
        self.agent.start()
        self.membership.renewer.start()

    async def stop_roles(self) -> None:
        await self.membership.renewer.stop()
        if self.agent is not None:
            await self.agent.stop()
            self.agent = None
        await self.stop_manager()
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None
            self.standalone.runtime_changed()

    async def start_manager(self, force_new_cluster: bool = False) -> Manager:
        assert self.state is not None
        assert self.creds is not None
        self.manager = Manager(
            self.config, self.state, self.creds, force_new_cluster, node_keys=self
        )
        await self.manager.start()
        self.roles_changed.set()
        return self.manager

    async def stop_manager(self) -> None:
        if self.manager is not None:
            await self.manager.stop()
            self.manager = None
            self.roles_changed.set()

    def _current_creds(self) -> tls.NodeCredentials:
        assert self.creds is not None
        return self.creds

    def _role_changed(self, role: str) -> None:
        if self._role_change is None or self._role_change.done():
            self._role_change = asyncio.create_task(self.membership.take_role(role))
            self._role_change.add_done_callback(_log_role_change)

    def _remember_managers(self, managers: list[str]) -> None:
        if self.state is not None and tuple(managers) != self.state.managers:
            self.state = replace(self.state, managers=tuple(managers))
            self.state.save(self.config.state_file, self._kek)

    # ------------------------------------------------------------------ for the CLI

    def require_runtime(self) -> NodeRuntime:
        if self.runtime is None:
            # Outside a swarm the node still runs images and containers commands; its reaper
            # learns the exit codes of the containers `run` starts.
            self.runtime = NodeRuntime(self.config, "", self.state.node_id if self.state else "")
            self.runtime.reaper.start()
        return self.runtime


def _log_role_change(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("changing this node's role failed: %s", task.exception())


def _forget_our_signals_in_child() -> None:
    # pyroute2 forks helpers and stops them with SIGTERM. A forked child inherits asyncio's
    # signal wake-up fd, so without this the helper's SIGTERM is read by *our* loop as a
    # request to stop the daemon.
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)


def configure_logging(level: int = logging.INFO) -> NodeIdFilter:
    node_filter = NodeIdFilter()
    handler = logging.StreamHandler()
    handler.addFilter(node_filter)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(node)s] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return node_filter


def make_data_root(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, DATA_ROOT_MODE)  # also one an older daemon made 0755


def main(config: DaemonConfig, debug: bool = False) -> None:
    # Before anything is created: every file and directory the daemon makes (keys, Raft
    # journal and snapshots, swarm state) is root's alone from its creation, whatever umask
    # started us. What containers see keeps the usual 022: the engine runs runc with it and
    # makes what it shares with containers with explicit modes.
    os.umask(DAEMON_UMASK)
    node_filter = configure_logging(logging.DEBUG if debug else logging.INFO)
    os.register_at_fork(after_in_child=_forget_our_signals_in_child)
    make_data_root(config.data_root)
    asyncio.run(Daemon(config, node_filter).run())
