"""`swarmpy events`: the daemon's /events stream, printed as docker's (cli/command/system/
events.go): one line an event, or a Go template over docker's events.Message."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Mapping
from typing import Any

import typer

from swarmpy.cli import engine, gotemplate, opts
from swarmpy.cli.info import TEMPLATE_EXIT
from swarmpy.errors import InvalidArgument


class Actor:
    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.ID = str(doc.get("ID", ""))
        self.Attributes = dict(doc.get("Attributes") or {})

    def marshal_json(self) -> gotemplate.RawJSON:
        return struct_json([("ID", self.ID), ("Attributes", self.Attributes)])


class Message:
    """docker's events.Message: its Go fields to templates, its JSON to {{json .}}."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self._doc = dict(doc)
        self.Status = str(doc.get("status", ""))
        self.ID = str(doc.get("id", ""))
        self.From = str(doc.get("from", ""))
        self.Type = str(doc.get("Type", ""))
        self.Action = str(doc.get("Action", ""))
        self.Actor = Actor(doc.get("Actor") or {})
        self.Scope = str(doc.get("scope", ""))
        self.Time = int(doc.get("time") or 0)
        self.TimeNano = int(doc.get("timeNano") or 0)

    def marshal_json(self) -> gotemplate.RawJSON:
        """Go's encoding of events.Message: its fields in their order, the empty ones its
        tags omit left out."""
        omitempty = {"status", "id", "from", "time", "timeNano"}
        fields = [
            ("status", self.Status),
            ("id", self.ID),
            ("from", self.From),
            ("Type", self.Type),
            ("Action", self.Action),
            ("Actor", self.Actor),
            ("scope", self.Scope),
            ("time", self.Time),
            ("timeNano", self.TimeNano),
        ]
        return struct_json([(k, v) for k, v in fields if v or k not in omitempty])


def struct_json(fields: list[tuple[str, Any]]) -> gotemplate.RawJSON:
    """A Go struct's JSON: its fields in the order given."""
    encoded = (f"{gotemplate.go_json(k)}:{gotemplate.go_json(v)}" for k, v in fields)
    return gotemplate.RawJSON("{" + ",".join(encoded) + "}")


def rfc3339_nano_fixed(nanos: int, offset: int) -> str:
    """Go's "2006-01-02T15:04:05.000000000Z07:00" of a time ``offset`` seconds east of UTC."""
    seconds, frac = divmod(nanos, 1_000_000_000)
    zone = dt.timezone(dt.timedelta(seconds=offset))
    when = dt.datetime.fromtimestamp(seconds, zone)
    if offset == 0:
        suffix = "Z"
    else:
        sign = "+" if offset > 0 else "-"
        hours, minutes = divmod(abs(offset) // 60, 60)
        suffix = f"{sign}{hours:02d}:{minutes:02d}"
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}" + suffix


def pretty_line(doc: Mapping[str, Any], offset: int | None = None) -> str:
    """docker's prettyPrintEvent: the local time, type, action, actor id, then the actor's
    attributes sorted, in parentheses."""
    event = Message(doc)
    parts = []
    nanos = event.TimeNano or event.Time * 1_000_000_000
    if nanos:
        at = nanos // 1_000_000_000
        parts.append(rfc3339_nano_fixed(nanos, opts.local_offset(at) if offset is None else offset))
    text = f"{event.Type} {event.Action} {event.Actor.ID}"
    if event.Actor.Attributes:
        attrs = ", ".join(f"{k}={v}" for k, v in sorted(event.Actor.Attributes.items()))
        text += f" ({attrs})"
    return " ".join([*parts, text]) + "\n"


def make_template(fmt: str) -> gotemplate.Template | None:
    """docker's makeTemplate: parsed, then run over an empty message so that a bad field
    is found before any event comes."""
    if not fmt:
        return None
    template = gotemplate.parse(fmt)
    template.execute(Message({}))
    return template


def query(since: str, until: str, filters: list[str], now: float | None = None) -> dict[str, Any]:
    """The /events query docker's client builds: times as Unix timestamps, taken against
    one reference time."""
    import time

    ref = time.time() if now is None else now
    out: dict[str, Any] = {}
    if since:
        out["since"] = opts.get_timestamp(since, ref)
    if until:
        out["until"] = opts.get_timestamp(until, ref)
    out["filters"] = engine.filters_json(opts.parse_filter_flags(filters))
    return out


def events(
    since: str = typer.Option("", "--since", help="Show all events created since timestamp"),
    until: str = typer.Option("", "--until", help="Stream events until this timestamp"),
    filters: list[str] = opts.filter_option(),
    fmt: str = typer.Option("", "--format", help="Format the output using the given Go template"),
) -> None:
    """Get real time events from the server."""
    try:
        template = make_template(fmt)
    except gotemplate.TemplateError as exc:
        typer.echo(f"Error parsing format: {exc.message}", err=True)
        raise typer.Exit(TEMPLATE_EXIT) from None
    try:
        params = query(since, until, filters)
    except InvalidArgument as exc:
        engine.fail([exc.message])  # docker's client error, printed as it is
    api = engine.connect()
    try:
        for doc in api.json_lines("GET", "/events", params):
            if template is None:
                sys.stdout.write(pretty_line(doc))
            else:
                sys.stdout.write(template.execute(Message(doc)) + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass  # Ctrl-C ends a stream that has no --until, as docker's
    except BrokenPipeError:
        # Its reader is gone (`events | head -1`): end quietly, also at exit's flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def register(app: typer.Typer) -> None:
    app.command("events")(events)
