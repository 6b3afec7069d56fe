"""Network attachment tasks (standalone containers on attachable overlays), the pure parts:
how the managers make one, and that the control loops treat it as a container's place on a
network, not as a service's task."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from swarmpy.agent.attachments import AttachmentController, Attachments
from swarmpy.dns.records import TYPE_A, RecordIndex
from swarmpy.errors import Conflict, InvalidArgument, PermissionDenied
from swarmpy.manager.allocator.network import (
    address_pools,
    allocate_network,
    plan_allocation,
    requested_address,
)
from swarmpy.manager.dispatcher.netview import ViewBuilder
from swarmpy.manager.orchestrator.orchestrator import plan_all, stop_task
from swarmpy.manager.orchestrator.reconcile import Stop
from swarmpy.manager.orchestrator.taskreaper import reap
from swarmpy.manager.resourceapi import attachment_task
from swarmpy.manager.scheduler.scheduler import schedule
from swarmpy.manager.state.store import NETWORKS, NODES, TASKS, LocalLog, Store, Tx
from swarmpy.model import (
    HealthState,
    Network,
    NetworkAttachment,
    NetworkAttachmentSpec,
    NodeAvailability,
    Task,
    TaskState,
    TaskStatus,
)
from swarmpy.server.convert.standalone import inspect_doc
from swarmpy.server.convert.task import task_json
from tests.support.builders import node

SPEC = NetworkAttachmentSpec("c" * 64, "probe")


def attachment(network_id: str = "net1", node_id: str = "id-n1") -> Task:
    return attachment_task("an1", network_id, True, node_id, SPEC)


def test_a_non_attachable_network_is_refused_in_swarmkits_words() -> None:
    with pytest.raises(PermissionDenied, match=r"^network an1 not manually attachable$"):
        attachment_task("an1", "net1", False, "id-n1", SPEC)


def test_an_attachment_is_a_new_task_of_no_service_on_the_callers_node() -> None:
    task = attachment()
    assert task.is_attachment
    assert task.service_id == ""
    assert task.node_id == "id-n1"
    assert task.desired_state == TaskState.RUNNING
    assert task.status.state == TaskState.NEW
    assert task.spec.networks == ("net1",)
    # Its peers resolve it by its container's name.
    assert task.name == "probe"


def test_the_allocator_gives_it_an_address_and_the_scheduler_its_node_even_drained() -> None:
    network = allocate_network("an1", "overlay", "10.9.0.0/24", "", (), attachable=True)
    task = attachment(network.id)
    plan = plan_allocation([network], [], [task])
    assert plan.tasks[task.id][0].addresses == ("10.9.0.2/24",)
    pending = dataclasses.replace(task, status=TaskStatus(TaskState.PENDING))
    drained = node("n1", availability=NodeAvailability.DRAIN)
    placed = schedule([pending], [drained], [pending])
    assert placed.assignments == {task.id: "id-n1"}


def test_the_orchestrator_and_the_reaper_leave_it_alone() -> None:
    # A task of no service would be a deleted service's to retire, and reaped once ended or
    # never assigned: an attachment is its node's engine's to delete.
    task = attachment()
    assert reap([task], frozenset(), 5) == []
    store = Store(LocalLog())

    def fill(tx: Tx) -> None:
        tx.create(NODES, node("n1"))
        tx.create(TASKS, task)

    asyncio.run(store.update(fill))
    assert all(not plan.stop and not plan.create for plan in plan_all(store.view(), 1000.0))


def test_its_controller_makes_it_known_and_holds_it_until_shutdown() -> None:
    async def run() -> tuple[Task, int]:
        known = Attachments()
        task = dataclasses.replace(
            attachment(), networks=(NetworkAttachment("net1", ("10.9.0.3/24",)),)
        )
        waiting = asyncio.ensure_future(known.wait(task.id, 5))
        controller = AttachmentController(task, known)
        await controller.prepare()
        got = await waiting
        await controller.start()
        assert await controller.health_change(HealthState.NONE) == HealthState.NONE
        ended = asyncio.ensure_future(controller.wait())
        await asyncio.sleep(0)
        assert not ended.done()
        await controller.shutdown(1)
        return got, await ended

    got, code = asyncio.run(run())
    assert got.networks[0].addresses == ("10.9.0.3/24",)
    assert code == 0


def test_the_wait_for_an_address_times_out() -> None:
    with pytest.raises(TimeoutError):
        asyncio.run(Attachments().wait("nope", 0.05))


def test_its_json_is_mobys_network_attachment_spec() -> None:
    doc = task_json(attachment(), None, {})
    assert doc["Spec"]["NetworkAttachmentSpec"] == {"ContainerID": SPEC.container_id}
    assert doc["Spec"]["Networks"] == [{"Target": "net1"}]
    assert doc["ServiceID"] == ""


def test_an_attached_container_answers_its_name_and_aliases_once_and_no_slot() -> None:
    task = dataclasses.replace(
        attachment_task(
            "an1",
            "net1",
            True,
            "id-n1",
            NetworkAttachmentSpec("c" * 64, "my.probe", ("c" * 12, "db")),
        ),
        networks=(NetworkAttachment("net1", ("10.9.0.3/24",)),),
        status=TaskStatus(TaskState.RUNNING),
    )
    store = Store(LocalLog())

    def fill(tx: Tx) -> None:
        tx.create(NODES, node("n1"))
        tx.create(NETWORKS, Network("net1", "an1", subnet="10.9.0.0/24", attachable=True))
        tx.create(TASKS, task)

    asyncio.run(store.update(fill))
    view = ViewBuilder(store.view()).view_for("id-n1")
    index = RecordIndex.from_view(view)
    for name in ("my.probe", "c" * 12, "db"):
        found = index.answer(name, TYPE_A, ["net1"])
        assert found is not None, name
        assert found.addresses == ("10.9.0.3",)
    # A service task's <service>.<slot> name is not made of a container's dotted name.
    assert index.answer("my", TYPE_A, ["net1"]) is None


def test_an_asked_address_is_checked_and_kept_by_the_allocator() -> None:
    network = allocate_network("an1", "overlay", "10.9.0.0/24", "", (), attachable=True)
    holder = dataclasses.replace(
        attachment(network.id), networks=(NetworkAttachment(network.id, ("10.9.0.7/24",)),)
    )
    pool = address_pools([network], [holder], [])[network.id]
    with pytest.raises(Conflict, match=r"^Address already in use$"):
        requested_address(pool, "10.9.0.7")
    with pytest.raises(InvalidArgument, match="no configured subnet contains IP address"):
        requested_address(pool, "10.8.0.7")
    with pytest.raises(InvalidArgument, match="invalid IPv4 address: nope"):
        requested_address(pool, "nope")
    asked = requested_address(pool, "10.9.0.50")
    assert asked.addresses == ("10.9.0.50/24",)
    task = attachment_task("an1", network.id, True, "id-n1", SPEC, asked)
    plan = plan_allocation([network], [], [holder, task])
    assert plan.tasks[task.id] == (asked,)


def test_inspect_shows_the_overlay_with_its_address_while_attached() -> None:
    rec: dict[str, Any] = {
        "request": {"Image": "busybox", "HostConfig": {"NetworkMode": "an1"}},
        "network": {"ip": "10.9.0.3", "prefix": 24, "gateway": "", "mac": "02:42:0a:09:00:03"},
        "attachment": "task1",
        "overlay_network": "net1",
    }
    engine_doc: dict[str, Any] = {
        "Id": "c" * 64,
        "State": {"Running": True, "Status": "running"},
        "Config": {},
        "HostConfig": {},
        "NetworkSettings": {"Networks": {}},
    }
    entry = inspect_doc(engine_doc, rec, [], None)["NetworkSettings"]["Networks"]["an1"]
    assert (entry["NetworkID"], entry["IPAddress"], entry["IPPrefixLen"]) == (
        "net1",
        "10.9.0.3",
        24,
    )
    # Ended, it has left the network: the entry stays, without an address, as Docker's.
    ended = {**rec, "attachment": ""}
    stopped = {**engine_doc, "State": {"Running": False, "Status": "exited"}}
    entry = inspect_doc(stopped, ended, [], None)["NetworkSettings"]["Networks"]["an1"]
    assert (entry["NetworkID"], entry["IPAddress"]) == ("net1", "")


def test_the_attachment_of_a_removed_node_is_given_up_then_reaped() -> None:
    task = dataclasses.replace(attachment(), status=TaskStatus(TaskState.RUNNING))
    store = Store(LocalLog())

    def fill(tx: Tx) -> None:
        tx.create(TASKS, task)  # its node, id-n1, was removed

    asyncio.run(store.update(fill))
    stops = [s for plan in plan_all(store.view(), 1000.0) for s in plan.stop]
    assert stops == [Stop(task.id, TaskState.REMOVE, True)]

    def apply(tx: Tx) -> None:
        stop_task(tx, stops[0], 1000.0)

    asyncio.run(store.update(apply))
    given_up = store.view().get(TASKS, task.id)
    assert given_up is not None
    assert given_up.status.state == TaskState.ORPHANED
    assert reap([given_up], frozenset(), 5) == [task.id]
