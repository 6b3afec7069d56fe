"""`service create` and `service update` flags as a spec, and the spec through Docker's JSON
and back: what the daemon stores is what the flags asked for (docker/cli's semantics)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swarmpy.cli.service.options import (
    CreateOptions,
    UpdateOptions,
    check_update_flags,
    create_spec,
    update_spec,
)
from swarmpy.dockerjson.service import service_spec, service_spec_json
from swarmpy.errors import InvalidArgument
from swarmpy.model import (
    EndpointMode,
    FailureAction,
    Mount,
    MountType,
    NetworkAlias,
    RestartCondition,
    ServiceMode,
    ServiceSpec,
    Ulimit,
    UpdateOrder,
)


def through_json(spec: ServiceSpec) -> ServiceSpec:
    """What the daemon reads from the JSON the CLI sends (and sends back on inspect)."""
    return service_spec(json.loads(json.dumps(service_spec_json(spec))))


def created(**flags: object) -> ServiceSpec:
    spec = create_spec(CreateOptions(image="busybox", name="web", **flags))  # type: ignore[arg-type]
    assert through_json(spec) == spec
    return spec


def updated(spec: ServiceSpec, **flags: object) -> ServiceSpec:
    out = update_spec(spec, UpdateOptions(**flags), lambda name: f"id-{name}")  # type: ignore[arg-type]
    assert through_json(out) == out
    return out


def test_every_create_flag_reaches_the_spec(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\nFROM_FILE=1\n\nOVERRIDDEN=file\n")
    spec = created(
        args=("httpd", "-f"),
        env=("OVERRIDDEN=flag", "B=2"),
        env_file=(str(env_file),),
        labels=("tier=web",),
        container_labels=("c=d",),
        constraints=("node.role==manager",),
        networks=("name=overnet,alias=db,alias=cache",),
        mounts=(
            "type=bind,source=/srv,target=/data,readonly,bind-propagation=rslave",
            "type=tmpfs,target=/scratch,tmpfs-size=1m,tmpfs-mode=700",
        ),
        cap_add=("NET_ADMIN",),
        cap_drop=("CHOWN",),
        groups=("staff",),
        dns=("10.0.0.53",),
        dns_search=("example.org",),
        dns_options=("ndots:2",),
        hosts=("db:10.1.2.3",),
        sysctls=("net.core.somaxconn=1024",),
        ulimits=("nofile=1024:2048", "nproc=64"),
        read_only=True,
        init=True,
        workdir="/srv",
        user="nobody",
        hostname="{{.Node.Hostname}}-{{.Task.Slot}}",
        entrypoint="/bin/sh -c",
        stop_signal="SIGUSR1",
        stop_grace_period="3s",
        replicas=3,
        max_replicas=2,
        endpoint_mode="dnsrr",
        limit_cpu="0.5",
        limit_memory="64m",
        limit_pids=100,
        reserve_cpu="0.25",
        reserve_memory="8m",
        restart_condition="on-failure",
        restart_delay="2s",
        restart_max_attempts=4,
        restart_window="1m",
        update_parallelism=2,
        update_delay="1s",
        update_failure_action="rollback",
        update_monitor="7s",
        update_max_failure_ratio=0.25,
        update_order="start-first",
        rollback_parallelism=3,
        rollback_delay="500ms",
        rollback_failure_action="continue",
        rollback_monitor="1s",
        rollback_max_failure_ratio=0.5,
        rollback_order="stop-first",
    )
    c = spec.container
    assert c.args == ("httpd", "-f")
    assert c.command == ("/bin/sh", "-c")  # --entrypoint is split as a shell would
    assert c.env == ("FROM_FILE=1", "OVERRIDDEN=flag", "B=2")
    assert c.labels == (("c", "d"),)
    assert c.mounts == (
        Mount(MountType.BIND, "/data", "/srv", readonly=True, bind_propagation="rslave"),
        Mount(MountType.TMPFS, "/scratch", tmpfs_size=1 << 20, tmpfs_mode=0o700),
    )
    assert (c.cap_add, c.cap_drop) == (("NET_ADMIN",), ("CHOWN",))
    assert c.groups == ("staff",)
    assert (c.dns_nameservers, c.dns_search, c.dns_options) == (
        ("10.0.0.53",),
        ("example.org",),
        ("ndots:2",),
    )
    assert c.hosts == ("10.1.2.3 db",)  # Docker's host:ip as an /etc/hosts line
    assert c.sysctls == (("net.core.somaxconn", "1024"),)
    assert c.ulimits == (Ulimit("nofile", 1024, 2048), Ulimit("nproc", 64, 64))
    assert (c.read_only, c.init, c.tty) == (True, True, False)
    assert (c.workdir, c.user, c.stop_signal, c.stop_grace_s) == ("/srv", "nobody", "SIGUSR1", 3)
    assert c.hostname == "{{.Node.Hostname}}-{{.Task.Slot}}"
    assert spec.labels == (("tier", "web"),)
    assert spec.constraints == ("node.role==manager",)
    assert spec.networks == ("overnet",)
    assert spec.network_aliases == (NetworkAlias("overnet", ("db", "cache")),)
    assert (spec.replicas, spec.max_replicas) == (3, 2)
    assert spec.endpoint_mode == EndpointMode.DNSRR
    limits, reservations = spec.resources.limits, spec.resources.reservations
    assert (limits.nano_cpus, limits.memory_bytes, limits.pids) == (500_000_000, 64 << 20, 100)
    assert (reservations.nano_cpus, reservations.memory_bytes) == (250_000_000, 8 << 20)
    r = spec.restart
    assert (r.condition, r.delay_s, r.max_attempts, r.window_s) == (
        RestartCondition.ON_FAILURE,
        2,
        4,
        60,
    )
    u, rb = spec.update, spec.rollback
    assert (u.parallelism, u.delay_s, u.failure_action, u.monitor_s) == (
        2,
        1,
        FailureAction.ROLLBACK,
        7,
    )
    assert (u.max_failure_ratio, u.order) == (0.25, UpdateOrder.START_FIRST)
    assert (rb.parallelism, rb.delay_s, rb.failure_action, rb.monitor_s) == (
        3,
        0.5,
        FailureAction.CONTINUE,
        1,
    )
    assert (rb.max_failure_ratio, rb.order) == (0.5, UpdateOrder.STOP_FIRST)


def test_the_docker_json_keys_are_dockers() -> None:
    spec = created(
        dns=("10.0.0.53",),
        hosts=("db:10.1.2.3",),
        read_only=True,
        init=True,
        stop_signal="SIGUSR1",
        sysctls=("net.ipv4.ip_forward=1",),
        ulimits=("nofile=10",),
        mounts=("type=tmpfs,target=/t,tmpfs-size=1k",),
        max_replicas=1,
    )
    doc = service_spec_json(spec)
    c = doc["TaskTemplate"]["ContainerSpec"]
    assert c["DNSConfig"] == {"Nameservers": ["10.0.0.53"]}
    assert c["Hosts"] == ["10.1.2.3 db"]
    assert (c["ReadOnly"], c["Init"], c["StopSignal"]) == (True, True, "SIGUSR1")
    assert c["Sysctls"] == {"net.ipv4.ip_forward": "1"}
    assert c["Ulimits"] == [{"Name": "nofile", "Soft": 10, "Hard": 10}]
    assert c["Mounts"][0]["TmpfsOptions"] == {"SizeBytes": 1024}
    assert doc["TaskTemplate"]["Placement"] == {"MaxReplicas": 1}


BASE = create_spec(
    CreateOptions(
        image="busybox",
        name="web",
        env=("A=1", "B=2"),
        labels=("keep=1", "drop=1"),
        container_labels=("ck=1",),
        constraints=("node.role==worker",),
        networks=("name=id-front,alias=old",),
        mounts=("type=volume,source=v1,target=/v1", "type=bind,source=/a,target=/b"),
        dns=("10.0.0.1",),
        hosts=("db:10.1.2.3", "cache:10.1.2.4"),
        sysctls=("net.core.somaxconn=1",),
        ulimits=("nofile=10",),
        groups=("staff",),
        replicas=2,
    )
)


def test_update_adds_and_removes_as_docker_does() -> None:
    spec = updated(
        BASE,
        env_add=("B=3", "C=4"),
        env_rm=("A",),
        label_add=("new=1",),
        label_rm=("drop",),
        container_label_add=("ck2=2",),
        container_label_rm=("ck",),
        constraint_add=("node.labels.zone==a",),
        constraint_rm=("node.role==worker",),
        network_add=("name=back,alias=api",),
        network_rm=("front",),
        mount_add=("type=tmpfs,target=/b",),  # replaces the mount at /b
        mount_rm=("/v1",),
        dns_add=("10.0.0.2",),
        dns_rm=("10.0.0.1",),
        dns_search_add=("example.org",),
        dns_option_add=("ndots:1",),
        host_add=("web:10.1.2.5",),
        host_rm=("db",),
        sysctl_add=("net.ipv4.ip_forward=1",),
        sysctl_rm=("net.core.somaxconn",),
        ulimit_add=("nproc=5:6",),
        ulimit_rm=("nofile",),
        group_add=("wheel", "audio"),
        group_rm=("staff",),
    )
    c = spec.container
    assert c.env == ("B=3", "C=4")
    assert spec.labels == (("keep", "1"), ("new", "1"))
    assert c.labels == (("ck2", "2"),)
    assert spec.constraints == ("node.labels.zone==a",)
    assert spec.networks == ("back",)
    assert spec.network_aliases == (NetworkAlias("back", ("api",)),)
    assert c.mounts == (Mount(MountType.TMPFS, "/b"),)
    assert (c.dns_nameservers, c.dns_search, c.dns_options) == (
        ("10.0.0.2",),
        ("example.org",),
        ("ndots:1",),
    )
    assert c.hosts == ("10.1.2.4 cache", "10.1.2.5 web")
    assert c.sysctls == (("net.ipv4.ip_forward", "1"),)
    assert c.ulimits == (Ulimit("nproc", 5, 6),)
    assert c.groups == ("audio", "wheel")  # sorted, as Docker's


def test_update_sets_what_create_sets_and_leaves_the_rest() -> None:
    spec = updated(
        BASE,
        image="busybox:1.36",
        args="sh -c 'sleep 1d'",
        entrypoint="",
        hostname="h-{{.Task.Slot}}",
        workdir="/w",
        user="1000",
        read_only=True,
        init=True,
        stop_signal="SIGHUP",
        stop_grace_period="1s",
        replicas=5,
        limit_memory="32m",
        reserve_cpu="0.1",
        restart_condition="none",
        restart_window="10s",
        update_parallelism=0,
        update_max_failure_ratio=0.1,
        rollback_order="start-first",
        force=True,
    )
    c = spec.container
    assert (c.image, c.args, c.command) == ("busybox:1.36", ("sh", "-c", "sleep 1d"), ())
    assert (c.hostname, c.workdir, c.user) == ("h-{{.Task.Slot}}", "/w", "1000")
    assert (c.read_only, c.init, c.stop_signal, c.stop_grace_s) == (True, True, "SIGHUP", 1)
    assert spec.replicas == 5
    assert spec.resources.limits.memory_bytes == 32 << 20
    assert spec.resources.reservations.nano_cpus == 100_000_000
    assert (spec.restart.condition, spec.restart.window_s) == (RestartCondition.NONE, 10)
    assert (spec.update.parallelism, spec.update.max_failure_ratio) == (0, 0.1)
    assert spec.rollback.order == UpdateOrder.START_FIRST
    assert spec.force_update == BASE.force_update + 1
    # What no flag named is as it was.
    assert (c.env, c.mounts, c.hosts) == (
        BASE.container.env,
        BASE.container.mounts,
        BASE.container.hosts,
    )
    # --read-only=false turns it off again.
    assert not updated(spec, read_only=False).container.read_only


def test_no_flags_change_nothing() -> None:
    assert updated(BASE) == BASE


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            {"mount_add": ("type=bind,source=/a,target=/x,volume-opt=a=b",)},
            "volume options are for volume mounts",
        ),
        ({"mount_add": ("type=volume,target=/x,volume-opt=a",)}, "must be a key=value pair"),
        ({"mount_add": ("type=bind,source=/a,target=/x,tmpfs-size=1m",)}, "tmpfs options"),
        ({"mount_add": ("type=bind,source=/a,target=/x,bogus=1",)}, "unknown field 'bogus'"),
        ({"placement_pref_add": ("pack=node.labels.zone",)}, "only spread is supported"),
        ({"host_add": ("db",)}, "bad format for add-host"),
        ({"host_add": ("db:not-an-ip",)}, "invalid IP address"),
        ({"ulimit_add": ("nofile=9:3",)}, "soft limit must be less than or equal"),
        ({"network_add": ("name=n,driver-opt=a=b",)}, "driver-opt is not supported"),
        ({"rollback_failure_action": "rollback"}, "--rollback-failure-action"),
        ({"update_order": "sideways"}, "--update-order"),
        ({"limit_pids": -1}, "invalid pids limit -1"),
    ],
)
def test_bad_flag_values_are_refused_in_one_line(flags: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        check_update_flags(UpdateOptions(**flags))  # type: ignore[arg-type]
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_replicas_are_for_replicated_services() -> None:
    with pytest.raises(InvalidArgument, match="replicas can only be used with replicated"):
        create_spec(CreateOptions(image="busybox", mode="global", replicas=2))
    global_spec = create_spec(CreateOptions(image="busybox", name="g", mode="global"))
    assert global_spec.mode == ServiceMode.GLOBAL
    with pytest.raises(InvalidArgument, match="replicas can only be used"):
        updated(global_spec, replicas=3)


def test_dockers_boolean_values_are_read_before_the_parser() -> None:
    from swarmpy.cli import specflags

    argv = ["--read-only=false", "--init=1", "--tty=True", "--env-add", "--init=0", "web"]
    assert specflags.bool_flag_argv(argv, {"--env-add"}) == [
        "--no-read-only",
        "--init",
        "--tty",
        "--env-add",
        "--init=0",  # a value, left as it is
        "web",
    ]
    with pytest.raises(InvalidArgument, match='invalid argument "maybe" for "--read-only" flag'):
        specflags.bool_flag_argv(["--read-only=maybe", "web"])


def test_update_parses_dockers_booleans_end_to_end() -> None:
    from typer.testing import CliRunner

    from swarmpy.cli.main import app

    env = {"SWARMPY_HOST": "unix:///nonexistent/swarmpy-test.sock"}
    result = CliRunner().invoke(app, ["service", "update", "--read-only=maybe", "web"], env=env)
    assert isinstance(result.exception, InvalidArgument)
    assert "ParseBool" in str(result.exception)
    # A good value gets as far as asking the daemon (which is not there).
    result = CliRunner().invoke(app, ["service", "update", "--read-only=false", "web"], env=env)
    assert "Cannot connect to the swarmpy daemon" in str(result.exception)


def test_create_reads_them_too_but_not_in_the_containers_arguments() -> None:
    from swarmpy.cli import specflags

    argv = ["--init=false", "--name", "--tty=1", "busybox", "prog", "--read-only=false"]
    assert specflags.bool_flag_argv(argv, {"--name"}, stop_at_argument=True) == [
        "--no-init",
        "--name",
        "--tty=1",
        "busybox",
        "prog",
        "--read-only=false",
    ]
