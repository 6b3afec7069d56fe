"""The pure parts of standalone containers: restart policies, published ports, the create
request, the DNAT ruleset, paths in a container's root, and run's flags."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path
from typing import Any

import pytest

from swarmpy.cli import run, runflags
from swarmpy.dockerjson import detachkeys
from swarmpy.dockerjson.logdriver import LogSettings
from swarmpy.engine import archive
from swarmpy.errors import Conflict, InvalidArgument, NotFound
from swarmpy.overlay.containerports import Forward, ruleset
from swarmpy.overlay.sandbox import hosts_file
from swarmpy.server.convert.standalone import inspect_doc, summary_row
from swarmpy.standalone import mounts, names, ports, restart
from swarmpy.standalone.manager import with_dns
from swarmpy.standalone.spec import merge_command, parse_bind, parse_create, parse_extra_host

# What Debian's docker 20.10 sends for
# `docker run -d -p 8080:80 -P --restart on-failure:3 --name web -e A=b --cpus .5
#  --memory 100m -w /x -u 1 --label a=b --health-cmd true --hostname h busybox httpd -f`.
DOCKER_CLI_BODY: dict[str, Any] = {
    "Hostname": "h",
    "Domainname": "",
    "User": "1",
    "AttachStdin": False,
    "AttachStdout": False,
    "AttachStderr": False,
    "ExposedPorts": {"80/tcp": {}},
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": ["A=b"],
    "Cmd": ["httpd", "-f"],
    "Healthcheck": {"Test": ["CMD-SHELL", "true"]},
    "Image": "busybox",
    "Volumes": {},
    "WorkingDir": "/x",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": {"a": "b"},
    "HostConfig": {
        "Binds": None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": "default",
        "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
        "AutoRemove": False,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "CapAdd": None,
        "CapDrop": None,
        "CgroupnsMode": "",
        "Dns": [],
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": None,
        "GroupAdd": None,
        "IpcMode": "",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": False,
        "PublishAllPorts": True,
        "ReadonlyRootfs": False,
        "SecurityOpt": None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 0,
        "ConsoleSize": [0, 0],
        "Isolation": "",
        "CpuShares": 0,
        "Memory": 104857600,
        "NanoCpus": 500000000,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": None,
        "BlkioDeviceWriteBps": None,
        "BlkioDeviceReadIOps": None,
        "BlkioDeviceWriteIOps": None,
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
        "Devices": [],
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "KernelMemory": 0,
        "KernelMemoryTCP": 0,
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "MemorySwappiness": -1,
        "OomKillDisable": False,
        "PidsLimit": 0,
        "Ulimits": None,
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "MaskedPaths": None,
        "ReadonlyPaths": None,
    },
    "NetworkingConfig": {"EndpointsConfig": {}},
}


# ---------------------------------------------------------------- restart policies


def test_restart_flag_is_read_and_checked_as_docker_does() -> None:
    assert restart.parse_flag("") == restart.RestartPolicy("no", 0)
    assert restart.parse_flag("on-failure:3") == restart.RestartPolicy("on-failure", 3)
    assert restart.parse_flag("unless-stopped") == restart.RestartPolicy("unless-stopped", 0)
    with pytest.raises(InvalidArgument, match=r"^invalid restart policy format$"):
        restart.parse_flag("on-failure:1:2")
    with pytest.raises(InvalidArgument, match="maximum retry count must be an integer"):
        restart.parse_flag("on-failure:x")
    with pytest.raises(InvalidArgument, match="cannot be used with restart policy 'always'"):
        restart.parse_flag("always:2")
    with pytest.raises(InvalidArgument, match=r"^invalid restart policy 'sometimes'$"):
        restart.check("sometimes", 0)
    with pytest.raises(InvalidArgument, match="cannot be negative"):
        restart.check("on-failure", -1)


@pytest.mark.parametrize(
    ("policy", "code", "count", "manual", "again"),
    [
        ("no", 1, 0, False, False),
        ("always", 0, 5, False, True),
        ("always", 0, 0, True, False),  # docker stop/kill: no restart until the daemon's
        ("unless-stopped", 137, 0, False, True),
        ("unless-stopped", 137, 0, True, False),
        ("on-failure", 0, 0, False, False),
        ("on-failure", 2, 0, False, True),
        ("on-failure:2", 2, 1, False, True),
        ("on-failure:2", 2, 2, False, False),
    ],
)
def test_restart_decisions(policy: str, code: int, count: int, manual: bool, again: bool) -> None:
    assert restart.should_restart(restart.parse_flag(policy), code, count, manual) is again


@pytest.mark.parametrize(
    ("policy", "code", "count", "manual", "started"),
    [
        ("always", 0, 0, True, True),  # a manual stop holds only unless-stopped back
        ("unless-stopped", 0, 0, True, False),
        ("unless-stopped", 0, 0, False, True),
        ("unless-stopped", 255, 3, False, True),
        ("on-failure", 255, 0, False, True),  # it ended while no daemon watched
        ("on-failure", 137, 0, True, True),  # moby's restart manager ignores the manual stop
        ("on-failure", 0, 0, False, False),
        ("on-failure:2", 3, 2, False, False),  # its tries used up
        ("on-failure:2", 3, 1, False, True),
        ("no", 255, 0, False, False),
    ],
)
def test_which_containers_a_daemon_start_starts(
    policy: str, code: int, count: int, manual: bool, started: bool
) -> None:
    """moby's daemon.restore: ShouldRestart over the last exit, the restart count and the
    manual stop."""
    decided = restart.restart_at_daemon_start(restart.parse_flag(policy), code, count, manual)
    assert decided is started


def test_restart_delay_doubles_to_a_minute_and_resets_after_a_long_run() -> None:
    delays = [0.0]
    for _ in range(12):
        delays.append(restart.next_delay(delays[-1], ran_for_s=0.5))
    assert delays[1:4] == [0.1, 0.2, 0.4]
    assert delays[-1] == restart.MAX_DELAY_S
    assert restart.next_delay(30.0, ran_for_s=10.0) == restart.FIRST_DELAY_S


# ---------------------------------------------------------------- ports


def test_port_requests_bind_then_publish_the_rest_of_the_exposed() -> None:
    bindings = {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "53/udp": None}
    found = ports.requests_of(bindings, ["80/tcp", "443", "53/udp"], publish_all=True)
    assert found == (
        ports.PortRequest("udp", 53, "", 0),
        ports.PortRequest("tcp", 80, "127.0.0.1", 8080),
        ports.PortRequest("tcp", 443, "", 0),
    )
    with pytest.raises(InvalidArgument, match="invalid proto: icmp"):
        ports.requests_of({"80/icmp": []}, (), False)
    with pytest.raises(InvalidArgument, match="invalid hostPort: 70000"):
        ports.requests_of({"80/tcp": [{"HostPort": "70000"}]}, (), False)


def test_allocation_refuses_a_taken_port_and_picks_free_ones() -> None:
    wanted = [ports.PortRequest("tcp", 80, "", 8080), ports.PortRequest("tcp", 443)]
    busy = {32768, 32769}
    got = ports.allocate(
        wanted,
        taken=[("tcp", 32770)],
        is_free=lambda proto, port: port not in busy,
        rng=random.Random(0),
        span=(32768, 32771),
    )
    assert got == (ports.PortMapping("tcp", 80, "", 8080), ports.PortMapping("tcp", 443, "", 32771))
    with pytest.raises(
        Conflict, match=r"^Bind for 0.0.0.0:8080 failed: port is already allocated$"
    ):
        ports.allocate(wanted, [("tcp", 8080)], lambda proto, port: True)
    # The same number over UDP is another port.
    udp = ports.allocate([ports.PortRequest("udp", 53, "", 8080)], [("tcp", 8080)], lambda *a: True)
    assert udp[0].host_port == 8080
    with pytest.raises(Conflict, match="all ports are allocated"):
        ports.allocate([ports.PortRequest("tcp", 1)], [], lambda *a: False, span=(40000, 40001))


def test_published_ports_as_inspect_and_ps_show_them() -> None:
    mapped = [
        ports.PortMapping("tcp", 80, "", 8080),
        ports.PortMapping("udp", 53, "127.0.0.1", 5353),
    ]
    assert ports.port_bindings_json(mapped) == {
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
    }
    summary = ports.summary_ports(mapped, ["80/tcp", "443/tcp"])
    assert {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"} in summary
    assert {"PrivatePort": 443, "Type": "tcp"} in summary
    assert runflags.display_ports(summary) == (
        "443/tcp, 127.0.0.1:5353->53/udp, 0.0.0.0:8080->80/tcp"
    )


def test_display_ports_groups_ranges_as_docker() -> None:
    same = [
        {"IP": "0.0.0.0", "PrivatePort": p, "PublicPort": p, "Type": "tcp"} for p in (80, 81, 82)
    ]
    assert runflags.display_ports(same) == "0.0.0.0:80-82->80-82/tcp"
    exposed = [{"PrivatePort": p, "Type": "tcp"} for p in (8000, 8001, 9000)]
    assert runflags.display_ports(exposed) == "8000-8001/tcp, 9000/tcp"
    assert runflags.display_ports([]) == ""


# ---------------------------------------------------------------- the create request


def test_the_docker_cli_request_is_read_whole() -> None:
    spec = parse_create(DOCKER_CLI_BODY)
    assert (spec.image, spec.hostname, spec.user, spec.workdir) == ("busybox", "h", "1", "/x")
    assert spec.cmd == ("httpd", "-f")
    assert spec.entrypoint is None
    assert spec.env == ("A=b",)
    assert spec.labels == (("a", "b"),)
    assert spec.restart_policy == restart.RestartPolicy("on-failure", 3)
    assert (spec.memory, spec.nano_cpus, spec.publish_all) == (104857600, 500000000, True)
    assert spec.port_requests == (ports.PortRequest("tcp", 80, "", 8080),)
    assert spec.exposed == ("80/tcp",)
    assert spec.network == "bridge"
    assert spec.healthcheck is not None
    assert spec.healthcheck.test == ("CMD-SHELL", "true")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"HostConfig": {"Privileged": True}}, "unsupported field HostConfig.Privileged"),
        # --tmpfs /t: a map entry asks for a mount even with no options (was ignored).
        ({"HostConfig": {"Tmpfs": {"/t": ""}}}, "^unsupported field HostConfig.Tmpfs: "),
        ({"Frobnicate": 1}, "unknown field Frobnicate"),
        ({"HostConfig": {"NetworkMode": "container:"}}, "invalid container format"),
        (
            {"Hostname": "h", "HostConfig": {"NetworkMode": "container:x"}},
            "^conflicting options: hostname and the network mode$",
        ),
        (
            {"HostConfig": {"NetworkMode": "container:x", "ExtraHosts": ["a:1.2.3.4"]}},
            "^conflicting options: custom host-to-IP mapping and the network mode$",
        ),
        (
            {"HostConfig": {"NetworkMode": "container:x", "PublishAllPorts": True}},
            "^conflicting options: port publishing and the container type network mode$",
        ),
        (
            {"ExposedPorts": {"80/tcp": {}}, "HostConfig": {"NetworkMode": "container:x"}},
            "^conflicting options: port exposing and the container type network mode$",
        ),
        (
            {"HostConfig": {"AutoRemove": True, "RestartPolicy": {"Name": "always"}}},
            "can't create 'AutoRemove' container with restart policy",
        ),
        ({"HostConfig": {"Memory": 1024}}, "Minimum memory limit allowed is 6MB"),
        ({"WorkingDir": "rel"}, "needs to be an absolute path"),
        (
            {"HostConfig": {"NetworkMode": "host", "PublishAllPorts": True}},
            "published ports are discarded when using host network mode",
        ),
    ],
)
def test_what_swarmpy_cannot_honour_is_refused(change: dict[str, Any], message: str) -> None:
    body: dict[str, Any] = {"Image": "busybox", **change}
    with pytest.raises(InvalidArgument, match=message):
        parse_create(body)


@pytest.mark.parametrize("nano_cpus", [-1, 3_000_000_001])
def test_more_cpus_than_the_daemon_has_are_refused_as_dockerd_does(
    nano_cpus: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    with pytest.raises(
        InvalidArgument, match=r"^Range of CPUs is from 0\.01 to 3\.00, as there are only 3 CPUs"
    ):
        parse_create({"Image": "busybox", "HostConfig": {"NanoCpus": nano_cpus}})
    allowed = parse_create({"Image": "busybox", "HostConfig": {"NanoCpus": 3_000_000_000}})
    assert allowed.nano_cpus == 3_000_000_000


def test_a_container_network_mode_names_the_container_it_joins() -> None:
    spec = parse_create({"Image": "b", "HostConfig": {"NetworkMode": "container:web"}})
    assert (spec.joins, spec.user_network) == ("web", False)
    user = parse_create({"Image": "b", "HostConfig": {"NetworkMode": "mynet"}})
    assert (user.joins, user.user_network) == ("", True)
    assert not parse_create({"Image": "b"}).user_network


def test_binds_and_mounts_resolve_to_engine_mounts() -> None:
    assert parse_bind("/srv:/data:ro").readonly
    assert parse_bind("vol:/data").type == "volume"
    with pytest.raises(InvalidArgument, match="invalid mode: bogus"):
        parse_bind("/a:/b:bogus")
    spec = parse_create(
        {
            "Image": "busybox",
            "Volumes": {"/anon": {}},
            "HostConfig": {
                "Binds": ["/srv:/data"],
                "Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 4096}}],
            },
        }
    )
    resolved = mounts.resolve(spec)
    assert [(m.kind.value, m.target, m.source) for m in resolved] == [
        ("bind", "/data", "/srv"),
        ("tmpfs", "/t", ""),
        ("volume", "/anon", ""),
    ]
    twice = parse_create({"Image": "b", "HostConfig": {"Binds": ["/a:/x", "/b:/x/"]}})
    with pytest.raises(InvalidArgument, match="Duplicate mount point: /x"):
        mounts.resolve(twice)


def test_generated_names_are_docker_shaped_and_free() -> None:
    rng = random.Random(1)
    taken = {names.generate(set(), random.Random(1))}
    name = names.generate(taken, rng)
    assert name not in taken
    left, _, right = name.partition("_")
    assert left in names.LEFT
    assert right.rstrip("0123456789") in names.RIGHT


# ---------------------------------------------------------------- the DNAT ruleset


def test_the_port_table_translates_local_addresses_and_masquerades_hairpins() -> None:
    commands = ruleset(
        "t",
        "br0",
        "172.18.0.0/16",
        [Forward("tcp", 8080, "172.18.0.2", 80), Forward("udp", 53, "172.18.0.3", 53, "127.0.0.1")],
    )
    rules = [c["add"]["rule"] for c in commands if "rule" in c.get("add", {})]
    dnat = [r for r in rules if any("dnat" in e for e in r["expr"])]
    assert {r["chain"] for r in dnat} == {"prerouting", "output"}
    text = repr(dnat)
    assert "'fib'" in text
    assert "'addr': '172.18.0.2', 'port': 80" in text
    assert "'127.0.0.1'" in text  # a port published on one address matches only it
    masq = [r for r in rules if r["chain"] == "postrouting"]
    assert len(masq) == 2
    assert all({"masquerade": None} in r["expr"] for r in masq)
    empty = ruleset("t", "br0", "172.18.0.0/16", [])
    assert [list(c) for c in empty] == [["add"], ["delete"]]  # the table goes


# ---------------------------------------------------------------- paths in a container


def test_links_are_followed_inside_the_container_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("inside")
    os.symlink("/etc", root / "abs")  # absolute: the container's /etc, not the host's
    os.symlink("../../../../..", root / "up")
    assert archive.scoped_path(root, "/abs/passwd") == root / "etc" / "passwd"
    assert archive.scoped_path(root, "/up/etc/passwd") == root / "etc" / "passwd"
    assert archive.scoped_path(root, "/abs", follow_last=False) == root / "abs"
    binds = [("/etc/hostname", tmp_path / "hostname")]
    assert archive.scoped_path(root, "/abs/hostname", mounts=binds) == tmp_path / "hostname"
    assert archive.path_stat(root, "/abs")["linkTarget"] == "/etc"
    assert archive.path_stat(root, "/etc")["mode"] & archive.GO_DIR


def test_a_missing_path_is_told_with_the_container_named(tmp_path: Path) -> None:
    """docker cp web:/nope . says dockerd's "Could not find the file /nope in container web"."""
    expected = "Could not find the file /nope in container web"
    with pytest.raises(NotFound, match=f"^{expected}$"):
        archive.path_stat(tmp_path, "/nope", container="web")
    with pytest.raises(NotFound, match=f"^{expected}$"):
        archive.write_archive(tmp_path, "/nope", io.BytesIO(), container="web")
    with pytest.raises(NotFound, match=f"^{expected}$"):
        archive.extract_archive(tmp_path, "/nope", io.BytesIO(), False, container="web")


# ---------------------------------------------------------------- run's flags


def test_publish_specs_as_docker_reads_them() -> None:
    assert runflags.parse_publish("8080:80") == [("80/tcp", "", "8080")]
    assert runflags.parse_publish("127.0.0.1:53:53/udp") == [("53/udp", "127.0.0.1", "53")]
    assert runflags.parse_publish("80") == [("80/tcp", "", "")]
    assert runflags.parse_publish("127.0.0.1::80") == [("80/tcp", "127.0.0.1", "")]
    assert runflags.parse_publish("9000-9001:80-81") == [
        ("80/tcp", "", "9000"),
        ("81/tcp", "", "9001"),
    ]
    with pytest.raises(InvalidArgument, match="invalid proto: icmp"):
        runflags.parse_publish("80/icmp")
    with pytest.raises(InvalidArgument, match="invalid containerPort: x"):
        runflags.parse_publish("8080:x")


def test_run_flags_become_docker_create_request() -> None:
    o = runflags.RunOptions(
        image="busybox",
        command=("httpd", "-f"),
        detach=True,
        publish=("8080:80",),
        env=("A=b",),
        restart="on-failure:3",
        labels=("a=b",),
        memory="100m",
        cpus=".5",
        volumes=("/srv:/data", "/anon"),
    )
    body = runflags.create_request(o)
    assert body["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert body["ExposedPorts"] == {"80/tcp": {}}
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert (body["HostConfig"]["Memory"], body["HostConfig"]["NanoCpus"]) == (104857600, 500000000)
    assert body["HostConfig"]["Binds"] == ["/srv:/data"]
    assert body["Volumes"] == {"/anon": {}}
    assert not body["AttachStdout"]  # -d attaches nothing
    # The daemon reads what the CLI sends.
    assert parse_create(body).restart_policy == restart.RestartPolicy("on-failure", 3)
    with pytest.raises(InvalidArgument, match="Conflicting options: --restart and --rm"):
        runflags.create_request(runflags.RunOptions(image="b", rm=True, restart="always"))


IMAGE_ENTRY, IMAGE_CMD = ("/entry.sh",), ("serve",)


@pytest.mark.parametrize(
    ("flag", "command", "process"),
    [
        (None, (), ("/entry.sh", "serve")),  # the image's both
        (None, ("x",), ("/entry.sh", "x")),
        ("sh", (), ("sh",)),  # a new entrypoint drops the image's Cmd
        ("sh", ("-c", "x"), ("sh", "-c", "x")),
        ("", ("echo", "hi"), ("echo", "hi")),  # --entrypoint "" resets the image's
    ],
)
def test_run_entrypoint_merges_with_the_image_as_docker(
    flag: str | None, command: tuple[str, ...], process: tuple[str, ...]
) -> None:
    body = runflags.create_request(runflags.RunOptions(image="b", command=command, entrypoint=flag))
    spec = parse_create(body)
    entrypoint, cmd = merge_command(spec.entrypoint, spec.cmd, IMAGE_ENTRY, IMAGE_CMD)
    assert entrypoint + cmd == process


def test_an_emptied_entrypoint_leaves_no_command_or_the_image_cmd() -> None:
    # docker/cli sends [""] for --entrypoint "": the image's Cmd goes too (moby's merge).
    body = runflags.create_request(runflags.RunOptions(image="b", entrypoint=""))
    assert body["Entrypoint"] == [""]
    with pytest.raises(InvalidArgument, match=r"^no command specified$"):
        merge_command(("",), None, IMAGE_ENTRY, IMAGE_CMD)
    # An API client's [] clears the Entrypoint only.
    assert merge_command((), None, IMAGE_ENTRY, IMAGE_CMD) == ((), IMAGE_CMD)
    with pytest.raises(InvalidArgument, match=r"^no command specified$"):
        merge_command(None, None, (), ())


def test_network_alias_and_ip_reach_the_spec_of_a_user_network() -> None:
    o = runflags.RunOptions(
        image="busybox", network="custom", network_aliases=("db", "store"), ip="182.18.0.9"
    )
    body = runflags.create_request(o)
    assert body["NetworkingConfig"]["EndpointsConfig"] == {
        "custom": {"Aliases": ["db", "store"], "IPAMConfig": {"IPv4Address": "182.18.0.9"}}
    }
    spec = parse_create(body)
    assert (spec.network, spec.network_aliases, spec.ip) == (
        "custom",
        ("db", "store"),
        "182.18.0.9",
    )
    plain = parse_create(runflags.create_request(runflags.RunOptions(image="busybox")))
    assert (plain.network_aliases, plain.ip) == ((), "")


def test_run_exit_codes_for_a_failed_start() -> None:
    assert runflags.start_exit_code('exec: "x": executable file not found in $PATH') == 127
    assert runflags.start_exit_code("exec /bin/x: permission denied") == 126
    assert runflags.start_exit_code("cgroup trouble") == 125


def test_port_lines_as_docker_port_prints_them() -> None:
    ports_doc = {
        "8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8081"}],
        "80/tcp": [
            {"HostIp": "::", "HostPort": "8080"},
            {"HostIp": "0.0.0.0", "HostPort": "8080"},
        ],
        "443/tcp": None,
    }
    assert runflags.port_lines(ports_doc) == [
        "80/tcp -> 0.0.0.0:8080",
        "80/tcp -> [::]:8080",
        "8080/tcp -> 0.0.0.0:8081",
    ]
    assert runflags.port_lines(ports_doc, "80") == ["0.0.0.0:8080", "[::]:8080"]
    # docker/cli's runPort names the port and the container as given.
    for wanted in ("443/tcp", "81", "80/udp"):
        with pytest.raises(InvalidArgument) as caught:
            runflags.port_lines(ports_doc, wanted, "web")
        assert caught.value.message == f"Error: No public port '{wanted}' published for web"
    for wanted, reason in (("http", "invalid syntax"), ("70000/tcp", "value out of range")):
        port = wanted.split("/")[0]
        with pytest.raises(InvalidArgument) as caught:
            runflags.port_lines(ports_doc, wanted, "web")
        assert caught.value.message == (
            f'Error: invalid port ({port}): strconv.ParseUint: parsing "{port}": {reason}'
        )


# ---------------------------------------------------------------- inspect and ps


def test_a_standalone_container_shows_its_request_ports_and_network() -> None:
    rec: dict[str, Any] = {
        "request": {"Image": "busybox", "OpenStdin": True, "HostConfig": {"AutoRemove": True}},
        "exposed": ["80/tcp", "443/tcp"],
        "restart_count": 2,
        "entrypoint": [],
        "cmd": ["httpd", "-f"],
        "network": {"ip": "172.18.0.2", "prefix": 16, "gateway": "172.18.0.1", "mac": "m"},
    }
    engine_doc: dict[str, Any] = {
        "Id": "c" * 64,
        "State": {"Running": True, "Status": "running"},
        "Config": {"Cmd": ["httpd", "-f"]},
        "HostConfig": {"Memory": 0},
        "NetworkSettings": {"Networks": {}},
    }
    published = [ports.PortMapping("tcp", 80, "", 8080)]
    doc = inspect_doc(engine_doc, rec, published, None)
    assert doc["RestartCount"] == 2
    assert doc["Config"]["OpenStdin"] is True
    assert doc["Config"]["Entrypoint"] is None
    assert doc["Config"]["ExposedPorts"] == {"80/tcp": {}, "443/tcp": {}}
    assert doc["HostConfig"]["AutoRemove"] is True
    assert doc["HostConfig"]["NetworkMode"] == "default"
    assert doc["NetworkSettings"]["Ports"] == {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
        "443/tcp": None,
    }
    assert doc["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] == "172.18.0.2"
    assert doc["NetworkSettings"]["IPAddress"] == "172.18.0.2"
    waiting = inspect_doc(engine_doc, rec, published, 137)
    assert (waiting["State"]["Status"], waiting["State"]["Restarting"]) == ("restarting", True)
    row = summary_row({"Id": "c" * 64, "State": "exited"}, rec, published, 1, 100.0, 103.0)
    assert row["Status"] == "Restarting (1) 3 seconds ago"
    # Between two runs its ports went with its network, as dockerd's releaseNetwork drops them.
    assert row["Ports"] == []
    up = summary_row({"Id": "c" * 64, "State": "running"}, rec, [], None, 0.0, 1.0)
    assert up["Ports"] == [{"PrivatePort": 80, "Type": "tcp"}, {"PrivatePort": 443, "Type": "tcp"}]
    ended = {**engine_doc, "State": {"Running": False, "Status": "exited"}}
    assert inspect_doc(ended, rec, published, None)["NetworkSettings"]["Ports"] == {}


def test_a_stopped_container_still_shows_its_user_bridges() -> None:
    """docker inspect / ps -a of a stopped container on mynet (and connected to other):
    both networks listed, without addresses; a live endpoint is left as it is."""
    rec: dict[str, Any] = {"request": {"Image": "busybox", "HostConfig": {"NetworkMode": "mynet"}}}
    stopped: dict[str, Any] = {
        "Id": "c" * 64,
        "State": {"Running": False, "Status": "exited"},
        "NetworkSettings": {"Networks": {}},
    }
    networks = inspect_doc(stopped, rec, [], None, {"mynet": "n1", "other": "n2"})[
        "NetworkSettings"
    ]["Networks"]
    assert {name: n["NetworkID"] for name, n in networks.items()} == {"mynet": "n1", "other": "n2"}
    assert (networks["mynet"]["IPAddress"], networks["mynet"]["EndpointID"]) == ("", "")
    live = {"NetworkID": "n1", "IPAddress": "172.20.0.2"}
    running = {**stopped, "NetworkSettings": {"Networks": {"mynet": live}}}
    shown = inspect_doc(running, rec, [], None, {"mynet": "n1"})["NetworkSettings"]["Networks"]
    assert shown == {"mynet": live}


def test_detach_keys_are_read_and_refused_as_docker_cli_does() -> None:
    assert detachkeys.parse("ctrl-x,DEL,a") == b"\x18\x7fa"
    assert detachkeys.unknown_key("ctrl-p,ctrl-q") is None
    assert detachkeys.unknown_key("ctrl-p,ctrl-xx,bad") == "ctrl-xx"
    assert run.escape_keys("") == detachkeys.DEFAULT
    with pytest.raises(
        InvalidArgument, match=r"^invalid detach keys \(x,yz\): Unknown character: 'yz'$"
    ):
        run.escape_keys("x,yz")


def test_log_opts_are_kept_and_shown_as_docker_run_gave_them() -> None:
    """docker run --log-opt max-size=1m --log-opt max-file=3: json-file rotated so, and
    inspect's HostConfig.LogConfig as asked, the driver filled in as dockerd does."""

    def log_of(log_config: dict[str, Any]) -> LogSettings:
        return parse_create({"Image": "busybox", "HostConfig": {"LogConfig": log_config}}).log

    opts = {"max-size": "1m", "max-file": "3"}
    assert log_of({"Type": "", "Config": opts}) == LogSettings("json-file", 1_000_000, 3)
    assert log_of({"Type": "", "Config": {}}) == LogSettings()
    assert log_of({"Type": "none", "Config": {}}).driver == "none"
    with pytest.raises(InvalidArgument, match='logging driver "syslog" is not supported'):
        log_of({"Type": "syslog", "Config": {}})
    with pytest.raises(InvalidArgument, match="unknown log opt 'color' for json-file"):
        log_of({"Type": "", "Config": {"color": "red"}})
    rec = {"request": {"Image": "busybox", "HostConfig": {"LogConfig": {"Config": opts}}}}
    stopped: dict[str, Any] = {"Id": "c" * 64, "State": {"Running": False}}
    shown = inspect_doc(stopped, rec, [], None)["HostConfig"]["LogConfig"]
    assert shown == {"Type": "json-file", "Config": opts}


def test_add_host_entries_go_before_the_containers_own_line() -> None:
    """docker run --add-host foo:1.2.3.4 --add-host gw:host-gateway: lines in /etc/hosts
    after the defaults and before the container's address, as libnetwork writes them."""
    body = {"Image": "busybox", "HostConfig": {"ExtraHosts": ["foo:1.2.3.4", "v6:::1"]}}
    spec = parse_create(body)
    assert spec.extra_hosts == (("foo", "1.2.3.4"), ("v6", "::1"))
    assert parse_extra_host("gw=host-gateway") == ("gw", "host-gateway")
    with pytest.raises(InvalidArgument, match=r'^invalid IP address in add-host: "nope"$'):
        parse_extra_host("foo:nope")
    with pytest.raises(InvalidArgument, match=r'^bad format for add-host: "foo"$'):
        parse_extra_host("foo")
    lines = hosts_file("abc", "172.17.0.2", spec.extra_hosts).splitlines()
    assert lines[-3:] == ["1.2.3.4\tfoo", "::1\tv6", "172.17.0.2\tabc"]


def test_dns_flags_rewrite_resolv_conf_where_swarmpy_can_honour_them() -> None:
    """docker run --dns 198.51.100.53 --dns-search lab --dns-option ndots:2: each replaces
    its lines, as libnetwork rebuilds resolv.conf; refused where it cannot apply."""
    base = "nameserver 10.0.0.1\nsearch corp\noptions rotate\n"
    assert with_dns(base, ("198.51.100.53",), (), ()) == (
        "nameserver 198.51.100.53\nsearch corp\noptions rotate\n"
    )
    assert with_dns(base, (), ("lab",), ("ndots:2",)) == (
        "nameserver 10.0.0.1\nsearch lab\noptions ndots:2\n"
    )
    assert with_dns(base, (), (), ()) == base

    def spec(mode: str, **host: Any) -> None:
        parse_create({"Image": "busybox", "HostConfig": {"NetworkMode": mode, **host}})

    spec("default", Dns=["198.51.100.53"], DnsSearch=["lab"])
    spec("mynet", DnsSearch=["lab"], DnsOptions=["ndots:2"])
    with pytest.raises(InvalidArgument, match=r"^conflicting options: dns and the network mode$"):
        spec("container:x", Dns=["198.51.100.53"])
    with pytest.raises(InvalidArgument, match=r"^IP address is not correctly formatted: x$"):
        spec("default", Dns=["x"])
    with pytest.raises(InvalidArgument, match="supported on the default bridge and the host"):
        spec("mynet", Dns=["198.51.100.53"])


def test_why_the_last_start_failed_is_the_states_error() -> None:
    """docker inspect -f '{{.State.Error}}' of a container that could not start."""
    rec = {"request": {"Image": "busybox"}, "start_error": "network nosuchnet not found"}
    created: dict[str, Any] = {"Id": "c" * 64, "State": {"Running": False, "Status": "created"}}
    assert inspect_doc(created, rec, [], None)["State"]["Error"] == "network nosuchnet not found"


def test_a_missing_host_directory_of_v_is_made_but_not_mounts(tmp_path: Path) -> None:
    """docker run -v /missing:/d makes /missing (0755), as dockerd does; --mount
    type=bind keeps refusing a missing source (the engine's check)."""
    made, kept = tmp_path / "a" / "b", tmp_path / "c"
    body = {
        "Image": "busybox",
        "HostConfig": {
            "Binds": [f"{made}:/d"],
            "Mounts": [{"Type": "bind", "Source": str(kept), "Target": "/e"}],
        },
    }
    old = os.umask(0o077)  # the daemon's
    try:
        mounts.make_bind_sources(parse_create(body))
    finally:
        os.umask(old)
    assert made.is_dir()
    assert [p.stat().st_mode & 0o777 for p in (made, made.parent)] == [0o755, 0o755]
    assert not kept.exists()
