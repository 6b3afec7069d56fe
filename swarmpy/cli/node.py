"""`swarmpy node ...`: ls, inspect, update, rm."""

from __future__ import annotations

from typing import Any

import typer

from swarmpy import codec
from swarmpy.api import control_pb2, local_pb2
from swarmpy.cli import output, specflags
from swarmpy.cli.client import Client, run
from swarmpy.model import Node, NodeRole, NodeState

app = typer.Typer(no_args_is_help=True)

COLUMNS = [
    ("ID", "ID"),
    ("HOSTNAME", "Hostname"),
    ("STATUS", "Status"),
    ("AVAILABILITY", "Availability"),
    ("MANAGER STATUS", "ManagerStatus"),
    ("ENGINE VERSION", "EngineVersion"),
]


def manager_status(node: Node) -> str:
    if node.role != NodeRole.MANAGER or node.manager is None:
        return ""
    if node.manager.leader:
        return "Leader"
    return "Reachable" if node.manager.reachable else "Unreachable"


# docker's node formatter: the star marks this daemon's node in the table, not in the ID.
TABLE = (
    "table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t"
    "{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}"
)


def row(node: Node, self_id: str) -> dict[str, Any]:
    return {
        "ID": node.id,
        "Hostname": node.hostname,
        "Status": "Ready" if node.state == NodeState.READY else node.state.capitalize(),
        "Availability": node.availability.capitalize(),
        "ManagerStatus": manager_status(node),
        "EngineVersion": node.engine_version,
        "Self": node.id == self_id,
    }


def inspect_doc(node: Node) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "ID": node.id,
        "CreatedAt": output.iso(node.created_at),
        "UpdatedAt": output.iso(node.updated_at),
        "Spec": {
            "Labels": node.label_dict(),
            "Role": str(node.role),
            "Availability": str(node.availability),
        },
        "Description": {
            "Hostname": node.hostname,
            "Resources": {
                "NanoCPUs": node.resources.nano_cpus,
                "MemoryBytes": node.resources.memory_bytes,
            },
            "Engine": {"EngineVersion": node.engine_version},
            "TLSInfo": {
                "TrustRoot": node.tls_info.trust_root if node.tls_info else "",
                "CertIssuerSubject": node.tls_info.cert_issuer_subject if node.tls_info else "",
                "CertIssuerPublicKey": (
                    node.tls_info.cert_issuer_public_key if node.tls_info else ""
                ),
            },
        },
        "Status": {"State": str(node.state), "Message": node.message, "Addr": node.addr},
    }
    if node.manager is not None:
        doc["ManagerStatus"] = {
            "Leader": node.manager.leader,
            "Reachability": "reachable" if node.manager.reachable else "unreachable",
            "Addr": node.manager.api_addr,
        }
    return doc


async def _self_id(c: Client) -> str:
    info = await c.local.Info(local_pb2.InfoRequest())
    return str(info.node_id)


@app.command("ls")
def ls(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display IDs"),
    fmt: str = output.format_option(),
) -> None:
    """List nodes in the swarm."""

    async def call(c: Client) -> tuple[list[Node], str]:
        reply = await c.control.ListNodes(control_pb2.ListNodesRequest())
        return [codec.from_proto(Node, n) for n in reply.nodes], await _self_id(c)

    nodes, self_id = run(call)
    rows = [row(n, self_id) for n in nodes]
    output.emit(COLUMNS, rows, fmt, quiet, default=TABLE, headers={"Self": ""})


def _get(ref: str) -> Node:
    async def call(c: Client) -> Node:
        if ref == "self":
            target = await _self_id(c)
        else:
            target = ref
        return codec.from_proto(Node, await c.control.GetNode(control_pb2.GetRequest(ref=target)))

    return run(call)


@app.command("inspect")
def inspect(
    refs: list[str] = typer.Argument(..., metavar="self|NODE..."),
    pretty: bool = typer.Option(False, help="Print the information in a human friendly format"),
    fmt: str = output.inspect_format_option(),
) -> None:
    """Display detailed information on one or more nodes."""
    nodes = [_get(r) for r in refs]
    if not pretty and fmt != "pretty":
        output.print_inspect([inspect_doc(n) for n in nodes], fmt)
        return
    for n in nodes:
        typer.echo(f"ID:\t\t\t{n.id}")
        if n.labels:
            typer.echo("Labels:")
            for k, v in n.labels:
                typer.echo(f" - {k}={v}")
        typer.echo(f"Hostname:\t\t{n.hostname}")
        typer.echo(f"Joined at:\t\t{output.iso(n.created_at)}")
        typer.echo("Status:")
        typer.echo(f" State:\t\t\t{n.state.capitalize()}")
        typer.echo(f" Availability:\t\t{n.availability.capitalize()}")
        typer.echo(f" Address:\t\t{n.addr}")
        if n.manager is not None:
            typer.echo("Manager Status:")
            typer.echo(f" Address:\t\t{n.manager.api_addr}")
            typer.echo(f" Raft Status:\t\t{manager_status(n) or 'Reachable'}")
            typer.echo(f" Leader:\t\t{'Yes' if n.manager.leader else 'No'}")
        typer.echo("Platform:")
        typer.echo(" Operating System:\tlinux")
        typer.echo("Resources:")
        typer.echo(f" CPUs:\t\t\t{n.resources.nano_cpus // 1_000_000_000}")
        typer.echo(f" Memory:\t\t{output.size(n.resources.memory_bytes)}")
        typer.echo(f"Engine Version:\t\t{n.engine_version}")


@app.command("update")
def update(
    ref: str = typer.Argument(..., metavar="NODE"),
    availability: str = typer.Option(
        "", help='Availability of the node ("active", "pause", "drain")'
    ),
    label_add: list[str] = typer.Option([], help="Add or update a node label (key=value)"),
    label_rm: list[str] = typer.Option([], help="Remove a node label if exists"),
) -> None:
    """Update a node."""
    labels = dict(specflags.key_values(label_add, "label"))

    async def call(c: Client) -> None:
        await c.control.UpdateNode(
            control_pb2.UpdateNodeRequest(
                ref=ref, availability=availability, label_add=labels, label_rm=label_rm
            )
        )

    run(call)
    typer.echo(ref)


@app.command("rm")
def rm(
    refs: list[str] = typer.Argument(..., metavar="NODE..."),
    force: bool = typer.Option(False, "--force", "-f", help="Force remove a node from the swarm"),
) -> None:
    """Remove one or more nodes from the swarm."""

    async def call(c: Client) -> None:
        for ref in refs:
            await c.control.RemoveNode(control_pb2.RemoveRequest(ref=ref, force=force))
            typer.echo(ref)

    run(call)


def _set_role(refs: list[str], role: str, done: str) -> None:
    async def call(c: Client) -> None:
        for ref in refs:
            await c.control.UpdateNode(control_pb2.UpdateNodeRequest(ref=ref, role=role))
            typer.echo(done.format(ref=ref))

    run(call)


@app.command("promote")
def promote(refs: list[str] = typer.Argument(..., metavar="NODE...")) -> None:
    """Promote one or more nodes to manager in the swarm."""
    _set_role(refs, NodeRole.MANAGER, "Node {ref} promoted to a manager in the swarm.")


@app.command("demote")
def demote(refs: list[str] = typer.Argument(..., metavar="NODE...")) -> None:
    """Demote one or more nodes from manager in the swarm."""
    _set_role(refs, NodeRole.WORKER, "Manager {ref} demoted in the swarm.")
