"""The system commands against a real daemon, as a Docker user checks them: events replayed
with --since and selected with --filter, node ps, info and version, system df's sums, and
the prunes' removals and reports.

One daemon for the module, alone in a swarm with a service ``web``; it is stopped and its
swarm left afterwards, also on failure. The prune test runs last: it removes what the others
look at.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from swarmpy.lab.hosts import swarmpy_executable
from tests.support.daemons import Daemon, DaemonSet
from tests.support.docker_cli import DockerCli
from tests.support.localswarm import remove_service, run_task, single_node_swarm, task_container
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

SERVICE = "web"


@pytest.fixture(scope="module")
def node() -> Iterator[Daemon]:
    with DaemonSet() as ds:
        (d,) = ds.start(1)
        with single_node_swarm(d):
            run_task(d, SERVICE, "busybox", "sleep", "600")
            try:
                yield d
            finally:
                d.cli("service", "rm", SERVICE)


def service_id(d: Daemon) -> str:
    return d.ok("service", "inspect", SERVICE, "--format", "{{.ID}}").strip()


def until_now() -> list[str]:
    """``--since 10m --until <now>``: a window in the past, so the kept events come and the
    stream ends on its own. Not ``--until 0s``: docker's client sends a duration's end
    rounded down to the whole second, which leaves out what happened in this second (as
    Docker's does); a Unix timestamp goes to the daemon as it is."""
    return ["--since", "10m", "--until", f"{time.time():.9f}"]


def test_events_since_replays_the_service_create_and_filters_select(node: Daemon) -> None:
    sid = service_id(node)
    lines = node.ok("events", *until_now()).splitlines()
    assert any(f" service create {sid} (name={SERVICE})" in line for line in lines), lines
    assert any(" node create " in line for line in lines), lines

    only_services = node.ok(
        "events", *until_now(), "--filter", "type=service",
        "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    )  # fmt: skip
    assert only_services.splitlines() == [f"service create {SERVICE}"]

    # Keys AND-ed: a service filter that names another service selects nothing.
    none = node.ok("events", *until_now(), "--filter", "service=nope")
    assert none == ""
    (event,) = node.json_lines(
        "events", *until_now(), "--filter", f"service={sid[:6]}",
        "--format", "{{json .}}",
    )  # fmt: skip
    assert (event["Type"], event["Action"], event["scope"]) == ("service", "create", "swarm")

    # The node's containers' events, local in scope: the task's container started.
    started = node.ok(
        "events", *until_now(), "--filter", "type=container",
        "--filter", "event=start", "--format", "{{.Scope}} {{.Actor.Attributes.name}}",
    )  # fmt: skip
    assert any(line.startswith(f"local {SERVICE}.1.") for line in started.splitlines())

    # The image store's: busybox loaded, and tagged.
    tagged = node.ok(
        "events", *until_now(), "--filter", "type=image",
        "--filter", "event=tag", "--format", "{{.Actor.Attributes.name}}",
    )  # fmt: skip
    assert tagged == "busybox:latest\n"

    bad = node.cli("events", "--since", "yesterday", "--until", "0s")
    assert bad.returncode == 1
    assert 'failed to parse value as time or duration: "yesterday"' in bad.stderr
    bad_filter = node.cli("events", "--filter", "type")
    assert bad_filter.returncode == 125
    assert "bad format of filter (expected name=value)" in bad_filter.stderr


def test_events_stream_live_until_the_client_ends(node: Daemon) -> None:
    env = {**os.environ, "SWARMPY_HOST": node.host}
    # --since 0s: from this second on, so an event between the start and the subscription
    # still comes (replayed); --until -120s (a negative duration: in the future) ends it for
    # certain.
    args = ["events", "--since", "0s", "--until", "-120s", "--filter", "service=live"]
    # service= matches any event whose actor's name starts so (as Docker's), its containers'
    # too: type= keeps the service's own.
    args += ["--filter", "type=service"]
    fmt = ["--format", "{{.Action}} {{.Actor.Attributes.name}}"]
    proc = subprocess.Popen(
        [str(swarmpy_executable()), *args, *fmt], stdout=subprocess.PIPE, text=True, env=env
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    try:
        node.ok("service", "create", "-d", "--name", "live", "busybox", "sleep", "600")
        wait_for("the create event", lambda: "create live\n" in lines, 30)
        node.ok("service", "rm", "live")
        wait_for("the remove event", lambda: "remove live\n" in lines, 30)
        assert lines == ["create live\n", "remove live\n"]  # the filter kept only these
    finally:
        proc.terminate()
        proc.wait(10)
        node.cli("service", "rm", "live")
        # Its tasks go once their containers are down: the other tests see only web's.
        wait_for("live's tasks to go", lambda: only_web_tasks(node), 60, 0.5)


def only_web_tasks(d: Daemon) -> bool:
    rows = d.json_lines("node", "ps", "--format", "{{json .}}")
    return all(row["Name"].startswith(f"{SERVICE}.") for row in rows)


def test_node_ps_lists_the_nodes_tasks(node: Daemon) -> None:
    table = node.ok("node", "ps").splitlines()
    assert table[0].split() == [
        "ID", "NAME", "IMAGE", "NODE", "DESIRED", "STATE", "CURRENT", "STATE", "ERROR", "PORTS",
    ]  # fmt: skip
    assert [line.split()[1] for line in table[1:]] == [f"{SERVICE}.1"]
    (row,) = node.json_lines("node", "ps", "self", "--format", "{{json .}}")
    assert (row["Name"], row["DesiredState"]) == (f"{SERVICE}.1", "Running")
    assert row["CurrentState"].startswith("Running ")
    assert node.ok("node", "ps", "-q").split() == [row["ID"]]
    hostname = node.ok("node", "inspect", "self", "--format", "{{.Description.Hostname}}")
    assert row["Node"] == hostname.strip()
    assert node.ok("node", "ps", "--filter", "desired-state=shutdown", "-q") == ""

    missing = node.cli("node", "ps", "self", "nope")
    assert missing.returncode == 1
    assert f"{SERVICE}.1" in missing.stdout  # the node found is listed all the same
    assert "No such node: nope" in missing.stderr


def test_info_and_version_show_the_swarm_and_both_sides(node: Daemon) -> None:
    text = node.ok("info")
    node_id = node.ok("info", "--format", "{{.Swarm.NodeID}}").strip()
    assert node_id == node.ok("node", "inspect", "self", "--format", "{{.ID}}").strip()
    for line in (
        " Swarm: active",
        f"  NodeID: {node_id}",
        "  Is Manager: true",
        "  Managers: 1",
        "  Nodes: 1",
        " Images: 1",
        "  Running: 1",
    ):
        assert f"\n{line}\n" in text, line
    assert "  Manager Addresses:\n" in text
    assert node.ok("info", "--format", "{{.Swarm.ControlAvailable}}") == "true\n"

    version = node.ok("version")
    assert version.startswith("Client:\n Version: ")
    assert "\nServer: swarmpy\n Engine:\n  Version: " in version
    assert node.ok("version", "--format", "{{.Server.ApiVersion}}") == "1.41\n"
    bad = node.cli("version", "--format", "{{.Server")
    assert bad.returncode == 64
    assert "template parsing error" in bad.stderr


def prune_with_answer(d: Daemon, answer: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SWARMPY_HOST": d.host}
    return subprocess.run(
        [str(swarmpy_executable()), *args],
        input=answer,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def df_rows(d: Daemon) -> dict[str, dict[str, str]]:
    return {row["Type"]: row for row in d.json_lines("system", "df", "--format", "{{json .}}")}


def test_df_sums_and_prune_removes_and_reports(node: Daemon) -> None:
    usage = df_rows(node)
    assert (usage["Images"]["TotalCount"], usage["Images"]["Active"]) == ("1", "1")
    assert (usage["Containers"]["TotalCount"], usage["Containers"]["Active"]) == ("1", "1")
    assert usage["Images"]["Reclaimable"] == "0B (0%)"  # the running task uses all of it
    verbose = node.ok("system", "df", "-v")
    assert verbose.startswith("Images space usage:\n\nREPOSITORY ")
    assert "\nbusybox " in verbose

    # A task whose container is stopped is replaced: the old container stays, stopped.
    first = task_container(node, SERVICE)
    assert first is not None
    node.ok("stop", "-t", "1", first["ID"])

    def replaced() -> dict[str, str] | None:
        row = task_container(node, SERVICE)
        return row if row is not None and row["ID"] != first["ID"] else None

    wait_for("the task's replacement", replaced, 60, 0.5)
    died = node.ok(
        "events", *until_now(), "--filter", f"container={first['ID']}",
        "--filter", "event=die", "--format", "{{.Actor.Attributes.exitCode}}",
    )  # fmt: skip
    assert died.split() == ["143"] or died.split() == ["137"], died  # TERM, else KILL
    assert df_rows(node)["Containers"]["TotalCount"] == "2"

    # No at the prompt: nothing goes (and docker's says so).
    declined = prune_with_answer(node, "n\n", "container", "prune")
    assert declined.returncode == 0
    assert declined.stdout == (
        "WARNING! This will remove all stopped containers.\n"
        "Are you sure you want to continue? [y/N] Total reclaimed space: 0B\n"
    )
    assert df_rows(node)["Containers"]["TotalCount"] == "2"

    pruned = prune_with_answer(node, "y\n", "container", "prune")
    assert pruned.returncode == 0, pruned.stderr
    lines = pruned.stdout.split("[y/N] ", 1)[1].splitlines()
    assert lines[0] == "Deleted Containers:"
    assert first["ID"] in lines[1]
    assert lines[-1].startswith("Total reclaimed space: ")
    assert df_rows(node)["Containers"]["TotalCount"] == "1"

    # The image is in use: image prune -a keeps it; once the service is gone it goes.
    kept = node.ok("image", "prune", "-a", "-f")
    assert kept == "Total reclaimed space: 0B\n"
    remove_service(node, SERVICE)
    gone = node.ok("system", "prune", "-a", "-f").splitlines()
    assert "untagged: busybox:latest" in gone
    assert any(line.startswith("deleted: sha256:") for line in gone)
    total = gone[-1]
    assert total.startswith("Total reclaimed space: ")
    assert total != "Total reclaimed space: 0B"
    usage = df_rows(node)
    assert (usage["Images"]["TotalCount"], usage["Images"]["Size"]) == ("0", "0B")
    # As Docker's: prune leaves the routing mesh's network.
    assert "ingress" in node.ok("network", "ls", "--format", "{{.Name}}").split()
    # Docker's own CLI prunes through the same endpoints (its build cache's included).
    assert DockerCli(node).ok("system", "prune", "-f") == "Total reclaimed space: 0B\n"
