"""The Raft transport's keys, replaceable while it runs, so a manager that left is locked out.

pysyncobj encrypts and authenticates every message between managers (and every admin command,
``TcpUtility``) with one Fernet key derived from a password, fixed for the life of a
``SyncObj``; a peer names itself by the address it claims. Whoever holds the password can
therefore append, vote, read the log, or add itself as a member, and a demoted or removed
manager keeps its copy. So the key can change under a running log: every connection's
encryptor is one ``KeyRing`` (sends with one key, accepts several), and
``swarmpy.manager.raftsecret`` moves the managers to a new secret, in steps every member takes
before the next one, whenever a manager leaves.

``KeyedSyncObj`` also refuses what swarmpy never uses and a key holder could abuse: read-only
peers (they receive the whole log) and the admin commands that add members or change the code
version.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from pysyncobj.encryptor import getEncryptor
from pysyncobj.utility import TcpUtility, UtilityException

from swarmpy.manager.state.raft.patches import PatchedSyncObj

# Where a manager keeps the secret it sends with and its epoch: its store may be older than
# that after a restart (entries after the last dump are applied only once the leader says
# they committed), and it must keep sending with what the others now expect.
SECRET_FILE = "transport-secret.json"
# Admin commands a key holder must not get: swarmpy adds members only through the leader's
# own log (NodeCA), never through the admin port, and never changes the code version.
REFUSED_COMMANDS = ("add", "set_version")


@functools.lru_cache(maxsize=16)
def _fernet(secret: str) -> Fernet:
    # pysyncobj's own derivation (PBKDF2, 100,000 rounds: ~50 ms), so a ring with one key
    # talks to a plain SyncObj or TcpUtility with that password. Cached: keys are reused.
    fernet: Fernet = getEncryptor(secret)
    return fernet


class KeyRing:
    """Fernet's interface as pysyncobj's connections use it, over keys that can change.

    Encrypts with ``send``; decrypts what any accepted key made. ``set`` swaps all at once
    (one assignment), so pysyncobj's thread sees the old or the new ring, never half.
    """

    def __init__(self, send: str, accept: Iterable[str] = ()) -> None:
        self._keys: tuple[tuple[str, ...], tuple[Fernet, ...]] = ((), ())
        self.set(send, accept)

    def set(self, send: str, accept: Iterable[str] = ()) -> None:
        names = tuple(dict.fromkeys(k for k in (send, *accept) if k))
        if not names or names[0] != send:
            raise ValueError("a key ring needs a key to send with")
        self._keys = (names, tuple(_fernet(k) for k in names))

    @property
    def send(self) -> str:
        return self._keys[0][0]

    @property
    def accepted(self) -> tuple[str, ...]:
        return self._keys[0]

    def encrypt_at_time(self, data: bytes, current_time: int) -> bytes:
        return self._keys[1][0].encrypt_at_time(data, current_time)

    def extract_timestamp(self, token: bytes) -> int:
        for fernet in self._keys[1]:
            with contextlib.suppress(InvalidToken):
                return fernet.extract_timestamp(token)
        raise InvalidToken

    def decrypt(self, token: bytes) -> bytes:
        for fernet in self._keys[1]:
            with contextlib.suppress(InvalidToken):
                return fernet.decrypt(token)
        raise InvalidToken


class KeyedSyncObj(PatchedSyncObj):
    """swarmpy's SyncObj whose connections encrypt with ``keys``, which may change."""

    def __init__(self, *args: Any, keys: KeyRing, **kwargs: Any) -> None:
        # Set first: the transport asks for the encryptor while SyncObj.__init__ runs.
        self._keys = keys
        super().__init__(*args, **kwargs)
        transport = self._SyncObj__transport
        for command in REFUSED_COMMANDS:
            transport.setOnUtilityMessageCallback(command, None)
        greet = transport._onIncomingMessageReceived

        def refuse_readonly(conn: Any, message: Any) -> None:
            # After the key exchange a peer names itself: an address, or "readonly".
            if conn.sendRandKey and message == "readonly":
                transport._unknownConnections.discard(conn)
                conn.disconnect()
                return
            greet(conn, message)

        transport._onIncomingMessageReceived = refuse_readonly

    @property
    def encryptor(self) -> KeyRing:
        return self._keys


def run_utility(keys: KeyRing, addr: str, command: list[str], timeout: float) -> Any:
    """A pysyncobj admin command to the manager at ``addr``, over ``keys``; blocks.

    Raises UtilityException when there is no answer (down, or it refused our key)."""
    utility = TcpUtility(None, timeout)
    # TcpUtility takes a password only; its one connection takes our ring instead.
    utility._TcpUtility__connection.encryptor = keys
    return utility.executeCommand(addr, command)


def answers(addr: str, keys: KeyRing, timeout: float) -> bool:
    """Whether the manager at ``addr`` accepts ``keys.send`` and answers with a key of
    ``keys.accepted`` (its status, the cheapest command)."""
    try:
        run_utility(keys, addr, ["status"], timeout)
    except UtilityException:
        return False
    return True


def load_secret(data_dir: Path) -> tuple[int, str] | None:
    """The epoch and secret this manager last sent with, if it kept one."""
    path = data_dir / SECRET_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # unreadable: the state file's password and the store decide
    return int(data["epoch"]), str(data["secret"])


def save_secret(data_dir: Path, epoch: int, secret: str) -> None:
    """Keep the secret now sent with (0600, replaced atomically: a torn file would lock this
    manager out of its peers)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=f".{SECRET_FILE}.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"epoch": epoch, "secret": secret}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, data_dir / SECRET_FILE)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
