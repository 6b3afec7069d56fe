"""`swarmpy lab up/down/status/exec`: a named lab of N hosts with a swarm formed on it.

A lab lives in ``/run/swarmpy-lab/<name>``: /run is a tmpfs, so the state disappears at a
reboot together with the namespaces it describes, and the path is short enough for the
daemons' unix sockets. ``swarm.json`` in that directory is written last, so a lab without it
was interrupted while being built (a "half-made" lab) and is rebuilt by the next ``up``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swarmpy.errors import InvalidArgument, NotFound, PermissionDenied, SwarmpyError, Unavailable
from swarmpy.lab import teardown
from swarmpy.lab.hosts import DEFAULT_MTU, STATE_FILE, Host, Lab, swarmpy_executable
from swarmpy.lab.netns import list_netns, netns_inode
from swarmpy.lab.registry import REGISTRY_HOSTNAME, start_registry_host

log = logging.getLogger(__name__)

LAB_ROOT = Path("/run/swarmpy-lab")
SWARM_FILE = "swarm.json"
# A short dispatcher heartbeat: a dead host is marked Down, and its tasks rescheduled, within
# seconds rather than the default half minute, which is what a demo of failover wants.
HEARTBEAT_S = 2
MAX_HOSTS = 50
REQUIRED_TOOLS = ("nsenter", "unshare", "runc", "docker-registry", "dnsmasq")
NODES_READY_TIMEOUT_S = 60.0
DAEMON_SOCKET_TIMEOUT_S = 30.0
# Commands a lab runs for its own bookkeeping must not hang `lab status` on a dead manager.
QUERY_TIMEOUT_S = 10.0

Echo = Callable[[str], None]


class AlreadyUp(SwarmpyError):
    """Raised by ``up`` for a healthy lab: not a failure, the CLI exits 0."""


def state_dir(name: str) -> Path:
    return LAB_ROOT / name


def check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise PermissionDenied("swarmpy lab needs root (network namespaces, runc): use sudo")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise Unavailable(
            f"missing tools: {', '.join(missing)} (scripts/install-deps.sh installs them)"
        )


def venv_path() -> str:
    """PATH with the running swarmpy's bin directory first, so ``swarmpy`` inside a host is
    this checkout's CLI rather than whatever else is installed."""
    return os.pathsep.join([str(swarmpy_executable().parent), os.environ.get("PATH", "")])


# ---------------------------------------------------------------- running commands in hosts


@dataclass(frozen=True)
class Result:
    returncode: int
    output: str  # stdout (with stderr interleaved when the command was shown)
    stderr: str = ""


class Shell:
    """Runs commands inside lab hosts as a user at that host's prompt would; ``show`` prints
    ``node1$ swarmpy ...`` and the command's output."""

    def __init__(self, lab: Lab, echo: Echo) -> None:
        self.lab = lab
        self.echo = echo

    def run(
        self,
        host: Host,
        argv: Sequence[str],
        *,
        show: bool = True,
        check: bool = True,
        timeout: float | None = None,
    ) -> Result:
        if show:
            self.echo(f"{host.name}$ {shlex.join(argv)}")
        # Shown commands interleave stderr with stdout as a terminal would; hidden ones keep
        # stderr apart so their stdout parses.
        streams: dict[str, Any] = (
            {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}
            if show
            else {"capture_output": True}
        )
        try:
            proc = self.lab.run(
                host,
                argv,
                env={"PATH": venv_path()},
                stdin=subprocess.DEVNULL,
                text=True,
                timeout=timeout,
                **streams,
            )
        except subprocess.TimeoutExpired:
            raise Unavailable(
                f"`{host.name}$ {shlex.join(argv)}` did not finish within {timeout:.0f}s"
            ) from None
        result = Result(proc.returncode, proc.stdout or "", proc.stderr or "")
        if show and result.output.strip():
            self.echo(result.output.rstrip("\n"))
        if check and result.returncode != 0:
            lines = (result.stderr or result.output).strip().splitlines()
            why = lines[-1] if lines else "no output"
            raise Unavailable(
                f"`{host.name}$ {shlex.join(argv)}` exited {result.returncode}: {why}"
            )
        return result

    def swarmpy(self, host: Host, *args: str, show: bool = True, check: bool = True) -> Result:
        return self.run(host, ["swarmpy", *args], show=show, check=check)

    def rows(self, host: Host, *args: str) -> list[dict[str, Any]]:
        """A listing command's ``--format json`` rows, fetched without showing them."""
        result = self.run(
            host, ["swarmpy", *args, "--format", "json"], show=False, timeout=QUERY_TIMEOUT_S
        )
        return [json.loads(line) for line in result.output.splitlines() if line.strip()]


# ---------------------------------------------------------------- inspecting a lab


def daemon_pid(host: Host) -> int | None:
    """The pid of ``host``'s daemon, found from /proc so it works from any process."""
    data_root = str(host.data_root)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        argv = args.split("\0")
        # Before its final exec the daemon is briefly `sh -c ...` with the same arguments:
        # only the python process running the swarmpy script counts.
        ours = len(argv) > 2 and Path(argv[1]).name == "swarmpy" and argv[2] == "daemon"
        if ours and data_root in argv:
            return int(entry)
    return None


def _netns_has_processes(host: Host) -> bool:
    inode = netns_inode(host.netns)
    return inode is not None and bool(teardown.pids_in_netns({inode}))


def swarm_hosts(lab: Lab) -> list[Host]:
    return [h for h in lab.hosts if h.name != REGISTRY_HOSTNAME]


def read_roles(lab: Lab) -> dict[str, str] | None:
    try:
        roles = json.loads((lab.state_dir / SWARM_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return {str(k): str(v) for k, v in roles.items()}


def health_problem(lab: Lab) -> str | None:
    """Why ``lab`` is not a fully running lab, or None when it is."""
    if read_roles(lab) is None:
        return "it was never finished"
    stopped = [h.name for h in swarm_hosts(lab) if daemon_pid(h) is None]
    if stopped:
        return f"daemon stopped on {', '.join(stopped)}"
    return None


def load(name: str) -> Lab:
    directory = state_dir(name)
    Lab(name, directory)  # validates the name before it becomes part of a path
    if not (directory / STATE_FILE).exists():
        raise NotFound(f"no lab named {name} (make one with: swarmpy lab up --name {name})")
    return Lab.load(directory)


@dataclass(frozen=True)
class HostStatus:
    host: str
    address: str
    daemon: str
    role: str


def status(name: str) -> list[HostStatus]:
    lab = load(name)
    roles = read_roles(lab) or {}
    live = _live_nodes(lab, roles)
    rows = []
    for host in lab.hosts:
        if host.name == REGISTRY_HOSTNAME:
            up = _netns_has_processes(host)
            rows.append(
                HostStatus(host.name, host.ip, "running" if up else "stopped", "registry, dns")
            )
            continue
        pid = daemon_pid(host)
        daemon = f"running (pid {pid})" if pid is not None else "stopped"
        role = roles.get(host.name, "-")
        node = live.get(host.name)
        if node is not None:
            if node.get("ManagerStatus"):
                role = f"manager ({str(node['ManagerStatus']).lower()})"
            if node.get("Status") not in (None, "Ready"):
                role = f"{role}, {str(node['Status']).lower()}"
        rows.append(HostStatus(host.name, host.ip, daemon, role))
    return rows


def _live_nodes(lab: Lab, roles: dict[str, str]) -> dict[str, dict[str, Any]]:
    """``node ls`` as seen by the first manager whose daemon runs; empty when none answers."""
    shell = Shell(lab, log.info)
    for host in swarm_hosts(lab):
        if roles.get(host.name) != "manager" or daemon_pid(host) is None:
            continue
        try:
            return {str(row["Hostname"]): row for row in shell.rows(host, "node", "ls")}
        except (SwarmpyError, ValueError, KeyError):
            continue
    return {}


# ---------------------------------------------------------------- up / down


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One up/down at a time on this machine: two `up`s of one name would build twice."""
    LAB_ROOT.mkdir(parents=True, exist_ok=True)
    fd = os.open(LAB_ROOT, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def up(name: str, n_hosts: int, managers: int, echo: Echo, mtu: int = DEFAULT_MTU) -> Lab:
    """Build lab ``name`` with a swarm on it; raise AlreadyUp if it runs already. On any
    failure (or interrupt) everything made is removed before the error propagates."""
    if not 1 <= n_hosts <= MAX_HOSTS:
        raise InvalidArgument(f"--hosts must be between 1 and {MAX_HOSTS}")
    if not 1 <= managers <= n_hosts:
        raise InvalidArgument(f"--managers must be between 1 and --hosts ({n_hosts})")
    if not 1280 <= mtu <= 65535:
        raise InvalidArgument("--mtu must be between 1280 and 65535")
    lab = Lab(name, state_dir(name), mtu=mtu)
    check_prerequisites()
    with _locked():
        if (lab.state_dir / STATE_FILE).exists():
            old = Lab.load(lab.state_dir)
            problem = health_problem(old)
            if problem is None:
                raise AlreadyUp(f"lab {name} is already up")
            if read_roles(old) is not None:
                # A finished lab whose daemons died: start them again, as one would restart
                # dockerd; each node comes back with its state and its containers.
                _restart_daemons(old, echo)
                return old
            echo(f"==> lab {name} is half-made ({problem}): removing it first")
            old.destroy()
        try:
            _build(lab, n_hosts, managers, echo)
        except BaseException:
            echo(f"==> lab {name} failed: removing everything it made")
            try:
                lab.destroy()
            except Exception as exc:  # the build error is the one to see  # noqa: BLE001
                log.warning("cleaning up lab %s: %s", name, exc)
            raise
    return lab


def _restart_daemons(lab: Lab, echo: Echo) -> None:
    stopped = [h for h in swarm_hosts(lab) if daemon_pid(h) is None]
    echo("==> restarting the daemon on " + ", ".join(h.name for h in stopped))
    for host in stopped:
        lab.start_daemon(host)
    for host in stopped:
        lab.wait_for_socket(host, DAEMON_SOCKET_TIMEOUT_S)
    roles = read_roles(lab) or {}
    manager = next((h for h in swarm_hosts(lab) if roles.get(h.name) == "manager"), None)
    if manager is not None:
        _wait_nodes_ready(Shell(lab, echo), manager, len(swarm_hosts(lab)))


def _build(lab: Lab, n_hosts: int, managers: int, echo: Echo) -> None:
    echo(f"==> lab {lab.name}: underlay {lab.subnet} (netns {lab.underlay_netns})")
    lab.create_underlay()
    hosts = [lab.add_host(f"node{i}") for i in range(1, n_hosts + 1)]
    echo("==> hosts: " + ", ".join(f"{h.name} {h.ip}" for h in hosts))
    echo(f"==> registry and DNS on {lab.infra_ip}, preloading busybox")
    start_registry_host(lab)
    echo("==> starting a swarmpy daemon on each host")
    for host in hosts:
        lab.start_daemon(host)
    for host in hosts:
        lab.wait_for_socket(host, DAEMON_SOCKET_TIMEOUT_S)
    roles = _form_swarm(Shell(lab, echo), hosts, managers)
    _wait_nodes_ready(Shell(lab, echo), hosts[0], len(hosts))
    # Last: its presence says the lab was finished.
    (lab.state_dir / SWARM_FILE).write_text(json.dumps(roles, indent=2))


def _form_swarm(shell: Shell, hosts: Sequence[Host], managers: int) -> dict[str, str]:
    first = hosts[0]
    shell.echo(
        f"==> swarm init on {first.name}, dispatcher heartbeat {HEARTBEAT_S}s "
        "(so a dead host is noticed within seconds)"
    )
    shell.swarmpy(
        first,
        "swarm",
        "init",
        "--advertise-addr",
        first.ip,
        "--dispatcher-heartbeat",
        str(HEARTBEAT_S),
    )
    roles = {first.name: "manager"}
    # Managers first, one at a time, so each raft membership change commits before the next.
    for role, members in (("manager", hosts[1:managers]), ("worker", hosts[managers:])):
        if not members:
            continue
        shell.echo(f"==> joining {', '.join(h.name for h in members)} as {role}s")
        token = shell.swarmpy(first, "swarm", "join-token", "-q", role, show=False).output.strip()
        for host in members:
            shell.swarmpy(host, "swarm", "join", "--token", token, first.control_addr)
            roles[host.name] = role
    return roles


def _wait_nodes_ready(shell: Shell, manager: Host, count: int) -> None:
    shell.echo(f"==> waiting for {count} node(s) to be Ready")
    deadline = time.monotonic() + NODES_READY_TIMEOUT_S
    ready: list[dict[str, Any]] = []
    while True:
        try:
            rows = shell.rows(manager, "node", "ls")
        except Unavailable as e:
            # Managers restarted together answer "The swarm does not have a leader" until
            # they have elected one: not yet, unless it lasts.
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"no node list after {NODES_READY_TIMEOUT_S:.0f}s: {e.message}"
                ) from None
        else:
            ready = [r for r in rows if r.get("Status") == "Ready"]
            if len(ready) >= count:
                return
        if time.monotonic() > deadline:
            raise Unavailable(
                f"only {len(ready)} of {count} nodes Ready after {NODES_READY_TIMEOUT_S:.0f}s"
            )
        time.sleep(0.5)


def exists(name: str) -> bool:
    return (state_dir(name) / STATE_FILE).exists() or bool(list_netns(f"{name}."))


def down(name: str) -> bool:
    """Remove lab ``name`` entirely; False when there was nothing to remove."""
    lab = Lab(name, state_dir(name))
    check_prerequisites()
    with _locked():
        if (lab.state_dir / STATE_FILE).exists():
            Lab.load(lab.state_dir).destroy()
        elif list_netns(lab.netns_prefix):
            # State lost (deleted by hand) but namespaces remain: they carry the lab's name.
            lab.destroy()
        else:
            return False
    with contextlib.suppress(OSError):
        LAB_ROOT.rmdir()  # only when no other lab remains
    return True


def exec_in(name: str, hostname: str, argv: Sequence[str]) -> int:
    """Run ``argv`` in ``hostname`` with stdio passed through; its exit status (128+N when
    killed by signal N, as a shell reports it)."""
    lab = load(name)
    host = lab.host(hostname)
    if not argv:
        raise InvalidArgument("no command given: swarmpy lab exec HOST -- CMD...")
    # Ctrl-C is for the command (it gets it from the terminal too); this process just waits.
    # A Python handler, unlike SIG_IGN, is not inherited by the child.
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        proc = lab.run(host, argv, env={"PATH": venv_path()})
    finally:
        signal.signal(signal.SIGINT, previous)
    return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
