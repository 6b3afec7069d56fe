"""Healthchecks as Docker's: the state machine over probe results, the merge with the image's
HEALTHCHECK, the commands run, Docker's JSON and the ps STATUS column."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from swarmpy.cli.service.inspect import print_pretty
from swarmpy.cli.service.options import CreateOptions, UpdateOptions, create_spec, update_spec
from swarmpy.dockerjson.fields import Fields
from swarmpy.dockerjson.health import health_json, image_health, read_health
from swarmpy.dockerjson.service import service_spec, service_spec_json
from swarmpy.engine.containers import ContainerInfo, status_text
from swarmpy.engine.health import (
    Health,
    HealthMonitor,
    Probe,
    ProbeResult,
    apply_result,
    load,
    merge,
    probe_for,
    timeout_output,
    truncated_output,
)
from swarmpy.errors import InvalidArgument
from swarmpy.humanize import go_duration
from swarmpy.manager.controlapi.validate import check_healthcheck
from swarmpy.model import ContainerSpec, HealthConfig, HealthState, ServiceSpec
from swarmpy.server.convert.container import CONTAINER_FILTERS, ListQuery, matches
from swarmpy.server.filters import parse_filters

STARTED = 1000.0


def probe(retries: int = 3, start_period_s: float = 0.0) -> Probe:
    return Probe(("true",), 1.0, 1.0, retries, start_period_s)


def run(codes: list[int], p: Probe, first_at: float = STARTED + 1.0) -> Health:
    """The health after probes with these exit codes, one a second from ``first_at``."""
    health = Health()
    for i, code in enumerate(codes):
        at = first_at + i
        health = apply_result(health, ProbeResult(at, at + 0.1, code, f"out{i}"), p, STARTED)
    return health


def test_a_pass_makes_it_healthy_and_resets_the_streak() -> None:
    health = run([1, 1, 0], probe())
    assert health.status == HealthState.HEALTHY
    assert health.failing_streak == 0


def test_retries_failures_in_a_row_make_it_unhealthy() -> None:
    assert run([1, 1], probe(retries=3)).status == HealthState.STARTING
    failed = run([1, 1, 1], probe(retries=3))
    assert failed.status == HealthState.UNHEALTHY
    assert failed.failing_streak == 3


def test_a_healthy_container_stays_healthy_until_the_streak_reaches_retries() -> None:
    assert run([0, 1, 1], probe(retries=3)).status == HealthState.HEALTHY
    assert run([0, 1, 1, 1], probe(retries=3)).status == HealthState.UNHEALTHY


def test_failures_within_the_start_period_do_not_count_before_the_first_pass() -> None:
    p = probe(retries=1, start_period_s=5.0)
    early = run([1, 1, 1, 1], p)  # at +1 .. +4 s: all inside the start period
    assert (early.status, early.failing_streak) == (HealthState.STARTING, 0)
    assert run([1, 1, 1, 1, 1], p).status == HealthState.UNHEALTHY  # +5 s is past it


def test_failures_within_the_start_period_count_once_it_passed() -> None:
    health = run([0, 1], probe(retries=1, start_period_s=60.0))
    assert health.status == HealthState.UNHEALTHY


def test_the_log_keeps_the_last_five_results() -> None:
    health = run([1, 0, 1, 0, 1, 0, 0], probe(retries=10))
    assert [r.output for r in health.log] == ["out2", "out3", "out4", "out5", "out6"]
    assert health.to_json()["Log"][0]["ExitCode"] == 1


def test_inspect_json_has_docker_keys() -> None:
    doc = run([0], probe()).to_json()
    assert set(doc) == {"Status", "FailingStreak", "Log"}
    assert doc["Status"] == "healthy"
    assert set(doc["Log"][0]) == {"Start", "End", "ExitCode", "Output"}
    assert doc["Log"][0]["Start"].endswith("Z")


def test_the_spec_overrides_the_image_field_by_field() -> None:
    image = HealthConfig(("CMD", "check"), interval_s=10, timeout_s=3, retries=5)
    spec = HealthConfig(interval_s=2)
    assert merge(spec, image) == HealthConfig(("CMD", "check"), 2, 3, 5, 0)
    assert merge(None, image) == image
    assert merge(spec, None) == spec


def test_none_disables_the_image_check() -> None:
    image = HealthConfig(("CMD", "check"))
    assert probe_for(merge(HealthConfig(("NONE",)), image)) is None
    assert probe_for(None) is None
    assert probe_for(HealthConfig(("CMD",))) is None


def test_the_commands_run_and_docker_defaults() -> None:
    cmd = probe_for(HealthConfig(("CMD", "cat", "/ok")))
    assert cmd == Probe(("cat", "/ok"), 30.0, 30.0, 3, 0.0)
    shell = probe_for(HealthConfig(("CMD-SHELL", "test -f /ok || exit 1"), retries=1))
    assert shell is not None
    assert shell.cmd == ("/bin/sh", "-c", "test -f /ok || exit 1")
    assert shell.retries == 1


def test_output_is_cut_at_4096_bytes_as_docker_does() -> None:
    assert truncated_output(b"x" * 4096) == "x" * 4096
    assert truncated_output(b"x" * 4097) == "x" * 4096 + "..."


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30, "30s"), (1.5, "1.5s"), (0.5, "500ms"), (90, "1m30s"), (3600, "1h0m0s")],
)
def test_durations_print_as_go_does(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_timeout_message() -> None:
    assert timeout_output(2) == "Health check exceeded timeout (2s)"


def test_docker_json_both_ways_in_nanoseconds() -> None:
    config = HealthConfig(("CMD-SHELL", "true"), 1.5, 2.0, 4, 10.0)
    doc = health_json(config)
    assert doc == {
        "Test": ["CMD-SHELL", "true"],
        "Interval": 1_500_000_000,
        "Timeout": 2_000_000_000,
        "StartPeriod": 10_000_000_000,
        "Retries": 4,
    }
    f = Fields(doc, "Healthcheck")
    assert read_health(f) == config
    f.done()
    assert health_json(HealthConfig(("NONE",))) == {"Test": ["NONE"]}


def test_a_bad_healthcheck_value_is_refused_by_name() -> None:
    with pytest.raises(InvalidArgument, match=r"Healthcheck\.Interval"):
        read_health(Fields({"Interval": "5s"}, "Healthcheck"))


def test_an_image_healthcheck_is_read_leniently() -> None:
    assert image_health(None) is None
    got = image_health({"Test": ["CMD", "x"], "Interval": 5_000_000_000, "StartInterval": 1})
    assert got == HealthConfig(("CMD", "x"), interval_s=5.0)


@pytest.mark.parametrize(
    ("health", "suffix"),
    [
        (HealthState.NONE, ""),
        (HealthState.STARTING, " (health: starting)"),
        (HealthState.HEALTHY, " (healthy)"),
        (HealthState.UNHEALTHY, " (unhealthy)"),
    ],
)
def test_ps_status_shows_health_as_docker(health: HealthState, suffix: str) -> None:
    assert status_text("running", 95.0, 0.0, None, 100.0, health) == "Up 5 seconds" + suffix


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            HealthConfig(("CMD", "x"), interval_s=0.0005),
            "ContainerSpec: Interval in HealthConfig cannot be less than 1ms",
        ),
        (
            HealthConfig(("CMD", "x"), timeout_s=-1),
            "ContainerSpec: Timeout in HealthConfig cannot be less than 1ms",
        ),
        (
            HealthConfig(("CMD", "x"), start_period_s=float("nan")),
            "ContainerSpec: StartPeriod in HealthConfig cannot be less than 1ms",
        ),
        (
            HealthConfig(("CMD", "x"), retries=-1),
            "ContainerSpec: Retries in HealthConfig cannot be negative",
        ),
    ],
)
def test_the_managers_refuse_a_bad_healthcheck_in_swarmkits_words(
    config: HealthConfig, message: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        check_healthcheck(config)
    assert str(info.value) == message


def test_zero_durations_inherit_and_pass() -> None:
    check_healthcheck(HealthConfig(("NONE",)))
    check_healthcheck(HealthConfig(("CMD", "x"), interval_s=0.001, retries=0))


def test_the_service_converter_maps_healthcheck_both_ways() -> None:
    hc = {"Test": ["CMD-SHELL", "test -f /ok"], "Interval": 2_000_000_000, "Retries": 2}
    body = {
        "Name": "web",
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Healthcheck": hc}},
    }
    spec = service_spec(body)
    assert spec.container.healthcheck == HealthConfig(
        ("CMD-SHELL", "test -f /ok"), interval_s=2.0, retries=2
    )
    assert service_spec_json(spec)["TaskTemplate"]["ContainerSpec"]["Healthcheck"] == hc
    plain = service_spec({"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}})
    assert plain.container.healthcheck is None
    assert "Healthcheck" not in service_spec_json(plain)["TaskTemplate"]["ContainerSpec"]


def test_the_converter_refuses_an_unknown_healthcheck_key() -> None:
    body = {
        "Name": "web",
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Healthcheck": {"Tst": ["NONE"]}}},
    }
    with pytest.raises(InvalidArgument, match="unknown field"):
        service_spec(body)


def created(**flags: object) -> HealthConfig | None:
    return create_spec(CreateOptions(image="busybox", **flags)).container.healthcheck  # type: ignore[arg-type]


def test_create_health_flags_as_docker() -> None:
    assert created() is None
    assert created(
        health_cmd="test -f /ok",
        health_interval="2s",
        health_timeout="1s",
        health_retries=2,
        health_start_period="10s",
    ) == HealthConfig(("CMD-SHELL", "test -f /ok"), 2.0, 1.0, 2, 10.0)
    assert created(no_healthcheck=True) == HealthConfig(("NONE",))
    # As docker/cli: settings without a command inherit the image's; a start period alone
    # asks for nothing.
    assert created(health_interval="5s") == HealthConfig(interval_s=5.0)
    assert created(health_start_period="5s") is None
    # Go's durations, as docker parses them.
    assert created(health_interval="1m30s", health_timeout="1500ms") == HealthConfig(
        interval_s=90.0, timeout_s=1.5
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            {"no_healthcheck": True, "health_cmd": "true"},
            "--no-healthcheck conflicts with --health-* options",
        ),
        (
            {"health_interval": "-5s"},
            'invalid argument "-5s" for "--health-interval" flag: duration cannot be negative',
        ),
        (
            {"health_timeout": "5"},
            'invalid argument "5" for "--health-timeout" flag: time: missing unit in duration "5"',
        ),
        (
            {"health_start_period": "soon"},
            'invalid argument "soon" for "--health-start-period" flag: '
            'time: invalid duration "soon"',
        ),
    ],
)
def test_bad_health_flags_are_refused_as_docker(flags: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        created(**flags)
    assert str(info.value) == message


def updated(current: HealthConfig | None, **flags: object) -> HealthConfig | None:
    spec = ServiceSpec("web", ContainerSpec("busybox", healthcheck=current))
    return update_spec(spec, UpdateOptions(**flags), lambda n: n).container.healthcheck  # type: ignore[arg-type]


def test_update_health_flags_change_only_what_they_name() -> None:
    current = HealthConfig(("CMD-SHELL", "true"), interval_s=5.0, retries=3)
    assert updated(current) == current
    assert updated(current, health_retries=1) == HealthConfig(
        ("CMD-SHELL", "true"), interval_s=5.0, retries=1
    )
    assert updated(current, health_cmd="") == HealthConfig(interval_s=5.0, retries=3)
    assert updated(current, no_healthcheck=True) == HealthConfig(("NONE",))
    # A command given again after --no-healthcheck replaces NONE.
    assert updated(HealthConfig(("NONE",)), health_interval="1s") == HealthConfig(interval_s=1.0)
    assert updated(None, health_cmd="x") == HealthConfig(("CMD-SHELL", "x"))
    with pytest.raises(InvalidArgument, match="conflicts"):
        updated(current, no_healthcheck=True, health_retries=1)


def test_ps_health_filter_reads_state_health() -> None:
    parsed = parse_filters(json.dumps({"health": ["healthy"]}), CONTAINER_FILTERS)
    query = ListQuery(parsed, all=False, limit=0)
    row = ContainerInfo(
        "c" * 64, "busybox", "sh", 1.0, "Up 1 second", "running", "web.1.x", 7, None
    )

    def doc(health: dict[str, object] | None) -> dict[str, object]:
        state: dict[str, object] = {"ExitCode": 0, "StartedAt": "2026-01-01T00:00:00Z"}
        if health is not None:
            state["Health"] = health
        return {"Id": row.id, "Name": "/web.1.x", "Image": "", "State": state, "Config": {}}

    assert matches(query, row, doc({"Status": "healthy", "FailingStreak": 0, "Log": []}))
    assert not matches(query, row, doc({"Status": "starting", "FailingStreak": 0, "Log": []}))
    assert not matches(query, row, doc(None))
    none = ListQuery(parse_filters(json.dumps({"health": ["none"]}), CONTAINER_FILTERS), False, 0)
    assert matches(none, row, doc(None))


def test_service_inspect_pretty_shows_the_healthcheck_as_docker(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hc = {"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000, "Retries": 2}
    spec = {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "b", "Healthcheck": hc}}}
    print_pretty({"ID": "x", "Spec": spec})
    assert capsys.readouterr().out.endswith(
        " Healthcheck:\n  Interval = 1s\n  Retries = 2\n  StartPeriod =\t0s\n  Timeout =\t0s"
        "\n  Tests:\n\t Test = CMD-SHELL\n\t Test = true \n\n"
    )


def test_the_monitor_records_a_timed_out_check_and_fails_after_retries(tmp_path: Path) -> None:
    async def timed_out(cmd: tuple[str, ...], timeout_s: float) -> tuple[int, str] | None:
        assert cmd == ("true",)
        return None

    async def scenario() -> None:
        path = tmp_path / "health.json"
        monitor = HealthMonitor(Probe(("true",), 0.001, 2.0, 2, 0.0), 0.0, timed_out, path)
        monitor.start()
        status = await asyncio.wait_for(monitor.change_from(HealthState.STARTING), 10)
        assert status == HealthState.UNHEALTHY
        await monitor.stop()
        saved = load(path)
        assert saved is not None
        assert saved.status == HealthState.UNHEALTHY
        assert saved.failing_streak >= 2  # it probes on until stopped
        assert saved.log[-1].exit_code == -1
        assert saved.log[-1].output == "Health check exceeded timeout (2s)"

    asyncio.run(scenario())


def test_the_monitor_tells_each_change_of_status_but_not_its_stop(tmp_path: Path) -> None:
    seen: list[HealthState] = []

    async def passes(cmd: tuple[str, ...], timeout_s: float) -> tuple[int, str] | None:
        return 0, "ok"

    async def scenario() -> None:
        monitor = HealthMonitor(
            Probe(("true",), 0.001, 1.0, 3, 0.0),
            0.0,
            passes,
            tmp_path / "health.json",
            on_change=seen.append,
        )
        monitor.start()
        await asyncio.wait_for(monitor.change_from(HealthState.STARTING), 10)
        await monitor.stop()

    asyncio.run(scenario())
    assert seen == [HealthState.HEALTHY]
