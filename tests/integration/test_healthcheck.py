"""Healthchecks end to end on one node, with swarmpy's CLI and Docker's: a task counts as
running only once healthy, a task failing its check gets no VIP traffic while it still runs
and is replaced with Docker's error, `ps` and `inspect` show the health, and a rolling update
waits for each replacement to pass its check."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.busybox_image import busybox_image, save_docker_tar
from tests.support.daemons import Daemon
from tests.support.docker_cli import DOCKER, DockerCli
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

CONVERGE_S = 180.0
WAIT_S = 60.0
# Each task serves its own hostname, and is healthy while /www/ok exists.
WEB = "mkdir -p /www && hostname > /www/index.html && touch /www/ok && exec httpd -f -p 80 -h /www"
# As `service ps` shows it (quoted, as Docker's).
UNHEALTHY = '"task: non-zero exit (137): dockerexec: unhealthy container"'


def web_containers(d: Daemon) -> dict[str, dict[str, str]]:
    """The running containers of web's tasks, by name, with their `ps` row."""
    rows = d.json_lines("ps", "--format", "json", "--filter", "name=web.")
    return {str(r["Names"]): {str(k): str(v) for k, v in r.items()} for r in rows}


def tasks(d: Daemon) -> list[list[str]]:
    """`service ps web` rows: id, desired state, current state, error."""
    out = d.ok(
        "service", "ps", "web", "--no-trunc",
        "--format", "{{.ID}}|{{.DesiredState}}|{{.CurrentState}}|{{.Error}}",
    )  # fmt: skip
    return [line.split("|") for line in out.splitlines()]


def running_ids(d: Daemon) -> set[str]:
    return {t[0] for t in tasks(d) if t[1] == "Running" and t[2].startswith("Running")}


def container_of(d: Daemon, task_id: str) -> str | None:
    return next((name for name in web_containers(d) if name.endswith("." + task_id)), None)


def health(d: Daemon, container: str) -> dict[str, Any]:
    (doc,) = d.json("inspect", container)
    found: dict[str, Any] = doc["State"]["Health"]
    return found


def fetch(d: Daemon, client: str, url: str) -> str:
    done = d.cli("exec", client, "wget", "-q", "-O", "-", url)
    return done.stdout.strip() if done.returncode == 0 else f"error: {done.stderr.strip()}"


def vip_answers(d: Daemon, client: str, n: int) -> list[str]:
    """``n`` fetches through the VIP, each a connection of its own, in one `exec` (one CLI
    run each would take most of the sick task's grace period)."""
    script = f"for i in $(seq {n}); do wget -q -O - http://web/ || echo error; done"
    done = d.cli("exec", client, "sh", "-c", script)
    if done.returncode != 0:
        return [f"error: {done.stderr.strip()}"]
    answers = done.stdout.split()
    assert len(answers) == n, answers
    return answers


def until(what: str, probe: Callable[[], object]) -> object:
    return wait_for(what, lambda: probe() or None, WAIT_S, 0.2)


def test_healthchecks_gate_traffic_replace_tasks_and_hold_updates(one_node_swarm: Daemon) -> None:
    assert DOCKER.exists(), f"{DOCKER} is missing: run scripts/install-deps.sh (docker.io)"
    d = one_node_swarm
    d.ok("network", "create", "-d", "overlay", "hcnet")
    d.ok(
        "service", "create", "--name", "web", "--replicas", "2", "--network", "hcnet",
        "--health-cmd", "test -f /www/ok", "--health-interval", "1s",
        "--health-retries", "1", "--stop-grace-period", "12s", "--restart-delay", "1s",
        "busybox", "sh", "-c", WEB,
        timeout=CONVERGE_S,
    )  # fmt: skip
    d.ok(
        "service", "create", "--name", "client", "--network", "hcnet",
        "busybox", "sleep", "86400",
        timeout=CONVERGE_S,
    )  # fmt: skip
    try:
        _traffic_and_replacement(d)
        _update_waits_for_healthy(d)
    finally:
        d.cli("service", "rm", "web", "client")
    _image_healthcheck(d)


def _client(d: Daemon) -> str:
    rows = d.json_lines("ps", "--format", "json", "--filter", "name=client.")
    assert rows, "the client task runs"
    return str(rows[0]["Names"])


def _traffic_and_replacement(d: Daemon) -> None:
    client = _client(d)
    web = web_containers(d)
    assert len(web) == 2
    # Converged means running, and a task with a check runs once it passed.
    for name, row in web.items():
        assert row["Status"].endswith("(healthy)"), row["Status"]
        h = health(d, name)
        assert h["Status"] == "healthy"
        assert h["FailingStreak"] == 0
        log = h["Log"]
        assert log
        assert log[-1]["ExitCode"] == 0
        assert set(log[-1]) == {"Start", "End", "ExitCode", "Output"}
    cli = DockerCli(d)
    assert "(healthy)" in cli.ok("ps", "--filter", "name=web.", "--format", "{{.Status}}")
    assert cli.ok("ps", "-q", "--filter", "health=unhealthy") == ""

    hostname = {name: d.ok("exec", name, "hostname").strip() for name in web}
    until(
        "the VIP to reach both tasks",
        lambda: set(vip_answers(d, client, 10)) == set(hostname.values()),
    )

    sick, well = sorted(web)
    (doc,) = d.json("inspect", sick)
    sick_ip = doc["NetworkSettings"]["Networks"]["hcnet"]["IPAddress"]
    d.ok("exec", sick, "rm", "/www/ok")
    until("the container to be unhealthy", lambda: health(d, sick)["Status"] == "unhealthy")
    assert cli.ok("ps", "-q", "--filter", "health=unhealthy") != ""
    # The inspected health and the event come from the same transition, written one after
    # the other: poll the event log rather than race the second write.
    health_events = ["health_status: healthy", "health_status: unhealthy"]

    def health_events_seen() -> bool:
        seen = cli.ok(
            "events", "--since", "10m", "--until", "0s", "--filter", "event=health_status",
            "--filter", f"container={sick}", "--format", "{{.Action}}",
        ).splitlines()  # fmt: skip
        assert seen == health_events, seen
        return True

    until("the healthy then unhealthy events", health_events_seen)
    until("the VIP to leave it", lambda: set(vip_answers(d, client, 10)) == {hostname[well]})
    # It still runs and answers at its own address (httpd, as pid 1, ignores the SIGTERM and
    # waits out its grace period): only the VIP leaves it alone.
    assert fetch(d, client, f"http://{sick_ip}/") == hostname[sick]
    assert set(vip_answers(d, client, 20)) == {hostname[well]}

    # Stopped for being unhealthy, with Docker's error, and replaced under the restart policy.
    until("its task to fail as unhealthy", lambda: any(t[3] == UNHEALTHY for t in tasks(d)))
    until("a healthy replacement", lambda: len(running_ids(d)) == 2)
    fresh = {n for n in web_containers(d) if n != well}
    assert sick not in fresh
    (new_name,) = fresh
    new_host = d.ok("exec", new_name, "hostname").strip()
    until(
        "the VIP to reach the replacement",
        lambda: set(vip_answers(d, client, 10)) == {hostname[well], new_host},
    )


def _update_waits_for_healthy(d: Daemon) -> None:
    original = running_ids(d)
    seen = set(original)
    # Docker's CLI: every replacement fails its new check until the test creates /tmp/ready
    # (within the start period, failures do not count).
    DockerCli(d).ok(
        "service", "update", "-d", "--health-cmd", "test -f /tmp/ready",
        "--health-start-period", "5m", "--update-monitor", "1s",
        "--update-order", "start-first", "web",
    )  # fmt: skip
    for batch in range(2):
        seen.add(_hold_then_pass(d, original, seen, batch))
    until(
        "the update to complete",
        lambda: d.json("service", "inspect", "web")[0]["UpdateStatus"]["State"] == "completed",
    )


def _hold_then_pass(d: Daemon, original: set[str], seen: set[str], batch: int) -> str:
    """The update's replacement of one task: held while its check has not passed, then run
    once it does; its task id."""
    starting = until(
        "a replacement waiting for its check",
        lambda: [t[0] for t in tasks(d) if t[0] not in seen and t[2].startswith("Starting")],
    )
    assert isinstance(starting, list)
    new_id = str(starting[0])
    name = until("its container", lambda: container_of(d, new_id))
    assert isinstance(name, str)
    until("two failed checks", lambda: len(health(d, name)["Log"]) >= 2)
    # The update holds: the replacement is not running, the task it replaces still is (start
    # first), and no other replacement was started.
    assert web_containers(d)[name]["Status"].endswith("(health: starting)")
    assert new_id not in running_ids(d)
    assert len(running_ids(d) & original) == 2 - batch
    assert {t[0] for t in tasks(d) if t[1] == "Running"} - original - seen == {new_id}
    (service,) = d.json("service", "inspect", "web")
    assert service["UpdateStatus"]["State"] == "updating"
    d.ok("exec", name, "touch", "/tmp/ready")
    until("the replacement to run", lambda: new_id in running_ids(d))
    return new_id


def _image_healthcheck(d: Daemon) -> None:
    """An image's HEALTHCHECK applies unless the service says --no-healthcheck."""
    base = busybox_image()
    config = json.loads(base.config)
    config["config"]["Healthcheck"] = {
        "Test": ["CMD-SHELL", "test -f /tmp/ok"],
        "Interval": 1_000_000_000,
        "StartPeriod": 300_000_000_000,
    }
    tar = d.workdir / "hc.tar"
    image = dataclasses.replace(base, config=json.dumps(config).encode())
    save_docker_tar(tar, image, ["hcimage:latest"])
    d.ok("image", "load", "-i", str(tar))
    d.ok("service", "create", "-d", "--name", "imgcheck", "hcimage", "sleep", "86400")
    DockerCli(d).ok(
        "service", "create", "-d", "--no-resolve-image", "--name", "nocheck",
        "--no-healthcheck", "hcimage", "sleep", "86400",
    )  # fmt: skip
    try:
        row = until("the unchecked task to run", lambda: _row(d, "nocheck."))
        assert isinstance(row, dict)
        assert row["Status"].startswith("Up")
        assert not row["Status"].endswith(")"), "no health shown without a check"
        assert _states(d, "nocheck") == ["nocheck|Running"]
        checked = until("the checked container", lambda: _row(d, "imgcheck."))
        assert isinstance(checked, dict)
        until("a failed check", lambda: len(health(d, checked["Names"])["Log"]) >= 1)
        assert _row(d, "imgcheck.")["Status"].endswith("(health: starting)")
        (doc,) = d.json("inspect", checked["Names"])
        assert doc["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "test -f /tmp/ok"]
        assert [t.split("|")[1] for t in _states(d, "imgcheck")] == ["Starting"]
        d.ok("exec", checked["Names"], "touch", "/tmp/ok")
        until("the checked task to run", lambda: _states(d, "imgcheck") == ["imgcheck|Running"])
        assert _row(d, "imgcheck.")["Status"].endswith("(healthy)")
    finally:
        d.cli("service", "rm", "imgcheck", "nocheck")


def _row(d: Daemon, prefix: str) -> dict[str, str]:
    rows = d.json_lines("ps", "--format", "json", "--filter", f"name={prefix}")
    return {str(k): str(v) for k, v in rows[0].items()} if rows else {}


def _states(d: Daemon, service: str) -> list[str]:
    out = d.ok("service", "ps", service, "--format", "{{.Name}}|{{.CurrentState}}")
    return [
        f"{line.split('|')[0].split('.')[0]}|{line.split('|')[1].split()[0]}"
        for line in out.splitlines()
    ]
