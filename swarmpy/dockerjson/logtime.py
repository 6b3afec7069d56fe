"""The times of log lines, to the nanosecond, as Docker reads and writes them.

The CLI turns ``--since``/``--until`` into Unix seconds with nanoseconds (``get_timestamp``, the
docker CLI's api/types/time.GetTimestamp); the daemon reads that form (``parse_timestamp_ns``,
ParseTimestamps) and writes a line's time as Go's RFC3339NanoFixed (``rfc3339_nano_fixed``).
Times are integer nanoseconds throughout: a float second cannot hold them, and a time copied
from ``logs -t`` must select exactly that line.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from swarmpy.errors import InvalidArgument

NANOS = 1_000_000_000
MAX_INT64 = 2**63 - 1

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)(?:[Tt](\d\d)(?::(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?)?)?"
    r"(?:([Zz])|([+-])(\d\d):(\d\d))?"
)
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": NANOS,
    "m": 60 * NANOS,
    "h": 3600 * NANOS,
}


def rfc3339_nano_fixed(time_ns: int) -> str:
    """Go's RFC3339NanoFixed in UTC: always nine digits of fraction (``logs -t``)."""
    seconds, nanos = divmod(time_ns, NANOS)
    base = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"


def parse_rfc3339_ns(text: str) -> int:
    """An RFC 3339 time with up to nine digits of fraction, as nanoseconds since the epoch."""
    m = _RFC3339.fullmatch(text)
    if not m or (m.group(8) is None and m.group(9) is None):
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    return _nanos_of(m, offset_s=0)


def _nanos_of(m: re.Match[str], offset_s: int) -> int:
    """The time a match of ``_RFC3339`` names; ``offset_s`` is the zone when it names none."""
    year, month, day, hour, minute, second = (int(g or 0) for g in m.group(1, 2, 3, 4, 5, 6))
    # Raises on a month 13 or a day 32, as Go's parser does.
    dt.datetime(year, month, day, hour, minute, second)
    if m.group(9):
        offset_s = (int(m.group(10)) * 3600 + int(m.group(11)) * 60) * (
            -1 if m.group(9) == "-" else 1
        )
    elif m.group(8):
        offset_s = 0
    seconds = calendar.timegm((year, month, day, hour, minute, second)) - offset_s
    return seconds * NANOS + int((m.group(7) or "").ljust(9, "0"))


def parse_go_duration_ns(text: str) -> int | None:
    """Go's time.ParseDuration (``1m30s``, ``-2h``, ``1.5h``) in nanoseconds; None if ``text``
    is no duration."""
    sign, body = (-1, text[1:]) if text[:1] == "-" else (1, text.removeprefix("+"))
    if body == "0":
        return 0
    parts = _DURATION_PART.findall(body)
    if not body or "".join(n + u for n, u in parts) != body:
        return None
    total = 0
    for number, unit in parts:
        whole, _, frac = number.partition(".")
        scale = _DURATION_UNITS[unit]
        total += int(whole or 0) * scale + (int(frac) * scale // 10 ** len(frac) if frac else 0)
    return sign * total


def parse_timestamp_ns(text: str) -> int:
    """Docker's daemon's ParseTimestamps: ``seconds[.fraction]`` as nanoseconds (the
    fraction read to nine digits)."""
    m = re.fullmatch(r"([-+]?\d+)(?:\.(\d+))?", text)
    if not m:
        raise ValueError(f"not a Unix time: {text!r}")
    return int(m.group(1)) * NANOS + int((m.group(2) or "")[:9].ljust(9, "0"))


def get_timestamp(value: str, now_ns: int, utc_offset_s: int = 0) -> str:
    """The docker CLI's GetTimestamp: a duration before now (``10m``), an RFC 3339 time
    (local, at ``utc_offset_s``, when it names no zone; a date alone is its midnight) or Unix
    seconds, as the ``seconds.nanoseconds`` the daemon reads."""
    duration = parse_go_duration_ns(value) if value != "0" else None
    if duration is not None:
        # Whole seconds, as Docker's (reference.Add(-d).Unix()).
        return str((now_ns - duration) // NANOS)
    m = _RFC3339.fullmatch(value)
    if m:
        try:
            nanos = _nanos_of(m, utc_offset_s)
        except ValueError as e:
            raise InvalidArgument(f'parsing time "{value}": {e}') from None
        seconds, frac = divmod(nanos, NANOS)
        return f"{seconds}.{frac:09d}"
    if "-" in value:
        raise InvalidArgument(f'parsing time "{value}": not an RFC 3339 time')
    try:
        parse_timestamp_ns(value)
    except ValueError:
        raise InvalidArgument(f'failed to parse value as time or duration: "{value}"') from None
    return value


def query_time_ns(value: str, key: str) -> int:
    """A ``since``/``until`` of a logs request (``seconds.nanoseconds``; 0 when absent)."""
    if not value:
        return 0
    try:
        nanos = parse_timestamp_ns(value)
    except ValueError:
        raise InvalidArgument(f'could not parse {key} timestamp "{value}"') from None
    # A time past what nanoseconds in an int64 can hold selects as the farthest one.
    return max(-MAX_INT64 - 1, min(nanos, MAX_INT64))
