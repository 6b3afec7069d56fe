"""``swarmpy build`` (and ``image build``): the context as a tar, pruned by its .dockerignore,
to POST /build; the classic builder's output as it comes."""

from __future__ import annotations

import io
import os
import secrets
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import typer

from swarmpy.cli import engine, jsonmessage, output, registry_auth
from swarmpy.engine.build.ignore import DOCKERIGNORE, excluded, parse_ignore
from swarmpy.errors import InvalidArgument


def build_args(values: list[str]) -> dict[str, str | None]:
    """``--build-arg K=V``, or ``K`` alone: its value from the environment (None when unset,
    as docker sends it)."""
    args: dict[str, str | None] = {}
    for value in values:
        key, eq, rest = value.partition("=")
        if not key:
            raise InvalidArgument(f"invalid argument {value!r} for --build-arg")
        args[key] = rest if eq else os.environ.get(key)
    return args


def context_tar(root: Path, dockerfile: Path | None, dest: Any) -> str:
    """Write the context under ``root`` to ``dest`` as a tar, without what .dockerignore
    leaves out; the Dockerfile's name in it (one from outside the context goes in too)."""
    try:
        patterns = parse_ignore((root / DOCKERIGNORE).read_text(errors="replace"))
    except FileNotFoundError:
        patterns = ()
    df_path = dockerfile or root / "Dockerfile"
    try:
        df_rel = df_path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        df_rel = ""
    with tarfile.open(fileobj=dest, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        reincludes = any(p.exclusion for p in patterns)
        for current, dirnames, filenames in os.walk(root):
            rel_dir = os.path.relpath(current, root)
            if not reincludes:  # nothing under an excluded dir can come back: skip it whole
                dirnames[:] = [
                    d
                    for d in dirnames
                    if not excluded(d if rel_dir == "." else f"{rel_dir}/{d}", patterns)
                ]
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                path = Path(current) / name
                keep = rel in (df_rel, DOCKERIGNORE) or not excluded(rel, patterns)
                if not keep and not (path.is_dir() and not path.is_symlink()):
                    continue
                info = tar.gettarinfo(str(path), arcname=rel)
                if info is None:
                    continue  # a socket, which docker's pkg/archive skips too
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if info.isreg():
                    with path.open("rb") as data:
                        tar.addfile(info, data)
                elif info.isdir() or info.issym():
                    tar.addfile(info)
        if df_rel:
            return df_rel
        name = f".dockerfile.{secrets.token_hex(10)}"
        if not df_path.is_file():
            raise InvalidArgument(
                "unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
                f"lstat {df_path}: no such file or directory"
            )
        info = tar.gettarinfo(str(df_path), arcname=name)
        with df_path.open("rb") as data:
            tar.addfile(info, data)
        return name


def stdin_context(data: bytes, file: str, dest: Any) -> str:
    """``build -``: stdin is a context tar (plain or compressed), or a Dockerfile alone (then
    the context is empty); written to ``dest`` as a tar, the Dockerfile's name returned."""
    if not data:
        raise InvalidArgument("no build context: stdin is empty")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as probe:
            probe.getmembers()
    except tarfile.TarError:
        with tarfile.open(fileobj=dest, mode="w|") as tar:
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        return "Dockerfile"
    dest.write(data)
    return file or "Dockerfile"


def build(
    path: str = typer.Argument(..., metavar="PATH | -"),
    tags: list[str] = typer.Option(
        [], "--tag", "-t", help="Name and optionally a tag in the 'name:tag' format"
    ),
    file: str = typer.Option(
        "", "--file", "-f", help="Name of the Dockerfile (Default is 'PATH/Dockerfile')"
    ),
    build_arg: list[str] = typer.Option([], "--build-arg", help="Set build-time variables"),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Do not use cache when building the image"
    ),
    target: str = typer.Option("", "--target", help="Set the target build stage to build."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Suppress the build output and print image ID on success"
    ),
    pull: bool = typer.Option(
        False, "--pull", help="Always attempt to pull a newer version of the image"
    ),
    rm: bool = typer.Option(
        True, "--rm/--no-rm", help="Remove intermediate containers after a successful build"
    ),
    force_rm: bool = typer.Option(
        False, "--force-rm", help="Always remove intermediate containers"
    ),
    network: str = typer.Option(
        "default",
        "--network",
        help="Set the networking mode for the RUN instructions during build",
    ),
) -> None:
    """Build an image from a Dockerfile."""
    if not rm:
        raise InvalidArgument("--rm=false is not supported: swarmpy never keeps build containers")
    dockerfile = Path(file) if file else None
    api = engine.connect()
    with tempfile.TemporaryFile() as body:
        if path == "-":
            df_name = stdin_context(sys.stdin.buffer.read(), file, body)
        else:
            root = Path(path)
            # Path("") is "."; docker's stat of "" fails, so it is no context, not the cwd.
            if not path or not root.is_dir():
                raise InvalidArgument(f'unable to prepare context: path "{path}" not found')
            df_name = context_tar(root, dockerfile, body)
        size = body.tell()
        body.seek(0)
        if not quiet:
            typer.echo(f"Sending build context to Docker daemon  {output.human_size(size)}")
            typer.echo("")
        query: dict[str, Any] = {
            "t": tuple(tags),
            "dockerfile": df_name,
            "buildargs": build_args(build_arg),
            "nocache": no_cache,
            "target": target or None,
            "q": quiet,
            "pull": pull,
            "rm": rm,
            "forcerm": force_rm,
            "networkmode": network,
        }
        image_id = ""
        display = jsonmessage.on(sys.stdout)
        for message in api.json_lines(
            "POST",
            "/build",
            query,
            body,
            content_type="application/x-tar",
            headers=registry_auth.all_auths_header(),
        ):
            if message.get("error"):
                typer.echo(str(message["error"]), err=True)
                code = (message.get("errorDetail") or {}).get("code") or 1
                raise typer.Exit(int(code))
            aux = message.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = str(aux["ID"])
            if not quiet:
                display.show(message)  # the step's output; ADD's download drawn on a terminal
    if quiet and image_id:
        typer.echo(image_id)
