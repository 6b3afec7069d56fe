"""Generic resources end to end on one daemon, as Docker's: the node advertises what its
daemon.json's node-generic-resources names, `service create --generic-resource gpu=1` puts
tasks only while units are free (the rest pending in Docker's words), each container sees its
own unit as DOCKER_RESOURCE_GPU, and a daemon restarted with a unit fewer has the task holding it
rejected (SwarmKit's constraint enforcer); a task asking for process isolation is rejected as a
Linux dockerd rejects it, and one with a credential spec too (a file, or a config referenced as a
runtime config). One daemon, one test for all of it."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from typing import Any

import pytest

from tests.support.daemons import Daemon, DaemonSet
from tests.support.docker_cli import DockerCli
from tests.support.localswarm import STOP_GRACE, TASK_START_S, single_node_swarm
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

UUID1 = {"NamedResourceSpec": {"Kind": "gpu", "Value": "UUID1"}}
UUID2 = {"NamedResourceSpec": {"Kind": "gpu", "Value": "UUID2"}}


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def tasks(d: Daemon, service: str) -> list[dict[str, Any]]:
    """The service's tasks as the Engine API gives them (the CLI has no task inspect)."""
    conn = _UnixConnection(str(d.socket))
    try:
        query = json.dumps({"service": [service]})
        conn.request("GET", f"/tasks?filters={urllib.parse.quote(query)}")
        found = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    # An error (a manager just restarted, not leading yet) is "not yet" to a poll.
    assert isinstance(found, list), found
    return found


def test_generic_resources_reach_tasks_and_windows_options_are_rejected() -> None:
    with DaemonSet() as ds:
        d = ds.add()
        # From dockerd's daemon.json (its --node-generic-resource flag feeds the same setting).
        config = d.workdir / "daemon.json"
        resources = ["gpu=UUID1", "gpu=UUID2", "SSD=3"]
        config.write_text(json.dumps({"node-generic-resources": resources}))
        d.extra_args = ("--config-file", str(config))
        d.start()
        d.wait_ready()
        with single_node_swarm(d):
            (node,) = d.json("node", "inspect", "self")
            advertised = node["Description"]["Resources"]["GenericResources"]
            assert sorted(advertised, key=str) == sorted(
                [
                    {"NamedResourceSpec": {"Kind": "gpu", "Value": "UUID1"}},
                    {"NamedResourceSpec": {"Kind": "gpu", "Value": "UUID2"}},
                    {"DiscreteResourceSpec": {"Kind": "SSD", "Value": 3}},
                ],
                key=str,
            )

            d.ok(
                "service", "create", "-d", "--name", "ml", *STOP_GRACE,
                "--replicas", "3", "--generic-resource", "gpu=1",
                "busybox", "sleep", "86400",
            )  # fmt: skip

            def settled() -> list[dict[str, Any]] | None:
                found = tasks(d, "ml")
                running = [t for t in found if t["Status"]["State"] == "running"]
                pending = [t for t in found if t["Status"].get("Err")]
                return found if len(running) == 2 and len(pending) == 1 else None

            found = wait_for("two tasks running, one pending", settled, TASK_START_S, 0.5)
            pending = next(t for t in found if t["Status"]["State"] == "pending")
            assert pending["Status"]["Err"] == (
                "no suitable node (insufficient resources on 1 node)"
            )
            spec = d.json("service", "inspect", "ml")[0]["Spec"]
            assert spec["TaskTemplate"]["Resources"]["Reservations"]["GenericResources"] == [
                {"DiscreteResourceSpec": {"Kind": "gpu", "Value": 1}}
            ]
            seen = set()
            for t in found:
                if t["Status"]["State"] != "running":
                    continue
                (unit,) = t["GenericResources"]
                env = d.ok("exec", t["Status"]["ContainerStatus"]["ContainerID"], "env")
                assert f"DOCKER_RESOURCE_GPU={unit['NamedResourceSpec']['Value']}" in env
                seen.add(unit["NamedResourceSpec"]["Value"])
            assert seen == {"UUID1", "UUID2"}

            # The daemon restarted with one GPU fewer: the task holding it is rejected as
            # SwarmKit's constraint enforcer does, and its replacement waits for a unit.
            (gone,) = [t for t in found if t.get("GenericResources") == [UUID2]]
            config.write_text(json.dumps({"node-generic-resources": ["gpu=UUID1", "SSD=3"]}))
            d.restart()

            def enforced() -> dict[str, Any] | None:
                now = {t["ID"]: t for t in tasks(d, "ml")}
                old = now.get(gone["ID"])
                # Rejected, then told to stop once replaced (after the restart delay).
                replaced = old is not None and old["DesiredState"] == "shutdown"
                return old if replaced else None

            old = wait_for("the task on the lost GPU replaced", enforced, TASK_START_S + 10, 0.5)
            assert old["Status"]["State"] == "rejected"
            assert old["Status"]["Message"] == "task rejected by constraint enforcer"
            assert old["Status"]["Err"] == "assigned node no longer meets constraints"
            kept = [
                t
                for t in tasks(d, "ml")
                if t["DesiredState"] == "running" and t.get("GenericResources")
            ]
            assert [t["GenericResources"] for t in kept] == [[UUID1]]
            d.ok("service", "rm", "ml")

            # Windows-only options: kept in the spec, the task rejected by a Linux node. A
            # credential spec from a config references it as a runtime config, as docker/cli.
            (d.workdir / "credspec.json").write_text("{}")
            cred_id = d.ok("config", "create", "credspec", str(d.workdir / "credspec.json"))
            cred_id = cred_id.strip()
            for name, flags, shown, err in (
                (
                    "iso",
                    ("--isolation", "process"),
                    {"Isolation": "process"},
                    "invalid isolation 'process' on linux",
                ),
                (
                    "cred",
                    ("--credential-spec", "file://spec.json"),
                    {"Privileges": {"CredentialSpec": {"File": "spec.json"}}},
                    'invalid --security-opt 2: "credentialspec=file://spec.json"',
                ),
                (
                    "credcfg",
                    ("--credential-spec", "config://credspec"),
                    {
                        "Privileges": {"CredentialSpec": {"Config": cred_id}},
                        "Configs": [{"Runtime": {}, "ConfigID": cred_id, "ConfigName": "credspec"}],
                    },
                    f'invalid --security-opt 2: "credentialspec=config://{cred_id}"',
                ),
            ):
                d.ok(
                    "service", "create", "-d", "--name", name, *STOP_GRACE, *flags,
                    "--restart-condition", "none", "busybox", "sleep", "86400",
                )  # fmt: skip
                spec = d.json("service", "inspect", name)[0]["Spec"]
                container = spec["TaskTemplate"]["ContainerSpec"]
                assert {k: container.get(k) for k in shown} == shown

                def rejected(name: str = name) -> dict[str, Any] | None:
                    return next(
                        (t for t in tasks(d, name) if t["Status"]["State"] == "rejected"), None
                    )

                task = wait_for(f"{name}'s task rejected", rejected, TASK_START_S, 0.5)
                assert task["Status"]["Err"] == err
                d.ok("service", "rm", name)

            # Docker's own CLI makes the same spec: it resolves the config as docker/cli does.
            DockerCli(d).ok(
                "service", "create", "-d", "--name", "dockercred", *STOP_GRACE,
                "--credential-spec", "config://credspec", "busybox", "sleep", "86400",
            )  # fmt: skip
            spec = d.json("service", "inspect", "dockercred")[0]["Spec"]
            container = spec["TaskTemplate"]["ContainerSpec"]
            assert container["Privileges"] == {"CredentialSpec": {"Config": cred_id}}
            assert container["Configs"] == [
                {"Runtime": {}, "ConfigID": cred_id, "ConfigName": "credspec"}
            ]
            d.ok("service", "rm", "dockercred")
