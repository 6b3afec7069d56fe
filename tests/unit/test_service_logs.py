"""Pure parts of `service logs`: which tasks a subscription covers, line splitting, prefixes."""

from __future__ import annotations

from swarmpy.agent.logs import MAX_LINE, split_lines
from swarmpy.cli.service.logs import format_log_line, log_context, slot_width, split_details
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


def test_split_lines_keeps_partial_line_for_next_chunk() -> None:
    lines, rest = split_lines(b"", b"one\ntw")
    assert (lines, rest) == ([b"one"], b"tw")
    lines, rest = split_lines(rest, b"o\n\nthree\n")
    assert (lines, rest) == ([b"two", b"", b"three"], b"")


def test_split_lines_cuts_very_long_lines() -> None:
    lines, rest = split_lines(b"", b"x" * (MAX_LINE + 10) + b"\n")
    assert [len(line) for line in lines] == [MAX_LINE, 10]
    lines, rest = split_lines(b"", b"y" * (2 * MAX_LINE + 1))
    assert [len(line) for line in lines] == [MAX_LINE, MAX_LINE]
    assert rest == b"y"


def test_prefix_like_docker() -> None:
    web = service("talk")
    t = task_json(
        task(web, 2, TaskState.RUNNING, node_id="n1", id="abcdefghijklmnopqrstuvwxy"), 1, {}
    )
    assert log_context(t, "talk", "node1", False, 1) == "talk.2.abcdefghijkl@node1"
    assert log_context(t, "talk", "node1", True, 1) == "talk.2@node1"
    # Slot 2 next to slot 10: padded to line up.
    assert log_context(t, "talk", "node1", False, 2) == "talk.2.abcdefghijkl@node1 "
    assert format_log_line("talk.2@node1", b"hello\n", False) == b"talk.2@node1    | hello\n"
    assert format_log_line("talk.2@node1", b"hello\n", True) == b"hello\n"


def test_global_task_named_by_node_and_width() -> None:
    web = service("mon")
    t = task_json(task(web, 0, TaskState.RUNNING, node_id="nodeid1", id="x" * 25), 1, {})
    assert log_context(t, "mon", "node1", True, 0) == "mon.nodeid1@node1"
    docs = [task_json(task(web, n), 1, {}) for n in (9, 10)]
    assert slot_width(docs) == 2
    assert slot_width([]) == 0


def test_details_of_a_line_as_the_daemon_sends_them() -> None:
    line = (
        b"com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s%2B1,"
        b"com.docker.swarm.task.id=t1 hello world\n"
    )
    assert split_details(line) == (
        {"node.id": "n1", "service.id": "s+1", "task.id": "t1"},
        b"hello world\n",
    )
    assert split_details(b"no details here\n") == ({}, b"no details here\n")
