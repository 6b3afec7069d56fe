"""A manager's Raft files sealed at rest under the cluster's data keys (SwarmKit's Raft DEK).

The journal and the dump hold the whole store: the CA's key, the join tokens, every object.
As SwarmKit encrypts each WAL entry and snapshot with its data encryption key, every journal
record and every dump a manager writes is sealed with AES-256-GCM under its current data key
(``swarmpy.manager.sealing``: held in the node's 0600 state file, wrapped under the unlock
key with autolock on, so a locked manager cannot read its Raft files until ``swarm unlock``).
Each sealed record names its key by id; the manager keeps every key the cluster had, so what
was sealed before a rotation stays readable, and the next dump (log compaction) rewrites all
of it under the current key.

The AES key is not the data key itself but one derived from it (HKDF, "swarmpy raft at rest"),
so Raft files and sealed secrets never share a key; nonces are random (96 bits, one per record
or dump). The associated data tells a journal record from a dump, so neither opens as the
other.

Formats (``storage`` decides which file holds which):

- journal records (in a journal whose magic is ``JOURNAL_MAGIC``): the record's payload ends
  with a kind byte: ``PLAIN`` (no key held yet: a swarm from before data keys) after the
  entry in clear, ``SEALED`` after ``key id (8) || nonce (12) || ciphertext+tag``. The kind
  byte is never zero, which ``storage``'s torn-record test needs;
- dumps: ``DUMP_MAGIC || key id || nonce || AES-GCM(zlib level 1 of the clear content)``,
  compressed before sealing (ciphertext does not compress: gzip over it cost 260 ms for 10 MB).

The keys of a Raft data dir are registered by the manager that runs it (``register``), since
pysyncobj makes journals and dumps from a path only. A dir nobody registered (tests, the
bench's bare baseline) is written in clear as before. Files from earlier versions (a journal
of clear records, a gzip dump) stay readable: the journal is rewritten sealed as it opens,
the dump as the manager starts (``seal_dump_file``). What a registered manager wrote in clear
while it held no key yet is sealed as soon as it holds one: the journal with its first sealed
record (``storage.FileJournal``), the dump by the tick thread between dumps (``dumper``),
the transport secret when the cluster object names the key (``raftsecret``).

Between managers a dump travels opened (pysyncobj's transport encrypts it): the leader's file
is sealed under its keys, and a follower may not hold the newest one yet (it fetches keys
after a rotation); the follower seals it again under its own (``open_for_pysyncobj``).

The Raft transport's secret kept beside the journal (``keyring.save_secret``) is sealed the
same way (``seal_secret``): with it, anyone could append to the managers' logs.
"""

from __future__ import annotations

import abc
import base64
import functools
import gzip
import io
import os
import threading
import zlib
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from swarmpy.errors import SwarmpyError
from swarmpy.fsutil import write_atomic
from swarmpy.manager import sealing

# The journal's magic when its records carry a kind byte (same length as the clear format's).
JOURNAL_MAGIC = b"swarmpy raft journal 2\n"
DUMP_MAGIC = b"swarmpy raft dump sealed 1\n"
GZIP_MAGIC = b"\x1f\x8b"

PLAIN = b"\x01"
SEALED = b"\x02"
KEY_ID_BYTES = sealing.KEY_ID_BYTES
NONCE_BYTES = 12
_RECORD_AD = b"swarmpy raft journal record "
# Level 1 as the clear dumps' gzip (storage.DUMP_COMPRESSLEVEL says why).
DUMP_COMPRESSLEVEL = 1


class RaftDataLocked(SwarmpyError):
    """A Raft file sealed with a data key this manager does not hold."""

    grpc_status = "FAILED_PRECONDITION"

    def __init__(self, path: Path | str, key: str) -> None:
        super().__init__(
            f"refusing to start: the raft file {path} is sealed with data key {key}, which "
            "this manager does not hold; rejoin the swarm, or restore its swarm state file"
        )


class Damaged(ValueError):
    """Sealed bytes that do not open under the key they name: ``storage`` reports the file."""


@functools.lru_cache(maxsize=16)
def _aead(data_key: str) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"swarmpy raft at rest")
    return AESGCM(hkdf.derive(bytes.fromhex(data_key)))


@functools.lru_cache(maxsize=16)
def _key_id(data_key: str) -> bytes:
    return bytes.fromhex(sealing.key_id(data_key))


class Keys:
    """The data keys one Raft data dir is sealed with, read from their source at each use (a
    rotation adds one while the manager runs)."""

    def __init__(self, source: sealing.KeySource) -> None:
        self._source = source

    def ring(self) -> tuple[str, ...]:
        return sealing.ring(self._source)

    def seal(self, plain: bytes, ad: bytes) -> bytes | None:
        """``key id || nonce || ciphertext`` under the current key; None when none is held."""
        held = self.ring()
        if not held:
            return None
        key_id = _key_id(held[0])
        nonce = os.urandom(NONCE_BYTES)
        return key_id + nonce + _aead(held[0]).encrypt(nonce, plain, ad + key_id)

    def open(self, sealed: bytes, ad: bytes, path: Path | str) -> bytes:
        """What ``seal`` sealed; ``RaftDataLocked`` if its key is not held, ``Damaged`` if it
        does not open."""
        if len(sealed) < KEY_ID_BYTES + NONCE_BYTES:
            raise Damaged("is cut short")
        key_id = sealed[:KEY_ID_BYTES]
        key = next((k for k in self.ring() if _key_id(k) == key_id), None)
        if key is None:
            raise RaftDataLocked(path, key_id.hex())
        nonce = sealed[KEY_ID_BYTES : KEY_ID_BYTES + NONCE_BYTES]
        try:
            return _aead(key).decrypt(nonce, sealed[KEY_ID_BYTES + NONCE_BYTES :], ad + key_id)
        except InvalidTag:
            raise Damaged("fails its authentication tag") from None


_lock = threading.Lock()
_registry: dict[str, Keys] = {}


def register(data_dir: Path | str, source: sealing.KeySource) -> None:
    """Seal the Raft files in ``data_dir`` (and below: force-new-cluster's archive) with the
    keys ``source`` names, from now on."""
    with _lock:
        _registry[os.path.abspath(data_dir)] = Keys(source)


def unregister(data_dir: Path | str) -> None:
    with _lock:
        _registry.pop(os.path.abspath(data_dir), None)


def keys_for(path: Path | str) -> Keys | None:
    """The keys of the data dir holding ``path`` (a file or a dir), or None: in clear."""
    where = os.path.abspath(path)
    with _lock:
        while True:
            keys = _registry.get(where)
            if keys is not None:
                return keys
            parent = os.path.dirname(where)
            if parent == where:
                return None
            where = parent


def holds_key(path: Path | str) -> bool:
    """Whether the Raft files at ``path`` are sealed when written now."""
    keys = keys_for(path)
    return keys is not None and bool(keys.ring())


# ------------------------------------------------------------------ journal records


def seal_record(entry: bytes, keys: Keys | None) -> bytes:
    """A record's payload in a sealed-format journal: ``entry`` sealed if a key is held."""
    sealed = keys.seal(entry, _RECORD_AD) if keys is not None else None
    return entry + PLAIN if sealed is None else sealed + SEALED


def in_clear(payload: bytes) -> bool:
    """Whether a sealed-format record's payload (or the framed record, which ends with it)
    holds its entry in clear: written while no key was held."""
    return payload[-1:] == PLAIN


def open_record(payload: bytes, keys: Keys | None, path: Path | str) -> bytes:
    """The entry a sealed-format record holds (``Damaged`` for an unknown kind)."""
    kind, body = payload[-1:], payload[:-1]
    if kind == PLAIN:
        return body
    if kind != SEALED:
        raise Damaged("has a record of an unknown kind")
    if keys is None:
        raise RaftDataLocked(path, body[:KEY_ID_BYTES].hex())
    return keys.open(body, _RECORD_AD, path)


# ------------------------------------------------------------------ the transport secret

_SECRET_AD = b"swarmpy raft transport secret "


def seal_secret(secret: str, data_dir: Path | str) -> str | None:
    """The Raft transport secret kept beside the journal, sealed (base64); None: no key."""
    keys = keys_for(data_dir)
    sealed = keys.seal(secret.encode(), _SECRET_AD) if keys is not None else None
    return None if sealed is None else base64.b64encode(sealed).decode()


def open_secret(sealed: str, path: Path | str) -> str:
    keys = keys_for(path)
    body = base64.b64decode(sealed)
    if keys is None:
        raise RaftDataLocked(path, body[:KEY_ID_BYTES].hex())
    return keys.open(body, _SECRET_AD, path).decode()


# ------------------------------------------------------------------ dumps


def is_sealed_dump(raw: bytes) -> bool:
    return raw.startswith(DUMP_MAGIC)


def seal_dump(content: bytes, keys: Keys | None) -> bytes | None:
    """A dump file's bytes: ``content`` (storage's framed pickle) compressed, then sealed; None
    when no key is held (the caller writes gzip as before)."""
    if keys is None:
        return None
    sealed = keys.seal(zlib.compress(content, DUMP_COMPRESSLEVEL), DUMP_MAGIC)
    return None if sealed is None else DUMP_MAGIC + sealed


def dump_content(raw: bytes, path: Path | str) -> bytes:
    """The clear content of a dump file's bytes, sealed or gzip (``Damaged`` if they do not
    open or inflate, ``RaftDataLocked`` if their key is not held)."""
    if is_sealed_dump(raw):
        keys = keys_for(path)
        body = raw[len(DUMP_MAGIC) :]
        if keys is None:
            raise RaftDataLocked(path, body[:KEY_ID_BYTES].hex())
        try:
            return zlib.decompress(keys.open(body, DUMP_MAGIC, path))
        except zlib.error as exc:
            raise Damaged(f"does not inflate ({exc})") from None
    try:
        return gzip.decompress(raw)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise Damaged(f"is not a complete gzip stream ({exc})") from None


def dump_in_clear(path: Path) -> bool:
    """Whether a dump file exists and is not sealed (written while no key was held)."""
    try:
        with open(path, "rb") as f:
            return not is_sealed_dump(f.read(len(DUMP_MAGIC)))
    except FileNotFoundError:
        return False


def seal_dump_file(path: Path) -> bool:
    """Rewrite a dump from an earlier version (gzip, in clear) sealed, if a key is held; True
    if it was. A manager calls this as it starts, before pysyncobj loads the dump."""
    keys = keys_for(path)
    if keys is None or not keys.ring() or not path.exists():
        return False
    raw = path.read_bytes()
    if is_sealed_dump(raw):
        return False
    sealed = seal_dump(dump_content(raw, path), keys)
    if sealed is None:
        return False
    write_atomic(path, sealed)
    return True


class _GatheringWriter(io.RawIOBase):
    """A write-only stream that gathers what is written and hands it all to ``_complete``
    once, as it closes: a dump is sealed whole (one AEAD tag covers it)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def close(self) -> None:
        if self.closed:
            return
        parts, self._parts = self._parts, []
        super().close()
        self._complete(b"".join(parts))

    @abc.abstractmethod
    def _complete(self, raw: bytes) -> None:
        """Act on the whole of what was written (called once, at close)."""


class _SealingStream(_GatheringWriter):
    """Stands in for pysyncobj's gzip stream over a dump file when the dump is sealed: writes
    what was written sealed to ``fileobj`` as it closes."""

    def __init__(self, fileobj: IO[bytes], keys: Keys) -> None:
        super().__init__(getattr(fileobj, "name", ""))
        self._fileobj = fileobj
        self._keys = keys

    def _complete(self, raw: bytes) -> None:
        sealed = seal_dump(raw, self._keys)
        assert sealed is not None  # chosen only while a key is held
        self._fileobj.write(sealed)


def dump_stream(fileobj: IO[bytes], mode: str, compresslevel: int) -> Any:
    """What pysyncobj's serializer writes a dump through, or reads one from: a gzip stream, as
    pysyncobj expects, unless the dump is sealed (written under a held key, or read sealed)."""
    reading = "r" in mode
    if reading:
        raw = fileobj.read()
        name = getattr(fileobj, "name", "")
        if is_sealed_dump(raw):
            return io.BytesIO(dump_content(raw, name))
        return gzip.GzipFile(fileobj=io.BytesIO(raw), mode="rb")
    keys = keys_for(getattr(fileobj, "name", "") or ".")
    if keys is not None and keys.ring():
        return _SealingStream(fileobj, keys)
    return gzip.GzipFile(fileobj=fileobj, mode=mode, compresslevel=compresslevel)


class _ResealingFile(_GatheringWriter):
    """A dump received from the leader (opened, as it travels): written sealed under this
    manager's keys when complete; in clear as received when none is held or it is not a
    gzip stream (pysyncobj then fails to load it, as before)."""

    def _complete(self, raw: bytes) -> None:
        sealed = None
        if raw.startswith(GZIP_MAGIC):
            try:
                sealed = seal_dump(gzip.decompress(raw), keys_for(self.name))
            except (EOFError, zlib.error, gzip.BadGzipFile):
                sealed = None
        with open(self.name, "wb") as f:
            f.write(raw if sealed is None else sealed)


def export_dump(path: str) -> bytes:
    """A dump file as it travels to a follower: a gzip stream (stored, not deflated again) of
    its clear content, which any swarmpy reads."""
    raw = Path(path).read_bytes()
    if not is_sealed_dump(raw):
        return raw
    return gzip.compress(dump_content(raw, path), compresslevel=0)


def open_for_pysyncobj(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> IO[Any]:
    """``open`` inside pysyncobj.serializer: a dump read (to send it to a follower, or to
    load it) comes opened; a dump received from the leader is sealed as it is written."""
    if mode == "rb":
        return io.BytesIO(export_dump(file))
    if mode == "wb":
        return _ResealingFile(str(file))  # type: ignore[return-value]
    return open(file, mode, *args, **kwargs)
