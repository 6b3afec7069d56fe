"""Docker's human-readable durations, shared by the CLI and the container views."""

from __future__ import annotations


def human_duration(seconds: float) -> str:
    """Docker's (go-units) HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def go_duration(seconds: float) -> str:
    """A duration as Go's time.Duration.String() prints the usual ones: 30s, 1.5s, 500ms,
    1m30s."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return _trim(nanos / size) + unit
    hours, rest = divmod(nanos, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    out = f"{hours}h" if hours else ""
    if hours or minutes:
        out += f"{minutes}m"
    return out + _trim(rest / 1e9) + "s"


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


def human_size(n: float, precision: int = 4) -> str:
    """go-units HumanSizeWithPrecision (HumanSize: 4 digits) in powers of 1000, as docker
    prints reclaimed space and disk usage, and a daemon its progress."""
    return _scaled(n, 1000, ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"), precision)


def bytes_size(n: float) -> str:
    """go-units BytesSize: ``%.4g`` in powers of 1024."""
    return _scaled(n, 1024, ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"), 4)


def _scaled(n: float, base: int, units: tuple[str, ...], precision: int) -> str:
    i = 0
    while n >= base and i < len(units) - 1:
        n /= base
        i += 1
    return f"{n:.{precision}g}{units[i]}"
