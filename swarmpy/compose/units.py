"""The value syntaxes Compose files share with Docker's tools: Go durations (``1m30s``), sizes
(``512M``, go-units' RAMInBytes) and CPU counts (``0.5``, docker/cli's ParseCPUs). Pure."""

from __future__ import annotations

import re
from fractions import Fraction

# Go's time.ParseDuration: [-+]? then one or more <number><unit>, "0" alone allowed.
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")


def parse_duration(text: str) -> int | None:
    """Nanoseconds of a Go duration; None where Go's time.ParseDuration fails."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0
    if not body:
        return None
    total = Fraction(0)
    pos = 0
    while pos < len(body):
        m = _PART.match(body, pos)
        if m is None:
            return None
        total += Fraction(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    nanos = int(total)
    if nanos >= 2**63:
        return None
    return -nanos if text.startswith("-") else nanos


def ram_in_bytes(text: str) -> int | None:
    """go-units' RAMInBytes (powers of 1024); None for what it refuses."""
    m = _SIZE.match(text)
    if m is None:
        return None
    try:
        value = Fraction(m.group(1))
    except ValueError:  # "1.2.3": the pattern lets it through, Go's ParseFloat does not
        return None
    unit = (m.group(2) or "").lower()
    return int(value * 1024 ** " kmgtp".index(unit or " "))


def parse_cpus(text: str) -> int:
    """docker/cli's ParseCPUs: a rational number of CPUs, as nano CPUs; ValueError with
    docker's words otherwise."""
    try:
        value = Fraction(text.strip()) if text.strip() == text else None
    except (ValueError, ZeroDivisionError):
        value = None
    if value is None:
        raise ValueError(f"failed to parse {text} as a rational number")
    nano = value * 1_000_000_000
    if nano.denominator != 1:
        raise ValueError("value is too precise")
    return int(nano)
