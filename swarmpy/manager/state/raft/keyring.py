"""The Raft transport's keys, replaceable while it runs, so a manager that left is locked out.

pysyncobj encrypts and authenticates every message between managers (and every admin command,
``TcpUtility``) with one key derived from a password, fixed for the life of a ``SyncObj``
(swarmpy's ring sends AES-GCM where pysyncobj uses Fernet, see ``KeyRing``); a peer names itself
by the address it claims. Whoever holds the password can therefore append, vote, read the log,
or add itself as a member, and a demoted or removed manager keeps its copy. So the key can
change under a running log: every connection's encryptor is one ``KeyRing`` (sends with one key,
accepts several), and ``swarmpy.manager.raftsecret`` moves the managers to a new secret, in
steps every member takes before the next one, whenever a manager leaves.

``KeyedSyncObj`` also refuses what swarmpy never uses and a key holder could abuse: read-only
peers (they receive the whole log) and the admin commands that add members or change the code
version.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import itertools
import json
import os
import struct
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from pysyncobj.encryptor import SALT
from pysyncobj.utility import TcpUtility, UtilityException

from swarmpy.errors import SwarmpyError
from swarmpy.fsutil import write_atomic
from swarmpy.manager.state.raft import atrest
from swarmpy.manager.state.raft.patches import PatchedSyncObj

# Where a manager keeps the secret it sends with and its epoch: its store may be older than
# that after a restart (entries after the last dump are applied only once the leader says
# they committed), and it must keep sending with what the others now expect.
SECRET_FILE = "transport-secret.json"
# Admin commands a key holder must not get: swarmpy adds members only through the leader's
# own log (NodeCA), never through the admin port, and never changes the code version.
REFUSED_COMMANDS = ("add", "set_version")


# A token of ours: this version byte, the sender's key salt, the timestamp pysyncobj orders
# messages by, the nonce, then the AES-GCM ciphertext and tag. The byte cannot start a Fernet
# token (always 0x80), so tokens of a peer still on Fernet are told apart and accepted.
AEAD_VERSION = b"\x91"
SALT_BYTES = 16
NONCE_BYTES = 12
_HEADER = struct.Struct(f">c{SALT_BYTES}sQ{NONCE_BYTES}s")
# How many senders' subkeys a receiver keeps: one per peer process and key, a few per restart.
SUBKEY_CACHE = 64


@functools.lru_cache(maxsize=16)
def _master(secret: str) -> bytes:
    # pysyncobj's own derivation (PBKDF2, 100,000 rounds: ~50 ms), so the same password gives
    # the same key material as a plain SyncObj's Fernet key. Cached: keys are reused.
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=SALT, iterations=100_000)
    return kdf.derive(secret.encode())


@functools.lru_cache(maxsize=16)
def _fernet(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_master(secret)))


@functools.lru_cache(maxsize=SUBKEY_CACHE)
def _subkey(secret: str, salt: bytes) -> AESGCM:
    """The AES-256-GCM key one sender uses: the master key expanded with its own salt.

    Each sender (every KeyRing, so every manager process and every restart) draws a salt
    once and counts its nonces from zero: no two messages under one subkey share a nonce,
    whatever the number of messages, which random 96-bit nonces under one shared key would
    only make unlikely (and NIST caps at 2**32 of them)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"swarmpy raft transport")
    return AESGCM(hkdf.derive(_master(secret)))


class KeyRing:
    """The encryptor pysyncobj's connections use, over keys that can change.

    pysyncobj asks for Fernet's interface (``encrypt_at_time``, ``extract_timestamp``,
    ``decrypt``). Fernet costs ~40 us a message here (AES-CBC, HMAC, base64), paid four times
    on the path of every write (leader to follower, the answer back), and checks the HMAC
    twice on receipt; a commit took a third longer than etcd's. The ring sends AES-GCM
    tokens instead (a few microseconds) and still accepts Fernet's from a peer running an
    older swarmpy.

    Encrypts with ``send``; decrypts what any accepted key made. ``set`` swaps all at once
    (one assignment), so pysyncobj's thread sees the old or the new ring, never half.
    """

    def __init__(self, send: str, accept: Iterable[str] = ()) -> None:
        self._names: tuple[str, ...] = ()
        self._salt = os.urandom(SALT_BYTES)
        self._nonces = itertools.count()  # next() is atomic: several threads may send
        self._opened = threading.local()  # the token extract_timestamp just verified
        self.set(send, accept)

    def set(self, send: str, accept: Iterable[str] = ()) -> None:
        names = tuple(dict.fromkeys(k for k in (send, *accept) if k))
        if not names or names[0] != send:
            raise ValueError("a key ring needs a key to send with")
        for name in names:
            _master(name)  # derived here, not on pysyncobj's thread at the first message
        self._names = names

    @property
    def send(self) -> str:
        return self._names[0]

    @property
    def accepted(self) -> tuple[str, ...]:
        return self._names

    def encrypt_at_time(self, data: bytes, current_time: int) -> bytes:
        nonce = next(self._nonces).to_bytes(NONCE_BYTES, "big")
        header = _HEADER.pack(AEAD_VERSION, self._salt, current_time, nonce)
        return header + _subkey(self.send, self._salt).encrypt(nonce, data, header)

    def extract_timestamp(self, token: bytes) -> int:
        """The sender's timestamp, once the token is verified (its plaintext is kept for the
        ``decrypt`` pysyncobj calls next, so it is not opened twice)."""
        if token[:1] != AEAD_VERSION:
            return self._fernet_for(token).extract_timestamp(token)
        plain = self._open(token)
        self._opened.last = (token, plain)
        timestamp: int = _HEADER.unpack_from(token)[2]
        return timestamp

    def decrypt(self, token: bytes) -> bytes:
        if token[:1] != AEAD_VERSION:
            return self._fernet_for(token).decrypt(token)
        last = getattr(self._opened, "last", None)
        self._opened.last = None
        if last is not None and last[0] is token:
            return bytes(last[1])
        return self._open(token)

    def _open(self, token: bytes) -> bytes:
        if len(token) < _HEADER.size:
            raise InvalidToken
        _, salt, _, nonce = _HEADER.unpack_from(token)
        header, sealed = token[: _HEADER.size], token[_HEADER.size :]
        for name in self._names:
            with contextlib.suppress(InvalidTag):
                return _subkey(name, salt).decrypt(nonce, sealed, header)
        raise InvalidToken

    def _fernet_for(self, token: bytes) -> Fernet:
        """The accepted key a Fernet token (from an older peer) verifies under."""
        for name in self._names:
            with contextlib.suppress(InvalidToken):
                _fernet(name).extract_timestamp(token)
                return _fernet(name)
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
        if "sealed" in data:
            return int(data["epoch"]), atrest.open_secret(data["sealed"], path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, SwarmpyError):
        return None  # unreadable: the state file's password and the store decide
    return int(data["epoch"]), str(data["secret"])


def save_secret(data_dir: Path, epoch: int, secret: str) -> bool:
    """Keep the secret now sent with (0600, replaced atomically: a torn file would lock this
    manager out of its peers), sealed under the data keys as the Raft files are; False if it
    was kept in clear (no key held yet)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    sealed = atrest.seal_secret(secret, data_dir)
    doc: dict[str, Any] = {"epoch": epoch}
    doc.update({"secret": secret} if sealed is None else {"sealed": sealed})
    write_atomic(data_dir / SECRET_FILE, json.dumps(doc))
    return sealed is not None


def secret_in_clear(data_dir: Path) -> bool:
    """Whether the kept secret is in clear (kept before this manager held a data key)."""
    try:
        return "secret" in json.loads((data_dir / SECRET_FILE).read_text())
    except (OSError, ValueError, TypeError):
        return False
