"""Option values as docker's CLI reads them (its opts package and api/types/time): the
``--filter key=value`` flag, and the ``--since``/``--until`` times a client turns into the
Unix timestamps it sends. Pure."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from swarmpy.errors import InvalidArgument

FILTER_HELP = "Filter output based on conditions provided"


def parse_filter_flags(items: Sequence[str]) -> dict[str, list[str]]:
    """``--filter`` flags as docker's FilterOpt: the key lower-cased, key and value trimmed,
    repeated keys gathering their values (an empty flag is nothing)."""
    filters: dict[str, list[str]] = {}
    for item in items:
        if not item:
            continue
        if "=" not in item:
            raise InvalidArgument(
                f'invalid argument "{item}" for "-f, --filter" flag: '
                "bad format of filter (expected name=value)"
            )
        key, _, value = item.partition("=")
        values = filters.setdefault(key.strip().lower(), [])
        if value.strip() not in values:
            values.append(value.strip())
    return filters


def filter_callback(value: list[str]) -> list[str]:
    """A typer callback checking --filter flags while the command line is parsed: a bad one
    is a usage error (exit 125), as in docker."""
    import typer

    try:
        parse_filter_flags(value)
    except InvalidArgument as e:
        raise typer.BadParameter(e.message) from None
    return value


def filter_option(help_text: str = FILTER_HELP, short: bool = True) -> Any:
    import typer

    names = ("--filter", "-f") if short else ("--filter",)
    return typer.Option([], *names, help=help_text, callback=filter_callback)


# ------------------------------------------------------------------ Go durations

_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5
    "μs": 1_000,  # U+03BC
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]+)")


def parse_go_duration(text: str) -> int | None:
    """Go's time.ParseDuration, in nanoseconds; None where Go returns an error."""
    s = text
    sign = 1
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        return None
    total = 0
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None:
            return None
        whole, frac, unit = m.group(1), m.group(2), m.group(3)
        if not whole and not frac:
            return None  # no digits at all: ".h" or "h"
        if unit not in _DURATION_UNITS:
            return None
        scale = _DURATION_UNITS[unit]
        total += int(whole or "0") * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        pos = m.end()
    if total >= 2**63:
        return None
    return sign * total


# ------------------------------------------------------------------ timestamps

# Go layouts GetTimestamp tries, as regular expressions over the whole value.
_DATE = r"(?P<Y>\d{4})-(?P<M>\d{2})-(?P<D>\d{2})"
_ZONE = r"(?P<zone>Z|[+-]\d{2}:\d{2})"
RFC3339 = "2006-01-02T15:04:05Z07:00"
RFC3339_NANO = "2006-01-02T15:04:05.999999999Z07:00"
_LAYOUTS = {
    "2006-01-02": _DATE,
    "2006-01-02Z07:00": _DATE + _ZONE,
    "2006-01-02T15": _DATE + r"T(?P<h>\d{1,2})",
    "2006-01-02T15:04": _DATE + r"T(?P<h>\d{1,2}):(?P<m>\d{2})",
    "2006-01-02T15:04:05": _DATE + r"T(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2})",
    "2006-01-02T15Z07:00": _DATE + r"T(?P<h>\d{1,2})" + _ZONE,
    "2006-01-02T15:04Z07:00": _DATE + r"T(?P<h>\d{1,2}):(?P<m>\d{2})" + _ZONE,
    RFC3339: (_DATE + r"T(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2})" + _ZONE),
    "2006-01-02T15:04:05.999999999": (
        _DATE + r"T(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2})(?:[.,](?P<f>\d+))?"
    ),
    RFC3339_NANO: (_DATE + r"T(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2})(?:[.,](?P<f>\d+))?" + _ZONE),
}


def _layout(value: str, in_location: bool) -> str:
    """The layout GetTimestamp picks for ``value`` (by its dots, T and colons)."""
    if "." in value:
        return "2006-01-02T15:04:05.999999999" if in_location else RFC3339_NANO
    if "T" in value:
        colons = value.count(":")
        if not in_location and not any(c in value for c in "zZ") and colons > 0:
            colons -= 1  # the zone's colon
        suffix = "" if in_location else "Z07:00"
        if colons == 0:
            return "2006-01-02T15" + suffix
        if colons == 1:
            return "2006-01-02T15:04" + suffix
        return "2006-01-02T15:04:05" if in_location else RFC3339
    return "2006-01-02" if in_location else "2006-01-02Z07:00"


def _parse_layout(value: str, layout: str, local_offset: int) -> tuple[int, int]:
    """(seconds, nanoseconds) of ``value`` in ``layout``; a zone-less one is at
    ``local_offset`` seconds east of UTC."""
    import calendar  # here: every ls command imports this module, few parse a time

    m = re.fullmatch(_LAYOUTS[layout], value)
    if m is None:
        raise InvalidArgument(f'parsing time "{value}" as "{layout}": cannot parse')
    fields = m.groupdict()
    year, month, day = int(fields["Y"]), int(fields["M"]), int(fields["D"])
    hour, minute = int(fields.get("h") or 0), int(fields.get("m") or 0)
    second = int(fields.get("s") or 0)
    if not 1 <= month <= 12:
        raise InvalidArgument(f'parsing time "{value}": month out of range')
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise InvalidArgument(f'parsing time "{value}": day out of range')
    if hour > 23:
        raise InvalidArgument(f'parsing time "{value}": hour out of range')
    if minute > 59:
        raise InvalidArgument(f'parsing time "{value}": minute out of range')
    if second > 59:
        raise InvalidArgument(f'parsing time "{value}": second out of range')
    zone = fields.get("zone")
    if zone is None:
        offset = local_offset
    elif zone == "Z":
        offset = 0
    else:
        sign = -1 if zone[0] == "-" else 1
        offset = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    frac = (fields.get("f") or "")[:9]
    nanos = int(frac.ljust(9, "0")) if frac else 0
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    return seconds, nanos


def _is_unix_timestamp(value: str) -> bool:
    """docker's parseTimestamp: seconds, optionally a dot and nanoseconds, as Go's ParseInt
    reads each (a sign allowed)."""
    whole, dot, frac = value.partition(".")
    number = re.compile(r"[+-]?\d+")
    return bool(number.fullmatch(whole)) and (not dot or bool(number.fullmatch(frac)))


def local_offset(now: float) -> int:
    """Seconds east of UTC of the local zone at ``now``."""
    import datetime as dt

    offset = dt.datetime.fromtimestamp(now).astimezone().utcoffset() or dt.timedelta()
    return int(offset.total_seconds())


def get_timestamp(value: str, now: float | None = None, offset: int | None = None) -> str:
    """docker's timetypes.GetTimestamp: a Go duration before ``now`` (``10m``, ``1h30m``), an
    RFC 3339 time or date (local time without a zone), or a Unix timestamp, as the Unix
    timestamp the client sends (``seconds`` for a duration, ``seconds.nanoseconds`` for a
    time, a timestamp as given)."""
    now = time.time() if now is None else now
    nanos = parse_go_duration(value)
    if value != "0" and nanos is not None:
        # Go: reference.Add(-d).Unix(), whole seconds rounded down.
        total = int(now * 1_000_000_000) - nanos
        return str(total // 1_000_000_000)
    in_location = not (any(c in value for c in "zZ+") or value.count("-") == 3)
    layout = _layout(value, in_location)
    try:
        seconds, frac = _parse_layout(
            value, layout, local_offset(now) if offset is None else offset
        )
    except InvalidArgument:
        if "-" in value:
            raise
        if not _is_unix_timestamp(value):
            raise InvalidArgument(f'failed to parse value as time or duration: "{value}"') from None
        return value
    return f"{seconds}.{frac:09d}"


def timestamp_seconds(text: str) -> float:
    """A timestamp get_timestamp returned, as seconds since the epoch."""
    whole, _, frac = text.partition(".")
    sign = -1 if whole.startswith("-") else 1
    fraction = int(frac) / 10 ** len(frac) if frac else 0.0
    return int(whole) + sign * fraction


def go_bools(*flags: str) -> Any:
    """A typer command class whose boolean ``flags`` (``--autolock/--no-autolock`` pairs
    here) also take Docker's ``--flag=true|false``: the value is read before the parser sees
    it. Loaded on use: the typer command class is not every command's to build."""
    from typer.core import TyperCommand

    from swarmpy.cli.flagerror import FlagError
    from swarmpy.cli.specflags import boolean

    class GoBools(TyperCommand):
        def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
            # Options that take a value: what follows them is not an option. Where options
            # end at the first argument (run's COMMAND [ARG...]), the rest is left as it is.
            valued = {
                name
                for param in self.params
                if getattr(param, "is_flag", True) is False
                for name in param.opts
            }
            argv = list(args)
            skip = False
            for n, arg in enumerate(argv):
                if skip:
                    skip = False
                    continue
                if arg == "--" or (not arg.startswith("-") and not ctx.allow_interspersed_args):
                    break
                flag, sep, value = arg.partition("=")
                skip = not sep and flag in valued
                if sep and flag in flags:
                    try:
                        argv[n] = flag if boolean(value, flag[2:]) else f"--no-{flag[2:]}"
                    except InvalidArgument as exc:  # docker's usage error, status 125
                        raise FlagError(exc.message, ctx) from None
            return list(super().parse_args(ctx, argv))

    return GoBools
