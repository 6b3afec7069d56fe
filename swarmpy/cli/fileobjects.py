"""What `swarmpy secret ...` and `swarmpy config ...` share (docker/cli's cli/command/secret
and cli/command/config are twins): create from a file or stdin, ls, inspect (--pretty), rm."""

from __future__ import annotations

import base64
import sys
from typing import Any

import typer

from swarmpy.cli import engine, opts, output, specflags
from swarmpy.cli.engine import for_each, no_such, path_of
from swarmpy.cli.task import natural_key
from swarmpy.errors import InvalidArgument, NotFound

# docker/cli's default tables.
SECRET_COLUMNS = [
    ("ID", "ID"),
    ("NAME", "Name"),
    ("DRIVER", "Driver"),
    ("CREATED", "CreatedAt"),
    ("UPDATED", "UpdatedAt"),
]
CONFIG_COLUMNS = [
    ("ID", "ID"),
    ("NAME", "Name"),
    ("CREATED", "CreatedAt"),
    ("UPDATED", "UpdatedAt"),
]


def read_data(file: str) -> bytes:
    """The content: a file, or stdin for "-" (docker's readSecretData); none without a file."""
    if not file:
        return b""
    if file == "-":
        return sys.stdin.buffer.read()
    try:
        with open(file, "rb") as f:
            return f.read()
    except OSError as e:
        why = e.strerror or str(e)
        why = why[:1].lower() + why[1:]
        raise InvalidArgument(f'Error reading content from "{file}": open {file}: {why}') from None


def create(kind: str, name: str, file: str, labels: list[str], extra: dict[str, Any]) -> None:
    """POST /{kind}s/create, print the new id. ``extra``: Driver or Templating if asked (the
    daemon refuses what it cannot honour)."""
    body: dict[str, Any] = {
        "Name": name,
        "Labels": dict(specflags.key_values(labels, "label")),
        "Data": base64.b64encode(read_data(file)).decode(),
        **extra,
    }
    typer.echo(engine.connect().post(f"/{kind}s/create", body)["ID"])


def row(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc.get("Spec") or {}
    labels = dict(spec.get("Labels") or {})
    driver = (spec.get("Driver") or {}).get("Name", "")
    return {
        "ID": doc["ID"],
        "Name": spec.get("Name", ""),
        "Driver": driver,
        "CreatedAt": output.ago(output.parse_iso(doc.get("CreatedAt", ""))),
        "UpdatedAt": output.ago(output.parse_iso(doc.get("UpdatedAt", ""))),
        "Labels": output.labels_text(labels),
        "_labels": labels,
    }


def ls(kind: str, filters: list[str], fmt: str, quiet: bool) -> None:
    api = engine.connect()
    docs = api.get(f"/{kind}s", filters=engine.filters_json(opts.parse_filter_flags(filters)))
    docs.sort(key=lambda d: natural_key(str((d.get("Spec") or {}).get("Name", ""))))
    columns = SECRET_COLUMNS if kind == "secret" else CONFIG_COLUMNS
    output.emit(columns, [row(d) for d in docs], fmt, quiet, headers={"Labels": "LABELS"})


def pretty(kind: str, doc: dict[str, Any]) -> str:
    """docker/cli's secretInspectPrettyTemplate and configInspectPrettyTemplate."""
    spec = doc.get("Spec") or {}
    labels = dict(spec.get("Labels") or {})
    created = output.pretty_print(output.go_time(output.parse_iso(doc.get("CreatedAt", ""))))
    updated = output.pretty_print(output.go_time(output.parse_iso(doc.get("UpdatedAt", ""))))
    label_lines = [f" - {k}={v}" if v else f" - {k}" for k, v in sorted(labels.items())]
    if kind == "secret":
        lines = [f"ID:              {doc['ID']}", f"Name:              {spec.get('Name', '')}"]
        if labels:
            lines += ["Labels:", *label_lines]
        driver = (spec.get("Driver") or {}).get("Name", "")
        lines += [
            f"Driver:            {driver}",
            f"Created at:        {created}",
            f"Updated at:        {updated}",
        ]
        return "\n".join(lines)
    data = base64.b64decode(spec.get("Data") or "").decode(errors="replace")
    lines = [f"ID:\t\t\t{doc['ID']}", f"Name:\t\t\t{spec.get('Name', '')}"]
    if labels:
        lines += ["Labels:", *label_lines]
    lines += [
        f"Created at:            \t{created}",
        f"Updated at:            \t{updated}",
        "Data:",
        data,
    ]
    return "\n".join(lines)


def inspect(kind: str, refs: list[str], fmt: str, pretty_flag: bool) -> None:
    if pretty_flag:
        fmt = "pretty"
    if fmt.startswith("pretty") and fmt != "pretty":
        raise InvalidArgument("Cannot supply extra formatting options to the pretty template")
    api = engine.connect()
    docs, errors = [], []
    # As docker's CLI: every object found is shown, then each one that was not.
    for ref in refs:
        try:
            docs.append(api.get(path_of(f"{kind}s", ref)))
        except NotFound:
            errors.append(no_such(kind, ref))
    if fmt == "pretty":
        if docs:
            sys.stdout.write("\n\n".join(pretty(kind, d) for d in docs) + "\n")
    else:
        output.print_inspect(docs, fmt)
    for line in errors:
        typer.echo(line, err=True)
    if errors:
        raise typer.Exit(1)


def rm(kind: str, refs: list[str]) -> None:
    api = engine.connect()

    def one(ref: str) -> None:
        api.delete(path_of(f"{kind}s", ref))
        typer.echo(ref)

    for_each(refs, one, kind=kind)
