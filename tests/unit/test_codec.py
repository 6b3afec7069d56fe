import dataclasses
import typing

import pytest
from google.protobuf.message import Message

from swarmpy import codec, model
from swarmpy.api import objects_pb2

PAIRS = [
    (getattr(model, name), getattr(objects_pb2, name))
    for name in (
        "Resources",
        "ManagerStatus",
        "Node",
        "RestartPolicy",
        "UpdateConfig",
        "Mount",
        "ContainerSpec",
        "ResourceRequirements",
        "ServiceSpec",
        "VirtualIP",
        "UpdateStatus",
        "Service",
        "NetworkAttachment",
        "TaskStatus",
        "Task",
        "Network",
        "Endpoint",
        "ServiceEndpoint",
        "NetworkView",
    )
]


@pytest.mark.parametrize(("cls", "msg"), PAIRS, ids=lambda p: getattr(p, "__name__", ""))
def test_every_model_field_has_a_proto_field(cls: type, msg: type[Message]) -> None:
    proto_fields = set(msg.DESCRIPTOR.fields_by_name)
    model_fields = {f.name for f in dataclasses.fields(cls)}
    assert model_fields <= proto_fields, f"{cls.__name__} lacks {model_fields - proto_fields}"


def test_task_round_trips_through_protobuf() -> None:
    spec = model.ServiceSpec(
        name="web",
        container=model.ContainerSpec(
            image="busybox",
            args=("sleep", "infinity"),
            env=("A=1",),
            labels=(("k", "v"),),
            mounts=(model.Mount(model.MountType.TMPFS, "/tmp"),),
        ),
        mode=model.ServiceMode.GLOBAL,
        constraints=("node.role==worker",),
    )
    task = model.Task(
        id="t1",
        service_id="s1",
        service_name="web",
        spec=spec,
        slot=2,
        desired_state=model.TaskState.SHUTDOWN,
        status=model.TaskStatus(state=model.TaskState.RUNNING, message="started"),
        networks=(model.NetworkAttachment("n1", ("10.0.0.3/24",), "02:42:0a:00:00:03"),),
    )
    back = codec.from_proto(model.Task, codec.to_proto(task, objects_pb2.Task()))
    assert back == task


def test_the_tasks_of_one_spec_share_it_after_conversion_and_a_new_spec_is_its_own() -> None:
    """A spec is converted once and copied into each task's message; on the receiving side
    the tasks of one service share one spec object, and a spec changed since (a service
    update: a new object) converts to what it says now, not to what was cached."""
    spec = model.ServiceSpec(name="web", container=model.ContainerSpec(image="busybox"))
    tasks = [
        model.Task(id=f"t{i}", service_id="s1", service_name="web", spec=spec, slot=i)
        for i in range(3)
    ]
    back = [codec.from_proto(model.Task, codec.to_proto(t, objects_pb2.Task())) for t in tasks]
    assert back == tasks
    assert back[0].spec is back[1].spec is back[2].spec
    updated = dataclasses.replace(spec, container=model.ContainerSpec(image="busybox:1.36"))
    changed = dataclasses.replace(tasks[0], spec=updated)
    again = codec.from_proto(model.Task, codec.to_proto(changed, objects_pb2.Task()))
    assert again.spec.container.image == "busybox:1.36"
    assert again == changed
    # Still a plain field for everything else: equality and pickling do not see the cache.
    assert dataclasses.replace(again.spec) == updated


def test_optional_message_absent_means_none() -> None:
    service = model.Service(id="s", spec=model.ServiceSpec("a", model.ContainerSpec("i")))
    back = codec.from_proto(model.Service, codec.to_proto(service, objects_pb2.Service()))
    assert back.previous_spec is None
    assert back.update_status is None
    assert back == service


def test_to_dict_is_json_ready() -> None:
    node = model.Node(id="n", hostname="h", labels=(("zone", "a"),))
    d = codec.to_dict(node)
    assert d["labels"] == {"zone": "a"}
    assert d["role"] == "worker"
    assert typing.get_type_hints(model.Node)["manager"]
