"""Docker's multiplexed stream framing (pkg/stdcopy): an 8-byte header (stream, 0, 0, 0,
big-endian length) before each chunk, so stdout and stderr share one connection."""

from __future__ import annotations

import struct

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3
_HEADER = struct.Struct(">BxxxI")


def frame(stream: int, data: bytes) -> bytes:
    return _HEADER.pack(stream, len(data)) + data


def unframe(buffer: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The complete frames at the start of ``buffer`` and what is left of it (a client's
    side; the tests read the server's streams with it)."""
    frames = []
    while len(buffer) >= _HEADER.size:
        stream, size = _HEADER.unpack_from(buffer)
        if len(buffer) < _HEADER.size + size:
            break
        frames.append((stream, buffer[_HEADER.size : _HEADER.size + size]))
        buffer = buffer[_HEADER.size + size :]
    return frames, buffer
