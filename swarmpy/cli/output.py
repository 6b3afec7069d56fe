"""Docker-style output in one place: tables, --format json / '{{json .}}', -q, inspect arrays."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import typer

from swarmpy.errors import InvalidArgument
from swarmpy.humanize import human_duration


def print_table(columns: Sequence[tuple[str, str]], rows: Sequence[dict[str, Any]]) -> None:
    """Columns are (HEADER, key); widths fit the content, three spaces apart, like docker."""
    headers = [h for h, _ in columns]
    cells = [[str(row.get(key, "")) for _, key in columns] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    for line in [headers, *cells]:
        text = "   ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        typer.echo(text)


def wants_json(fmt: str | None) -> bool:
    if fmt is None or fmt == "" or fmt == "table":
        return False
    if fmt.strip() in ("json", "{{json .}}"):
        return True
    raise InvalidArgument(f"unsupported --format {fmt!r}: use 'json', '{{{{json .}}}}' or 'table'")


def emit(
    columns: Sequence[tuple[str, str]],
    rows: Sequence[dict[str, Any]],
    fmt: str | None = None,
    quiet: bool = False,
    quiet_key: str = "ID",
) -> None:
    if quiet:
        for row in rows:
            typer.echo(row[quiet_key])
    elif wants_json(fmt):
        for row in rows:
            typer.echo(json.dumps(row, separators=(",", ":"), default=str))
    else:
        print_table(columns, rows)


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=4, default=str)
    sys.stdout.write("\n")


def ago(ts: float) -> str:
    """'About a minute ago', '3 seconds ago': Docker's human durations."""
    if not ts:
        return ""
    seconds = max(0.0, time.time() - ts)
    return f"{human_duration(seconds)} ago"


def iso(ts: float) -> str:
    if not ts:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e9):09d}Z"


def size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.3g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n}"
