"""`service update` with a representative set of issue 12's flags changes a running service
by a rolling update, from swarmpy's CLI and from Docker's: the tasks are replaced and the new
containers see the new env, mounts, hostname, DNS, hosts, read-only root, ulimits and init."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from collections.abc import Iterator

import dns.message
import dns.rrset
import pytest

from tests.support.controlplane import assert_refused
from tests.support.daemons import Daemon
from tests.support.docker_cli import DOCKER, DockerCli
from tests.support.localswarm import task_container

pytestmark = pytest.mark.root

# Both CLIs wait for convergence: each replacement starts, then is watched (the monitor).
CONVERGE_S = 180.0


# What the service's own DNS server answers for every name: the container must get it through
# the embedded DNS, which forwards there (Docker's --dns) instead of to the node's resolvers.
PROBE_ANSWER = "192.0.2.77"


@contextlib.contextmanager
def dns_server() -> Iterator[str]:
    """A DNS server on a loopback address of its own, answering every A query with
    PROBE_ANSWER; its address."""
    addr = f"127.0.53.{random.randint(2, 250)}"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((addr, 53))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            reply = dns.message.make_response(query)
            question = query.question[0]
            reply.answer = [dns.rrset.from_text(question.name, 60, "IN", "A", PROBE_ANSWER)]
            sock.sendto(reply.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield addr
    finally:
        stop.set()
        thread.join()
        sock.close()


def running_tasks(d: Daemon) -> set[str]:
    out = d.ok("service", "ps", "web", "-q", "--no-trunc", "--filter", "desired-state=running")
    return set(out.split())


def sh(d: Daemon, script: str) -> str:
    """Run ``script`` in web's first task's container; its output (and exit code)."""
    row = task_container(d, "web")
    assert row is not None, "web.1 runs"
    done = d.cli("exec", row["Names"], "sh", "-c", script)
    return f"{done.stdout.strip()} rc={done.returncode}".lstrip()


def test_update_flags_reach_the_replaced_containers(one_node_swarm: Daemon) -> None:
    assert DOCKER.exists(), f"{DOCKER} is missing: run scripts/install-deps.sh (docker.io)"
    d = one_node_swarm
    d.ok(
        "service", "create", "--name", "web", "--replicas", "2",
        "--update-parallelism", "1", "--update-monitor", "1s", "--stop-grace-period", "1s",
        "busybox", "sleep", "86400",
        timeout=CONVERGE_S,
    )  # fmt: skip
    first = running_tasks(d)
    assert len(first) == 2
    try:
        with dns_server() as server:
            _swarmpy_update(d, first, server)
    finally:
        d.cli("service", "rm", "web")


def _swarmpy_update(d: Daemon, first: set[str], dns_server: str) -> None:
    d.ok(
        "service", "update",
        "--env-add", "GREETING=hello",
        "--mount-add", "type=tmpfs,target=/scratch,tmpfs-size=8m",
        "--hostname", "{{.Service.Name}}-{{.Task.Slot}}",
        "--dns-add", dns_server, "--dns-search-add", "corp.example",
        "--dns-option-add", "ndots:3",
        "--host-add", "db:10.1.2.3",
        "--read-only",
        "--ulimit-add", "nofile=512:1024",
        "--init", "--tty", "--group-add", "1234",
        "--stop-signal", "SIGINT",
        "--label-add", "tier=web",
        "web",
        timeout=CONVERGE_S,
    )  # fmt: skip
    second = running_tasks(d)
    assert len(second) == 2
    assert not second & first, "a rolling update replaced every task"
    assert sh(d, "echo $GREETING") == "hello rc=0"
    assert sh(d, "hostname") == "web-1 rc=0"
    resolv = sh(d, "cat /etc/resolv.conf")
    assert "nameserver 127.0.0.11" in resolv
    assert "search corp.example" in resolv
    assert PROBE_ANSWER in sh(d, "nslookup probe.example.org")
    assert "ndots:3" in resolv
    hosts = sh(d, "cat /etc/hosts")
    assert "10.1.2.3\tdb" in hosts
    assert "\tweb-1\n" in hosts, "the container's own name is in its /etc/hosts"
    assert sh(d, "touch /x 2>/dev/null") == "rc=1", "the root filesystem is read-only"
    assert sh(d, "touch /scratch/x && df -k /scratch | tail -1 | awk '{print $2}'") == "8192 rc=0"
    assert sh(d, "ulimit -n; ulimit -Hn") == "512\n1024 rc=0"
    assert sh(d, "cat /proc/1/cmdline | tr '\\0' ' '") == "/sbin/docker-init -- sleep 86400 rc=0"
    assert sh(d, "readlink /proc/1/fd/1") == "/dev/pts/0 rc=0", "the task has a terminal"
    assert "\t1234" in sh(d, "grep Groups /proc/1/status")
    (doc,) = d.json("service", "inspect", "web")
    spec = doc["Spec"]
    assert spec["Labels"] == {"tier": "web"}
    assert spec["TaskTemplate"]["ContainerSpec"]["StopSignal"] == "SIGINT"

    # Docker's CLI reads the spec back, changes it and sends it with the version it read.
    cli = DockerCli(d)
    cli.ok(
        "service", "update", "--env-rm", "GREETING", "--read-only=false", "--tty=false",
        "--dns-rm", dns_server, "--mount-rm", "/scratch", "--host-rm", "db", "web",
        timeout=CONVERGE_S,
    )  # fmt: skip
    third = running_tasks(d)
    assert len(third) == 2
    assert not third & second
    assert sh(d, "echo ${GREETING:-unset}") == "unset rc=0"
    assert sh(d, "touch /x") == "rc=0", "the root filesystem is writable again"
    assert sh(d, "readlink /proc/1/fd/1").startswith("pipe:"), "no terminal any more"
    assert PROBE_ANSWER not in sh(d, "nslookup probe.example.org")
    assert sh(d, "test -d /scratch || echo gone") == "gone rc=0"
    assert cli.ok("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.ReadOnly}}",
                  "web") == "false\n"  # fmt: skip

    # Back to swarmpy's update, as Docker's `service update --rollback` asks.
    d.ok("service", "update", "--rollback", "web", timeout=CONVERGE_S)
    assert sh(d, "echo $GREETING") == "hello rc=0"
    assert sh(d, "touch /x 2>/dev/null") == "rc=1"


def test_docker_cli_create_flags_reach_the_spec_and_the_container(one_node_swarm: Daemon) -> None:
    assert DOCKER.exists(), f"{DOCKER} is missing: run scripts/install-deps.sh (docker.io)"
    d = one_node_swarm
    cli = DockerCli(d)
    cli.ok("network", "create", "-d", "overlay", "back")
    try:
        cli.ok(
            "service", "create", "--name", "web", "--replicas", "1",
            "--network", "name=back,alias=api",
            "--host", "db:10.1.2.3", "--read-only", "--init",
            "--ulimit", "nofile=100:200", "--sysctl", "net.ipv4.tcp_syncookies=0",
            "--placement-pref", "spread=node.labels.zone", "--replicas-max-per-node", "2",
            "--stop-signal", "SIGINT", "--restart-window", "1m",
            # The CLI waits out the monitor period once converged: 1 s, not 5 s.
            "--update-monitor", "1s",
            "--mount", "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=700",
            "--hostname", "{{.Node.Hostname}}-{{.Task.Slot}}",
            "busybox", "sleep", "86400",
            timeout=CONVERGE_S,
        )  # fmt: skip
        (doc,) = d.json("service", "inspect", "web")
        template = doc["Spec"]["TaskTemplate"]
        c = template["ContainerSpec"]
        assert (c["ReadOnly"], c["Init"], c["StopSignal"]) == (True, True, "SIGINT")
        assert c["Hosts"] == ["10.1.2.3 db"]
        assert c["Ulimits"] == [{"Name": "nofile", "Soft": 100, "Hard": 200}]
        assert c["Sysctls"] == {"net.ipv4.tcp_syncookies": "0"}
        assert c["Mounts"][0]["TmpfsOptions"] == {"SizeBytes": 1 << 20, "Mode": 0o700}
        assert template["Placement"]["Preferences"] == [
            {"Spread": {"SpreadDescriptor": "node.labels.zone"}}
        ]
        assert template["Placement"]["MaxReplicas"] == 2
        assert template["RestartPolicy"]["Window"] == 60 * 10**9
        assert template["Networks"][0]["Aliases"] == ["api"]
        (vip,) = doc["Endpoint"]["VirtualIPs"]
        assert sh(d, "touch /x 2>/dev/null") == "rc=1"
        assert sh(d, "ulimit -n; ulimit -Hn") == "100\n200 rc=0"
        assert sh(d, "cat /proc/sys/net/ipv4/tcp_syncookies") == "0 rc=0"
        assert sh(d, "stat -c %a /t") == "700 rc=0"
        assert sh(d, "hostname").endswith("-1 rc=0")
        # The alias answers on the network as the service's name does: its VIP.
        assert vip["Addr"].split("/")[0] in sh(d, "nslookup api")
    finally:
        d.cli("service", "rm", "web")
        cli.run("network", "rm", "back")


def test_bad_flags_are_refused_in_one_line_and_change_nothing(one_node_swarm: Daemon) -> None:
    d = one_node_swarm
    d.ok("service", "create", "--detach", "--name", "web", "busybox", "sleep", "86400")
    try:
        (before,) = d.json("service", "inspect", "web")
        # The daemon's checks, as Docker's: its message, prefixed, exit 1.
        for args, fragment in (
            (("--sysctl-add", "kernel.panic=1"), "sysctl 'kernel.panic' is not allowed"),
            (("--ulimit-add", "bogus=1"), "invalid ulimit type: bogus"),
            (("--hostname", "{{.Node.Nope}}"), "unknown field .Node.Nope"),
            (("--stop-signal", "SIGNOPE"), "Invalid signal: SIGNOPE"),
            (("--placement-pref-add", "spread=zone"), "invalid placement preference"),
            (("--network-add", "name=nope,alias=a"), "nope"),
        ):
            refused = d.cli("service", "update", *args, "web")
            assert refused.returncode == 1
            assert_refused(refused, fragment)
        assert_refused(d.cli("service", "update", "--rollback", "web"), "previous spec")
        # The CLI's own parsing, before any request.
        assert_refused(d.cli("service", "update", "--read-only=maybe", "web"), "ParseBool")
        assert_refused(
            d.cli("service", "update", "--rollback", "--env-add", "A=1", "web"),
            "other flags may not be combined with --rollback",
        )
        assert_refused(
            d.cli("service", "update", "--mount-add", "type=volume,target=/v,volume-driver=x",
                  "web"),
            'plugin "x" not found',
        )  # fmt: skip
        (after,) = d.json("service", "inspect", "web")
        assert after["Spec"] == before["Spec"]
        assert after["Version"] == before["Version"]
    finally:
        d.cli("service", "rm", "web")
