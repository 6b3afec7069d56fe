"""`swarmpy image ...`: pull, load, ls, inspect, rm, history, as docker's image commands."""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from swarmpy.api import local_pb2
from swarmpy.cli import output
from swarmpy.cli.client import Client, run
from swarmpy.cli.container import ellipsis, json_reply
from swarmpy.cli.engine import for_each
from swarmpy.errors import InvalidArgument

app = typer.Typer(no_args_is_help=True)

SHORT_ID = 12
CREATED_BY_WIDTH = 45
NONE = "<none>"

LS_COLUMNS = [
    ("REPOSITORY", "Repository"),
    ("TAG", "Tag"),
    ("IMAGE ID", "ID"),
    ("CREATED", "CreatedSince"),
    ("SIZE", "Size"),
]

# docker's image formatter: its default table and the headers of its other fields.
LS_TABLE = (
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t"
    "{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
)
LS_HEADERS = {
    "Digest": "DIGEST",
    "CreatedAt": "CREATED AT",
    "Containers": "CONTAINERS",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}

HISTORY_COLUMNS = [
    ("IMAGE", "ID"),
    ("CREATED", "CreatedSince"),
    ("CREATED BY", "CreatedBy"),
    ("SIZE", "Size"),
    ("COMMENT", "Comment"),
]


# ---------------------------------------------------------------- pure formatting


def short_id(image_id: str, trunc: bool = True) -> str:
    """``sha256:<hex>`` shows as 12 hex digits; ``<missing>`` and the like stay as they are."""
    if not image_id.startswith("sha256:"):
        return image_id
    return image_id.removeprefix("sha256:")[:SHORT_ID] if trunc else image_id


def ls_row(doc: dict[str, Any]) -> dict[str, Any]:
    created = float(doc.get("created") or 0.0)
    return {
        "ID": short_id(str(doc.get("image_id", ""))),
        "Repository": doc.get("repository", NONE),
        "Tag": doc.get("tag", NONE),
        "Digest": doc.get("digest") or NONE,
        "CreatedAt": output.go_time(int(created)),
        "CreatedSince": output.ago(created),
        "Size": output.size(int(doc.get("size", 0))),
        "Containers": "N/A",
        "SharedSize": "N/A",
        "UniqueSize": "N/A",
    }


def history_row(doc: dict[str, Any], trunc: bool) -> dict[str, Any]:
    # Docker flattens tabs so one layer stays on one table line.
    created_by = str(doc.get("CreatedBy", "")).replace("\t", " ")
    created = float(doc.get("Created") or 0.0)
    return {
        "ID": short_id(str(doc.get("Id", "")), trunc),
        "CreatedAt": output.iso(created),
        "CreatedSince": output.ago(created),
        "CreatedBy": ellipsis(created_by, CREATED_BY_WIDTH) if trunc else created_by,
        "Size": output.size(int(doc.get("Size", 0))),
        "Comment": doc.get("Comment", ""),
    }


def loaded_lines(records: list[dict[str, Any]]) -> list[str]:
    """What ``docker load`` says: one line per tag, or the id of an image that has none."""
    lines = []
    for record in records:
        tags = record.get("RepoTags") or []
        if not tags:
            lines.append(f"Loaded image ID: {record.get('Id', '')}")
        lines.extend(f"Loaded image: {familiar(str(t))}" for t in tags)
    return lines


def familiar(name: str) -> str:
    """``docker.io/library/busybox:latest`` as docker shows it: ``busybox:latest``."""
    # Imported here: the images package pulls in the registry client, which every other
    # command would pay for at startup.
    from swarmpy.engine.images.reference import familiar_name

    return familiar_name(name)


def removed_lines(report: list[dict[str, str]]) -> list[str]:
    return [f"{kind}: {value}" for entry in report for kind, value in entry.items()]


# ---------------------------------------------------------------- daemon calls


@contextlib.contextmanager
def _archive(path: str) -> Iterator[Path]:
    """The daemon opens the archive itself, so it needs an absolute path; stdin is spooled to
    a file the daemon (root, same machine) can read."""
    if path:
        yield Path(path).resolve()
        return
    if sys.stdin.isatty():
        raise InvalidArgument("requested load from stdin, but stdin is empty")
    with tempfile.NamedTemporaryFile(prefix="swarmpy-load-", suffix=".tar") as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool)
        spool.flush()
        yield Path(spool.name)


# ---------------------------------------------------------------- commands


@app.command("pull")
def pull(
    ref: str = typer.Argument(..., metavar="NAME[:TAG|@DIGEST]"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Suppress verbose output"),
) -> None:
    """Download an image from a registry."""

    async def call(c: Client) -> None:
        async for chunk in c.local.PullImage(local_pb2.ImageRequest(ref=ref)):
            if not quiet:
                sys.stdout.buffer.write(chunk.data)
                sys.stdout.buffer.flush()

    run(call)
    from swarmpy.engine.images.reference import parse_reference  # see familiar()

    # Docker ends with the canonical reference, which is what -q prints alone.
    typer.echo(str(parse_reference(ref)))


@app.command("load")
def load(
    input_: str = typer.Option(
        "", "--input", "-i", help="Read from tar archive file, instead of STDIN"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Suppress the load output"),
) -> None:
    """Load an image from a tar archive or STDIN."""
    with _archive(input_) as path:

        async def call(c: Client) -> list[dict[str, Any]]:
            return list(await json_reply(c.local.LoadImage(local_pb2.ImageRequest(path=str(path)))))

        records = run(call)
    if not quiet:
        for line in loaded_lines(records):
            typer.echo(line)


@app.command("ls")
def ls(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only show image IDs"),
    fmt: str = output.format_option(),
) -> None:
    """List images."""

    async def call(c: Client) -> list[dict[str, Any]]:
        return list(await json_reply(c.local.ListImages(local_pb2.ImageRequest())))

    rows = [ls_row(d) for d in run(call)]
    output.emit(LS_COLUMNS, rows, fmt, quiet=quiet, default=LS_TABLE, headers=LS_HEADERS)


@app.command("inspect")
def inspect(
    refs: list[str] = typer.Argument(..., metavar="IMAGE..."),
    fmt: str = output.inspect_format_option(),
) -> None:
    """Display detailed information on one or more images."""
    docs: list[Any] = []

    def one(ref: str) -> None:
        async def call(c: Client) -> Any:
            return await json_reply(c.local.InspectImage(local_pb2.ImageRequest(ref=ref)))

        docs.append(run(call))

    # Docker prints what it found, then fails for what it did not.
    try:
        for_each(refs, one)
    finally:
        output.print_inspect(docs, fmt)


@app.command("rm")
def rm(
    refs: list[str] = typer.Argument(..., metavar="IMAGE..."),
    force: bool = typer.Option(False, "--force", "-f", help="Force removal of the image"),
) -> None:
    """Remove one or more images."""

    def one(ref: str) -> None:
        async def call(c: Client) -> list[dict[str, str]]:
            req = local_pb2.ImageRequest(ref=ref, force=force)
            return list(await json_reply(c.local.RemoveImage(req)))

        for line in removed_lines(run(call)):
            typer.echo(line)

    for_each(refs, one)


@app.command("history")
def history(
    ref: str = typer.Argument(..., metavar="IMAGE"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only show image IDs"),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Don't truncate output"),
    fmt: str = output.format_option(),
) -> None:
    """Show the history of an image."""

    async def call(c: Client) -> list[dict[str, Any]]:
        return list(await json_reply(c.local.ImageHistory(local_pb2.ImageRequest(ref=ref))))

    rows = [history_row(d, trunc=not no_trunc) for d in run(call)]
    output.emit(HISTORY_COLUMNS, rows, fmt, quiet=quiet, headers={"CreatedAt": "CREATED AT"})


def register(app: typer.Typer) -> None:
    """Images have no top-level commands of their own (``inspect`` is the container module's)."""
