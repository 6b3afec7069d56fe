"""Autolock on a one-node swarm: `swarm init --autolock` keeps the manager's keys encrypted
under the unlock key, a restarted manager is locked until `swarm unlock` gets the right key,
secrets sealed before stay readable, `unlock-key --rotate` re-encrypts the keys under the new
key, and turning autolock off and on again rotates the data key; swarmpy's CLI and Docker's."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

import pytest

from swarmpy.ca import keywrap
from swarmpy.config import SwarmState
from tests.support.daemons import Daemon, DaemonSet
from tests.support.docker_cli import DockerCli
from tests.support.localswarm import (
    free_addr,
    load_busybox,
    remove_service,
    run_task,
)
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

LOCKED = (
    "Error response from daemon: Swarm is encrypted and needs to be unlocked before it can be "
    'used. Please use "docker swarm unlock" to unlock it.\n'
)


def state_file(d: Daemon) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((d.data_root / "swarm" / "state.json").read_text())
    return data


def key_file(d: Daemon) -> str:
    return (d.data_root / "certificates" / "swarm-node.key").read_text()


def opens_with(d: Daemon, key: str) -> bool:
    """Whether the keys on disk are wrapped under ``key`` (and only then)."""
    state = SwarmState.load(d.data_root / "swarm" / "state.json")
    assert state is not None
    try:
        state.unlocked(keywrap.parse_human_readable(key))
        keywrap.decrypt_key_pem(key_file(d), keywrap.parse_human_readable(key))
    except keywrap.InvalidUnlockKey:
        return False
    return state.locked


def serving(d: Daemon) -> bool:
    return d.cli("service", "ls").returncode == 0


def secret_in_new_task(d: Daemon, service: str) -> str:
    name = run_task(d, service, "--secret", "pw", "busybox", "sleep", "3600")
    value = d.ok("exec", name, "cat", "/run/secrets/pw")
    remove_service(d, service)
    return value


def test_a_locked_manager_needs_its_unlock_key(daemons: DaemonSet) -> None:
    (d,) = daemons.start(1)
    load_busybox(d)
    docker = DockerCli(d)
    addr, port = free_addr()
    out = d.ok("swarm", "init", "--autolock", "--advertise-addr", addr,
               "--listen-addr", f"{addr}:{port}")  # fmt: skip
    try:
        found = re.search(r"\n\n    (SWMKEY-1-\S+)\n\nPlease remember to store this key", out)
        assert found, out
        first = found.group(1)
        assert d.ok("swarm", "unlock-key", "-q") == first + "\n"
        assert docker.ok("swarm", "unlock-key") == (
            "To unlock a swarm manager after it restarts, run the `docker swarm unlock`\n"
            f"command and provide the following key:\n\n    {first}\n\n"
            "Please remember to store this key in a password manager, since without it you\n"
            "will not be able to restart the manager.\n"
        )
        value = "pw-" + secrets.token_hex(16)
        (d.workdir / "pw").write_text(value)
        d.ok("secret", "create", "pw", str(d.workdir / "pw"))
        # On disk: the TLS key and the state file's keys under the unlock key only.
        assert keywrap.key_is_encrypted(key_file(d))
        assert state_file(d)["raft_password"] == state_file(d)["data_key"] == ""
        assert opens_with(d, first)

        d.restart()
        assert " Swarm: locked\n" in d.ok("info")
        refused = d.cli("service", "ls")
        assert (refused.returncode, refused.stderr) == (1, LOCKED)
        assert docker.refused("node", "ls") == LOCKED
        wrong = keywrap.human_readable(keywrap.new_unlock_key())
        refused = d.cli("swarm", "unlock", input=wrong + "\n")
        assert (refused.returncode, refused.stderr) == (
            1,
            "Error response from daemon: swarm could not be unlocked: invalid key provided\n",
        )
        malformed = d.cli("swarm", "unlock", input="nope\n")
        assert malformed.stderr == "Error response from daemon: invalid key string\n"
        d.ok("swarm", "unlock", input=first + "\n")
        wait_for("the unlocked manager to serve", lambda: serving(d), 30, 0.2)
        assert " Swarm: active\n" in d.ok("info")
        assert d.cli("swarm", "unlock", input=first).stderr == "Error: swarm is not locked\n"
        assert secret_in_new_task(d, "before") == value

        rotated = d.ok("swarm", "unlock-key", "--rotate", "-q").strip()
        assert rotated.startswith("SWMKEY-1-")
        assert rotated != first
        wait_for("the keys re-encrypted under the new key", lambda: opens_with(d, rotated), 30)
        assert not opens_with(d, first)

        d.restart()
        refused = d.cli("swarm", "unlock", input=first + "\n")
        assert "invalid key provided" in refused.stderr
        docker.ok("swarm", "unlock", input=rotated + "\n")
        wait_for("the unlocked manager to serve", lambda: serving(d), 30, 0.2)

        # Autolock off: the keys back in clear, a restart is not locked.
        assert d.ok("swarm", "update", "--autolock=false") == "Swarm updated.\n"
        wait_for("the keys in clear", lambda: not keywrap.key_is_encrypted(key_file(d)), 30)
        assert "no unlock key is set" in d.cli("swarm", "unlock-key").stderr
        assert "autolock is not turned on" in d.cli("swarm", "unlock-key", "--rotate").stderr
        data_key = state_file(d)["data_key"]
        assert data_key
        # On again: a new unlock key, and a new data key (the old one was on disk in clear);
        # the secret sealed with the old one still opens.
        out = d.ok("swarm", "update", "--autolock=true")
        assert out.startswith("Swarm updated.\nTo unlock a swarm manager after it restarts")
        again = d.ok("swarm", "unlock-key", "-q").strip()

        def rotated_data_key() -> bool:
            state = SwarmState.load(d.data_root / "swarm" / "state.json")
            assert state is not None
            if not state.locked:
                return False
            keys = state.unlocked(keywrap.parse_human_readable(again)).data_keys
            return len(keys) == 2 and keys[1] == data_key

        wait_for("a new data key, the old one kept", rotated_data_key, 30)
        assert secret_in_new_task(d, "after") == value
        # The Raft files hold the CA key and the join tokens: sealed under the data keys, the
        # old one and the new, and read back after a restart once unlocked.
        d.restart()
        d.ok("swarm", "unlock", input=again + "\n")
        wait_for("the unlocked manager to serve", lambda: serving(d), 30, 0.2)
        raft = [p.read_bytes() for p in (d.data_root / "raft").rglob("*") if p.is_file()]
        assert raft
        for clear in (b"PRIVATE KEY", b"SWMTKN-1-", value.encode()):
            assert not any(clear in data for data in raft), clear
        assert d.ok("secret", "ls", "--format", "{{.Name}}") == "pw\n"
        d.ok("secret", "rm", "pw")
    finally:
        d.cli("swarm", "leave", "--force")
