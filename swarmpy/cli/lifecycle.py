"""``start``, ``restart``, ``attach``, ``wait``, ``cp``, ``port``, ``rename`` and ``commit``,
as docker's (cli/command/container/), over the daemon's Engine API."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import typer

from swarmpy.cli import containerflags, engine, opts, runflags
from swarmpy.cli.engine import error_line, for_each, path_of
from swarmpy.cli.terminal import check_tty
from swarmpy.errors import InvalidArgument, NotFound, SwarmpyError

STAT_HEADER = "X-Docker-Container-Path-Stat"
GO_DIR = 1 << 31


def _attach_query(stdin: bool, keys: str) -> str:
    query = "stream=1&stdout=1&stderr=1" + ("&stdin=1" if stdin else "")
    return query + ("&" + urlencode({"detachKeys": keys}) if keys else "")


def _attach_and_wait(
    api: engine.EngineClient,
    cid: str,
    tty: bool,
    stdin: bool,
    keys: str = "",
    sig_proxy: bool = True,
) -> int:
    """Attach to a running (or about to run) container until its output ends; its exit code."""
    stream = api.hijack(
        path_of("containers", cid, "attach") + "?" + _attach_query(stdin, keys), None
    )
    waiting = api.open("POST", path_of("containers", cid, "wait"), {}, stream=True)
    return _finish(api, cid, (stream, waiting), tty, stdin, keys, sig_proxy)


def _finish(
    api: engine.EngineClient,
    cid: str,
    streams: tuple[Any, Any],
    tty: bool,
    stdin: bool,
    keys: str,
    sig_proxy: bool = True,
) -> int:
    """Its exit code once its output (``streams``: the attach, the wait) ends, or 0 when
    the detach keys were typed (the container runs on). Without a TTY, the signals we get
    go to the container unless not ``sig_proxy`` (docker's --sig-proxy; start -a always)."""
    from swarmpy.cli.run import copy_streams, signals_to
    from swarmpy.cli.terminal import raw_terminal

    stream, waiting = streams

    # As docker's: our terminal raw behind theirs, so every key (the detach keys too) goes
    # through as typed.
    with (
        raw_terminal(api, path_of("containers", cid, "resize"), tty and stdin),
        signals_to(api, cid, sig_proxy, tty),
    ):
        detached = copy_streams(api, stream, tty, stdin, keys)
    if detached:
        waiting.close()
        return 0
    with waiting:
        answer = json.loads(waiting.read() or b"{}")
    return int(answer.get("StatusCode", 0))


def _inspect(api: engine.EngineClient, ref: str) -> dict[str, Any]:
    doc: dict[str, Any] = api.get(path_of("containers", ref, "json"))
    return doc


# ---------------------------------------------------------------- cp


def split_cp_arg(arg: str) -> tuple[str, str]:
    """docker cp's ``CONTAINER:PATH`` or a local path ("" container): a local path that
    could be read as one (``./a:b``, ``/a:b``) is local, as docker's splitCpArg."""
    if os.path.isabs(arg) or arg.startswith("."):
        return "", arg
    container, sep, path = arg.partition(":")
    if not sep:
        return "", arg
    return container, path


def _stat(api: engine.EngineClient, cid: str, path: str) -> dict[str, Any] | None:
    try:
        response = api.open("HEAD", path_of("containers", cid, "archive"), {"path": path})
    except NotFound:
        return None
    with response:
        header = response.getheader(STAT_HEADER, "")
    doc: dict[str, Any] = json.loads(base64.b64decode(header)) if header else {}
    return doc


def copy_from(api: engine.EngineClient, cid: str, src: str, dest: str) -> None:
    """A container's file or directory to ``dest`` (``-``: a tar on stdout), with docker's
    rules: into ``dest`` when it is a directory, else as ``dest``."""
    response = api.open("GET", path_of("containers", cid, "archive"), {"path": src}, stream=True)
    with response, tempfile.TemporaryFile() as data:
        if dest == "-":
            shutil.copyfileobj(response, sys.stdout.buffer)
            return
        header = response.getheader(STAT_HEADER, "")
        stat = json.loads(base64.b64decode(header)) if header else {}
        shutil.copyfileobj(response, data)
        data.seek(0)
        _unpack(data, src, bool(int(stat.get("mode", 0)) & GO_DIR), Path(dest))


def _unpack(data: IO[bytes], src: str, src_is_dir: bool, target: Path) -> None:
    src_base = Path(src.rstrip("/")).name or "."
    contents = src.endswith("/.")
    if target.is_dir() and not contents:
        into, rename = target, ""
    else:
        if not target.parent.exists():
            raise InvalidArgument(f"lstat {target.parent}: no such file or directory")
        if src_is_dir and target.exists() and not target.is_dir():
            raise InvalidArgument("cannot copy a directory to a file")
        if contents and not target.exists():
            target.mkdir()
        into, rename = (target, "") if contents else (target.parent, target.name)
    with tarfile.open(fileobj=data, mode="r") as tar:
        for member in tar.getmembers():
            if rename:
                first, _, rest = member.name.partition("/")
                if first in (src_base, "."):
                    member.name = rename + ("/" + rest if rest else "")
            tar.extract(member, into, filter="tar")


def copy_to(api: engine.EngineClient, src: str, cid: str, dest: str) -> None:
    """A local file or directory (``-``: a tar from stdin) into a container, as docker's:
    into ``dest`` when it is a directory there, else as ``dest``."""
    if src == "-":
        _put(api, cid, {"path": dest}, sys.stdin.buffer.read())
        return
    source = Path(src)
    if not os.path.lexists(source):
        raise InvalidArgument(f"lstat {source.absolute()}: no such file or directory")
    stat = _stat(api, cid, dest)
    if stat is not None and int(stat.get("mode", 0)) & GO_DIR and not src.endswith("/."):
        into, name = dest, source.name
    else:
        parent = os.path.dirname(dest.rstrip("/")) or "/"
        if dest.endswith("/") and stat is None:
            raise InvalidArgument(f"no such directory: {dest}")
        if stat is not None and source.is_dir() and not int(stat.get("mode", 0)) & GO_DIR:
            raise InvalidArgument("cannot copy a directory to a file")
        into, name = parent, os.path.basename(dest.rstrip("/"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        if src.endswith("/.") and stat is not None:
            for child in sorted(source.iterdir()):
                tar.add(str(child), arcname=child.name)
            into = dest
        else:
            tar.add(str(source), arcname=name)
    _put(api, cid, {"path": into, "noOverwriteDirNonDir": True}, buffer.getvalue())


def _put(api: engine.EngineClient, cid: str, query: dict[str, Any], data: bytes) -> None:
    path = path_of("containers", cid, "archive")
    with api.open("PUT", path, query, data, content_type="application/x-tar") as response:
        response.read()


# ---------------------------------------------------------------- commands


def register(app: typer.Typer) -> None:
    @app.command("start")
    def start(
        refs: list[str] = typer.Argument(..., metavar="CONTAINER..."),
        attach: bool = typer.Option(
            False, "--attach", "-a", help="Attach STDOUT/STDERR and forward signals"
        ),
        interactive: bool = typer.Option(
            False, "--interactive", "-i", help="Attach container's STDIN"
        ),
        detach_keys: str = containerflags.detach_keys(),
    ) -> None:
        """Start one or more stopped containers."""
        from swarmpy.cli.run import escape_keys

        escape_keys(detach_keys)
        api = engine.connect()
        if attach or interactive:
            if len(refs) > 1:
                raise InvalidArgument("you cannot start and attach multiple containers at once")
            doc = _inspect(api, refs[0])
            cid, tty = str(doc["Id"]), bool(doc["Config"].get("Tty"))
            query = _attach_query(interactive, detach_keys)
            stream = api.hijack(path_of("containers", cid, "attach") + "?" + query, None)
            waiting = api.open(
                "POST", path_of("containers", cid, "wait"), {"condition": "next-exit"}, stream=True
            )
            api.post(path_of("containers", cid, "start"))
            raise typer.Exit(_finish(api, cid, (stream, waiting), tty, interactive, detach_keys))

        # As docker's: each failure as it is, then one line naming them all.
        failed = []
        for ref in refs:
            try:
                api.post(path_of("containers", ref, "start"))
            except SwarmpyError as exc:
                typer.echo(error_line(exc), err=True)
                failed.append(ref)
                continue
            typer.echo(ref)
        if failed:
            typer.echo(f"Error: failed to start containers: {', '.join(failed)}", err=True)
            raise typer.Exit(1)

    @app.command("restart")
    def restart(
        refs: list[str] = typer.Argument(..., metavar="CONTAINER..."),
        time_: int = typer.Option(
            10, "--time", "-t", help="Seconds to wait for stop before killing the container"
        ),
    ) -> None:
        """Restart one or more containers."""
        api = engine.connect()

        def act(ref: str) -> None:
            api.post(path_of("containers", ref, "restart"), t=time_)
            typer.echo(ref)

        for_each(refs, act)

    @app.command("attach", cls=opts.go_bools("--sig-proxy"))
    def attach(
        ref: str = typer.Argument(..., metavar="CONTAINER"),
        detach_keys: str = containerflags.detach_keys(),
        no_stdin: bool = typer.Option(False, "--no-stdin", help="Do not attach STDIN"),
        sig_proxy: bool = typer.Option(
            True,
            "--sig-proxy/--no-sig-proxy",
            help="Proxy all received signals to the process (default true)",
            show_default=False,
        ),
    ) -> None:
        """Attach local standard input, output, and error streams to a running container."""
        from swarmpy.cli.run import escape_keys

        escape_keys(detach_keys)
        api = engine.connect()
        doc = _inspect(api, ref)
        if not doc["State"].get("Running"):
            raise InvalidArgument("You cannot attach to a stopped container, start it first")
        if doc["State"].get("Paused"):
            raise InvalidArgument("You cannot attach to a paused container, unpause it first")
        tty = bool(doc["Config"].get("Tty"))
        check_tty(not no_stdin, tty)  # docker's asks of --no-stdin, not of OpenStdin
        stdin = bool(doc["Config"].get("OpenStdin")) and not no_stdin
        code = _attach_and_wait(api, str(doc["Id"]), tty, stdin, detach_keys, sig_proxy)
        raise typer.Exit(code)

    @app.command("wait")
    def wait(refs: list[str] = typer.Argument(..., metavar="CONTAINER...")) -> None:
        """Block until one or more containers stop, then print their exit codes."""
        api = engine.connect()

        def act(ref: str) -> None:
            answer = api.post(path_of("containers", ref, "wait"))
            typer.echo(str(answer.get("StatusCode", 0)))

        for_each(refs, act)

    @app.command("port")
    def port(
        ref: str = typer.Argument(..., metavar="CONTAINER"),
        private: str = typer.Argument("", metavar="[PRIVATE_PORT[/PROTO]]"),
    ) -> None:
        """List port mappings or a specific mapping for the container."""
        doc = _inspect(engine.connect(), ref)
        ports = (doc.get("NetworkSettings") or {}).get("Ports") or {}
        try:
            lines = runflags.port_lines(ports, private, ref)
        except InvalidArgument as exc:
            typer.echo(exc.message, err=True)
            raise typer.Exit(1) from None
        for line in lines:
            typer.echo(line)

    @app.command("rename")
    def rename(
        ref: str = typer.Argument(..., metavar="CONTAINER"),
        new_name: str = typer.Argument(..., metavar="NEW_NAME"),
    ) -> None:
        """Rename a container."""
        old, new = ref.strip(), new_name.strip()
        if not old or not new:
            raise InvalidArgument("Error: Neither old nor new names may be empty")
        try:
            engine.connect().post(path_of("containers", old, "rename"), name=new)
        except SwarmpyError as exc:  # docker's: the cause, then which container
            typer.echo(error_line(exc), err=True)
            typer.echo(f"Error: failed to rename container named {old}", err=True)
            raise typer.Exit(1) from None

    @app.command("commit")
    def commit(
        ref: str = typer.Argument(..., metavar="CONTAINER"),
        repository: str = typer.Argument("", metavar="[REPOSITORY[:TAG]]"),
        author: str = typer.Option(
            "", "--author", "-a", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")'
        ),
        message: str = typer.Option("", "--message", "-m", help="Commit message"),
        pause: bool = typer.Option(
            True, "--pause/--no-pause", "-p", help="Pause container during commit"
        ),
        change: list[str] = typer.Option(
            [], "--change", "-c", help="Apply Dockerfile instruction to the created image"
        ),
    ) -> None:
        """Create a new image from a container's changes."""
        repo, tag = repository, ""
        if repository:
            from swarmpy.engine.images.reference import parse_reference

            parsed = parse_reference(repository)
            if parsed.digest:
                raise InvalidArgument("refusing to create a tag with a digest reference")
            name, _, maybe_tag = repository.rpartition(":")
            if name and "/" not in maybe_tag:
                repo, tag = name, maybe_tag
        answer = engine.connect().post(
            "/commit",
            {},
            container=ref,
            repo=repo or None,
            tag=tag or None,
            author=author or None,
            comment=message or None,
            pause=pause,
            changes=tuple(change) or None,
        )
        typer.echo(str(answer["Id"]))

    @app.command("cp")
    def cp(
        src: str = typer.Argument(..., metavar="SRC_PATH"),
        dest: str = typer.Argument(..., metavar="DEST_PATH"),
    ) -> None:
        """Copy files/folders between a container and the local filesystem."""
        src_container, src_path = split_cp_arg(src)
        dest_container, dest_path = split_cp_arg(dest)
        if src_container and dest_container:
            raise InvalidArgument("copying between containers is not supported")
        if not src_container and not dest_container:
            raise InvalidArgument("must specify at least one container source")
        try:
            if src_container:
                copy_from(engine.connect(), src_container, src_path, dest_path)
            else:
                copy_to(engine.connect(), src_path, dest_container, dest_path)
        except NotFound as exc:
            if exc.remote and exc.message.startswith("Could not find the file"):
                # The docker client's words for a path the container does not have.
                parent = os.path.dirname(dest_path.rstrip("/")) or "/"
                ref = (
                    f"{src_container}:{src_path}" if src_container else f"{dest_container}:{parent}"
                )
                typer.echo(f"Error: No such container:path: {ref}", err=True)
            else:
                typer.echo(error_line(exc), err=True)
            raise typer.Exit(1) from None
        except SwarmpyError as exc:
            typer.echo(error_line(exc), err=True)
            raise typer.Exit(1) from None
