"""Docker-style output in one place: ls/ps listings and inspect documents through Go
templates (--format, with docker's table, json and quiet handling), plain tables, times."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import typer

from swarmpy.humanize import human_duration
from swarmpy.humanize import human_size as human_size  # the CLI's sizes are docker's

TABLE_PREFIX = "table"  # gotemplate.TABLE_PREFIX, without loading the evaluator
# A table of plain fields, the default of most listings: "table {{.ID}}\t{{.Name}}...".
_PLAIN_TABLE = re.compile(r"table (\{\{\.[A-Za-z][A-Za-z0-9]*\}\}(?:\t|$))+")
_FIELD = re.compile(r"\{\{\.([A-Za-z][A-Za-z0-9]*)\}\}")

FORMAT_HELP = (
    "Format output using a custom template: "
    "'table': Print output in table format with column headers (default); "
    "'table TEMPLATE': Print output in table format using the given Go template; "
    "'json': Print in JSON format; "
    "'TEMPLATE': Print output using the given Go template. "
    "Refer to https://docs.docker.com/go/formatting/ for more information about formatting "
    "output with templates"
)
INSPECT_FORMAT_HELP = (
    "Format output using a custom template: "
    "'json': Print in JSON format; "
    "'TEMPLATE': Print output using the given Go template. "
    "Refer to https://docs.docker.com/go/formatting/ for more information about formatting "
    "output with templates"
)


def format_option() -> Any:
    """--format of an ls/ps command (no -f: that is --filter there, as in docker)."""
    return typer.Option("", "--format", help=FORMAT_HELP)


def inspect_format_option() -> Any:
    return typer.Option("", "--format", "-f", help=INSPECT_FORMAT_HELP)


class Row:
    """One line of a listing, as the docker formatter's context structs are to templates:
    its fields are attributes, so a field the command does not have is an error ("can't
    evaluate field Foo") rather than <no value>; {{json .}} is all of them. A ``_labels``
    mapping among the fields backs {{.Label "key"}}."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.__dict__.update(fields)

    def Label(self, name: str) -> str:  # named as docker's template field
        labels = self.__dict__.get("_labels") or {}
        return str(labels.get(name, ""))

    def marshal_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


def listing(
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Mapping[str, Any] | Row],
    fmt: str | None = None,
    quiet: bool = False,
    quiet_key: str = "ID",
    *,
    default: str | None = None,
    headers: Mapping[str, str] | None = None,
    default_cells: Callable[[Mapping[str, Any]], Sequence[str]] | None = None,
) -> str:
    """An ls/ps listing as docker's formatter writes it. ``columns`` are the default table's
    (HEADER, field) pairs; ``default`` replaces that table's template where docker's is more
    than its fields, and ``default_cells``, when given, writes that template's cells for a
    row (or for the header mapping) without the evaluator; ``headers`` names the other
    fields a custom "table" may show."""
    header = {key: title for title, key in columns} | dict(headers or {})
    if quiet:
        fmt = "{{." + quiet_key + "}}"
    elif not fmt or fmt == TABLE_PREFIX:
        if default_cells is not None and all(isinstance(r, Mapping) for r in rows):
            lines = [default_cells(header), *(default_cells(r) for r in rows)]  # type: ignore[arg-type]
            from swarmpy.cli.tabwriter import tabwrite

            return tabwrite("".join("\t".join(cells) + "\n" for cells in lines))
        fmt = default or "table " + "\t".join("{{." + key + "}}" for _, key in columns)
    objects = [r if isinstance(r, Row) else Row(r) for r in rows]
    plain = _plain_table(fmt, objects, header)
    if plain is not None:
        return plain
    single = _FIELD.fullmatch(fmt)
    if single and all(type(getattr(r, single[1], None)) in (str, int) for r in objects):
        return "".join(f"{getattr(r, single[1])}\n" for r in objects)  # -q: one field a line
    from swarmpy.cli import gotemplate

    return gotemplate.format_list(fmt, objects, header)


def _plain_table(fmt: str, rows: Sequence[Row], header: Mapping[str, str]) -> str | None:
    """A table of plain fields whose values are all text or integers, written as the
    template would write it (each value as Go prints it, the header from the column names,
    aligned by docker's tabwriter) without loading the template evaluator; None when the
    format or a value asks for more."""
    if not _PLAIN_TABLE.fullmatch(fmt):
        return None
    keys = _FIELD.findall(fmt)
    if any(key not in header for key in keys):
        return None
    lines = ["\t".join(header[key] for key in keys)]
    for row in rows:
        cells = [getattr(row, key, None) for key in keys]
        if not all(type(cell) is str or type(cell) is int for cell in cells):
            return None
        lines.append("\t".join(map(str, cells)))
    from swarmpy.cli.tabwriter import tabwrite

    return tabwrite("\n".join(lines) + "\n")


def emit(
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Mapping[str, Any] | Row],
    fmt: str | None = None,
    quiet: bool = False,
    quiet_key: str = "ID",
    *,
    default: str | None = None,
    headers: Mapping[str, str] | None = None,
    default_cells: Callable[[Mapping[str, Any]], Sequence[str]] | None = None,
) -> None:
    """listing(), on stdout."""
    text = listing(
        columns,
        rows,
        fmt,
        quiet,
        quiet_key,
        default=default,
        headers=headers,
        default_cells=default_cells,
    )
    sys.stdout.write(text)
    sys.stdout.flush()


def labels_text(labels: Mapping[str, str]) -> str:
    """{{.Labels}} of a listing: k=v pairs, comma-separated (sorted; docker's map order is
    random)."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def pretty_print(text: str) -> str:
    """docker's formatter.PrettyPrint (capitalizeFirst): the first letter upper-cased, the
    rest lower-cased, as its pretty templates show states and times ("+0000 utc")."""
    return text[:1].upper() + text[1:].lower()


def go_time(ts: float) -> str:
    """Go's time.Time.String() in UTC, as docker's CreatedAt fields print:
    2021-03-09 21:41:29.798999529 +0000 UTC."""
    seconds = int(ts)
    nanos = round((ts - seconds) * 1e9)
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + fraction + " +0000 UTC"


def print_table(columns: Sequence[tuple[str, str]], rows: Sequence[Mapping[str, Any]]) -> None:
    """Columns are (HEADER, key); widths fit the content, three spaces apart, like docker."""
    headers = [h for h, _ in columns]
    cells = [[str(row.get(key, "")) for _, key in columns] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    for line in [headers, *cells]:
        text = "   ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        typer.echo(text)


def inspect_text(docs: Sequence[Any], fmt: str | None = None) -> str:
    """inspect's output as docker's: an indented JSON array; with --format json one compact
    line; with a template, the template over each document, one per line."""
    if not fmt:
        return json.dumps(list(docs), indent=4, default=str) + "\n"
    if fmt == "json":
        return json.dumps(list(docs), separators=(",", ":"), default=str, ensure_ascii=False) + "\n"
    from swarmpy.cli import gotemplate

    return gotemplate.format_each(fmt, docs) or "\n"


def print_inspect(docs: Sequence[Any], fmt: str | None = None) -> None:
    sys.stdout.write(inspect_text(docs, fmt))
    sys.stdout.flush()


def ago(ts: float) -> str:
    """'About a minute ago', '3 seconds ago': Docker's human durations."""
    if not ts:
        return ""
    seconds = max(0.0, time.time() - ts)
    return f"{human_duration(seconds)} ago"


def parse_iso(text: str) -> float:
    """A time of the Engine API's JSON (RFC 3339 with up to nanoseconds, Go's zero time for
    none) as seconds since the epoch; 0.0 for none."""
    if not text or text.startswith("0001-01-01"):
        return 0.0
    import calendar

    whole, _, rest = text.partition(".")
    fraction = rest.rstrip("Z").split("+")[0].split("-")[0] if rest else ""
    seconds = calendar.timegm(time.strptime(whole.rstrip("Z")[:19], "%Y-%m-%dT%H:%M:%S"))
    return seconds + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


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


def confirm(message: str) -> bool:
    """docker's PromptForConfirmation: the message and " [y/N] " on stdout, a line read from
    stdin; only "y" (any case) says yes (an empty or closed stdin says no)."""
    sys.stdout.write(message + " [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().rstrip("\r\n")
    return answer.lower() == "y"
