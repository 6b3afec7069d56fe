"""Docker's filters= parameter, the events' filters and the multiplexed stream framing."""

from __future__ import annotations

import dataclasses
import json

import pytest

from swarmpy.errors import InvalidArgument
from swarmpy.manager.state.store import NODES, SERVICES, Event
from swarmpy.model import NodeState
from swarmpy.server.app import parse_time
from swarmpy.server.convert.events import EVENT_FILTERS, docker_event, event_matches
from swarmpy.server.filters import parse_filters
from swarmpy.server.logstream import details
from swarmpy.server.routes.nodes import NODE_FILTERS, node_matches
from swarmpy.server.stream import STDERR, STDOUT, frame, unframe
from tests.support.builders import node, service


def test_both_json_forms_parse_alike() -> None:
    new = parse_filters(json.dumps({"name": {"web": True, "db": True}}), ["name"])
    old = parse_filters(json.dumps({"name": ["web", "db"]}), ["name"])
    assert sorted(new.get("name")) == sorted(old.get("name")) == ["db", "web"]


def test_unknown_keys_and_bad_json_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="invalid filter 'colour'"):
        parse_filters('{"colour": {"red": true}}', ["name"])
    with pytest.raises(InvalidArgument, match="not JSON"):
        parse_filters("name=web", ["name"])


def test_node_filters_combine_keys_with_and_values_with_or() -> None:
    n = node("host1", labels=(("zone", "a"),))

    def match(filters: dict[str, list[str]]) -> bool:
        return node_matches(parse_filters(json.dumps(filters), NODE_FILTERS), n)

    assert match({"name": ["host"], "role": ["worker", "manager"]})
    assert not match({"name": ["host"], "role": ["manager"]})
    assert match({"label": ["zone"]})
    assert match({"label": ["zone=a"]})
    assert not match({"label": ["zone=b"]})
    assert match({"id": ["id-h"]})
    assert not match({"id": ["x"]})


def test_store_events_become_docker_events() -> None:
    svc = service("web")
    created = docker_event(Event("create", SERVICES, svc), 12.5)
    assert created is not None
    assert created["Type"] == "service"
    assert created["Action"] == "create"
    assert created["Actor"] == {"ID": svc.id, "Attributes": {"name": "web"}}
    assert (created["time"], created["timeNano"]) == (12, 12_500_000_000)
    n = node("h")
    # A heartbeat's rewrite of a node is no event; a state change is.
    assert docker_event(Event("update", NODES, n, n), 1.0) is None
    down = docker_event(
        Event("update", NODES, dataclasses.replace(n, state=NodeState.DOWN), n), 1.0
    )
    assert down is not None
    assert down["Actor"]["Attributes"]["state.new"] == "down"
    labelled = docker_event(
        Event("update", NODES, dataclasses.replace(n, labels=(("zone", "a"),)), n), 1.0
    )
    assert labelled is not None  # `node update --label-add`, as dockerd reports it
    assert (labelled["Action"], labelled["Actor"]["Attributes"]) == ("update", {"name": "h"})
    filters = parse_filters('{"type": ["service"], "service": ["web"]}', EVENT_FILTERS)
    assert event_matches(filters, created)
    assert not event_matches(filters, down)
    assert not event_matches(parse_filters('{"service": ["db"]}', EVENT_FILTERS), created)


def test_stream_frames_round_trip() -> None:
    data = frame(STDOUT, b"hello\n") + frame(STDERR, b"oops\n") + frame(STDOUT, b"par")
    frames, rest = unframe(data[:-1])
    assert frames == [(STDOUT, b"hello\n"), (STDERR, b"oops\n")]
    assert rest == data[len(frame(STDOUT, b"hello\n")) + len(frame(STDERR, b"oops\n")) : -1]
    assert data[:8] == b"\x01\x00\x00\x00\x00\x00\x00\x06"


def test_log_details_are_docker_s() -> None:
    assert details("n", "s", "t") == (
        b"com.docker.swarm.node.id=n,com.docker.swarm.service.id=s,com.docker.swarm.task.id=t"
    )


def test_times_as_docker_s_daemon_reads_them() -> None:
    assert parse_time("", "until") is None
    assert parse_time("1700000000.5", "since") == 1_700_000_000.5
    assert parse_time("24h", "until", now=100_000.0) == 100_000.0 - 86_400
    assert parse_time("1h30m", "until", now=10_000.0) == 10_000.0 - 5_400
    assert parse_time("2023-11-14T22:13:20Z", "until") == 1_700_000_000.0
    with pytest.raises(InvalidArgument, match="not a Unix time, duration or RFC 3339"):
        parse_time("yesterday", "until")
