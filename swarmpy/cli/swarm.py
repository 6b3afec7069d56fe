"""`swarmpy swarm ...`: init, join, join-token, leave."""

from __future__ import annotations

import typer

from swarmpy.api import control_pb2, local_pb2
from swarmpy.cli.client import Client, run
from swarmpy.errors import InvalidArgument
from swarmpy.protocol import DEFAULT_HEARTBEAT_PERIOD_S

app = typer.Typer(no_args_is_help=True)


@app.command("init")
def init(
    advertise_addr: str = typer.Option("", help="Advertised address (format: <ip>[:port])"),
    listen_addr: str = typer.Option("", help="Listen address (format: <ip|interface>[:port])"),
    force_new_cluster: bool = typer.Option(
        False, help="Force create a new cluster from current state"
    ),
    dispatcher_heartbeat: float = typer.Option(
        DEFAULT_HEARTBEAT_PERIOD_S, help="Dispatcher heartbeat period (seconds)"
    ),
    task_history_limit: int = typer.Option(5, help="Task history retention limit"),
) -> None:
    """Initialize a swarm."""

    async def call(c: Client) -> local_pb2.SwarmInitResponse:
        return await c.local.SwarmInit(
            local_pb2.SwarmInitRequest(
                advertise_addr=advertise_addr,
                listen_addr=listen_addr,
                force_new_cluster=force_new_cluster,
                heartbeat_period_s=dispatcher_heartbeat,
                task_history_limit=task_history_limit,
            )
        )

    reply = run(call)
    typer.echo(f"Swarm initialized: current node ({reply.node_id}) is now a manager.\n")
    typer.echo("To add a worker to this swarm, run the following command:\n")
    typer.echo(f"    swarmpy swarm join --token {reply.worker_token} {reply.manager_addr}\n")
    typer.echo(
        "To add a manager to this swarm, run 'swarmpy swarm join-token manager' "
        "and follow the instructions.\n"
    )


@app.command("join")
def join(
    remote: str = typer.Argument(..., metavar="HOST:PORT"),
    token: str = typer.Option(..., help="Token for entry into the swarm"),
    advertise_addr: str = typer.Option("", help="Advertised address (format: <ip>[:port])"),
    listen_addr: str = typer.Option("", help="Listen address (format: <ip|interface>[:port])"),
) -> None:
    """Join a swarm as a node and/or manager."""

    async def call(c: Client) -> local_pb2.SwarmJoinResponse:
        return await c.local.SwarmJoin(
            local_pb2.SwarmJoinRequest(
                token=token,
                remote_addr=remote,
                advertise_addr=advertise_addr,
                listen_addr=listen_addr,
            )
        )

    reply = run(call)
    if reply.role == "manager":
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

    async def call(c: Client) -> control_pb2.ClusterInfo:
        if rotate:
            return await c.control.RotateJoinToken(control_pb2.RotateJoinTokenRequest(role=role))
        return await c.control.GetCluster(control_pb2.Empty())

    info = run(call)
    token = info.worker_token if role == "worker" else info.manager_token
    if rotate and not quiet:
        typer.echo(f"Successfully rotated {role} join token.\n")
    if quiet:
        typer.echo(token)
        return
    addr = info.manager_addrs[0] if info.manager_addrs else "<manager-ip>:2377"
    typer.echo(f"To add a {role} to this swarm, run the following command:\n")
    typer.echo(f"    swarmpy swarm join --token {token} {addr}\n")


@app.command("leave")
def leave(
    force: bool = typer.Option(
        False, "--force", "-f", help="Force this node to leave the swarm, ignoring warnings"
    ),
) -> None:
    """Leave the swarm."""

    async def call(c: Client) -> None:
        await c.local.SwarmLeave(local_pb2.SwarmLeaveRequest(force=force))

    run(call)
    typer.echo("Node left the swarm.")
