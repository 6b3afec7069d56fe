"""--placement-pref spread=<attribute> and --replicas-max-per-node in the scheduler."""

from __future__ import annotations

from collections import Counter

import pytest

from swarmpy.errors import InvalidArgument
from swarmpy.manager.controlapi import validate
from swarmpy.manager.scheduler.scheduler import schedule
from swarmpy.model import Node
from tests.support.builders import node, service, task


def zone_nodes() -> list[Node]:
    # Three nodes in zone a, one in zone b, one without a zone.
    return [
        node("a1", labels=(("zone", "a"),)),
        node("a2", labels=(("zone", "a"),)),
        node("a3", labels=(("zone", "a"),)),
        node("b1", labels=(("zone", "b"),)),
        node("none"),
    ]


def test_tasks_divide_evenly_over_the_values_not_the_nodes() -> None:
    nodes = zone_nodes()
    web = service("web", placement_prefs=("node.labels.zone",))
    tasks = [task(web, slot) for slot in range(1, 7)]
    placed = schedule(tasks, nodes, tasks).assignments
    zone = {n.id: dict(n.labels).get("zone", "") for n in nodes}
    assert Counter(zone[nid] for nid in placed.values()) == {"a": 2, "b": 2, "": 2}
    # Without the preference the tasks spread over the nodes instead.
    plain = service("plain")
    tasks = [task(plain, slot) for slot in range(1, 6)]
    assert len(set(schedule(tasks, nodes, tasks).assignments.values())) == 5


def test_max_replicas_per_node_leaves_the_rest_pending_with_dockers_reason() -> None:
    a, b = node("a"), node("b")
    web = service("web", max_replicas=1)
    tasks = [task(web, slot) for slot in (1, 2, 3)]
    result = schedule(tasks, [a, b], tasks)
    assert sorted(result.assignments.values()) == sorted([a.id, b.id])
    (reason,) = result.unschedulable.values()
    assert reason == "no suitable node (max replicas per node limit exceed on 2 nodes)"


def test_a_preference_must_name_a_node_attribute() -> None:
    spec = service("web", placement_prefs=("node.labels.zone",)).spec
    validate.check_service_spec(spec)
    bad = service("web", placement_prefs=("zone",)).spec
    with pytest.raises(InvalidArgument, match="invalid placement preference spread=zone"):
        validate.check_service_spec(bad)
