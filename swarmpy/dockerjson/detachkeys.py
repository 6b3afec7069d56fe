"""Docker's detach keys: the key sequence that, typed into an attached TTY's stdin, leaves the
process running and ends the client's stream (``docker exec -it``, ``docker attach``; ctrl-p
ctrl-q unless the client names others, ``DetachKeys`` in the API).

``parse`` reads the API's form as moby/term's ToBytes does ("ctrl-p,ctrl-q", "a,ctrl-@", "DEL");
the daemon and the CLI (which watches its own stdin as docker/cli does) share it.
``EscapeProxy`` watches stdin as moby/term's escapeProxy does: a key of the sequence read
alone is held back, the whole sequence detaches, anything else sends the held keys on. Only
reads of one byte count, as dockerd's: a paste is data, never a detach."""

from __future__ import annotations

from swarmpy.errors import InvalidArgument

DEFAULT = b"\x10\x11"  # ctrl-p, ctrl-q: dockerd's defaultEscapeSequence
# moby/term's ASCII: "ctrl-@" is 0, "ctrl-a" 1 ... "ctrl-z" 26, then "ctrl-[" ... "ctrl-_".
_CTRL = {f"ctrl-{c}": code for code, c in enumerate("@abcdefghijklmnopqrstuvwxyz[\\]^_")}


def parse(keys: str) -> bytes:
    """The bytes of a detach sequence; b"" for none given (dockerd's default applies)."""
    if not keys:
        return b""
    out = bytearray()
    for key in keys.split(","):
        code = _code(key)
        if code is None:
            raise InvalidArgument(f"Invalid escape keys ({keys}) provided")
        out.append(code)
    return bytes(out)


def unknown_key(keys: str) -> str | None:
    """The first key of ``keys`` that ToBytes does not know (docker/cli names it), or None."""
    if not keys:
        return None
    return next((key for key in keys.split(",") if _code(key) is None), None)


def _code(key: str) -> int | None:
    if len(key) == 1 and key.isascii():
        return ord(key)
    if key == "DEL":
        return 127
    return _CTRL.get(key)


class EscapeProxy:
    """Stdin's bytes in, what to pass on out, and whether the sequence was typed."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.pos = 0  # how many keys of the sequence were read, and held back

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        if not self.keys:
            return data, False
        held = self.keys[: self.pos]
        if len(data) != 1 or data[0] != self.keys[self.pos]:
            self.pos = 0
            return held + data, False
        if self.pos == len(self.keys) - 1:
            self.pos = 0
            return b"", True
        self.pos += 1
        return b"", False
