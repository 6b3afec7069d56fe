"""Node-local container commands at the top level, as docker has them: ps, exec, logs, inspect,
top, stats, stop, kill, rm, pause, unpause.

They act on this daemon's own containers (the tasks it runs); the daemon answers with
Docker-shaped JSON and the formatting here is pure functions over those documents.
"""

from __future__ import annotations

import contextlib
import datetime
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import typer

from swarmpy.cli import containerflags, engine, gotemplate, opts, output
from swarmpy.cli.engine import for_each, no_such, path_of
from swarmpy.cli.runflags import display_ports
from swarmpy.cli.terminal import check_tty, raw_terminal
from swarmpy.dockerjson.logtime import get_timestamp
from swarmpy.errors import InvalidArgument, NotFound, SwarmpyError
from swarmpy.humanize import bytes_size
from swarmpy.manager.controlapi import validate

SHORT_ID = 12
COMMAND_WIDTH = 20
ELLIPSIS = "…"
# Positional commands: `exec c sh -c ...` must not have typer parse the command's own flags.
POSITIONAL = {"allow_interspersed_args": False}

PS_COLUMNS = [
    ("CONTAINER ID", "ID"),
    ("IMAGE", "Image"),
    ("COMMAND", "Command"),
    ("CREATED", "RunningFor"),
    ("STATUS", "Status"),
    ("PORTS", "Ports"),
    ("NAMES", "Names"),
]

# The other fields of docker's ps formatter, for custom "table" formats.
PS_HEADERS = {
    "CreatedAt": "CREATED AT",
    "State": "STATE",
    "Size": "SIZE",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "LocalVolumes": "LOCAL VOLUMES",
    "Networks": "NETWORKS",
}
MOUNT_WIDTH = 15

STATS_COLUMNS = [
    ("CONTAINER ID", "ID"),
    ("NAME", "Name"),
    ("CPU %", "CPUPerc"),
    ("MEM USAGE / LIMIT", "MemUsage"),
    ("MEM %", "MemPerc"),
    ("PIDS", "PIDs"),
]


# ---------------------------------------------------------------- pure formatting


def ellipsis(text: str, width: int) -> str:
    """Docker's stringutils.Ellipsis: cut to ``width`` characters, the last one an ellipsis."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    return text[: width - 1] + ELLIPSIS


def ps_command(command: str, trunc: bool) -> str:
    """The COMMAND column: Go's strconv.Quote of the command, as docker prints it."""
    return gotemplate.go_quote(ellipsis(command, COMMAND_WIDTH) if trunc else command)


def ps_image(image: str, trunc: bool) -> str:
    """Swarm tasks pin their image by digest; ``docker ps`` hides the digest unless --no-trunc."""
    if trunc and "@" in image:
        return image.split("@", 1)[0]
    return image


def ps_mounts(mounts: Sequence[dict[str, Any]], trunc: bool) -> str:
    """docker ps's MOUNTS: each volume's name (else its source), cut to 15 characters."""
    names = [str(m.get("Name") or m.get("Source") or "") for m in mounts]
    return ",".join(ellipsis(n, MOUNT_WIDTH) if trunc else n for n in names)


def ps_row(doc: dict[str, Any], trunc: bool) -> dict[str, Any]:
    """A ContainerSummary (``/containers/json``) as docker's ps formatter shows it."""
    created = float(doc.get("Created") or 0.0)
    full_id = str(doc.get("Id", ""))
    labels = dict(doc.get("Labels") or {})
    mounts = list(doc.get("Mounts") or [])
    networks = (doc.get("NetworkSettings") or {}).get("Networks") or {}
    return {
        "ID": full_id[:SHORT_ID] if trunc else full_id,
        "Image": ps_image(str(doc.get("Image", "")), trunc),
        "Command": ps_command(str(doc.get("Command", "")), trunc),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(created)),
        "RunningFor": output.ago(created),
        "Status": doc.get("Status", ""),
        "State": doc.get("State", ""),
        "Ports": display_ports(list(doc.get("Ports") or [])),
        "Names": ",".join(str(n).lstrip("/") for n in doc.get("Names") or []),
        "Labels": output.labels_text(labels),
        "Mounts": ps_mounts(mounts, trunc),
        "LocalVolumes": str(sum(1 for m in mounts if m.get("Type") == "volume")),
        "Networks": ",".join(sorted(networks)),
        "Size": ps_size(doc),
        "_labels": labels,
    }


def ps_size(doc: dict[str, Any]) -> str:
    """docker ps's SIZE: the writable layer, and with the image's ("virtual") when the
    daemon counted it (--size); "0B" without."""
    rw = output.human_size(int(doc.get("SizeRw") or 0), 3)
    root = int(doc.get("SizeRootFs") or 0)
    return f"{rw} (virtual {output.human_size(root, 3)})" if root > 0 else rw


def binary_size(n: float) -> str:
    """go-units BytesSize (``%.4g`` in powers of 1024), as ``docker stats`` prints memory."""
    return bytes_size(n)


def cpu_percent(doc: dict[str, Any]) -> float:
    """docker stats' CPU %: the container's share of the host's CPU time between the two
    readings of a Stats document, times the CPUs online (calculateCPUPercentUnix)."""
    now, before = doc.get("cpu_stats") or {}, doc.get("precpu_stats") or {}
    now_usage, before_usage = now.get("cpu_usage") or {}, before.get("cpu_usage") or {}
    used = int(now_usage.get("total_usage", 0)) - int(before_usage.get("total_usage", 0))
    system = int(now.get("system_cpu_usage", 0)) - int(before.get("system_cpu_usage", 0))
    cpus = int(now.get("online_cpus") or len(now_usage.get("percpu_usage") or []))
    if used <= 0 or system <= 0:
        return 0.0
    return float(used) / system * (cpus or 1) * 100.0


def memory_usage(memory: dict[str, Any]) -> int:
    """docker stats' memory use: the cgroup's usage less its inactive page cache (cgroup v2's
    inactive_file, v1's total_inactive_file), as Docker's CLI counts it."""
    raw = memory.get("stats") or {}
    cache = raw.get("inactive_file", raw.get("total_inactive_file", 0))
    usage = int(memory.get("usage", 0))
    return usage - cache if cache < usage else usage


def stats_row(doc: dict[str, Any]) -> dict[str, Any]:
    """A Stats document (``/containers/{id}/stats?stream=false``) as docker stats shows it."""
    memory = doc.get("memory_stats") or {}
    used, limit = memory_usage(memory), int(memory.get("limit", 0))
    return {
        "ID": str(doc.get("id", ""))[:SHORT_ID],
        "Name": str(doc.get("name", "")).lstrip("/"),
        "CPUPerc": f"{cpu_percent(doc):.2f}%",
        "MemUsage": f"{binary_size(used)} / {binary_size(limit)}",
        "MemPerc": f"{(used / limit * 100.0 if limit else 0.0):.2f}%",
        "PIDs": str((doc.get("pids_stats") or {}).get("current", 0)),
    }


def top_rows(doc: dict[str, Any]) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """``ps`` titles and rows as print_table columns, keyed by position (titles repeat)."""
    titles = [str(t) for t in doc.get("Titles") or []]
    columns = [(t, str(i)) for i, t in enumerate(titles)]
    rows = [{str(i): cell for i, cell in enumerate(row)} for row in doc.get("Processes") or []]
    return columns, rows


def parse_tail(text: str) -> int:
    """``--tail all`` or a count; the API's -1 means everything."""
    if text == "all":
        return -1
    try:
        n = int(text)
    except ValueError:
        raise InvalidArgument(
            f'invalid value for "tail": {text!r}: use "all" or a number'
        ) from None
    # More lines than any log has is all of them (and a count past int64 fits no request).
    return n if 0 <= n <= validate.MAX_INT64 else -1


def log_query(since: str, until: str = "") -> dict[str, Any]:
    """The query of a logs request (both streams), with ``--since``/``--until`` as the docker
    client sends them: Unix seconds and nanoseconds, relative to now for a duration."""
    query: dict[str, Any] = {"stdout": True, "stderr": True}
    now, offset = time.time_ns(), local_utc_offset()
    for key, value in (("since", since), ("until", until)):
        if value:
            try:
                query[key] = get_timestamp(value, now, offset)
            except InvalidArgument as e:
                raise InvalidArgument(f'invalid value for "{key}": {e.message}') from None
    return query


def local_utc_offset() -> int:
    """This machine's offset from UTC now, in seconds: a time without a zone is local."""
    offset = datetime.datetime.now().astimezone().utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


# ---------------------------------------------------------------- daemon calls


def _stats_docs(refs: Sequence[str]) -> list[dict[str, Any]]:
    """One reading per container, read concurrently: each spans the daemon's interval.

    Without refs: every running container, skipping any that stop while being read.
    """
    from concurrent.futures import ThreadPoolExecutor

    api = engine.connect()
    targets = list(refs) or [str(d["Id"]) for d in api.get("/containers/json")]

    def one(ref: str) -> dict[str, Any]:
        doc: dict[str, Any] = api.get(path_of("containers", ref, "stats"), stream=False)
        return doc

    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        futures = [pool.submit(one, ref) for ref in targets]
    docs = []
    for future in futures:
        error = future.exception()
        if error is None:
            docs.append(future.result())
        elif refs or not isinstance(error, SwarmpyError):
            raise error
    return docs


# ---------------------------------------------------------------- commands


def register(app: typer.Typer) -> None:
    @app.command("ps")
    def ps(
        all_: bool = typer.Option(False, "--all", "-a", help="Show all containers"),
        filters: list[str] = opts.filter_option(),
        last: int = typer.Option(
            -1, "--last", "-n", help="Show n last created containers (includes all states)"
        ),
        latest: bool = typer.Option(
            False, "--latest", "-l", help="Show the latest created container (includes all states)"
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display container IDs"),
        no_trunc: bool = typer.Option(False, "--no-trunc", help="Don't truncate output"),
        size: bool = typer.Option(False, "--size", "-s", help="Display total file sizes"),
        fmt: str = output.format_option(),
    ) -> None:
        """List containers."""
        limit = 1 if latest else last
        # As docker's: a template that shows .Size asks the daemon to count it.
        size = size or ".Size" in fmt
        query: dict[str, Any] = {
            # As docker's client: a limit lists every state.
            "all": all_ or limit > 0,
            "limit": limit if limit > 0 else None,
            "size": size or None,
            "filters": engine.filters_json(opts.parse_filter_flags(filters)),
        }
        listed = engine.connect().get("/containers/json", **query)
        rows = [ps_row(d, trunc=not no_trunc) for d in listed]
        columns = [*PS_COLUMNS, ("SIZE", "Size")] if size else PS_COLUMNS
        output.emit(columns, rows, fmt, quiet=quiet, headers=PS_HEADERS)

    @app.command("exec", context_settings=POSITIONAL)
    def exec_(
        ref: str = typer.Argument(..., metavar="CONTAINER"),
        cmd: list[str] = typer.Argument(..., metavar="COMMAND [ARG...]"),
        detach: bool = typer.Option(
            False, "--detach", "-d", help="Detached mode: run command in the background"
        ),
        detach_keys: str = typer.Option(
            "",
            "--detach-keys",
            help="Override the key sequence for detaching a container (default ctrl-p,ctrl-q)",
        ),
        env: list[str] = containerflags.ENV,
        env_files: list[str] = containerflags.ENV_FILE,
        interactive: bool = containerflags.INTERACTIVE,
        tty: bool = containerflags.TTY,
        user: str = typer.Option(
            "", "--user", "-u", help='Username or UID (format: "<name|uid>[:<group|gid>]")'
        ),
        workdir: str = containerflags.WORKDIR,
    ) -> None:
        """Execute a command in a running container."""
        from swarmpy.cli import runflags

        api = engine.connect()
        body = exec_body(cmd, runflags.environment(env_files, env), workdir, user)
        # As docker's: a missing container is reported first, and the TTY is checked before
        # the exec is made (a refused one would stay behind on the daemon).
        api.get(path_of("containers", ref, "json"))
        if detach:  # nothing attached: the daemon runs it on its own (docker's -d)
            created = api.post(path_of("containers", ref, "exec"), body | {"Tty": tty})
            api.post(path_of("exec", str(created["Id"]), "start"), {"Detach": True, "Tty": tty})
            return
        check_tty(interactive, tty)
        attached = {"AttachStdin": interactive, "AttachStdout": True, "AttachStderr": True}
        # The daemon watches the TTY's stdin for the detach keys (its default without).
        body |= attached | {"Tty": tty, "DetachKeys": detach_keys}
        created = api.post(path_of("containers", ref, "exec"), body)
        raise typer.Exit(run_exec(api, str(created["Id"]), tty, interactive))

    @app.command("logs")
    def logs(
        ref: str = typer.Argument(..., metavar="CONTAINER"),
        details: bool = containerflags.DETAILS,
        follow: bool = containerflags.FOLLOW,
        since: str = containerflags.SINCE,
        tail: str = containerflags.TAIL,
        timestamps: bool = containerflags.TIMESTAMPS,
        until: str = typer.Option(
            "",
            "--until",
            help="Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative "
            "(e.g. 42m for 42 minutes)",
        ),
    ) -> None:
        """Fetch the logs of a container."""
        count = parse_tail(tail)
        query = log_query(since, until) | {
            "follow": follow,
            "timestamps": timestamps,
            "details": details,
            "tail": "all" if count < 0 else count,  # docker's word for everything
        }
        api = engine.connect()
        # As docker's CLI: the container's TTY says whether the stream is framed.
        doc = api.get(path_of("containers", ref, "json"))
        # Ctrl-C is how -f ends, as with docker: no traceback.
        with (
            contextlib.suppress(KeyboardInterrupt),
            api.open("GET", path_of("containers", ref, "logs"), query, stream=True) as response,
        ):
            engine.copy_output(response.read1, bool(doc.get("Config", {}).get("Tty")))

    @app.command("inspect")
    def inspect(
        refs: list[str] = typer.Argument(..., metavar="NAME|ID..."),
        fmt: str = output.inspect_format_option(),
    ) -> None:
        """Return low-level information on containers and images."""
        api = engine.connect()
        docs, missing = [], []
        for ref in refs:
            doc = _inspect_any(api, ref)
            if doc is None:
                missing.append(ref)
            else:
                docs.append(doc)
        output.print_inspect(docs, fmt)
        for ref in missing:
            typer.echo(no_such("object", ref), err=True)
        if missing:
            raise typer.Exit(1)

    @app.command("top")
    def top(ref: str = typer.Argument(..., metavar="CONTAINER")) -> None:
        """Display the running processes of a container."""
        columns, rows = top_rows(engine.connect().get(path_of("containers", ref, "top")))
        output.print_table(columns, rows)

    @app.command("stats")
    def stats(
        refs: list[str] = typer.Argument(None, metavar="[CONTAINER...]"),
        no_stream: bool = typer.Option(
            False, "--no-stream", help="Disable streaming stats and only pull the first result"
        ),
        fmt: str = output.format_option(),
    ) -> None:
        """Display a live stream of container(s) resource usage statistics."""
        names = list(refs or [])
        if no_stream:
            output.emit(STATS_COLUMNS, [stats_row(d) for d in _stats_docs(names)], fmt)
            return
        try:
            while True:
                started = time.monotonic()
                rows = [stats_row(d) for d in _stats_docs(names)]
                # Clear the screen and home the cursor: one table redrawn in place, like docker.
                typer.echo("\033[2J\033[H", nl=False)
                output.emit(STATS_COLUMNS, rows, fmt)
                time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
        except KeyboardInterrupt:
            pass

    @app.command("stop")
    def stop(
        refs: list[str] = typer.Argument(..., metavar="CONTAINER..."),
        time_: int = typer.Option(
            10, "--time", "-t", help="Seconds to wait for it to stop before killing it"
        ),
    ) -> None:
        """Stop one or more running containers."""
        for_each(refs, _acting("POST", "stop", t=time_))

    @app.command("kill")
    def kill(
        refs: list[str] = typer.Argument(..., metavar="CONTAINER..."),
        signal: str = typer.Option("KILL", "--signal", "-s", help="Signal to send"),
    ) -> None:
        """Kill one or more running containers."""
        for_each(refs, _acting("POST", "kill", signal=signal))

    @app.command("rm")
    def rm(
        refs: list[str] = typer.Argument(..., metavar="CONTAINER..."),
        force: bool = typer.Option(
            False, "--force", "-f", help="Force the removal of a running container"
        ),
        volumes: bool = typer.Option(
            False, "--volumes", "-v", help="Remove anonymous volumes associated with the container"
        ),
    ) -> None:
        """Remove one or more containers."""
        for_each(refs, _acting("DELETE", "", force=force, v=volumes), kind="container")

    @app.command("pause")
    def pause(refs: list[str] = typer.Argument(..., metavar="CONTAINER...")) -> None:
        """Pause all processes within one or more containers."""
        for_each(refs, _acting("POST", "pause"))

    @app.command("unpause")
    def unpause(refs: list[str] = typer.Argument(..., metavar="CONTAINER...")) -> None:
        """Unpause all processes within one or more containers."""
        for_each(refs, _acting("POST", "unpause"))


def _acting(method: str, action: str, **query: Any) -> Callable[[str], None]:
    """One container's ``/containers/{ref}/{action}`` (``action`` "": the container itself)."""
    api = engine.connect()

    def act(ref: str) -> None:
        parts = ("containers", ref, action) if action else ("containers", ref)
        api.call(method, path_of(*parts), query)
        # Docker echoes the ref as the user wrote it, not the id it resolved to.
        typer.echo(ref)

    return act


def exec_body(cmd: list[str], env: list[str], workdir: str, user: str) -> dict[str, Any]:
    """Exec create's body (Docker's ExecConfig) for the process alone, nothing attached."""
    return {"Cmd": cmd, "Env": env or None, "WorkingDir": workdir, "User": user}


def run_exec(api: engine.EngineClient, exec_id: str, tty: bool, interactive: bool) -> int:
    """Start exec ``exec_id`` over a hijacked connection: our stdin to the process (with -i),
    its output to ours, the terminal raw behind a TTY; its exit code once the output ends.
    The daemon runs the process: nothing is executed here."""
    import os
    import socket
    import threading

    stream = api.hijack(path_of("exec", exec_id, "start"), {"Detach": False, "Tty": tty})
    sock = stream.sock
    # Our stdin's end is the process's (a half-close), except over TLS: the daemon's TLS ends
    # the whole connection on it, output and all.
    half_close = api.endpoint.tls is None

    def end_of_input() -> None:
        if half_close:
            sock.shutdown(socket.SHUT_WR)

    def feed() -> None:
        with contextlib.suppress(OSError):
            while data := os.read(sys.stdin.fileno(), 32768):
                sock.sendall(data)
            end_of_input()

    if interactive:
        threading.Thread(target=feed, daemon=True).start()
    else:
        end_of_input()
    with (
        raw_terminal(api, path_of("exec", exec_id, "resize"), tty and interactive),
        contextlib.suppress(OSError),
    ):
        engine.copy_output(stream.read1, tty)
    stream.close()
    code = api.get(path_of("exec", exec_id, "json")).get("ExitCode")
    return int(code) if code is not None else 0


def _inspect_any(api: engine.EngineClient, ref: str) -> Any | None:
    """``docker inspect`` looks for a container first, then an image of that name."""
    for path in (path_of("containers", ref, "json"), engine.image_path(ref, "json")):
        try:
            return api.get(path)
        except NotFound:
            continue
    return None
