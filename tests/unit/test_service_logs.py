"""Pure parts of `service logs`: which tasks a subscription covers, the lines' prefixes."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from swarmpy.cli.service.logs import Prefix, format_line, log_context, padding_of, split_details
from swarmpy.errors import InvalidArgument
from swarmpy.manager.logbroker import new_in_scope, subscription_scope
from swarmpy.model import TaskState
from swarmpy.server.convert.task import task_json
from tests.support.builders import service, task


def test_scope_takes_started_tasks_of_the_service_by_node() -> None:
    web, db = service("web"), service("db")
    running = task(web, 1, TaskState.RUNNING, node_id="n1")
    starting = task(web, 2, TaskState.STARTING, node_id="n2")
    done = task(web, 3, TaskState.COMPLETE, node_id="n1")
    pending = task(web, 4, TaskState.PENDING)
    assigned = task(web, 5, TaskState.ASSIGNED, node_id="n2")
    other = task(db, 1, TaskState.RUNNING, node_id="n1")
    tasks = [running, starting, done, pending, assigned, other]
    assert subscription_scope(tasks, {web.id}, set()) == {
        "n1": {running.id, done.id},
        "n2": {starting.id},
    }


def test_scope_by_task_id_only_that_task() -> None:
    web = service("web")
    a = task(web, 1, TaskState.RUNNING, node_id="n1")
    b = task(web, 2, TaskState.RUNNING, node_id="n1")
    assert subscription_scope([a, b], set(), {b.id}) == {"n1": {b.id}}
    not_started = task(web, 3, TaskState.PREPARING, node_id="n1")
    assert subscription_scope([not_started], set(), {not_started.id}) == {}


def test_new_in_scope_is_what_nodes_were_not_told() -> None:
    told = {"n1": {"a"}}
    assert new_in_scope({"n1": {"a", "b"}, "n2": {"c"}}, told) == {"n1": {"b"}, "n2": {"c"}}
    assert new_in_scope({"n1": {"a"}}, told) == {}


def test_prefix_like_docker() -> None:
    plain = Prefix()
    tid = "abcdefghijklmnopqrstuvwxy"
    assert log_context("talk", 2, tid, "node1", plain, 1) == "talk.2.abcdefghijkl@node1"
    assert log_context("talk", 2, tid, "node1", Prefix(no_task_ids=True), 1) == "talk.2@node1"
    assert log_context("talk", 2, tid, "node1", Prefix(no_trunc=True), 1) == f"talk.2.{tid}@node1"
    # Slot 2 of a service of 10 replicas: padded to line up with slot 10.
    assert log_context("talk", 2, tid, "node1", plain, 2) == "talk.2.abcdefghijkl@node1 "
    # A global task has no slot: docker shows 0.
    assert log_context("mon", 0, tid, "node1", Prefix(no_task_ids=True), 1) == "mon.0@node1"


def test_padding_from_replicas_or_the_task_slot() -> None:
    web = service("talk")
    t = task_json(task(web, 12, TaskState.RUNNING, node_id="n1"), 1, {})
    assert padding_of(t, is_task=True) == 2
    assert padding_of({"Spec": {"Mode": {"Replicated": {"Replicas": 10}}}}, False) == 2
    assert padding_of({"Spec": {"Mode": {"Global": {}}}}, False) == 1


DETAILS = (
    b"com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s%2B1,com.docker.swarm.task.id=t1"
)


def context_of(context: Mapping[str, str]) -> str:
    return f"{context['service.id']}.1.{context['task.id']}@{context['node.id']}"


def test_a_line_formatted_as_docker_prints_it() -> None:
    line = DETAILS + b" hello world\n"
    assert format_line(line, Prefix(), context_of) == b"s+1.1.t1@n1    | hello world\n"
    stamped = b"2026-01-02T03:04:05.000000001Z " + line
    assert (
        format_line(stamped, Prefix(timestamps=True), context_of)
        == b"2026-01-02T03:04:05.000000001Z s+1.1.t1@n1    | hello world\n"
    )
    # --details: the details left once the context is taken out (none), then a space.
    assert format_line(line, Prefix(details=True), context_of) == b"s+1.1.t1@n1    |  hello world\n"
    extra = b"a=1," + line
    assert (
        format_line(extra, Prefix(details=True), context_of)
        == b"s+1.1.t1@n1    | a=1 hello world\n"
    )


def test_a_line_without_its_context_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match="invalid context in log message"):
        format_line(b"nodetails\n", Prefix(), context_of)
    with pytest.raises(InvalidArgument, match="missing node id"):
        format_line(b"com.docker.swarm.task.id=t1 hi\n", Prefix(), context_of)


def test_details_of_a_line_as_the_daemon_sends_them() -> None:
    assert split_details(DETAILS + b" hello world\n") == (
        {
            "com.docker.swarm.node.id": "n1",
            "com.docker.swarm.service.id": "s+1",
            "com.docker.swarm.task.id": "t1",
        },
        b"hello world\n",
    )
