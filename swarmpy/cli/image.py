"""`swarmpy image ...`: pull, load, ls, inspect, rm, history, as docker's image commands."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO

import typer

from swarmpy.cli import engine, jsonmessage, opts, output
from swarmpy.cli.container import ellipsis
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
# --digests: docker's defaultImageTableFormatWithDigest.
LS_DIGESTS_TABLE = (
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t"
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


def split_tag(name: str) -> tuple[str, str]:
    """``registry:5000/repo:tag`` -> (``registry:5000/repo``, ``tag``): the tag follows the
    last colon after the last slash."""
    repo, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:
        return name, NONE
    return repo, tag


def ls_rows(doc: dict[str, Any], trunc: bool = True) -> list[dict[str, Any]]:
    """An ImageSummary (``/images/json``) as docker's image formatter shows it: one row per
    tag, or one <none> row for an image without any."""
    created = float(doc.get("Created") or 0.0)
    digests = {split_digest(d) for d in doc.get("RepoDigests") or []}
    tags = [split_tag(str(t)) for t in doc.get("RepoTags") or [] if t != "<none>:<none>"]
    base = {
        "ID": short_id(str(doc.get("Id", "")), trunc),
        "CreatedAt": output.go_time(int(created)),
        "CreatedSince": output.ago(created),
        "Size": output.size(int(doc.get("Size", 0))),
        "Containers": "N/A",
        "SharedSize": "N/A",
        "UniqueSize": "N/A",
    }
    digest_of = dict(digests)
    return [
        base | {"Repository": repo, "Tag": tag, "Digest": digest_of.get(repo, NONE)}
        for repo, tag in tags or [(NONE, NONE)]
    ]


def split_digest(name: str) -> tuple[str, str]:
    """``repo@sha256:...`` -> (``repo``, ``sha256:...``)."""
    repo, _, digest = name.partition("@")
    return repo, digest or NONE


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


def removed_lines(report: list[dict[str, str]]) -> list[str]:
    return [f"{kind}: {value}" for entry in report for kind, value in entry.items()]


# ---------------------------------------------------------------- daemon calls


@contextlib.contextmanager
def _archive(path: str) -> Iterator[BinaryIO]:
    """The archive to send: the file, or stdin (unless it is a terminal, as docker says)."""
    if path:
        try:
            with open(path, "rb") as f:
                yield f
        except OSError as e:
            raise InvalidArgument(f"open {path}: {e.strerror}") from None
        return
    if sys.stdin.isatty():
        raise InvalidArgument("requested load from stdin, but stdin is empty")
    yield sys.stdin.buffer


# ---------------------------------------------------------------- commands


@app.command("pull")
def pull(
    ref: str = typer.Argument(..., metavar="NAME[:TAG|@DIGEST]"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Suppress verbose output"),
) -> None:
    """Download an image from a registry."""
    # Imported here: the images package pulls in the registry client, which every other
    # command would pay for at startup.
    from swarmpy.cli import registry_auth
    from swarmpy.engine.images.reference import parse_reference

    # The stored login of the image's registry goes along (an empty one without).
    headers = registry_auth.auth_header(parse_reference(ref).domain)
    api = engine.connect()
    messages = api.json_lines("POST", "/images/create", {"fromImage": ref}, None, headers=headers)
    if quiet:
        for message in messages:
            engine.check_message(message)
    else:
        jsonmessage.on(sys.stdout).show_all(messages)
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
    api = engine.connect()
    with _archive(input_) as archive:
        messages = list(
            api.json_lines(
                "POST", "/images/load", {"quiet": quiet}, archive, content_type="application/x-tar"
            )
        )
    for message in messages:
        engine.check_message(message)
        if not quiet:
            typer.echo(str(message.get("stream", "")), nl=False)


@app.command("ls")
def ls(
    repository: str = typer.Argument("", metavar="[REPOSITORY[:TAG]]"),
    all_: bool = typer.Option(
        False, "--all", "-a", help="Show all images (default hides intermediate images)"
    ),
    digests: bool = typer.Option(False, "--digests", help="Show digests"),
    filters: list[str] = opts.filter_option(),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Don't truncate output"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only show image IDs"),
    fmt: str = output.format_option(),
) -> None:
    """List images."""
    wanted = opts.parse_filter_flags(filters)
    if repository:  # as docker's: the argument is one more reference filter
        wanted.setdefault("reference", []).append(repository)
    listed = engine.connect().get("/images/json", all=all_, filters=engine.filters_json(wanted))
    rows = [row for doc in listed for row in ls_rows(doc, trunc=not no_trunc)]
    columns = [*LS_COLUMNS[:2], ("DIGEST", "Digest"), *LS_COLUMNS[2:]] if digests else LS_COLUMNS
    table = LS_DIGESTS_TABLE if digests else LS_TABLE
    output.emit(columns, rows, fmt, quiet=quiet, default=table, headers=LS_HEADERS)


@app.command("inspect")
def inspect(
    refs: list[str] = typer.Argument(..., metavar="IMAGE..."),
    fmt: str = output.inspect_format_option(),
) -> None:
    """Display detailed information on one or more images."""
    docs: list[Any] = []
    api = engine.connect()

    def one(ref: str) -> None:
        docs.append(api.get(engine.image_path(ref, "json")))

    # Docker prints what it found, then fails for what it did not.
    try:
        for_each(refs, one, kind="image")
    finally:
        output.print_inspect(docs, fmt)


@app.command("rm")
def rm(
    refs: list[str] = typer.Argument(..., metavar="IMAGE..."),
    force: bool = typer.Option(False, "--force", "-f", help="Force removal of the image"),
) -> None:
    """Remove one or more images."""

    api = engine.connect()

    def one(ref: str) -> None:
        for line in removed_lines(api.delete(engine.image_path(ref), force=force) or []):
            typer.echo(line)

    for_each(refs, one, kind="image")


@app.command("history")
def history(
    ref: str = typer.Argument(..., metavar="IMAGE"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only show image IDs"),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Don't truncate output"),
    fmt: str = output.format_option(),
) -> None:
    """Show the history of an image."""
    layers = engine.connect().get(engine.image_path(ref, "history"))
    rows = [history_row(d, trunc=not no_trunc) for d in layers]
    output.emit(HISTORY_COLUMNS, rows, fmt, quiet=quiet, headers={"CreatedAt": "CREATED AT"})


@app.command("tag")
def tag(
    source: str = typer.Argument(..., metavar="SOURCE_IMAGE[:TAG]"),
    target: str = typer.Argument(..., metavar="TARGET_IMAGE[:TAG]"),
) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE."""
    from swarmpy.engine.images.reference import parse_reference

    ref = parse_reference(target)
    if ref.digest:
        raise InvalidArgument("refusing to create a tag with a digest reference")
    repo = target.rsplit(":", 1)[0] if ref.tag and target.endswith(":" + ref.tag) else target
    engine.connect().post(engine.image_path(source, "tag"), None, repo=repo, tag=ref.tag)


@app.command("push")
def push(
    name: str = typer.Argument(..., metavar="NAME[:TAG]"),
    all_tags: bool = typer.Option(
        False, "--all-tags", "-a", help="Push all tagged images in the repository"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Suppress verbose output"),
) -> None:
    """Push an image or a repository to a registry."""
    from swarmpy.cli import registry_auth
    from swarmpy.engine.images.reference import parse_reference

    ref = parse_reference(name)
    explicit = ":" in name.rsplit("/", 1)[-1]
    if all_tags and explicit:
        raise InvalidArgument("tag can't be used with --all-tags/-a")
    repo = name.rsplit(":", 1)[0] if explicit else name
    query = {"tag": "" if all_tags else (ref.tag or "latest")}
    messages = engine.connect().json_lines(
        "POST",
        engine.image_path(repo, "push"),
        query,
        headers=registry_auth.auth_header(ref.domain),
    )
    if quiet:
        for message in messages:
            engine.check_message(message)
    else:
        jsonmessage.on(sys.stdout).show_all(messages)
    if quiet:
        typer.echo(name)


@app.command("save")
def save(
    refs: list[str] = typer.Argument(..., metavar="IMAGE..."),
    output_: str = typer.Option("", "--output", "-o", help="Write to a file, instead of STDOUT"),
) -> None:
    """Save one or more images to a tar archive (streamed to STDOUT by default)."""
    if not output_ and sys.stdout.isatty():
        raise InvalidArgument(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect"
        )
    api = engine.connect()
    with api.open("GET", "/images/get", {"names": tuple(refs)}, stream=True) as response:
        if output_:
            with open(output_, "wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
        else:
            while chunk := response.read(1 << 20):
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()


def login(
    server: str = typer.Argument("", metavar="[SERVER]"),
    username: str = typer.Option("", "--username", "-u", help="Username"),
    password: str = typer.Option("", "--password", "-p", help="Password"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Take the password from stdin"
    ),
) -> None:
    """Log in to a registry."""
    import getpass

    from swarmpy.cli import registry_auth

    if password and password_stdin:
        raise InvalidArgument("--password and --password-stdin are mutually exclusive")
    if password_stdin:
        if not username:
            raise InvalidArgument("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        typer.echo(
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin.", err=True
        )
    if not username or not password:
        if not sys.stdin.isatty():
            raise InvalidArgument(
                "Error: Cannot perform an interactive login from a non TTY device"
            )
        if not username:
            username = input("Username: ").strip()
        if not password:
            password = getpass.getpass("Password: ")
    if not username:
        raise InvalidArgument("Username is required")
    if not password:
        raise InvalidArgument("Password is required")
    key = registry_auth.server_key(server)
    body = {"username": username, "password": password, "serveraddress": key}
    engine.connect().post("/auth", body)
    path = registry_auth.store_login(server, username, password)
    typer.echo(
        f"WARNING! Your password will be stored unencrypted in {path}.\n"
        "Configure a credential helper to remove this warning. See\n"
        "https://docs.docker.com/engine/reference/commandline/login/#credentials-store\n",
        err=True,
    )
    typer.echo("Login Succeeded")


def logout(server: str = typer.Argument("", metavar="[SERVER]")) -> None:
    """Log out from a registry."""
    from swarmpy.cli import registry_auth

    key = registry_auth.server_key(server)
    if registry_auth.forget_login(server):
        typer.echo(f"Removing login credentials for {key}")
    else:
        typer.echo(f"Not logged in to {key}")


def register(app: typer.Typer) -> None:
    """docker's top-level image commands: build, tag, push, save, history, login, logout,
    and ``images``, ``pull``, ``rmi``, ``load`` (``image ls/pull/rm/load`` under other names;
    ``inspect`` is the container module's). Docker's ``import`` is absent: the daemon does not
    import a root filesystem (``/images/create?fromSrc`` is refused)."""
    from swarmpy.cli.build import build

    app.command("images")(ls)
    app.command("pull")(pull)
    app.command("rmi")(rm)
    app.command("load")(load)
    app.command("build")(build)
    app.command("tag")(tag)
    app.command("push")(push)
    app.command("save")(save)
    app.command("history")(history)
    app.command("login")(login)
    app.command("logout")(logout)


@app.command("prune")
def prune(
    all_: bool = typer.Option(
        False, "--all", "-a", help="Remove all unused images, not just dangling ones"
    ),
    filters: list[str] = opts.filter_option(
        "Provide filter values (e.g. 'until=<timestamp>')", short=False
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Do not prompt for confirmation"),
) -> None:
    """Remove unused images."""
    from swarmpy.cli.system.prune import image_prune

    image_prune(all_, filters, force)


def _add_build(app: typer.Typer) -> None:
    from swarmpy.cli.build import build

    app.command("build")(build)


_add_build(app)
