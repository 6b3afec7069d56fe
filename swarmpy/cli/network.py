"""`swarmpy network ...`: create, ls, inspect, rm, prune, connect, disconnect, through the
Engine API as Docker's CLI: the node's local networks (bridge, host, none and user bridges,
``-d bridge``, the default) and the swarm's overlays (``-d overlay``). The daemon answers ls
and inspect from what the node has too: on a worker, the networks its tasks are on, with the
node's containers."""

from __future__ import annotations

from typing import Any

import typer

from swarmpy.cli import engine, opts, output
from swarmpy.cli.engine import for_each, no_such, path_of
from swarmpy.cli.task import natural_key
from swarmpy.errors import NotFound

# swarmpy.model.MTU_OPTION (Docker's option name), spelt out: `network ls` does not load the model.
MTU_OPTION = "com.docker.network.driver.mtu"
app = typer.Typer(no_args_is_help=True)

COLUMNS = [("NETWORK ID", "ID"), ("NAME", "Name"), ("DRIVER", "Driver"), ("SCOPE", "Scope")]


@app.command("create")
def create(
    name: str = typer.Argument(..., metavar="NETWORK"),
    driver: str = typer.Option("bridge", "--driver", "-d", help="Driver to manage the Network"),
    subnet: str = typer.Option("", "--subnet", help="Subnet in CIDR format"),
    gateway: str = typer.Option("", "--gateway", help="IPv4 Gateway for the master subnet"),
    attachable: bool = typer.Option(
        False, "--attachable", help="Enable manual container attachment"
    ),
    ingress: bool = typer.Option(False, "--ingress", help="Create swarm routing-mesh network"),
    internal: bool = typer.Option(
        False, "--internal", help="Restrict external access to the network"
    ),
    label: list[str] = typer.Option([], "--label", help="Set metadata on a network"),
    opt: list[str] = typer.Option(
        [], "--opt", "-o", help=f"Set driver specific options ({MTU_OPTION}=N)"
    ),
) -> None:
    """Create a network."""
    from swarmpy.cli import specflags

    body: dict[str, Any] = {
        "Name": name,
        "Driver": driver,
        "Attachable": attachable,
        "Ingress": ingress,
        "Internal": internal,
        "Labels": dict(specflags.key_values(label, "label")),
        "Options": dict(specflags.key_values(opt, "opt")),
    }
    if subnet or gateway:
        body["IPAM"] = {"Driver": "default", "Config": [{"Subnet": subnet, "Gateway": gateway}]}
    typer.echo(engine.connect().post("/networks/create", body)["Id"])


def row(network: dict[str, Any], trunc: bool) -> dict[str, Any]:
    """A network document (the Engine API's JSON) as docker's network formatter shows it."""
    labels = dict(network.get("Labels") or {})
    created = network.get("Created", "")
    return {
        "ID": network["Id"][:12] if trunc else network["Id"],
        "Name": network.get("Name", ""),
        "Driver": network.get("Driver", ""),
        "Scope": network.get("Scope", ""),
        "IPv4": "true",
        "IPv6": "true" if network.get("EnableIPv6") else "false",
        "Internal": "true" if network.get("Internal") else "false",
        "Labels": output.labels_text(labels),
        "CreatedAt": output.go_time(output.parse_iso(created)) if created else "",
        "_labels": labels,
    }


@app.command("ls")
def ls(
    filters: list[str] = opts.filter_option("Provide filter values (e.g. 'driver=overlay')"),
    fmt: str = output.format_option(),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Do not truncate the output"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display network IDs"),
) -> None:
    """List networks: on a manager the swarm's, on a worker those its tasks are on."""
    api = engine.connect()
    networks = api.get("/networks", filters=engine.filters_json(opts.parse_filter_flags(filters)))
    # As docker's CLI: by name, naturally.
    networks.sort(key=lambda n: natural_key(str(n.get("Name", ""))))
    output.emit(
        COLUMNS,
        [row(n, trunc=not no_trunc) for n in networks],
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
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Verbose output for diagnostics"),
) -> None:
    """Display detailed information on one or more networks."""
    api = engine.connect()
    docs, errors = [], []
    # As docker's CLI: every network found is shown, then each one that was not. --verbose:
    # a swarm network's Peers and Services (its VIPs and tasks' endpoints), from the daemon.
    query = {"verbose": True} if verbose else {}
    for ref in refs:
        try:
            docs.append(api.get(path_of("networks", ref), **query))
        except NotFound:
            errors.append(no_such("network", ref))
    output.print_inspect(docs, fmt)
    for line in errors:
        typer.echo(line, err=True)
    if errors:
        raise typer.Exit(1)


@app.command("rm")
def rm(refs: list[str] = typer.Argument(..., metavar="NETWORK...")) -> None:
    """Remove one or more networks."""
    api = engine.connect()

    def one(ref: str) -> None:
        api.delete(path_of("networks", ref))
        typer.echo(ref)

    for_each(refs, one, kind="network")


@app.command("connect")
def connect(
    network: str = typer.Argument(..., metavar="NETWORK"),
    container: str = typer.Argument(..., metavar="CONTAINER"),
    alias: list[str] = typer.Option(
        [], "--alias", help="Add network-scoped alias for the container"
    ),
    ip: str = typer.Option("", "--ip", help="IPv4 address (e.g., 172.30.100.104)"),
) -> None:
    """Connect a container to a network."""
    endpoint: dict[str, Any] = {"Aliases": alias}
    if ip:
        endpoint["IPAMConfig"] = {"IPv4Address": ip}
    body = {"Container": container, "EndpointConfig": endpoint}
    engine.connect().post(path_of("networks", network, "connect"), body)


@app.command("disconnect")
def disconnect(
    network: str = typer.Argument(..., metavar="NETWORK"),
    container: str = typer.Argument(..., metavar="CONTAINER"),
    force: bool = typer.Option(
        False, "--force", "-f", help="Force the container to disconnect from a network"
    ),
) -> None:
    """Disconnect a container from a network."""
    body = {"Container": container, "Force": force}
    engine.connect().post(path_of("networks", network, "disconnect"), body)


@app.command("prune")
def prune(
    force: bool = typer.Option(False, "--force", "-f", help="Do not prompt for confirmation"),
) -> None:
    """Remove all unused networks."""
    if not force:
        typer.confirm(
            "WARNING! This will remove all custom networks not used by at least one container.\n"
            "Are you sure you want to continue?",
            abort=True,
        )
    removed = engine.connect().post("/networks/prune").get("NetworksDeleted") or []
    if removed:
        typer.echo("Deleted Networks:\n" + "\n".join(removed))
