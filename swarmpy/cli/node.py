"""`swarmpy node ...`: ls, inspect, ps, update, rm, promote, demote."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from swarmpy import humanize
from swarmpy.cli import engine, opts, output
from swarmpy.cli.engine import EngineClient, for_each, path_of
from swarmpy.errors import InvalidArgument, NotFound, SwarmpyError

app = typer.Typer(no_args_is_help=True)

AVAILABILITIES = ("active", "pause", "drain")

COLUMNS = [
    ("ID", "ID"),
    ("HOSTNAME", "Hostname"),
    ("STATUS", "Status"),
    ("AVAILABILITY", "Availability"),
    ("MANAGER STATUS", "ManagerStatus"),
    ("ENGINE VERSION", "EngineVersion"),
]

# docker's node formatter: the star marks this daemon's node in the table, not in the ID.
TABLE = (
    "table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t"
    "{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}"
)


def table_cells(row: Mapping[str, Any]) -> list[str]:
    """TABLE's cells for a row (or the header row): the listing without the evaluator."""
    mark = "*" if row.get("Self") else " "
    keys = ("Hostname", "Status", "Availability", "ManagerStatus", "EngineVersion")
    return [f"{row['ID']} {mark}", *(str(row[key]) for key in keys)]


def _pretty(word: str) -> str:
    """docker's command.PrettyPrint: the first letter upper-cased."""
    return word[:1].upper() + word[1:]


def manager_status(node: dict[str, Any]) -> str:
    """The MANAGER STATUS column of a Node document: Leader, Reachable, Unreachable or ""."""
    status = node.get("ManagerStatus")
    if not status:
        return ""
    if status.get("Leader"):
        return "Leader"
    return _pretty(str(status.get("Reachability", "")))


def row(node: dict[str, Any], self_id: str) -> dict[str, Any]:
    """A Node document (the Engine API's JSON) as docker's node formatter shows it."""
    description = node.get("Description", {})
    return {
        "ID": node["ID"],
        "Hostname": description.get("Hostname", ""),
        "Status": _pretty(node.get("Status", {}).get("State", "")),
        "Availability": _pretty(node.get("Spec", {}).get("Availability", "")),
        "ManagerStatus": manager_status(node),
        "EngineVersion": description.get("Engine", {}).get("EngineVersion", ""),
        "Self": node["ID"] == self_id,
    }


def self_id(api: EngineClient) -> str:
    """This daemon's node id ("" outside a swarm), as docker reads it: /info's Swarm.NodeID."""
    return str(api.get("/info").get("Swarm", {}).get("NodeID", ""))


@app.command("ls")
def ls(
    filters: list[str] = opts.filter_option(),
    fmt: str = output.format_option(),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display IDs"),
) -> None:
    """List nodes in the swarm."""
    api = engine.connect()
    nodes = api.get("/nodes", filters=engine.filters_json(opts.parse_filter_flags(filters)))
    me = self_id(api)
    rows = [row(n, me) for n in nodes]
    output.emit(
        COLUMNS, rows, fmt, quiet, default=TABLE, headers={"Self": ""}, default_cells=table_cells
    )


def get(api: EngineClient, ref: str) -> dict[str, Any]:
    """The Node document of ``ref`` (an id, id prefix, hostname, or "self")."""
    target = self_id(api) if ref == "self" else ref
    doc: dict[str, Any] = api.get(path_of("nodes", target))
    return doc


def print_pretty(node: dict[str, Any]) -> None:
    """docker's nodeInspectPrettyTemplate (cli/command/node/formatter.go), line for line."""
    spec, description = node.get("Spec", {}), node.get("Description", {})
    status, manager = node.get("Status", {}), node.get("ManagerStatus")
    resources = description.get("Resources", {})
    platform = description.get("Platform", {})
    typer.echo(f"ID:\t\t\t{node['ID']}")
    if spec.get("Name"):
        typer.echo(f"Name:\t\t\t{spec['Name']}")
    if spec.get("Labels"):
        typer.echo("Labels:")
        for k, v in sorted(spec["Labels"].items()):
            typer.echo(f" - {k}={v}" if v else f" - {k}")
    joined = output.go_time(output.parse_iso(node.get("CreatedAt", "")))
    typer.echo(f"Hostname:              \t{description.get('Hostname', '')}")
    typer.echo(f"Joined at:             \t{output.pretty_print(joined)}")
    typer.echo("Status:")
    typer.echo(f" State:\t\t\t{output.pretty_print(status.get('State', ''))}")
    if status.get("Message"):
        typer.echo(f" Message:              \t{output.pretty_print(status['Message'])}")
    typer.echo(f" Availability:         \t{output.pretty_print(spec.get('Availability', ''))}")
    if status.get("Addr"):
        typer.echo(f" Address:\t\t{status['Addr']}")
    if manager:
        typer.echo("Manager Status:")
        typer.echo(f" Address:\t\t{manager.get('Addr', '')}")
        typer.echo(f" Raft Status:\t\t{output.pretty_print(manager.get('Reachability', ''))}")
        typer.echo(f" Leader:\t\t{'Yes' if manager.get('Leader') else 'No'}")
    typer.echo("Platform:")
    typer.echo(f" Operating System:\t{platform.get('OS', '')}")
    typer.echo(f" Architecture:\t\t{platform.get('Architecture', '')}")
    typer.echo("Resources:")
    typer.echo(f" CPUs:\t\t\t{int(resources.get('NanoCPUs', 0)) // 1_000_000_000}")
    memory = int(resources.get("MemoryBytes", 0))
    typer.echo(f" Memory:\t\t{humanize.bytes_size(memory) if memory else ''}")
    plugins: dict[str, list[str]] = {}
    for plugin in description.get("Engine", {}).get("Plugins") or []:
        plugins.setdefault(plugin["Type"], []).append(plugin["Name"])
    if plugins:
        typer.echo("Plugins:")
        for kind, names in sorted(plugins.items()):
            typer.echo(f" {kind}:\t\t{', '.join(names)}")
    typer.echo(f"Engine Version:\t\t{description.get('Engine', {}).get('EngineVersion', '')}")
    tls = description.get("TLSInfo") or {}
    if any(tls.values()):
        typer.echo(f"TLS Info:\n TrustRoot:\n{tls.get('TrustRoot', '')}")
        typer.echo(f" Issuer Subject:\t{tls.get('CertIssuerSubject', '')}")
        typer.echo(f" Issuer Public Key:\t{tls.get('CertIssuerPublicKey', '')}")


@app.command("inspect")
def inspect(
    refs: list[str] = typer.Argument(..., metavar="self|NODE..."),
    pretty: bool = typer.Option(False, help="Print the information in a human friendly format"),
    fmt: str = output.inspect_format_option(),
) -> None:
    """Display detailed information on one or more nodes."""
    api = engine.connect()
    nodes = [get(api, r) for r in refs]
    if not pretty and fmt != "pretty":
        output.print_inspect(nodes, fmt)
        return
    for n in nodes:
        print_pretty(n)


def update_spec(api: EngineClient, ref: str, change: dict[str, Any]) -> None:
    """Docker's node update: read the node, change its spec, send it back with the version
    read (a node changed in between is refused: "update out of sequence")."""
    node = get(api, ref)
    spec = dict(node.get("Spec", {}))
    labels = dict(spec.get("Labels") or {})
    for key in change.get("label_rm", ()):
        if key not in labels:  # docker's CLI refuses it, before sending anything
            raise NotFound(f"key {key} doesn't exist in node's labels")
        del labels[key]
    labels.update(change.get("label_add", {}))
    spec["Labels"] = labels
    for key in ("Availability", "Role"):
        if change.get(key):
            spec[key] = change[key]
    api.post(
        path_of("nodes", node["ID"], "update"),
        spec,
        version=node.get("Version", {}).get("Index", 0),
    )


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
    from swarmpy.cli import specflags

    labels = dict(specflags.key_values(label_add, "label"))
    # As docker's CLI: any case, checked before anything is sent.
    availability = availability.lower()
    if availability and availability not in AVAILABILITIES:
        raise InvalidArgument(
            f"invalid availability {availability!r}: expected active, pause or drain"
        )
    change = {"Availability": availability, "label_add": labels, "label_rm": label_rm}
    update_spec(engine.connect(), ref, change)
    typer.echo(ref)


@app.command("rm")
def rm(
    refs: list[str] = typer.Argument(..., metavar="NODE..."),
    force: bool = typer.Option(False, "--force", "-f", help="Force remove a node from the swarm"),
) -> None:
    """Remove one or more nodes from the swarm."""
    api = engine.connect()

    def one(ref: str) -> None:
        api.delete(path_of("nodes", ref), force=force)
        typer.echo(ref)

    for_each(refs, one, kind="node")


def _set_role(refs: list[str], role: str, done: str) -> None:
    api = engine.connect()

    def one(ref: str) -> None:
        update_spec(api, ref, {"Role": role})
        typer.echo(done.format(ref=ref))

    for_each(refs, one)


@app.command("promote")
def promote(refs: list[str] = typer.Argument(..., metavar="NODE...")) -> None:
    """Promote one or more nodes to manager in the swarm."""
    _set_role(refs, "manager", "Node {ref} promoted to a manager in the swarm.")


@app.command("demote")
def demote(refs: list[str] = typer.Argument(..., metavar="NODE...")) -> None:
    """Demote one or more nodes from manager in the swarm."""
    _set_role(refs, "worker", "Manager {ref} demoted in the swarm.")


@app.command("ps")
def ps(
    refs: list[str] = typer.Argument(None, metavar="[NODE...]"),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Do not truncate output"),
    no_resolve: bool = typer.Option(False, "--no-resolve", help="Do not map IDs to Names"),
    filters: list[str] = opts.filter_option(),
    fmt: str = typer.Option("", "--format", help="Pretty-print tasks using a Go template"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display task IDs"),
) -> None:
    """List tasks running on one or more nodes, defaults to current node."""
    from swarmpy.cli import task

    api = engine.connect()
    wanted = opts.parse_filter_flags(filters)
    errors: list[str] = []
    tasks: list[dict[str, Any]] = []
    # As docker's runPs: each node's tasks; a node that fails is reported after the rest.
    # docker adds each node to one filter it reuses, so a later node's query lists the
    # earlier nodes' tasks again (`node ps self other` shows self's twice): kept, to print
    # what docker prints.
    for ref in refs or ["self"]:
        try:
            node_id = get(api, ref)["ID"]
            wanted["node"] = [*wanted.get("node", []), node_id]
            tasks.extend(api.get("/tasks", filters=engine.filters_json(wanted)))
        except NotFound:
            # docker's client words a missing node itself, without the daemon's prefix.
            errors.append(engine.no_such("node", ref))
        except SwarmpyError as exc:
            errors.append(engine.error_line(exc))
    if not errors or tasks:
        task.emit(api, tasks, fmt, quiet, trunc=not no_trunc, no_resolve=no_resolve)
    if errors:
        engine.fail(errors)
