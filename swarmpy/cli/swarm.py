"""`swarmpy swarm ...`: init, join, join-token, update, ca, unlock, unlock-key, leave."""

from __future__ import annotations

import hashlib
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import typer

from swarmpy.cli import engine, opts
from swarmpy.cli.engine import path_of
from swarmpy.cli.specflags import duration
from swarmpy.errors import Conflict, InvalidArgument, NotInSwarm
from swarmpy.manager.controlapi import validate

app = typer.Typer(no_args_is_help=True)

CERT_EXPIRY_HELP = "Validity period for node certificates (ms|s|m|h)"
HEARTBEAT_HELP = "Dispatcher heartbeat period (ms|s|m|h)"
# How often `swarm ca --rotate` looks at the nodes, as Docker's CLI.
ROTATION_POLL_S = 0.2
AUTOLOCK_HELP = "Enable manager autolocking (requiring an unlock key to start a stopped manager)"


# `--autolock=false`: Docker's booleans take a value after "=".
AutolockCommand = opts.go_bools("--autolock")


@app.command("init", cls=AutolockCommand)
def init(
    advertise_addr: str = typer.Option("", help="Advertised address (format: <ip>[:port])"),
    listen_addr: str = typer.Option("", help="Listen address (format: <ip|interface>[:port])"),
    force_new_cluster: bool = typer.Option(
        False, help="Force create a new cluster from current state"
    ),
    dispatcher_heartbeat: str = typer.Option("5s", help=HEARTBEAT_HELP),
    task_history_limit: int = typer.Option(5, help="Task history retention limit"),
    cert_expiry: str = typer.Option("2160h", help=CERT_EXPIRY_HELP),
    autolock: bool = typer.Option(False, "--autolock/--no-autolock", help=AUTOLOCK_HELP),
) -> None:
    """Initialize a swarm."""
    heartbeat_s = duration(dispatcher_heartbeat)
    validate.check_heartbeat_period(heartbeat_s)
    validate.check_history_limit(task_history_limit)
    api = engine.connect()
    node_id = api.post(
        "/swarm/init",
        {
            "ListenAddr": listen_addr,
            "AdvertiseAddr": advertise_addr,
            "ForceNewCluster": force_new_cluster,
            "AutoLockManagers": autolock,
            "Spec": {
                "Orchestration": {"TaskHistoryRetentionLimit": task_history_limit},
                "Dispatcher": {"HeartbeatPeriod": _nanos(heartbeat_s)},
                "CAConfig": {"NodeCertExpiry": _nanos(duration(cert_expiry))},
            },
        },
    )
    typer.echo(f"Swarm initialized: current node ({node_id}) is now a manager.\n")
    print_join_command(api, node_id, "worker")
    typer.echo(
        "To add a manager to this swarm, run 'swarmpy swarm join-token manager' "
        "and follow the instructions.\n"
    )
    if autolock:
        print_unlock_command(_unlock_key(api))


def _unlock_key(api: engine.EngineClient) -> str:
    return str(api.get("/swarm/unlockkey").get("UnlockKey") or "")


def print_unlock_command(key: str) -> None:
    """Docker's printUnlockCommand (its 20.10 words)."""
    if key:
        typer.echo(
            "To unlock a swarm manager after it restarts, run the `swarmpy swarm unlock`\n"
            f"command and provide the following key:\n\n    {key}\n\n"
            "Please remember to store this key in a password manager, since without it you\n"
            "will not be able to restart the manager."
        )


@app.command("join")
def join(
    remote: str = typer.Argument(..., metavar="HOST:PORT"),
    token: str = typer.Option(..., help="Token for entry into the swarm"),
    advertise_addr: str = typer.Option("", help="Advertised address (format: <ip>[:port])"),
    listen_addr: str = typer.Option("", help="Listen address (format: <ip|interface>[:port])"),
) -> None:
    """Join a swarm as a node and/or manager."""
    api = engine.connect()
    api.post(
        "/swarm/join",
        {
            "ListenAddr": listen_addr,
            "AdvertiseAddr": advertise_addr,
            "RemoteAddrs": [remote],
            "JoinToken": token,
        },
    )
    # As docker's CLI: the role is what /info says now, a manager has the control API.
    if api.get("/info").get("Swarm", {}).get("ControlAvailable"):
        typer.echo("This node joined a swarm as a manager.")
    else:
        typer.echo("This node joined a swarm as a worker.")


@app.command("join-token")
def join_token(
    role: str = typer.Argument(..., metavar="(worker|manager)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display token"),
    rotate: bool = typer.Option(False, help="Rotate join token"),
) -> None:
    """Manage join tokens."""
    if role not in ("worker", "manager"):
        raise InvalidArgument(f"unknown role {role}")
    api = engine.connect()
    if rotate:
        # The spec goes back as it was read: only the token changes.
        current = api.get("/swarm")
        flag = "rotateWorkerToken" if role == "worker" else "rotateManagerToken"
        api.post(
            "/swarm/update", current["Spec"], version=current["Version"]["Index"], **{flag: True}
        )
    token = api.get("/swarm")["JoinTokens"][role.capitalize()]
    if rotate and not quiet:
        typer.echo(f"Successfully rotated {role} join token.\n")
    if quiet:
        typer.echo(token)
        return
    print_join_command(api, str(api.get("/info").get("Swarm", {}).get("NodeID", "")), role)


def print_join_command(api: engine.EngineClient, node_id: str, role: str) -> None:
    """Docker's printJoinCommand: the role's token from /swarm and the address this manager
    has (its ManagerStatus.Addr), nothing on a node that is no manager."""
    addr = (api.get(path_of("nodes", node_id)).get("ManagerStatus") or {}).get("Addr")
    if not addr:
        return
    token = api.get("/swarm")["JoinTokens"][role.capitalize()]
    typer.echo(f"To add a {role} to this swarm, run the following command:\n")
    typer.echo(f"    swarmpy swarm join --token {token} {addr}\n")


@app.command("update", cls=AutolockCommand)
def update(
    cert_expiry: str | None = typer.Option(None, help=CERT_EXPIRY_HELP + " (default 2160h)"),
    dispatcher_heartbeat: str | None = typer.Option(None, help=HEARTBEAT_HELP + " (default 5s)"),
    task_history_limit: int | None = typer.Option(
        None, help="Task history retention limit (default 5)"
    ),
    autolock: bool | None = typer.Option(None, "--autolock/--no-autolock", help=AUTOLOCK_HELP),
) -> None:
    """Update the swarm."""
    if task_history_limit is not None:
        validate.check_history_limit(task_history_limit)
    api = engine.connect()
    # As docker's CLI: the spec read, the flags given changed in it, sent back with its version.
    swarm = api.get("/swarm")
    spec = swarm["Spec"]
    if cert_expiry is not None:
        spec.setdefault("CAConfig", {})["NodeCertExpiry"] = _nanos(duration(cert_expiry))
    if dispatcher_heartbeat is not None:
        # Checked here: the Engine API reads a zero duration as "unchanged", as Docker's.
        heartbeat_s = duration(dispatcher_heartbeat)
        validate.check_heartbeat_period(heartbeat_s)
        spec.setdefault("Dispatcher", {})["HeartbeatPeriod"] = _nanos(heartbeat_s)
    if task_history_limit is not None:
        spec.setdefault("Orchestration", {})["TaskHistoryRetentionLimit"] = task_history_limit
    encryption = spec.setdefault("EncryptionConfig", {})
    was_locked = bool(encryption.get("AutoLockManagers"))
    if autolock is not None:
        encryption["AutoLockManagers"] = autolock
    api.post("/swarm/update", spec, version=swarm["Version"]["Index"])
    typer.echo("Swarm updated.")
    if autolock and not was_locked:
        print_unlock_command(_unlock_key(api))


@app.command("unlock")
def unlock() -> None:
    """Unlock swarm."""
    api = engine.connect()
    # As docker's CLI: ask for the key only when the node is locked.
    state = (api.get("/info").get("Swarm") or {}).get("LocalNodeState", "")
    if state == "inactive":
        raise NotInSwarm("Error: This node is not part of a swarm")  # docker's words, all
    if state != "locked":
        raise Conflict("Error: swarm is not locked")
    if sys.stdin.isatty():
        import getpass

        key = getpass.getpass("Please enter unlock key: ")
    else:
        key = sys.stdin.readline().strip()
    api.post("/swarm/unlock", {"UnlockKey": key})


@app.command("unlock-key")
def unlock_key(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display token"),
    rotate: bool = typer.Option(False, help="Rotate unlock key"),
) -> None:
    """Manage the unlock key."""
    api = engine.connect()
    if rotate:
        swarm = api.get("/swarm")
        if not (swarm["Spec"].get("EncryptionConfig") or {}).get("AutoLockManagers"):
            raise Conflict("cannot rotate because autolock is not turned on")
        api.post(
            "/swarm/update",
            swarm["Spec"],
            version=swarm["Version"]["Index"],
            rotateManagerUnlockKey=True,
        )
        if not quiet:
            typer.echo("Successfully rotated manager unlock key.\n")
    key = _unlock_key(api)
    if not key:
        raise Conflict("no unlock key is set")
    if quiet:
        typer.echo(key)
        return
    print_unlock_command(key)


def _nanos(seconds: float) -> int:
    """A duration as the Engine API's JSON holds it (Go's time.Duration: nanoseconds)."""
    return round(seconds * 1_000_000_000)


def _pem_file(path: Path | None, flag: str) -> str:
    if path is None:
        return ""
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"cannot read {flag} {path}: {exc}") from None


def _trust_root(swarm: Mapping[str, Any]) -> str:
    """The root the swarm trusts, as /swarm shows it (Docker's displayTrustRoot)."""
    root = str((swarm.get("TLSInfo") or {}).get("TrustRoot") or "")
    if not root:
        raise InvalidArgument("no CA information available")
    return root.strip()


def progress_bar(current: int, total: int, units: str, width: int) -> str:
    """Docker's JSONProgress as its terminal display draws it: a 50-wide bar when the terminal
    is wider than 110 columns, then current/total units."""
    if current <= 0 and total <= 0:
        return ""
    filled = min(int(current / total * 100) // 2, 50) if total > 0 else 0
    bar = f"[{'=' * filled}>{' ' * (50 - filled)}] " if width > 110 else ""
    numbers = f"{current}/{total} {units}" if current <= total else f"{current} {units}"
    return bar + numbers


def rotation_progress(
    desired: Mapping[str, Any],
    nodes: Sequence[Mapping[str, Any]],
    in_progress: bool,
    terminal_width: int = 0,
) -> tuple[list[str], bool]:
    """Docker's view of a root rotation from /swarm's TLSInfo (``desired``: the root the swarm
    trusts, and the issuer certificates should come from, the new root's during a rotation)
    and /nodes: how many nodes hold a certificate from that issuer, and how many trust only
    that root (counted once the certificates are all there and the rotation has ended); and
    whether it is all done. With a ``terminal_width``, the lines Docker's CLI redraws on a
    terminal (its progress bars); without, one line per count, for a log or a pipe."""
    infos = [(n.get("Description") or {}).get("TLSInfo") or {} for n in nodes]
    total = len(infos)
    certs = sum(
        1
        for i in infos
        if i.get("CertIssuerSubject") == desired.get("CertIssuerSubject")
        and i.get("CertIssuerPublicKey") == desired.get("CertIssuerPublicKey")
    )
    roots = sum(1 for i in infos if i.get("TrustRoot") == desired.get("TrustRoot"))
    certs_done = certs == total and not in_progress
    trust_root = str(desired.get("TrustRoot") or "")
    digest = "sha256:" + hashlib.sha256(trust_root.encode()).hexdigest()
    roots_shown = roots if certs_done else 0
    done = certs_done and roots == total
    if terminal_width:
        # Docker's "<id>: <action> <progress>"; the CA line's action is one space, which lines
        # its bar up with the TLS line's.
        return [
            f"desired root digest: {digest} ",
            f"  rotated TLS certificates:  {progress_bar(certs, total, 'nodes', terminal_width)}",
            "  rotated CA certificates:   "
            + progress_bar(roots_shown, total, "nodes", terminal_width),
        ], done
    lines = [
        f"desired root digest: {digest}",
        f"  rotated TLS certificates: {certs}/{total} nodes",
        f"  rotated CA certificates:  {roots_shown}/{total} nodes",
    ]
    return lines, done


def _follow_rotation(api: engine.EngineClient, quiet: bool) -> None:
    """Poll /swarm and /nodes, as Docker's CLI does, until every node has rotated."""
    shown: list[str] = []
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() and not quiet else 0
    while True:
        swarm = api.get("/swarm")
        lines, done = rotation_progress(
            swarm.get("TLSInfo") or {},
            api.get("/nodes"),
            bool(swarm.get("RootRotationInProgress")),
            width,
        )
        if quiet:
            pass
        elif width:
            # Redrawn in place, as Docker's CLI draws its progress on a terminal.
            if shown:
                sys.stdout.write(f"\x1b[{len(shown)}F\x1b[J")
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()
        else:
            # No terminal to redraw on (a log, a pipe): only what changed, one line per step.
            for line in lines:
                if line not in shown:
                    typer.echo(line)
            sys.stdout.flush()
        shown = lines
        if done:
            return
        time.sleep(ROTATION_POLL_S)


@app.command("ca")
def ca_command(
    rotate: bool = typer.Option(
        False,
        help="Rotate the swarm CA - if no certificate or key are provided, new ones will be "
        "generated",
    ),
    ca_cert: Path | None = typer.Option(
        None, help="Path to the PEM-formatted root CA certificate to use for the new cluster"
    ),
    ca_key: Path | None = typer.Option(
        None, help="Path to the PEM-formatted root CA key to use for the new cluster"
    ),
    cert_expiry: str | None = typer.Option(None, help=CERT_EXPIRY_HELP + " (default 2160h)"),
    detach: bool = typer.Option(
        False,
        "--detach",
        "-d",
        help="Exit immediately instead of waiting for the root rotation to converge",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Suppress progress output"),
) -> None:
    """Display and rotate the root CA."""
    api = engine.connect()
    swarm = api.get("/swarm")
    if not rotate:
        for flag, value in (("ca-cert", ca_cert), ("ca-key", ca_key), ("cert-expiry", cert_expiry)):
            if value is not None:
                raise InvalidArgument(
                    f"`--{flag}` flag requires the `--rotate` flag to update the CA"
                )
        typer.echo(_trust_root(swarm))
        return
    if ca_cert is not None and ca_key is None:
        raise InvalidArgument(
            "the --ca-cert flag requires that a --ca-key flag be provided as well"
        )
    # As docker's CLI: the spec read, the CA settings given changed in it, sent back with its
    # version; without a root given, a raised ForceRotate has the managers make one.
    spec = swarm["Spec"]
    ca_config = spec.setdefault("CAConfig", {})
    if cert_expiry is not None:
        ca_config["NodeCertExpiry"] = _nanos(duration(cert_expiry))
    cert_pem, key_pem = _pem_file(ca_cert, "--ca-cert"), _pem_file(ca_key, "--ca-key")
    ca_config["SigningCACert"] = cert_pem
    ca_config["SigningCAKey"] = key_pem
    if not cert_pem and not key_pem:
        ca_config["ForceRotate"] = int(ca_config.get("ForceRotate") or 0) + 1
    api.post("/swarm/update", spec, version=swarm["Version"]["Index"])
    if detach:
        return
    try:
        _follow_rotation(api, quiet)
    except KeyboardInterrupt:
        # As Docker's CLI: the managers carry on, only the watching stops.
        typer.echo("Operation continuing in background.", err=True)
        typer.echo("Use `swarmpy node inspect` to check each node's TLSInfo.", err=True)
        raise typer.Exit(130) from None
    # As Docker's: --quiet prints nothing, not even the new root.
    if not quiet:
        typer.echo(_trust_root(api.get("/swarm")))


@app.command("leave")
def leave(
    force: bool = typer.Option(
        False, "--force", "-f", help="Force this node to leave the swarm, ignoring warnings"
    ),
) -> None:
    """Leave the swarm."""
    engine.connect().post("/swarm/leave", force=force)
    typer.echo("Node left the swarm.")
