"""The system commands' pure parts: --since/--until and --filter as docker's client reads
them, and the layouts of events, info, version, node/service ps, system df and prune."""

from __future__ import annotations

import time
from typing import Any

import pytest

from swarmpy.cli import events, info, opts, task, version
from swarmpy.cli.system import df, prune
from swarmpy.errors import InvalidArgument

NOW = 1_700_000_000.25  # 2023-11-14T22:13:20.25Z


# ---------------------------------------------------------------- --since / --until


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10m", str(1_700_000_000 - 600)),
        ("1h30m", str(1_700_000_000 - 5400)),
        ("1.5h", str(1_700_000_000 - 5400)),
        ("-1h", str(1_700_000_000 + 3600)),  # a negative duration is in the future
        ("300ms", "1699999999"),
        ("0", "0"),  # not a duration: a Unix timestamp, passed as it is
        ("1700000000", "1700000000"),
        ("1700000000.5", "1700000000.5"),
        ("2023-11-14", "1699920000.000000000"),
        ("2023-11-14T22", "1699999200.000000000"),
        ("2023-11-14T22:13", "1699999980.000000000"),
        ("2023-11-14T22:13:20", "1700000000.000000000"),
        ("2023-11-14T22:13:20.5", "1700000000.500000000"),
        ("2023-11-14T22:13:20Z", "1700000000.000000000"),
        ("2023-11-14T23:13:20+01:00", "1700000000.000000000"),
        ("2023-11-14T22:13:20.123456789Z", "1700000000.123456789"),
        ("2023-11-14Z", "1699920000.000000000"),
    ],
)
def test_times_as_dockers_client_sends_them(value: str, expected: str) -> None:
    assert opts.get_timestamp(value, NOW, offset=0) == expected


def test_times_without_a_zone_are_local() -> None:
    # Two hours east of UTC: local 00:13:20 is 22:13:20 UTC the day before.
    assert opts.get_timestamp("2023-11-15T00:13:20", NOW, offset=7200) == "1700000000.000000000"
    assert opts.get_timestamp("2023-11-15T00:13:20Z", NOW, offset=7200) == "1700007200.000000000"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", 'failed to parse value as time or duration: "yesterday"'),
        ("10 minutes", 'failed to parse value as time or duration: "10 minutes"'),
        ("2023-13-01", "month out of range"),
        ("2023-02-30", "day out of range"),
        ("2023-11-14T25:00", "hour out of range"),
        ("2023-11-1", 'parsing time "2023-11-1"'),
    ],
)
def test_bad_times_are_refused_as_docker_words_them(value: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        opts.get_timestamp(value, NOW, offset=0)


def test_go_durations() -> None:
    assert opts.parse_go_duration("1h2m3s") == 3723 * 10**9
    assert opts.parse_go_duration("1.5s") == 1_500_000_000
    assert opts.parse_go_duration("2µs") == opts.parse_go_duration("2us") == 2000
    for bad in ("", "h", "1", "1d", ".s", "1h 2m"):
        assert opts.parse_go_duration(bad) is None, bad


def test_events_query_takes_both_times_against_one_now() -> None:
    q = events.query("10m", "5m", ["type=service", " Event = create "], now=NOW)
    assert (q["since"], q["until"]) == (str(1_700_000_000 - 600), str(1_700_000_000 - 300))
    assert q["filters"] == '{"type": {"service": true}, "event": {"create": true}}'


# ---------------------------------------------------------------- --filter


def test_filter_flags_as_dockers_filteropt() -> None:
    parsed = opts.parse_filter_flags(["Name=web", "name=db", "label=a=b", "name=web", ""])
    assert parsed == {"name": ["web", "db"], "label": ["a=b"]}
    with pytest.raises(InvalidArgument, match=r"bad format of filter \(expected name=value\)"):
        opts.parse_filter_flags(["dangling"])


# ---------------------------------------------------------------- events


EVENT = {
    "Type": "service",
    "Action": "create",
    "Actor": {"ID": "svc1", "Attributes": {"name": "web", "image": "busybox"}},
    "scope": "swarm",
    "time": 1_700_000_000,
    "timeNano": 1_700_000_000_123_456_789,
}


def test_event_lines_as_docker_prints_them() -> None:
    assert events.pretty_line(EVENT, offset=0) == (
        "2023-11-14T22:13:20.123456789Z service create svc1 (image=busybox, name=web)\n"
    )
    assert events.pretty_line(EVENT, offset=-5400).startswith(
        "2023-11-14T20:43:20.123456789-01:30 "
    )


def test_event_templates_see_dockers_message_fields() -> None:
    template = events.make_template("{{.Scope}} {{.Type}}/{{.Action}} {{.Actor.ID}} {{.TimeNano}}")
    assert template is not None
    out = template.execute(events.Message(EVENT))
    assert out == "swarm service/create svc1 1700000000123456789"
    json_template = events.make_template("{{json .}}")
    assert json_template is not None
    # Go's struct order, as docker's {{json .}} of an event.
    assert json_template.execute(events.Message(EVENT)) == (
        '{"Type":"service","Action":"create","Actor":{"ID":"svc1","Attributes":'
        '{"image":"busybox","name":"web"}},"scope":"swarm","time":1700000000,'
        '"timeNano":1700000000123456789}'
    )
    with pytest.raises(InvalidArgument, match="can't evaluate field Nope"):
        events.make_template("{{.Nope}}")


# ---------------------------------------------------------------- info, version


CLUSTER = {
    "ID": "cluster1",
    "Spec": {
        "Orchestration": {"TaskHistoryRetentionLimit": 5},
        "Raft": {},
        "Dispatcher": {"HeartbeatPeriod": 5_000_000_000},
        "CAConfig": {"NodeCertExpiry": 7_776_000_000_000_000, "ForceRotate": 0},
        "EncryptionConfig": {"AutoLockManagers": False},
    },
    "RootRotationInProgress": False,
    "DataPathPort": 4789,
}


def test_info_swarm_section_of_a_manager() -> None:
    swarm = {
        "NodeID": "node1",
        "NodeAddr": "10.0.0.1",
        "LocalNodeState": "active",
        "ControlAvailable": True,
        "Error": "",
        "Nodes": 3,
        "Managers": 1,
        "RemoteManagers": [{"NodeID": "b", "Addr": "10.0.0.2:2377"}, {"Addr": "10.0.0.1:2377"}],
        "Cluster": CLUSTER,
    }
    lines = info.swarm_lines(swarm)
    assert lines[:5] == [
        "  NodeID: node1",
        "  Is Manager: true",
        "  ClusterID: cluster1",
        "  Managers: 1",
        "  Nodes: 3",
    ]
    assert "   Heartbeat Period: 5 seconds" in lines
    assert "   Expiry Duration: 3 months" in lines
    assert lines[-4:] == [
        "  Node Address: 10.0.0.1",
        "  Manager Addresses:",
        "   10.0.0.1:2377",
        "   10.0.0.2:2377",
    ]


def test_info_swarm_section_of_a_worker_and_outside_a_swarm() -> None:
    worker = {"NodeID": "n2", "NodeAddr": "10.0.0.2", "LocalNodeState": "active"}
    assert info.swarm_lines(worker | {"ControlAvailable": False, "Cluster": CLUSTER}) == [
        "  NodeID: n2",
        "  Is Manager: false",
        "  Node Address: 10.0.0.2",
    ]
    assert info.swarm_lines({"LocalNodeState": "inactive"}) == []
    lines = info.server_lines({"Swarm": {"LocalNodeState": "inactive"}, "MemTotal": 2**30})
    assert " Swarm: inactive" in lines
    assert " Total Memory: 1GiB" in lines


def test_info_without_a_daemon_prints_the_error_and_fails() -> None:
    out, err, ok = info.pretty(None, "Cannot connect to the swarmpy daemon at unix:///x.sock.")
    assert not ok
    assert out.startswith("Client:\n Context:    default\n Debug Mode: false\n\nServer:\n")
    assert out.endswith("ERROR: Cannot connect to the swarmpy daemon at unix:///x.sock.\n")
    assert err == "errors pretty printing info\n"


def test_info_warnings_follow_the_daemons_fields() -> None:
    features = {
        "MemoryLimit": True,
        "SwapLimit": True,
        "CpuCfsQuota": True,
        "CpuCfsPeriod": True,
        "CPUShares": True,
        "CPUSet": True,
        "IPv4Forwarding": True,
        "BridgeNfIptables": True,
        "BridgeNfIp6tables": True,
        "CgroupVersion": "2",
    }
    assert info.server_warnings(features) == []
    assert info.server_warnings(features | {"SwapLimit": False}) == [
        "WARNING: No swap limit support"
    ]
    assert info.server_warnings(features | {"Warnings": ["WARNING: own"]}) == ["WARNING: own"]


def test_version_layout_and_templates() -> None:
    server = {
        "Platform": {"Name": "swarmpy"},
        "Version": "1.2.3",
        "ApiVersion": "1.41",
        "MinAPIVersion": "1.12",
        "Os": "linux",
        "Arch": "amd64",
    }
    data = version.VersionInfo(version.client_version("1.40"), server)
    text, error = version.render("", data)
    assert error is None
    lines = text.splitlines()
    assert lines[0] == "Client:"
    assert lines[2] == " API version:       1.40 (downgraded from 1.41)"
    assert "Server: swarmpy" in lines
    assert " Engine:" in lines
    assert "  Version:          1.2.3" in lines
    assert "  API version:      1.41 (minimum version 1.12)" in lines
    assert version.render("{{.Server.Version}}", data)[0] == "1.2.3\n"
    client_only = version.VersionInfo(version.client_version("1.41"), None)
    text, error = version.render("", client_only)
    assert "Server" not in text
    assert error is None


# ---------------------------------------------------------------- node ps / service ps


def a_task(task_id: str, slot: int, created: str, **extra: object) -> dict[str, object]:
    return {
        "ID": task_id,
        "ServiceID": "s1",
        "NodeID": "n1",
        "Slot": slot,
        "CreatedAt": created,
        "DesiredState": "running",
        "Status": {"State": "running", "Timestamp": "2023-11-14T22:13:00Z"},
        "Spec": {"ContainerSpec": {"Image": "busybox:1.36@sha256:" + "a" * 64}},
        **extra,
    }


def test_tasks_sorted_naturally_newest_first_and_indented() -> None:
    tasks = [
        a_task("t10" + "x" * 22, 10, "2023-11-14T22:00:00Z"),
        a_task("t2old" + "x" * 20, 2, "2023-11-14T21:00:00Z"),
        a_task("t2new" + "x" * 20, 2, "2023-11-14T22:00:00Z"),
    ]
    rows = task.rows(tasks, {"s1": "web"}, {"n1": "host1"}, trunc=True, now=NOW)
    assert [r["Name"] for r in rows] == ["web.2", " \\_ web.2", "web.10"]
    assert [r["ID"] for r in rows] == ["t2newxxxxxxx", "t2oldxxxxxxx", "t10xxxxxxxxx"]
    assert rows[0]["Image"] == "busybox:1.36"
    assert rows[0]["Node"] == "host1"
    assert rows[0]["CurrentState"] == "Running 20 seconds ago"
    untruncated = task.rows(tasks, {}, {}, trunc=False, table=False, now=NOW)
    assert untruncated[1]["Name"] == "s1.2"  # no indent outside a table, ids unresolved
    assert untruncated[0]["Image"].endswith("@sha256:" + "a" * 64)


def test_task_errors_quoted_and_cut_as_dockers() -> None:
    long = "starting container failed: no such image"
    t = a_task("t", 1, "2023-11-14T22:00:00Z", Status={"State": "failed", "Err": long})
    (row,) = task.rows([t], {}, {}, trunc=True, now=NOW)
    assert row["Error"] == '"starting container failed: no…"'
    (row,) = task.rows([t], {}, {}, trunc=False, now=NOW)
    assert row["Error"] == f'"{long}"'


def test_a_global_services_task_is_named_by_its_node() -> None:
    t = a_task("t", 0, "2023-11-14T22:00:00Z")
    assert task.task_name(t, {"s1": "agent"}) == "agent.n1"


# ---------------------------------------------------------------- system df, prune


DU: dict[str, Any] = {
    "LayersSize": 3000,
    "Images": [
        {
            "Id": "sha256:" + "1" * 64,
            "RepoTags": ["busybox:latest"],
            "Created": 0,
            "VirtualSize": 2000,
            "SharedSize": 500,
            "Containers": 1,
        },
        {
            "Id": "sha256:" + "2" * 64,
            "RepoTags": [],
            "Created": 0,
            "VirtualSize": 1500,
            "SharedSize": 500,
            "Containers": 0,
        },
    ],
    "Containers": [
        {"Id": "c1", "State": "running", "SizeRw": 100},
        {"Id": "c2", "State": "exited", "SizeRw": 300},
    ],
    "Volumes": [
        {"Name": "data", "UsageData": {"Size": 4000, "RefCount": 1}},
        {"Name": "old", "UsageData": {"Size": 1000, "RefCount": 0}},
    ],
    "BuildCache": [],
}


def test_df_sums_each_kind_as_docker() -> None:
    images, containers, volumes, cache = df.summary_rows(DU)
    assert images == {
        "Type": "Images",
        "TotalCount": "2",
        "Active": "1",
        "Size": "3kB",
        "Reclaimable": "1.5kB (50%)",  # all but the used image's own 1500 bytes
    }
    assert (containers["TotalCount"], containers["Active"]) == ("2", "1")
    assert (containers["Size"], containers["Reclaimable"]) == ("400B", "300B (75%)")
    assert (volumes["Type"], volumes["Active"], volumes["Size"]) == ("Local Volumes", "1", "5kB")
    assert volumes["Reclaimable"] == "1kB (20%)"
    assert cache == {
        "Type": "Build Cache",
        "TotalCount": "0",
        "Active": "0",
        "Size": "0B",
        "Reclaimable": "0B",
    }
    table = df.render(DU, verbose=False, fmt="").splitlines()
    assert table[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert df.render(DU, False, "{{.Type}}: {{.Size}}").splitlines()[0] == "Images: 3kB"


def test_df_verbose_lists_each_object() -> None:
    text = df.render(DU, verbose=True, fmt="")
    assert text.startswith("Images space usage:\n\nREPOSITORY ")
    assert "\nContainers space usage:\n\nCONTAINER ID " in text
    assert "\nLocal Volumes space usage:\n\nVOLUME NAME " in text
    assert "\nBuild cache usage: 0B\n\nCACHE ID " in text
    image = df.image_row(DU["Images"][1], trunc=True)
    assert (image["Repository"], image["Tag"], image["ID"]) == ("<none>", "<none>", "2" * 12)
    assert (image["VirtualSize"], image["SharedSize"], image["UniqueSize"]) == (
        "1.5kB",
        "500B",
        "1kB",
    )


def test_prune_confirmation_as_dockers() -> None:
    assert prune.confirmation(False, False, {}) == (
        "WARNING! This will remove:\n"
        "  - all stopped containers\n"
        "  - all networks not used by at least one container\n"
        "  - all dangling images\n"
        "  - all dangling build cache\n"
        "\n"
        "Are you sure you want to continue?"
    )
    message = prune.confirmation(True, True, {"until": ["24h"], "label": ["a=b"]})
    assert "  - all volumes not used by at least one container\n" in message
    assert "  - all images without at least one container associated to them\n" in message
    assert message.endswith(
        "\n  Items to be pruned will be filtered with:\n"
        "  - label=a=b\n"
        "  - until=24h\n"
        "\nAre you sure you want to continue?"
    )


def test_pruned_images_listed_as_dockers() -> None:
    deleted = [{"Untagged": "busybox:latest"}, {"Deleted": "sha256:abc"}]
    assert prune.image_lines(deleted) == (
        "Deleted Images:\nuntagged: busybox:latest\ndeleted: sha256:abc\n"
    )


def test_sizes_as_go_units() -> None:
    from swarmpy.cli import output

    assert output.human_size(0) == "0B"
    assert output.human_size(1_981_500) == "1.982MB"
    assert output.human_size(1_981_500, 3) == "1.98MB"
    assert output.human_size(999) == "999B"
    assert info.bytes_size(1536) == "1.5KiB"


def test_confirmation_reads_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from swarmpy.cli import output

    for answer, expected in (("y\n", True), ("Y\n", True), ("yes\n", False), ("", False)):
        monkeypatch.setattr("sys.stdin", io.StringIO(answer))
        monkeypatch.setattr("sys.stdout", io.StringIO())
        assert output.confirm("Sure?") is expected


def test_the_time_now_is_not_needed_for_timestamps() -> None:
    # A timestamp's value does not depend on when it is parsed.
    assert opts.get_timestamp("2023-11-14T22:13:20Z") == opts.get_timestamp(
        "2023-11-14T22:13:20Z", time.time() + 1000
    )


def test_info_templates_refuse_a_field_info_lacks(capsys: pytest.CaptureFixture[str]) -> None:
    import typer

    doc = info.document({"Swarm": {"NodeID": "n1"}}, "")
    assert info.run_template("{{.Swarm.NodeID}} {{.ClientInfo.Context}}", doc) == "n1 default"
    with pytest.raises(typer.Exit) as exited:
        info.run_template("{{.Nope}}", doc)
    assert exited.value.exit_code == 1
    assert 'executing "" at <.Nope>' in capsys.readouterr().err
    with pytest.raises(typer.Exit) as bad:
        info.run_template("{{", doc)
    assert bad.value.exit_code == info.TEMPLATE_EXIT
