"""--format on the CLI's listings and inspect commands: docker's defaults, fields, headers,
quiet and json, over the commands' row builders (no daemon)."""

from __future__ import annotations

import json
import platform
import time

import pytest

from swarmpy.cli import container, fileobjects, gotemplate, image, node, output
from swarmpy.cli.service import ps as service_ps
from swarmpy.errors import SwarmpyError
from swarmpy.model import (
    ContainerSpec,
    ManagerStatus,
    Node,
    NodeRole,
    NodeState,
    Resources,
    ServiceSpec,
    Task,
    TaskState,
    TaskStatus,
)
from swarmpy.server.convert.node import node_json
from swarmpy.server.convert.task import task_json

NODES = [
    {
        "ID": "k8f4w7qtzpj5sqzclcqafw35g",
        "Hostname": "node1",
        "Status": "Ready",
        "Availability": "Active",
        "ManagerStatus": "Leader",
        "EngineVersion": "0.1",
        "Self": True,
    },
    {
        "ID": "35o6tiywb700jesrt3dmllaza",
        "Hostname": "node2",
        "Status": "Ready",
        "Availability": "Drain",
        "ManagerStatus": "",
        "EngineVersion": "0.1",
        "Self": False,
    },
]


def node_listing(fmt: str = "", quiet: bool = False) -> str:
    return output.listing(node.COLUMNS, NODES, fmt, quiet, default=node.TABLE, headers={})


def test_node_ls_default_table_stars_this_node_as_docker() -> None:
    assert node_listing().splitlines() == [
        "ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   "
        "ENGINE VERSION",
        "k8f4w7qtzpj5sqzclcqafw35g *   node1      Ready     Active         Leader           0.1",
        "35o6tiywb700jesrt3dmllaza     node2      Ready     Drain                           0.1",
    ]


def test_node_ls_json_and_quiet_carry_the_bare_id() -> None:
    first = json.loads(node_listing("json").splitlines()[0])
    assert first["ID"] == "k8f4w7qtzpj5sqzclcqafw35g"
    assert first["Self"] is True
    assert node_listing(quiet=True) == "k8f4w7qtzpj5sqzclcqafw35g\n35o6tiywb700jesrt3dmllaza\n"
    # -q wins over --format, as docker's.
    assert node_listing("{{.Hostname}}", quiet=True).splitlines()[0] == NODES[0]["ID"]


def test_node_row_has_no_star_in_its_id() -> None:
    n = Node(id="abc", hostname="h", role=NodeRole.WORKER, state=NodeState.READY)
    row = node.row(node_json(n, 1), "abc")  # the document the Engine API sends
    assert row["ID"] == "abc"
    assert row["Self"] is True
    assert (row["Hostname"], row["Status"], row["Availability"]) == ("h", "Ready", "Active")
    assert row["ManagerStatus"] == ""


def test_node_inspect_pretty_is_dockers_template(capsys: pytest.CaptureFixture[str]) -> None:
    """docker's nodeInspectPrettyTemplate: its padding, PrettyPrint'ed time and states, the
    raft reachability (not the ls column's Leader), architecture, memory in GiB, plugins."""
    n = Node(
        id="abc", hostname="h", role=NodeRole.MANAGER, state=NodeState.READY,
        created_at=1_700_000_000.5, addr="10.0.0.1",
        resources=Resources(nano_cpus=2_000_000_000, memory_bytes=25_276_194_816),
        manager=ManagerStatus(api_addr="10.0.0.1:2377", leader=True),
    )  # fmt: skip
    node.print_pretty(node_json(n, 1))
    lines = capsys.readouterr().out.splitlines()
    for line in (
        "Hostname:              \th",
        "Joined at:             \t2023-11-14 22:13:20.5 +0000 utc",
        " Availability:         \tActive",
        " Raft Status:\t\tReachable",
        " Leader:\t\tYes",
        f" Architecture:\t\t{platform.machine()}",
        " Memory:\t\t23.54GiB",
        " Network:\t\tbridge, host, null, overlay",
    ):
        assert line in lines, (line, lines)


def test_unknown_field_is_an_error_in_one_line() -> None:
    with pytest.raises(SwarmpyError) as info:
        node_listing("{{.Nope}}")
    assert info.value.message == (
        'template parsing error: template: :1:2: executing "" at <.Nope>: '
        "can't evaluate field Nope in type *Row"
    )


def test_custom_table_headers_come_from_the_field_names() -> None:
    out = node_listing("table {{.Hostname}}\\t{{.ManagerStatus}}")
    assert out.splitlines()[0] == "HOSTNAME   MANAGER STATUS"
    assert output.listing(node.COLUMNS, NODES, "table").startswith("ID  ")


def test_service_ls_rows_and_the_reference_example() -> None:
    rows = [
        {
            "ID": "0zmvwuiu3vue",
            "Name": "web",
            "Mode": "replicated",
            "Replicas": "10/10",
            "Image": "nginx",
            "Ports": "",
        }
    ]
    columns = [("ID", "ID"), ("NAME", "Name"), ("MODE", "Mode"), ("REPLICAS", "Replicas")]
    fmt = "{{.ID}}: {{.Mode}} {{.Replicas}}"
    assert output.listing(columns, rows, fmt) == "0zmvwuiu3vue: replicated 10/10\n"


def test_service_ps_rows_have_dockers_task_fields() -> None:
    now = time.time()
    task = Task(
        id="t" * 25,
        service_id="s",
        service_name="web",
        slot=1,
        node_id="n1",
        desired_state=TaskState.RUNNING,
        status=TaskStatus(state=TaskState.RUNNING, timestamp=now - 3),
        spec=ServiceSpec(name="web", container=ContainerSpec(image="busybox")),
        created_at=now - 5,
    )
    doc = task_json(task, 7, {})  # the document the Engine API sends
    rows = service_ps.ps_rows([doc], {"s": "web"}, {"n1": "node1"}, no_trunc=False)
    assert rows[0]["CurrentState"] == "Running 3 seconds ago"
    assert rows[0]["Node"] == "node1"
    out = output.listing(service_ps.PS_COLUMNS, rows, "{{.Name}}: {{.Image}} {{.DesiredState}}")
    assert out == "web.1: busybox Running\n"
    table = output.listing(service_ps.PS_COLUMNS, rows, "")
    assert table.splitlines()[0].split() == [
        "ID", "NAME", "IMAGE", "NODE", "DESIRED", "STATE", "CURRENT", "STATE", "ERROR", "PORTS",
    ]  # fmt: skip


def test_container_ps_fields_labels_and_label() -> None:
    doc = {  # Docker's ContainerSummary
        "Id": "a87ecb4f327c" + "0" * 52,
        "Image": "busybox",
        "Command": "top",
        "Created": int(time.time()) - 60,
        "Status": "Up 1 minute",
        "State": "running",
        "Names": ["/web.1.x"],
        "Labels": {"com.docker.swarm.service.name": "web", "tier": "front"},
        "Mounts": [{"Type": "volume", "Name": "remote-volume-long-name"}],
        "NetworkSettings": {"Networks": {"overnet": {}, "bridge": {}}},
    }
    row = container.ps_row(doc, trunc=True)
    fmt = 'table {{.ID}}\\t{{.Label "tier"}}\\t{{.Labels}}\\t{{.Mounts}}\\t{{.Networks}}'
    out = output.listing(container.PS_COLUMNS, [row], fmt, headers=container.PS_HEADERS)
    header, line = out.splitlines()
    assert header.startswith("CONTAINER ID   ")
    assert line.split() == [
        "a87ecb4f327c",
        "front",
        "com.docker.swarm.service.name=web,tier=front",
        "remote-volume-…",
        "bridge,overnet",
    ]
    as_json = json.loads(output.listing(container.PS_COLUMNS, [row], "json"))
    assert set(as_json) == {
        "ID", "Image", "Command", "CreatedAt", "RunningFor", "Ports", "State", "Status",
        "Size", "Names", "Labels", "Mounts", "LocalVolumes", "Networks",
    }  # fmt: skip
    assert as_json["LocalVolumes"] == "1"
    assert output.listing(container.PS_COLUMNS, [row], "", quiet=True) == "a87ecb4f327c\n"


def test_image_ls_default_table_and_fields() -> None:
    doc = {"Id": "sha256:" + "4d" * 32, "RepoTags": ["ubuntu:latest"], "Size": 72_900_000}
    (row,) = image.ls_rows(doc)
    out = output.listing(image.LS_COLUMNS, [row], "", default=image.LS_TABLE)
    assert out.splitlines()[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert out.splitlines()[1].split()[:3] == ["ubuntu", "latest", "4d4d4d4d4d4d"]
    assert out.splitlines()[1].split()[3] == "N/A"  # no creation time: docker's N/A
    fmt = "table {{.ID}}\\t{{.Repository}}\\t{{.Tag}}\\t{{.Digest}}"
    custom = output.listing(image.LS_COLUMNS, [row], fmt, headers=image.LS_HEADERS)
    assert custom.splitlines()[0].split() == ["IMAGE", "ID", "REPOSITORY", "TAG", "DIGEST"]


def test_network_ls_fields_and_headers() -> None:
    rows = [
        {
            "ID": "afaaab448eb2",
            "Name": "overnet",
            "Driver": "overlay",
            "Scope": "swarm",
            "Labels": "a=b",
            "_labels": {"a": "b"},
        }
    ]
    columns = [("NETWORK ID", "ID"), ("NAME", "Name"), ("DRIVER", "Driver"), ("SCOPE", "Scope")]
    assert output.listing(columns, rows, "{{.ID}}: {{.Driver}}") == "afaaab448eb2: overlay\n"
    assert output.listing(columns, rows, '{{.Label "a"}}{{.Label "z"}}') == "b\n"
    assert "_labels" not in output.listing(columns, rows, "json")
    assert output.listing(columns, rows, "").splitlines() == [
        "NETWORK ID     NAME      DRIVER    SCOPE",
        "afaaab448eb2   overnet   overlay   swarm",
    ]


def test_inspect_output_default_json_and_templates() -> None:
    docs = [{"ID": "x", "Spec": {"Mode": {"Replicated": {"Replicas": 10}}}}]
    assert json.loads(output.inspect_text(docs)) == docs
    assert output.inspect_text(docs).startswith("[\n    {")
    assert output.inspect_text(docs, "json") == json.dumps(docs, separators=(",", ":")) + "\n"
    assert output.inspect_text(docs, "{{.Spec.Mode.Replicated.Replicas}}") == "10\n"
    assert output.inspect_text(docs * 2, "{{.ID}}") == "x\nx\n"
    with pytest.raises(gotemplate.TemplateError) as info:
        output.inspect_text(docs, "{{.Spec.Nope}}")
    assert info.value.message.endswith('map has no entry for key "Nope"')


def test_go_time_and_labels_text() -> None:
    assert output.go_time(0) == "1970-01-01 00:00:00 +0000 UTC"
    assert output.go_time(1.5) == "1970-01-01 00:00:01.5 +0000 UTC"
    assert output.labels_text({"b": "2", "a": "1"}) == "a=1,b=2"


def test_service_inspect_pretty_is_dockers_template(capsys: pytest.CaptureFixture[str]) -> None:
    """docker's serviceInspectPrettyTemplate over a service: update and rollback configs in
    full, Init, resources, networks by name (as docker looks them up), published ports."""
    from swarmpy.cli.service.inspect import print_pretty

    update = {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5_000_000_000,
              "MaxFailureRatio": 0, "Order": "stop-first"}  # fmt: skip
    port = {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}
    doc = {
        "ID": "sid",
        "Spec": {
            "Name": "web",
            "TaskTemplate": {
                "ContainerSpec": {"Image": "busybox:latest", "Args": ["httpd"], "Init": False},
                "Resources": {"Limits": {}, "Reservations": {}},
                "Placement": {},
                "Networks": [{"Target": "netid"}],
            },
            "Mode": {"Replicated": {"Replicas": 0}},
            "UpdateConfig": update,
            "RollbackConfig": update,
            "EndpointSpec": {"Mode": "vip", "Ports": [port]},
        },
        "Endpoint": {"Ports": [port]},
    }
    print_pretty(doc, {"netid": "front"})
    assert capsys.readouterr().out == (
        "\nID:\t\tsid\nName:\t\tweb\nService Mode:\tReplicated\n Replicas:\t0\nPlacement:\n"
        "UpdateConfig:\n Parallelism:\t1\n On failure:\tpause\n Monitoring Period: 5s\n"
        " Max failure ratio: 0\n Update order:      stop-first\n"
        "RollbackConfig:\n Parallelism:\t1\n On failure:\tpause\n Monitoring Period: 5s\n"
        " Max failure ratio: 0\n Rollback order:    stop-first\n"
        "ContainerSpec:\n Image:\t\tbusybox:latest\n Args:\t\thttpd \n Init:\t\tfalse\n"
        "Resources:\nNetworks: front \nEndpoint Mode:\tvip\n"
        "Ports:\n PublishedPort = 8080\n  Protocol = tcp\n  TargetPort = 80\n"
        "  PublishMode = ingress \n\n"
    )


@pytest.mark.parametrize("kind", ["secret", "config"])
def test_secret_and_config_pretty_times_are_pretty_printed_as_docker(kind: str) -> None:
    """docker's templates PrettyPrint the times: the zone comes out lower-case."""
    doc = {"ID": "x", "CreatedAt": "1970-01-01T00:00:01.5Z", "UpdatedAt": "1970-01-01T00:00:02Z",
           "Spec": {"Name": "n", "Data": ""}}  # fmt: skip
    lines = fileobjects.pretty(kind, doc).splitlines()
    assert [line.split(":", 1)[1].strip() for line in lines if " at:" in line] == [
        "1970-01-01 00:00:01.5 +0000 utc",
        "1970-01-01 00:00:02 +0000 utc",
    ]


# A listing's default table is written without the template evaluator: the same text.
PLAIN_ROWS: list[dict[str, object]] = [
    {"ID": "abc123", "Name": "web", "Replicas": "2/2", "Port": 8080},
    {"ID": "d", "Name": "名前名前", "Replicas": "0/1", "Port": 0},
    {"ID": "", "Name": "a-much-longer-name-than-the-rest", "Replicas": "", "Port": -1},
]
PLAIN_COLUMNS = [("ID", "ID"), ("NAME", "Name"), ("REPLICAS", "Replicas"), ("PORT", "Port")]


@pytest.mark.parametrize("rows", [PLAIN_ROWS, PLAIN_ROWS[:1], []])
def test_a_plain_table_is_written_as_the_template_writes_it(
    rows: list[dict[str, object]],
) -> None:
    text = output.listing(PLAIN_COLUMNS, rows)
    fmt = "table " + "\t".join("{{." + key + "}}" for _, key in PLAIN_COLUMNS)
    header = {key: title for title, key in PLAIN_COLUMNS}
    objects = [output.Row(row) for row in rows]
    assert text == gotemplate.format_list(fmt, objects, header)
    assert text.splitlines()[0].split() == ["ID", "NAME", "REPLICAS", "PORT"]


def test_a_table_of_other_values_goes_through_the_template() -> None:
    rows = [{"ID": "x", "Name": None, "Replicas": True, "Port": 1.5}]
    assert output.listing(PLAIN_COLUMNS, rows).splitlines()[1].split() == [
        "x",
        "<nil>",
        "true",
        "1.5",
    ]


def test_node_ls_default_table_is_written_as_its_template_writes_it() -> None:
    rows = [
        node.row(
            {
                "ID": "abc",
                "Description": {"Hostname": "h1", "Engine": {"EngineVersion": "0.1.0"}},
                "Status": {"State": "ready"},
                "Spec": {"Availability": "active"},
                "ManagerStatus": {"Leader": True},
            },
            self_id="abc",
        ),
        node.row({"ID": "defgh", "Status": {"State": "down"}}, self_id="abc"),
    ]
    text = output.listing(
        node.COLUMNS, rows, default=node.TABLE, headers={"Self": ""}, default_cells=node.table_cells
    )
    header = {key: title for title, key in node.COLUMNS} | {"Self": ""}
    objects = [output.Row(r) for r in rows]
    assert text == gotemplate.format_list(node.TABLE, objects, header)
    assert text.splitlines()[1].startswith("abc *")


def test_quiet_listing_is_one_id_a_line_as_the_template_writes_it() -> None:
    quiet = output.listing(PLAIN_COLUMNS, PLAIN_ROWS, quiet=True)
    objects = [output.Row(row) for row in PLAIN_ROWS]
    assert quiet == gotemplate.format_list("{{.ID}}", objects, {})
    assert quiet == "abc123\nd\n\n"
