"""Secrets and configs on a one-node swarm with busybox: created, mounted in a task's
container with their target, owner and mode, never in clear under the data root (the
manager's Raft files included, nor on the worker's disk), refused removal while used, rolled
by `service update --secret-rm/--secret-add`, and the same through Docker's own CLI."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from swarmpy.agent.runtime import FILES_ROOT
from tests.support.controlplane import all_ready, init, joined, token
from tests.support.daemons import Daemon, DaemonSet
from tests.support.docker_cli import DOCKER, DockerCli
from tests.support.localswarm import (
    free_addr,
    load_busybox,
    remove_service,
    run_task,
    task_container,
)
from tests.support.poll import wait_for

pytestmark = pytest.mark.root


def files_holding(root: Path, needle: bytes) -> list[str]:
    """Every file under ``root`` whose bytes contain ``needle`` (symlinks not followed)."""
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            try:
                if needle in path.read_bytes():
                    found.append(str(path))
            except OSError:
                continue
    return found


def write(d: Daemon, name: str, data: bytes) -> str:
    path = d.workdir / name
    path.write_bytes(data)
    return str(path)


def state_of(d: Daemon) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((d.data_root / "swarm" / "state.json").read_text())
    return state


def new_container(d: Daemon, service: str, old: str) -> str | None:
    row = task_container(d, service)
    return row["Names"] if row is not None and row["Names"] != old else None


def test_secrets_and_configs_reach_the_task_and_nothing_else(one_node_swarm: Daemon) -> None:
    d = one_node_swarm
    value = b"pw-" + secrets.token_hex(16).encode()
    other = b"pw2-" + secrets.token_hex(16).encode()
    secret_id = d.ok("secret", "create", "--label", "app=db", "pw", write(d, "f1", value))
    d.ok("secret", "create", "pw2", write(d, "f2", other))
    d.ok("config", "create", "conf", write(d, "f3", b"listen 80\n"))
    assert d.ok("secret", "ls", "--format", "{{.ID}} {{.Name}}").splitlines() == [
        f"{secret_id.strip()} pw",
        f"{d.ok('secret', 'inspect', '-f', '{{.ID}}', 'pw2').strip()} pw2",
    ]
    shown = d.ok("secret", "inspect", "pw")
    assert '"Name": "pw"' in shown
    assert value.decode() not in shown
    assert '"Data"' not in shown
    assert "listen 80" in d.ok("config", "inspect", "--pretty", "conf")

    name = run_task(d, "app", "--secret", "pw",
                    "--secret", "source=pw,target=/etc/pw,uid=7,gid=8,mode=0400",
                    "--config", "src=conf,target=/etc/app.conf",
                    "busybox", "sleep", "3600")  # fmt: skip
    assert d.ok("exec", name, "cat", "/run/secrets/pw").encode() == value
    assert d.ok("exec", name, "stat", "-c", "%a %u %g", "/run/secrets/pw") == "444 0 0\n"
    assert d.ok("exec", name, "stat", "-c", "%a %u %g", "/etc/pw") == "400 7 8\n"
    assert d.ok("exec", name, "cat", "/etc/app.conf") == "listen 80\n"
    # Read-only in the container, and never on the disk: not under the data root (the
    # Raft journal and snapshots are there), only in the task's tmpfs.
    assert d.cli("exec", name, "sh", "-c", "echo x > /run/secrets/pw").returncode != 0
    assert files_holding(d.data_root, value) == []
    assert files_holding(d.data_root, other) == []

    refused = d.cli("secret", "rm", "pw")
    assert refused.returncode == 1
    assert refused.stderr == (
        "Error response from daemon: secret 'pw' is in use by the following service: app\n"
    )
    assert d.cli("config", "rm", "conf").stderr == (
        "Error response from daemon: config 'conf' is in use by the following service: app\n"
    )

    d.ok("config", "create", "conf2", write(d, "f4", b"listen 8080\n"))
    d.ok("service", "update", "-d", "--secret-rm", "pw", "--secret-add",
         "source=pw2,target=pw", "--config-rm", "conf", "--config-add",
         "source=conf2,target=/etc/app.conf", "app")  # fmt: skip
    rolled = wait_for("the updated task", lambda: new_container(d, "app", name), 60, 0.5)
    assert d.ok("exec", rolled, "cat", "/run/secrets/pw").encode() == other
    assert d.cli("exec", rolled, "cat", "/etc/pw").returncode != 0
    assert d.ok("exec", rolled, "cat", "/etc/app.conf") == "listen 8080\n"
    d.ok("secret", "rm", "pw")  # no service uses them any more
    d.ok("config", "rm", "conf")

    remove_service(d, "app")
    wait_for(
        "the task's tmpfs to go",
        lambda: not any((FILES_ROOT / d.prefix).glob("*")),
        30,
    )
    gone = d.cli("secret", "rm", "pw2", "nosuch")
    assert (gone.returncode, gone.stdout) == (1, "pw2\n")
    assert gone.stderr == "Error: No such secret: nosuch\n"
    d.ok("config", "rm", "conf2")
    assert d.ok("secret", "ls", "-q") == d.ok("config", "ls", "-q") == ""


def test_secrets_through_the_docker_cli(one_node_swarm: Daemon) -> None:
    assert DOCKER.exists(), f"{DOCKER} is missing: run scripts/install-deps.sh (docker.io)"
    d = one_node_swarm
    docker = DockerCli(d)
    value = "dk-" + secrets.token_hex(16)
    docker.ok("secret", "create", "dbpass", "-", input=value)
    assert "dbpass" in docker.ok("secret", "ls")
    # A 1 s grace: sleep as PID 1 ignores SIGTERM, and the update and rm each stop it.
    docker.ok("service", "create", "-d", "--name", "dk", "--stop-grace-period", "1s",
              "--secret", "source=dbpass,target=db,mode=0440",
              "busybox", "sleep", "3600")  # fmt: skip
    row = wait_for("dk's container", lambda: task_container(d, "dk"), 45, 0.5)
    assert docker.ok("exec", row["Names"], "cat", "/run/secrets/db") == value
    assert docker.ok("exec", row["Names"], "stat", "-c", "%a", "/run/secrets/db") == "440\n"
    assert "is in use by the following service: dk" in docker.refused("secret", "rm", "dbpass")
    docker.ok("config", "create", "site", "-", input="server_name x;\n")
    assert "server_name x;" in docker.ok("config", "inspect", "--pretty", "site")
    docker.ok("service", "update", "-d", "--config-add", "source=site,target=/site.conf",
              "dk")  # fmt: skip
    rolled = wait_for("dk's new task", lambda: new_container(d, "dk", row["Names"]), 60, 0.5)
    assert docker.ok("exec", rolled, "cat", "/site.conf") == "server_name x;\n"
    remove_service(d, "dk")
    docker.ok("secret", "rm", "dbpass")
    docker.ok("config", "rm", "site")


def test_a_secret_goes_only_to_the_worker_running_its_task(daemons: DaemonSet) -> None:
    manager, worker = daemons.start(2)
    load_busybox(worker)
    ip, port = free_addr()
    init(manager, ip, port)
    worker_ip, _ = free_addr()
    joined(worker, token(manager, "worker"), worker_ip, port, f"{ip}:{port}")
    wait_for("two Ready nodes", lambda: all_ready(manager, 2), timeout=30)
    value = b"w-" + secrets.token_hex(16).encode()
    manager.ok("secret", "create", "pw", write(manager, "f", value))
    manager.ok("service", "create", "-d", "--name", "app", "--constraint", "node.role==worker",
               "--secret", "pw", "busybox", "sleep", "3600")  # fmt: skip
    row = wait_for("app's container on the worker", lambda: task_container(worker, "app"), 60, 0.5)
    assert worker.ok("exec", row["Names"], "cat", "/run/secrets/pw").encode() == value
    for d in (manager, worker):
        assert files_holding(d.data_root, value) == [], d.name
        assert value not in d.log_path.read_bytes()
    assert not any((FILES_ROOT / manager.prefix).glob("*"))
    assert any((FILES_ROOT / worker.prefix).glob("*"))
    # A promoted worker gets the data key with its manager certificate, in its 0600 state.
    assert "data_key" not in state_of(worker) or not state_of(worker)["data_key"]
    manager.ok("node", "promote", state_of(worker)["node_id"])
    key = state_of(manager)["data_key"]
    wait_for("the promoted worker's data key", lambda: state_of(worker).get("data_key") == key, 60)
    assert (worker.data_root / "swarm" / "state.json").stat().st_mode & 0o077 == 0
    # Leaving with the task still running takes its tmpfs too.
    worker.ok("swarm", "leave", "--force")
    assert not any((FILES_ROOT / worker.prefix).glob("*"))
    manager.cli("swarm", "leave", "--force")
