"""`swarmpy network ...`: create, ls, inspect, rm, prune (swarm-scoped overlay networks).

create, rm and prune go through the Engine API; ls and inspect still ask the gRPC local API,
which knows what the Engine API does not show yet: a worker's local networks and the
containers attached to each."""

from __future__ import annotations

import json
from typing import Any

import typer

from swarmpy import codec
from swarmpy.api import control_pb2, local_pb2
from swarmpy.cli import engine, output, specflags
from swarmpy.cli.client import Client, run
from swarmpy.cli.engine import for_each, path_of
from swarmpy.model import MTU_OPTION, Network

app = typer.Typer(no_args_is_help=True)

VXLAN_OPTION = "com.docker.network.driver.overlay.vxlanid_list"


def inspect_doc(n: Network, local: dict[str, Any]) -> dict[str, Any]:
    return {
        "Name": n.name,
        "Id": n.id,
        "Created": output.iso(n.created_at),
        "Scope": "swarm",
        "Driver": n.driver,
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Options": None,
            "Config": [{"Subnet": n.subnet, "Gateway": n.gateway}],
        },
        "Internal": False,
        "Attachable": n.attachable,
        "Ingress": False,
        "Containers": {
            c.get("EndpointID", c.get("Name", "")): c
            for c in local.get(n.id, {}).get("Containers", [])
        },
        "Options": {VXLAN_OPTION: str(n.vni)} | ({MTU_OPTION: str(n.mtu)} if n.mtu else {}),
        "Labels": dict(n.labels),
    }


async def _local(c: Client) -> dict[str, Any]:
    reply = await c.local.LocalNetworks(local_pb2.InfoRequest())
    return dict(json.loads(reply.json))


@app.command("create")
def create(
    name: str = typer.Argument(..., metavar="NETWORK"),
    driver: str = typer.Option("overlay", "--driver", "-d", help="Driver to manage the Network"),
    subnet: str = typer.Option("", "--subnet", help="Subnet in CIDR format"),
    gateway: str = typer.Option("", "--gateway", help="IPv4 Gateway for the master subnet"),
    attachable: bool = typer.Option(
        False, "--attachable", help="Enable manual container attachment"
    ),
    label: list[str] = typer.Option([], "--label", help="Set metadata on a network"),
    opt: list[str] = typer.Option(
        [], "--opt", "-o", help=f"Set driver specific options ({MTU_OPTION}=N)"
    ),
) -> None:
    """Create a network."""
    body: dict[str, Any] = {
        "Name": name,
        "Driver": driver,
        "Attachable": attachable,
        "Labels": dict(specflags.key_values(label, "label")),
        "Options": dict(specflags.key_values(opt, "opt")),
    }
    if subnet or gateway:
        body["IPAM"] = {"Driver": "default", "Config": [{"Subnet": subnet, "Gateway": gateway}]}
    typer.echo(engine.connect().post("/networks/create", body)["Id"])


@app.command("ls")
def ls(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display network IDs"),
    fmt: str = output.format_option(),
) -> None:
    """List networks: the swarm's overlay networks that exist on this node, as docker shows.

    On a manager every swarm network is listed; on a worker only those a local task uses,
    since a network exists on a node only while a task on it runs there.
    """

    # A manager has the control API (as /info says): it lists the swarm's networks.
    is_manager = engine.connect().get("/info").get("Swarm", {}).get("ControlAvailable", False)

    async def call(c: Client) -> list[Network]:
        local = await _local(c)
        if is_manager:
            reply = await c.control.ListNetworks(control_pb2.Empty())
            return [codec.from_proto(Network, n) for n in reply.networks]
        return [Network(id=i, name=v["Name"]) for i, v in local.items()]

    rows = [
        {
            "ID": n.id[:12],
            "Name": n.name,
            "Driver": n.driver,
            "Scope": "swarm",
            "IPv4": "true",
            "IPv6": "false",
            "Internal": "false",
            "Labels": output.labels_text(dict(n.labels)),
            "CreatedAt": output.go_time(n.created_at),
            "_labels": dict(n.labels),
        }
        for n in run(call)
    ]
    output.emit(
        [("NETWORK ID", "ID"), ("NAME", "Name"), ("DRIVER", "Driver"), ("SCOPE", "Scope")],
        rows,
        fmt,
        quiet,
        headers={
            "IPv4": "IPV4",
            "IPv6": "IPV6",
            "Internal": "INTERNAL",
            "Labels": "LABELS",
            "CreatedAt": "CREATED AT",
        },
    )


@app.command("inspect")
def inspect(
    refs: list[str] = typer.Argument(..., metavar="NETWORK..."),
    fmt: str = output.inspect_format_option(),
) -> None:
    """Display detailed information on one or more networks."""

    async def call(c: Client) -> list[dict[str, Any]]:
        local = await _local(c)
        docs = []
        for ref in refs:
            reply = await c.control.GetNetwork(control_pb2.GetRequest(ref=ref))
            docs.append(inspect_doc(codec.from_proto(Network, reply), local))
        return docs

    output.print_inspect(run(call), fmt)


@app.command("rm")
def rm(refs: list[str] = typer.Argument(..., metavar="NETWORK...")) -> None:
    """Remove one or more networks."""
    api = engine.connect()

    def one(ref: str) -> None:
        api.delete(path_of("networks", ref))
        typer.echo(ref)

    for_each(refs, one)


@app.command("prune")
def prune(
    force: bool = typer.Option(False, "--force", "-f", help="Do not prompt for confirmation"),
) -> None:
    """Remove all networks no service uses."""
    if not force:
        typer.confirm(
            "WARNING! This will remove all custom networks not used by at least one service.\n"
            "Are you sure you want to continue?",
            abort=True,
        )
    removed = engine.connect().post("/networks/prune").get("NetworksDeleted") or []
    if removed:
        typer.echo("Deleted Networks:\n" + "\n".join(removed))
