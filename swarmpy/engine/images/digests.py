"""sha256 digests: validation (they become file names) and hashing while streaming."""

from __future__ import annotations

import hashlib
import re
from typing import BinaryIO

from swarmpy.errors import ImageError

_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")


def digest_hex(digest: str) -> str:
    """The hex part of a sha256 digest; refuse anything else, since it names files on disk."""
    match = _DIGEST.fullmatch(digest)
    if not match:
        raise ImageError(f"unsupported or malformed digest {digest!r}")
    return match.group(1)


def sha256_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def verify_bytes(data: bytes, expected: str, what: str) -> None:
    if sha256_of(data) != expected:
        raise ImageError(f"{what} verification failed for digest {expected}")


class HashingReader:
    """A read-only stream that hashes everything read through it."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._hash = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self._hash.update(data)
        self.count += len(data)
        return data

    def drain(self) -> None:
        """Hash what the consumer left unread (e.g. the zero blocks after a tar's end)."""
        while self.read(1 << 20):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()
