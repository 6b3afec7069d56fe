"""What every object's JSON shares: Go's times and durations, labels, object versions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from swarmpy.dockerjson.fields import NANOS

# Go's zero time.Time, which Docker prints for a time that was never set.
ZERO_TIME = "0001-01-01T00:00:00Z"


def timestamp(seconds: float) -> str:
    """A Unix time as Go's RFC 3339 with nanoseconds (trailing zeros dropped, as Go does)."""
    if seconds <= 0:
        return ZERO_TIME
    whole = int(seconds)
    nanos = round((seconds - whole) * NANOS)
    if nanos >= NANOS:
        whole, nanos = whole + 1, nanos - NANOS
    base = dt.datetime.fromtimestamp(whole, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return f"{base}{fraction}Z"


def nanos(seconds: float) -> int:
    """Seconds as a Go time.Duration (nanoseconds)."""
    return round(seconds * NANOS)


def labels(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return dict(pairs)


def version(index: int | None) -> dict[str, Any]:
    """Docker's ObjectVersion: the store index of the object's last write, which clients
    send back with an update (``?version=``) so a stale read cannot overwrite a newer write."""
    return {"Index": index or 0}
