"""``run`` and ``create``: a standalone container, as docker's (cli/command/container/run.go
and create.go), through the daemon's /containers/create, attach, wait and start.

``run`` without ``-d`` attaches to the container's output (and stdin with ``-i``) before it
starts it, and exits with the container's exit code; a failure to create it exits 125, to
start it 125, 126 (cannot run the command) or 127 (no such command), as docker's.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import typer
from typer._click.globals import get_current_context

from swarmpy.cli import containerflags, engine, opts, runflags
from swarmpy.cli.engine import error_line, path_of
from swarmpy.cli.flagerror import FlagError
from swarmpy.cli.main import USAGE_EXIT
from swarmpy.cli.terminal import check_tty, raw_terminal
from swarmpy.dockerjson import detachkeys
from swarmpy.errors import InvalidArgument, NotFound, SwarmpyError

POSITIONAL = {"allow_interspersed_args": False}


def _options(
    image: str,
    command: list[str] | None,
    **flags: Any,
) -> runflags.RunOptions:
    tuples = {k: tuple(v) for k, v in flags.items() if isinstance(v, list)}
    return runflags.RunOptions(image=image, command=tuple(command or ()), **{**flags, **tuples})


def _fail(
    exc: SwarmpyError, code: int = USAGE_EXIT, verb: str = "run", with_help: bool = True
) -> typer.Exit:
    """docker/cli's reportError (the docker CLI this project checks against): the error after
    the program's name, ended by a period, then where help is unless the start failed."""
    text = error_line(exc).removesuffix(".") + "."
    if with_help:
        text += f"\nSee 'swarmpy {verb} --help'."
    typer.echo(f"swarmpy: {text}", err=True)
    return typer.Exit(code)


def _pull(api: engine.EngineClient, image: str) -> None:
    """docker run's pull of an image not here: its progress on stderr."""
    from swarmpy.cli import jsonmessage
    from swarmpy.engine.images.reference import parse_reference

    familiar = parse_reference(image).familiar
    typer.echo(f"Unable to find image '{familiar}' locally", err=True)
    messages = api.json_lines("POST", "/images/create", {"fromImage": image})
    jsonmessage.on(sys.stderr).show_all(messages)


def create_container(api: engine.EngineClient, o: runflags.RunOptions) -> str:
    """The container made from the flags (its image pulled if missing); its id."""
    body = runflags.create_request(o)
    query = {"name": o.name or None}
    try:
        created = api.post("/containers/create", body, **query)
    except NotFound as exc:
        if not exc.remote or not exc.message.startswith("No such image"):
            raise
        _pull(api, o.image)
        created = api.post("/containers/create", body, **query)
    for warning in created.get("Warnings") or []:
        typer.echo(f"WARNING: {warning}", err=True)
    return str(created["Id"])


def run_container(o: runflags.RunOptions, sig_proxy: bool = True) -> int:
    if not o.detach:  # docker's AttachStdin: -a stdin, or -i without -a
        check_tty("stdin" in o.attach if o.attach else o.interactive, o.tty)
    api = engine.connect()
    try:
        cid = create_container(api, o)
    except SwarmpyError as exc:  # docker's runStartContainerErr gives its status
        raise _fail(exc, runflags.start_exit_code(exc.message)) from None
    if o.detach:
        try:
            api.post(path_of("containers", cid, "start"))
        except SwarmpyError as exc:
            raise _fail(exc, runflags.start_exit_code(exc.message), with_help=False) from None
        typer.echo(cid)
        return 0
    streams = set(o.attach) if o.attach else {"stdout", "stderr"}
    query = "&".join(
        f"{s}=1" for s in ("stream", *sorted(streams | ({"stdin"} if o.interactive else set())))
    )
    if o.detach_keys:
        query += "&" + urlencode({"detachKeys": o.detach_keys})
    stream = api.hijack(path_of("containers", cid, "attach") + "?" + query, None)
    condition = "removed" if o.rm else "next-exit"
    waiting = api.open(
        "POST", path_of("containers", cid, "wait"), {"condition": condition}, stream=True
    )
    try:
        api.post(path_of("containers", cid, "start"))
    except SwarmpyError as exc:
        stream.close()
        waiting.close()
        if o.rm:
            with contextlib.suppress(SwarmpyError):
                api.delete(path_of("containers", cid), force=True)
        raise _fail(exc, runflags.start_exit_code(exc.message), with_help=False) from None
    with (
        raw_terminal(api, path_of("containers", cid, "resize"), o.tty and o.interactive),
        signals_to(api, cid, sig_proxy, o.tty),
    ):
        detached = copy_streams(api, stream, o.tty, o.interactive, o.detach_keys)
    if detached:  # as docker's: the container runs on, and run succeeds
        waiting.close()
        return 0
    with waiting:
        answer = json.loads(waiting.read() or b"{}")
    if answer.get("Error"):
        typer.echo(f"swarmpy: {answer['Error'].get('Message', '')}", err=True)
    return int(answer.get("StatusCode", 0))


def escape_keys(given: str) -> bytes:
    """The detach keys the CLI watches its stdin for (ctrl-p,ctrl-q unless ``given``),
    refused in docker/cli's words (validateDetachKeys)."""
    bad = detachkeys.unknown_key(given)
    if bad is not None:
        raise InvalidArgument(f"invalid detach keys ({given}): Unknown character: '{bad}'")
    return detachkeys.parse(given) or detachkeys.DEFAULT


# What docker's ForwardAllSignals keeps for the CLI: a child's end, a closed pipe (and the Go
# runtime's SIGURG); KILL and STOP cannot be caught, and the faults the interpreter itself may
# raise are not for a handler.
_NOT_FORWARDED = frozenset(
    ("SIGKILL", "SIGSTOP", "SIGCHLD", "SIGPIPE", "SIGURG", "SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL")
)


@contextlib.contextmanager
def signals_to(api: engine.EngineClient, cid: str, proxy: bool, tty: bool) -> Iterator[None]:
    """docker's --sig-proxy while attached to a container without a ``tty`` (behind one,
    ctrl-c is a key its terminal reads, and signals are left alone): with ``proxy`` (docker's
    default) a signal this process gets goes to the container (its kill: ctrl-c interrupts
    the container, not us); without, ctrl-c ends the CLI at once, the container running on."""
    import signal

    if tty:
        yield
        return

    def forward(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name.removeprefix("SIG")
        with contextlib.suppress(SwarmpyError):  # gone already: its output's end says so
            api.post(path_of("containers", cid, "kill"), signal=name)

    handlers: dict[signal.Signals, Any]
    if proxy:  # every signal with a name (SIGRTMIN+n have none of their own)
        kept = _NOT_FORWARDED | {"SIGRTMIN", "SIGRTMAX"}
        handlers = {s: forward for s in signal.Signals if s.name not in kept}
    else:
        handlers = {signal.SIGINT: signal.SIG_DFL}
    previous = {s: signal.signal(s, handler) for s, handler in handlers.items()}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def copy_streams(
    api: engine.EngineClient, stream: engine.Hijacked, tty: bool, stdin: bool, keys: str = ""
) -> bool:
    """The container's output to ours until it ends; with ``stdin``, ours to its. Behind a
    TTY the detach keys (``keys`` or docker's default) typed end it: True then. Signals
    are the caller's (``signals_to``)."""
    sock = stream.sock
    half_close = api.endpoint.tls is None
    escape = detachkeys.EscapeProxy(escape_keys(keys) if tty else b"")
    detached = threading.Event()

    def feed() -> None:
        with contextlib.suppress(OSError):
            while data := os.read(sys.stdin.fileno(), 32768):
                passed, detach = escape.feed(data)
                if passed:
                    sock.sendall(passed)
                if detach:
                    detached.set()
                    sock.shutdown(socket.SHUT_RDWR)  # ends the output's copy too
                    return
            if half_close:
                sock.shutdown(socket.SHUT_WR)

    if stdin:
        threading.Thread(target=feed, daemon=True).start()
    with contextlib.suppress(OSError, KeyboardInterrupt):
        engine.copy_output(stream.read1, tty)
    stream.close()
    return detached.is_set()


def register(app: typer.Typer) -> None:
    for verb in ("run", "create"):
        _register(app, verb)


def _register(app: typer.Typer, verb: str) -> None:
    detach_help = "Run container in background and print container ID"

    def command(
        image: str = typer.Argument(..., metavar="IMAGE"),
        command: list[str] = typer.Argument(None, metavar="[COMMAND] [ARG...]"),
        detach: bool = typer.Option(
            False, "--detach", "-d", help=detach_help, hidden=verb == "create"
        ),
        rm: bool = typer.Option(
            False, "--rm", help="Automatically remove the container when it exits"
        ),
        interactive: bool = containerflags.INTERACTIVE,
        tty: bool = containerflags.TTY,
        name: str = typer.Option("", "--name", help="Assign a name to the container"),
        env: list[str] = containerflags.ENV,
        env_files: list[str] = containerflags.ENV_FILE,
        network: str = typer.Option(
            "default", "--network", "--net", help="Connect a container to a network"
        ),
        network_aliases: list[str] = typer.Option(
            [], "--network-alias", help="Add network-scoped alias for the container"
        ),
        ip: str = typer.Option("", "--ip", help="IPv4 address (e.g., 172.30.100.104)"),
        cpus: str = typer.Option("", "--cpus", help="Number of CPUs"),
        memory: str = typer.Option("", "--memory", "-m", help="Memory limit"),
        restart: str = typer.Option(
            "no", "--restart", help="Restart policy to apply when a container exits"
        ),
        hostname: str = typer.Option("", "--hostname", "-h", help="Container host name"),
        workdir: str = containerflags.WORKDIR,
        user: str = typer.Option(
            "", "--user", "-u", help="Username or UID (format: <name|uid>[:<group|gid>])"
        ),
        entrypoint: str = containerflags.ENTRYPOINT,
        labels: list[str] = typer.Option([], "--label", "-l", help="Set meta data on a container"),
        publish: list[str] = typer.Option(
            [], "--publish", "-p", help="Publish a container's port(s) to the host"
        ),
        publish_all: bool = typer.Option(
            False, "--publish-all", "-P", help="Publish all exposed ports to random ports"
        ),
        expose: list[str] = typer.Option([], "--expose", help="Expose a port or a range of ports"),
        volumes: list[str] = typer.Option([], "--volume", "-v", help="Bind mount a volume"),
        mounts: list[str] = typer.Option(
            [], "--mount", help="Attach a filesystem mount to the container"
        ),
        health_cmd: str = typer.Option("", "--health-cmd", help="Command to run to check health"),
        health_interval: str = typer.Option(
            "", "--health-interval", help="Time between running the check (ms|s|m|h) (default 0s)"
        ),
        health_timeout: str = typer.Option(
            "",
            "--health-timeout",
            help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)",
        ),
        health_retries: int = typer.Option(
            0, "--health-retries", help="Consecutive failures needed to report unhealthy"
        ),
        health_start_period: str = typer.Option(
            "",
            "--health-start-period",
            help="Start period for the container to initialize before starting "
            "health-retries countdown (ms|s|m|h) (default 0s)",
        ),
        no_healthcheck: bool = containerflags.NO_HEALTHCHECK,
        cap_add: list[str] = containerflags.CAP_ADD,
        cap_drop: list[str] = containerflags.CAP_DROP,
        read_only: bool = typer.Option(
            False, "--read-only", help="Mount the container's root filesystem as read only"
        ),
        stop_signal: str = typer.Option("", "--stop-signal", help="Signal to stop a container"),
        stop_timeout: int = typer.Option(
            None, "--stop-timeout", help="Timeout (in seconds) to stop a container"
        ),
        pids_limit: int = typer.Option(
            0, "--pids-limit", help="Tune container pids limit (set -1 for unlimited)"
        ),
        attach: list[str] = typer.Option(
            [], "--attach", "-a", help="Attach to STDIN, STDOUT or STDERR"
        ),
        detach_keys: str = containerflags.detach_keys(None, hidden=verb == "create"),
        sig_proxy: bool = typer.Option(
            None,
            "--sig-proxy/--no-sig-proxy",
            help="Proxy received signals to the process (default true)",
            show_default=False,
            hidden=verb == "create",
        ),
    ) -> None:
        # docker create has neither flag; the shared signature only hides them.
        for flag, given in (("--detach-keys", detach_keys), ("--sig-proxy", sig_proxy)):
            if given is not None and verb == "create":
                raise FlagError(f"unknown flag: {flag}", get_current_context(silent=True))
        escape_keys(detach_keys or "")  # docker/cli checks them before anything is made
        try:
            o = _options(
                image,
                command,
                detach=detach if verb == "run" else True,
                rm=rm,
                interactive=interactive,
                tty=tty,
                name=name,
                env=env,
                env_files=env_files,
                network=network,
                network_aliases=network_aliases,
                ip=ip,
                cpus=cpus,
                memory=memory,
                restart=restart if restart != "no" else "",
                hostname=hostname,
                workdir=workdir,
                user=user,
                entrypoint=entrypoint,
                labels=labels,
                publish=publish,
                publish_all=publish_all,
                expose=expose,
                volumes=volumes,
                mounts=mounts,
                health_cmd=health_cmd,
                health_interval=health_interval,
                health_timeout=health_timeout,
                health_retries=health_retries,
                health_start_period=health_start_period,
                no_healthcheck=no_healthcheck,
                cap_add=cap_add,
                cap_drop=cap_drop,
                read_only=read_only,
                stop_signal=stop_signal,
                stop_timeout=stop_timeout,
                pids_limit=pids_limit,
                attach=[a.lower() for a in attach],
                detach_keys=detach_keys or "",
            )
            if pids_limit < -1:
                raise InvalidArgument("invalid --pids-limit: use -1 for unlimited")
            runflags.create_request(o)  # refused here, before anything is made
        except InvalidArgument as exc:
            if exc.remote:
                raise
            raise _fail(exc, verb=verb) from None
        if verb == "create":
            # As docker's create: what the daemon (or the way to it) says, as it is.
            typer.echo(create_container(engine.connect(), o))
            return
        raise typer.Exit(run_container(o, sig_proxy is not False))

    command.__doc__ = (
        "Run a command in a new container" if verb == "run" else "Create a new container"
    )
    app.command(verb, cls=opts.go_bools("--sig-proxy"), context_settings=POSITIONAL)(command)
