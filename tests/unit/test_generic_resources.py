"""User-defined node resources as Docker has them: dockerd's --node-generic-resource, `service
create --generic-resource` / `update --generic-resource-add|-rm`, the scheduler's filter and
claim, the Engine API JSON and the DOCKER_RESOURCE_<KIND> variables of a task's container.
Also --isolation, which a Linux node honours only at its default."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from swarmpy import genericresource as gr
from swarmpy.agent import container
from swarmpy.cli.service.options import CreateOptions, UpdateOptions, create_spec, update_spec
from swarmpy.compose import convert as compose_convert
from swarmpy.compose import loader
from swarmpy.dockerjson.service import service_spec, service_spec_json
from swarmpy.errors import InvalidArgument, RuntimeFailure
from swarmpy.manager.scheduler.scheduler import schedule
from swarmpy.model import (
    GenericResource,
    ResourceRequirements,
    Resources,
    ServiceSpec,
    TaskState,
)
from swarmpy.overlay.sandbox import SandboxInfo
from swarmpy.server.convert.node import node_json
from swarmpy.server.convert.task import task_json
from tests.support.builders import node, service, task

GPUS = gr.parse(["gpu=UUID1", "gpu=UUID2", "SSD=3"])


def gpu_node(name: str, *terms: str) -> Any:
    return node(name, resources=Resources(nano_cpus=4 * 10**9, generic=gr.parse(terms)))


def wanting(*terms: str) -> dict[str, Any]:
    return {"resources": ResourceRequirements(reservations=Resources(generic=gr.parse(terms)))}


# ---------------------------------------------------------------- parsing, as SwarmKit


def test_node_terms_parse_into_named_units_and_counts() -> None:
    expected = (
        GenericResource("SSD", count=3),
        GenericResource("gpu", value="UUID1", named=True),
        GenericResource("gpu", value="UUID2", named=True),
    )
    assert expected == GPUS


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        (["gpu"], "could not parse GenericResource: incorrect term gpu, missing '=' or malformed"),
        (["a=b=c"], "incorrect term a=b=c"),
        (["gpu=-1"], "cannot ask for negative resource gpu"),
        (["gpu=1", "gpu=UUID"], "mixed discrete and named resources in expression 'gpu=[1 UUID]'"),
    ],
)
def test_bad_terms_are_refused_in_swarmkits_words(terms: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("[", r"\[").replace("]", r"\]")):
        gr.parse(terms)


def test_a_service_reserves_counts_only() -> None:
    assert gr.parse_request(["gpu=2"]) == (GenericResource("gpu", count=2),)
    with pytest.raises(InvalidArgument) as err:
        gr.parse_request(["gpu=UUID1"])
    assert str(err.value) == (
        "invalid generic-resource request `gpu=UUID1`, Named Generic Resources is not "
        "supported for service create or update"
    )


# ---------------------------------------------------------------- claim and environment


def test_claim_takes_named_units_in_order_and_counts_and_env_names_them() -> None:
    available = list(GPUS)
    taken = gr.claim(available, gr.parse(["gpu=1", "SSD=2"]))
    assert gr.env(taken) == ("DOCKER_RESOURCE_SSD=2", "DOCKER_RESOURCE_GPU=UUID1")
    assert available == [
        GenericResource("SSD", count=1),
        GenericResource("gpu", value="UUID2", named=True),
    ]
    assert not gr.has_enough(available, GenericResource("gpu", count=2))
    assert gr.has_enough(available, GenericResource("gpu", count=1))
    assert not gr.has_enough(available, GenericResource("fpga", count=1))


# ---------------------------------------------------------------- the scheduler


def test_tasks_go_where_the_resources_are_and_each_gets_its_own_units() -> None:
    svc = service("ml", **wanting("gpu=1"))
    plain, gpus = node("plain"), gpu_node("gpus", "gpu=UUID1", "gpu=UUID2")
    tasks = [task(svc, slot=i) for i in (1, 2, 3)]
    result = schedule(tasks, [plain, gpus], tasks)
    placed = sorted(result.assignments)
    assert [result.assignments[t] for t in placed] == [gpus.id, gpus.id]
    given = sorted(result.generic[t][0].value for t in placed)
    assert given == ["UUID1", "UUID2"]
    (reason,) = result.unschedulable.values()
    assert reason == "no suitable node (insufficient resources on 2 nodes)"


def test_units_held_by_running_tasks_are_not_given_again() -> None:
    svc = service("ml", **wanting("gpu=1"))
    gpus = gpu_node("gpus", "gpu=UUID1", "gpu=UUID2")
    held = task(
        svc,
        slot=1,
        state=TaskState.RUNNING,
        node_id=gpus.id,
        assigned_generic_resources=(gr.named("gpu", "UUID1"),),
    )
    new = task(svc, slot=2)
    result = schedule([new], [gpus], [held, new])
    assert result.generic[new.id] == (gr.named("gpu", "UUID2"),)


def test_discrete_counts_are_used_up() -> None:
    svc = service("db", **wanting("SSD=2"))
    disks = gpu_node("disks", "SSD=3")
    tasks = [task(svc, slot=i) for i in (1, 2)]
    result = schedule(tasks, [disks], tasks)
    assert len(result.assignments) == 1
    assert list(result.generic.values()) == [(GenericResource("SSD", count=2),)]
    assert list(result.unschedulable.values()) == [
        "no suitable node (insufficient resources on 1 node)"
    ]


# ---------------------------------------------------------------- CLI flags and API JSON


def test_create_and_update_flags_as_docker_cli() -> None:
    spec = create_spec(CreateOptions(image="busybox", generic_resources=("gpu=1", "SSD=2")))
    assert spec.resources.reservations.generic == gr.parse(["SSD=2", "gpu=1"])

    def update(**flags: Any) -> ServiceSpec:
        return update_spec(spec, UpdateOptions(**flags), lambda n: n)

    changed = update(generic_resource_add=("gpu=3",), generic_resource_rm=("SSD",))
    assert changed.resources.reservations.generic == (GenericResource("gpu", count=3),)
    with pytest.raises(InvalidArgument, match="could not find generic-resource `fpga` to remove"):
        update(generic_resource_rm=("fpga",))
    with pytest.raises(InvalidArgument) as err:
        create_spec(CreateOptions(image="busybox", generic_resources=("gpu",)))
    assert str(err.value) == (
        'invalid argument "gpu" for "--generic-resource" flag: '
        "invalid generic-resource format `gpu` expected `name=value`"
    )


def test_isolation_is_normalised_as_dockers_daemon_does() -> None:
    assert create_spec(CreateOptions(image="busybox")).container.isolation == "default"
    spec = create_spec(CreateOptions(image="busybox", isolation="Process"))
    assert spec.container.isolation == "process"
    assert create_spec(CreateOptions(image="b", isolation="other")).container.isolation == (
        "default"
    )


def test_spec_json_round_trips_generic_resources_and_isolation() -> None:
    spec = create_spec(
        CreateOptions(image="busybox", generic_resources=("gpu=1",), isolation="hyperv")
    )
    body = service_spec_json(spec)
    assert body["TaskTemplate"]["Resources"]["Reservations"]["GenericResources"] == [
        {"DiscreteResourceSpec": {"Kind": "gpu", "Value": 1}}
    ]
    assert body["TaskTemplate"]["ContainerSpec"]["Isolation"] == "hyperv"
    assert service_spec(body) == spec


def test_node_and_task_json_show_the_resources() -> None:
    n = gpu_node("gpus", "gpu=UUID1", "SSD=3")
    assert node_json(n, 1)["Description"]["Resources"]["GenericResources"] == [
        {"DiscreteResourceSpec": {"Kind": "SSD", "Value": 3}},
        {"NamedResourceSpec": {"Kind": "gpu", "Value": "UUID1"}},
    ]
    assert "GenericResources" not in node_json(node("plain"), 1)["Description"]["Resources"]
    t = task(service(), assigned_generic_resources=(gr.named("gpu", "UUID1"),))
    assert task_json(t, 1, {})["GenericResources"] == [
        {"NamedResourceSpec": {"Kind": "gpu", "Value": "UUID1"}}
    ]


# ---------------------------------------------------------------- the task's container

SANDBOX = SandboxInfo("/run/netns/x1", "nameserver 127.0.0.11\n", "127.0.0.1\tlocalhost\n", "a")


def test_the_container_gets_its_units_after_the_spec_env() -> None:
    svc = service(container=dataclasses.replace(service().spec.container, env=("A=1",)))
    t = task(svc, assigned_generic_resources=(gr.named("gpu", "U1"), gr.named("gpu", "U2")))
    made = container.container_config(t, SANDBOX, "node1")
    assert made.env == ("A=1", "DOCKER_RESOURCE_GPU=U1,U2")


def test_a_linux_node_rejects_isolation_other_than_default() -> None:
    container.check_isolation(service().spec.container)
    spec = dataclasses.replace(service().spec.container, isolation="process")
    with pytest.raises(RuntimeFailure, match=r"^invalid isolation 'process' on linux$"):
        container.check_isolation(spec)


# ---------------------------------------------------------------- --credential-spec


def test_credential_spec_is_kept_as_docker_keeps_it_and_rejected_by_the_node() -> None:
    spec = create_spec(CreateOptions(image="busybox", credential_spec="file://spec.json"))
    body = service_spec_json(spec)
    assert body["TaskTemplate"]["ContainerSpec"]["Privileges"] == {
        "CredentialSpec": {"File": "spec.json"}
    }
    assert service_spec(body) == spec
    with pytest.raises(RuntimeFailure) as err:
        container.check_isolation(spec.container)
    assert str(err.value) == 'invalid --security-opt 2: "credentialspec=file://spec.json"'
    removed = update_spec(spec, UpdateOptions(credential_spec=""), lambda n: n)
    assert removed.container.credential_spec == ""


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, 'must either provide "file", "registry", or "config" for credential spec'),
        ({"File": "a", "Registry": "b"}, 'cannot specify both "file" and "registry"'),
    ],
)
def test_bad_credential_specs_are_refused_in_dockers_words(
    given: dict[str, str], message: str
) -> None:
    body = service_spec_json(create_spec(CreateOptions(image="busybox")))
    body["TaskTemplate"]["ContainerSpec"]["Privileges"] = {"CredentialSpec": given}
    with pytest.raises(InvalidArgument, match=f"^invalid CredentialSpec: {message}"):
        service_spec(body)


def test_the_credential_spec_flag_needs_a_known_prefix() -> None:
    with pytest.raises(InvalidArgument) as err:
        create_spec(CreateOptions(image="busybox", credential_spec="spec.json"))
    assert str(err.value) == (
        'invalid argument "spec.json" for "--credential-spec" flag: invalid credential spec: '
        'value must be prefixed with "config://", "file://", or "registry://"'
    )


# ---------------------------------------------------------------- stack deploy


def test_a_compose_file_reserves_generic_resources_and_names_an_isolation(
    tmp_path: Path,
) -> None:
    text = """
version: "3.8"
services:
  ml:
    image: busybox
    isolation: process
    deploy:
      resources:
        reservations:
          generic_resources:
            - discrete_resource_spec: {kind: gpu, value: 2}
"""
    project = loader.load([loader.parse_yaml(text, "stack.yml")], {}, str(tmp_path))
    body = compose_convert.service_spec("st", "ml", project.services["ml"], project)
    spec = service_spec(body)
    assert spec.resources.reservations.generic == (GenericResource("gpu", count=2),)
    assert spec.container.isolation == "process"
