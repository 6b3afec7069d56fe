"""Healthchecks across hosts, on the session's shared three-host swarm: a client on the host
that runs no web task reaches both web tasks through the VIP; once one of them fails its
check, the VIP of the client's host sends nothing more to it while it still runs and answers
at its own address, then it fails with Docker's error and its replacement takes traffic."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable

import pytest

from tests.support.lab import TestLab, task_container
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

WAIT_S = 60.0
# Each task serves its own hostname, and is healthy while /www/ok exists.
WEB = "mkdir -p /www && hostname > /www/index.html && touch /www/ok && exec httpd -f -p 80 -h /www"
# As `service ps --no-trunc` shows it (quoted, as Docker's).
UNHEALTHY = '"task: non-zero exit (137): dockerexec: unhealthy container"'


def web_tasks(lab: TestLab) -> list[list[str]]:
    """`service ps web` rows: id, node, desired state, current state, error."""
    out = lab.ok(lab.hosts[0], "service", "ps", "web", "--no-trunc", "--format",
             "{{.ID}}|{{.Node}}|{{.DesiredState}}|{{.CurrentState}}|{{.Error}}")  # fmt: skip
    return [line.split("|") for line in out.splitlines()]


def running(lab: TestLab) -> dict[str, str]:
    """The running web tasks: node by task id."""
    return {t[0]: t[1] for t in web_tasks(lab) if t[2] == "Running" and t[3].startswith("Running")}


class Task:
    """A running task's container, seen from the host that runs it."""

    def __init__(self, lab: TestLab, service: str, task_id: str) -> None:
        self.lab = lab
        self.host, self.container = task_container(lab, service, task_id)

    def run(self, *command: str) -> str:
        return self.lab.ok(self.host, "exec", self.container, *command)

    def inspect(self) -> dict[str, object]:
        (doc,) = json.loads(self.lab.ok(self.host, "inspect", self.container))
        assert isinstance(doc, dict)
        return doc

    def health(self) -> str:
        return str(self.inspect()["State"]["Health"]["Status"])  # type: ignore[index]


def answers(client: Task, url: str, n: int) -> list[str]:
    """``n`` fetches of ``url``, each a connection of its own, in one `exec` (one CLI run each
    would take most of the sick task's grace period). A connection nobody answers counts as an
    error after a few seconds (busybox's `wget -T` crashes)."""
    script = f"for i in $(seq {n}); do timeout 5 wget -q -O - {url} || echo error; done"
    found = client.run("sh", "-c", script).split()
    assert len(found) == n, found
    return found


def until(what: str, probe: Callable[[], bool]) -> None:
    wait_for(what, probe, WAIT_S, 0.2)


def vip_reaches(client: Task, want: set[str], n: int = 10) -> bool:
    """Whether ``n`` fetches through the VIP reach exactly the tasks ``want`` (by hostname);
    asserts, so that a timed-out wait shows what was reached."""
    seen = set(answers(client, "http://web/", n))
    assert seen == want, f"reached {sorted(seen)}, want {sorted(want)}"
    return True


def test_unhealthy_task_leaves_the_vip_of_another_host(swarm_lab: TestLab) -> None:
    lab = swarm_lab
    n1, _, n3 = lab.hosts
    net = "hc" + secrets.token_hex(3)
    lab.ok(n1, "network", "create", "-d", "overlay", net)
    try:
        lab.ok(
            n1, "service", "create", "--name", "web", "--replicas", "2", "--network", net,
            "--constraint", f"node.hostname!={n3.name}",
            "--health-cmd", "test -f /www/ok", "--health-interval", "1s",
            "--health-retries", "1", "--stop-grace-period", "12s", "--restart-delay", "1s",
            "busybox", "sh", "-c", WEB,
        )  # fmt: skip
        lab.ok(
            n1, "service", "create", "--name", "client", "--network", net,
            "--constraint", f"node.hostname=={n3.name}", "--stop-grace-period", "1s",
            "busybox", "sleep", "86400",
        )  # fmt: skip
        _sick_task_leaves_the_vip(lab, net)
    finally:
        lab.swarmpy(n1, "service", "rm", "web", "client")
        # The network goes once the services' containers have left it.
        until(
            f"network {net} to be removed",
            lambda: lab.swarmpy(n1, "network", "rm", net).returncode == 0,
        )


def _sick_task_leaves_the_vip(lab: TestLab, net: str) -> None:
    n3 = lab.hosts[2]
    tasks = running(lab)
    # Spread over the two other hosts, each task healthy (a task with a check runs once passed).
    assert sorted(tasks.values()) == sorted(h.name for h in lab.hosts[:2]), tasks
    web = {task_id: Task(lab, "web", task_id) for task_id in tasks}
    assert all(t.health() == "healthy" for t in web.values())
    client_rows = lab.ok(n3, "ps", "--format", "{{.Names}}").split()
    (client_task,) = [n.rsplit(".", 1)[1] for n in client_rows if n.startswith("client.")]
    client = Task(lab, "client", client_task)
    hostname = {task_id: t.run("hostname").strip() for task_id, t in web.items()}
    until(
        "the VIP to reach both tasks",
        lambda: vip_reaches(client, set(hostname.values())),
    )

    # The sick task runs on a worker: its health travels to the manager, and from it to the
    # client's host, which balances the VIP.
    sick_id = next(i for i, node in tasks.items() if node == lab.hosts[1].name)
    (well_id,) = set(tasks) - {sick_id}
    sick = web[sick_id]
    sick_ip = sick.inspect()["NetworkSettings"]["Networks"][net]["IPAddress"]  # type: ignore[index]
    sick.run("rm", "/www/ok")
    until("the task to be unhealthy", lambda: sick.health() == "unhealthy")
    until(
        "the VIP to leave it",
        lambda: vip_reaches(client, {hostname[well_id]}),
    )
    # It still runs and answers at its own address (httpd, as pid 1, ignores the SIGTERM and
    # waits out its grace period): only the VIP leaves it alone.
    assert answers(client, f"http://{sick_ip}/", 1) == [hostname[sick_id]]
    assert vip_reaches(client, {hostname[well_id]}, 30)

    # Stopped for being unhealthy, with Docker's error, and replaced under the restart policy.
    until(
        "its task to fail as unhealthy",
        lambda: any(t[0] == sick_id and t[4] == UNHEALTHY for t in web_tasks(lab)),
    )
    until("a replacement", lambda: len(running(lab)) == 2 and sick_id not in running(lab))
    (new_id,) = set(running(lab)) - {well_id}
    new_host = Task(lab, "web", new_id).run("hostname").strip()
    assert new_host not in hostname.values()
    until(
        "the VIP to reach the replacement",
        lambda: vip_reaches(client, {hostname[well_id], new_host}),
    )
