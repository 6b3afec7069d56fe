"""`swarmpy stack` end to end on a one-node swarm with busybox: a three-service application
(a web server serving a config file on a published port, a service reading a secret, a worker)
deployed from one Compose file converges; the secret is readable in its task; the services
reach each other by short name; a redeploy of the same file changes nothing, one with a changed
replica count updates that service only; `stack rm` leaves nothing of the stack."""

from __future__ import annotations

import os
import random
import secrets
import subprocess
from pathlib import Path

import pytest

from swarmpy.lab.hosts import swarmpy_executable
from tests.support.daemons import Daemon, DaemonSet
from tests.support.localswarm import TASK_START_S, single_node_swarm
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

LABEL = "com.docker.stack.namespace"

COMPOSE = """\
version: "3.8"
services:
  web:
    image: busybox:latest
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports: ["${WEB_PORT}:80"]
    configs:
      - source: page
        target: /www/index.html
    deploy:
      replicas: 1
      labels: [tier=front]
  db:
    image: busybox:latest
    command: sh -c 'cat /run/secrets/db_password; exec sleep 3600'
    secrets: [db_password]
    environment:
      ROLE: ${ROLE:-database}
  worker:
    image: busybox:latest
    command: ["sleep", "3600"]
    depends_on: [db]
    deploy:
      replicas: ${WORKER_REPLICAS:-1}
configs:
  page:
    file: ./index.html
secrets:
  db_password:
    file: ./db_password.txt
"""


def containers(d: Daemon, prefix: str) -> list[str]:
    return [n for n in d.ok("ps", "--format", "{{.Names}}").split() if n.startswith(prefix)]


def running(d: Daemon, service: str, count: int) -> bool:
    replicas = d.ok("service", "ls", "--filter", f"name={service}", "--format", "{{.Replicas}}")
    return replicas.strip() == f"{count}/{count}"


def versions(d: Daemon, stack: str) -> dict[str, str]:
    out = d.ok("stack", "services", stack, "--format", "{{.Name}}")
    return {
        name: d.ok("service", "inspect", "-f", "{{.Version.Index}}", name).strip()
        for name in out.split()
    }


def in_task(d: Daemon, service: str, *command: str) -> str:
    (name,) = wait_for(f"{service}'s container", lambda: containers(d, f"{service}.1."), 30)
    return d.ok("exec", name, *command)


def test_stack_deploy_redeploy_and_rm(daemons: DaemonSet, tmp_path: Path) -> None:
    (d,) = daemons.start(1)
    stack = f"st{random.randint(1000, 9999)}"
    password = "pw-" + secrets.token_hex(8)
    (tmp_path / "index.html").write_text("hello from the stack\n")
    (tmp_path / "db_password.txt").write_text(password)
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(COMPOSE)
    port = str(random.randint(20000, 29999))

    def deploy(**env: str) -> tuple[str, str]:
        # The Compose file's variables come from the CLI's environment.
        result = subprocess.run(
            [str(swarmpy_executable()), "stack", "deploy", "-c", str(compose), stack],
            capture_output=True,
            text=True,
            env={**os.environ, "SWARMPY_HOST": d.host, "WEB_PORT": port, **env},
            timeout=60,
        )
        assert result.returncode == 0, result.stderr + d.log_tail()
        return result.stdout, result.stderr

    with single_node_swarm(d):
        try:
            out, err = deploy()
            assert out.splitlines() == [
                f"Creating network {stack}_default",
                f"Creating secret {stack}_db_password",
                f"Creating config {stack}_page",
                f"Creating service {stack}_db",
                f"Creating service {stack}_web",
                f"Creating service {stack}_worker",
            ]
            assert "Ignoring unsupported options: depends_on" in err
            for service in ("web", "db", "worker"):
                wait_for(
                    f"{service} to run",
                    lambda s=service: running(d, f"{stack}_{s}", 1),  # type: ignore[misc]
                    TASK_START_S,
                    0.5,
                )
            assert d.ok("stack", "ls").splitlines() == [
                "NAME      SERVICES   ORCHESTRATOR",
                f"{stack}    3          Swarm",
            ]
            listed = d.ok("stack", "services", stack, "--format", "{{.Name}} {{.Replicas}}")
            assert listed.splitlines() == [
                f"{stack}_db 1/1",
                f"{stack}_web 1/1",
                f"{stack}_worker 1/1",
            ]
            tasks = d.ok("stack", "ps", stack, "--format", "{{.Name}} {{.CurrentState}}")
            assert sorted(line.split()[0] for line in tasks.splitlines()) == [
                f"{stack}_db.1",
                f"{stack}_web.1",
                f"{stack}_worker.1",
            ]
            assert all(" Running " in f"{line} " for line in tasks.splitlines())

            # The secret in its task, the config served, the service names as aliases.
            assert in_task(d, f"{stack}_db", "cat", "/run/secrets/db_password") == password
            env = in_task(d, f"{stack}_db", "env")
            assert "ROLE=database" in env.splitlines()
            page = in_task(d, f"{stack}_worker", "wget", "-qO-", "http://web/")
            assert page == "hello from the stack\n"
            labels = d.ok("service", "inspect", "-f", "{{json .Spec.Labels}}", f"{stack}_web")
            assert f'"{LABEL}":"{stack}"' in labels
            assert '"tier":"front"' in labels

            # The same file again: every service named, none changed.
            before = versions(d, stack)
            out, _ = deploy()
            assert f"Updating service {stack}_web (id: " in out
            assert "Creating" not in out
            assert versions(d, stack) == before

            # Two workers: only the worker's spec changes.
            out, _ = deploy(WORKER_REPLICAS="2")
            after = versions(d, stack)
            assert after[f"{stack}_worker"] != before[f"{stack}_worker"]
            assert {k: v for k, v in after.items() if not k.endswith("_worker")} == {
                k: v for k, v in before.items() if not k.endswith("_worker")
            }
            wait_for("two workers", lambda: running(d, f"{stack}_worker", 2), TASK_START_S, 0.5)
        finally:
            removed = d.cli("stack", "rm", stack, timeout=180)
        assert removed.returncode == 0, removed.stderr
        assert removed.stdout.splitlines() == [
            f"Removing service {stack}_db",
            f"Removing service {stack}_web",
            f"Removing service {stack}_worker",
            f"Removing secret {stack}_db_password",
            f"Removing config {stack}_page",
            f"Removing network {stack}_default",
        ]
        # Nothing of the stack is left: no object carries its label, no container runs.
        for kind in ("service", "network", "secret", "config"):
            assert d.ok(kind, "ls", "-q", "--filter", f"label={LABEL}={stack}") == ""
        wait_for("the stack's containers to go", lambda: not containers(d, f"{stack}_"), 30)
        assert d.ok("stack", "ls").splitlines() == ["NAME      SERVICES   ORCHESTRATOR"]
        rerun = d.cli("stack", "rm", stack)
        assert rerun.stderr == f"Nothing found in stack: {stack}\n"
