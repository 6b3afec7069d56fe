"""`swarmpy daemon`: the long-running node process, like dockerd."""

from __future__ import annotations

from pathlib import Path

import typer

from swarmpy import genericresource
from swarmpy.cli import daemonjson
from swarmpy.cli.daemonjson import DEFAULT_CONFIG_FILE
from swarmpy.config import DEFAULT_DATA_ROOT, DEFAULT_HOST, DEFAULT_SOCKET_GROUP, DaemonConfig
from swarmpy.errors import InvalidArgument


def register(app: typer.Typer) -> None:
    @app.command("daemon")
    def daemon(
        ctx: typer.Context,
        data_root: Path = typer.Option(DEFAULT_DATA_ROOT, help="Root of all of the node's state."),
        host: list[str] = typer.Option(
            [DEFAULT_HOST],
            "--host",
            "-H",
            help="Where the Docker Engine API listens (as dockerd's -H, repeatable): "
            "unix:///path or tcp://addr:port.",
        ),
        group: str = typer.Option(
            DEFAULT_SOCKET_GROUP,
            "--group",
            "-G",
            help="Group that may use the socket (0660); root's only (0600) if it does not exist.",
        ),
        listen_addr: str = typer.Option("", help="Default listen address for swarm init/join."),
        advertise_addr: str = typer.Option("", help="Default advertise address."),
        insecure_registry: list[str] = typer.Option(
            [], help="Registry host:port spoken over http."
        ),
        registry_mirror: list[str] = typer.Option([], help="Mirror URL tried first for docker.io."),
        resolv_conf: Path = typer.Option(
            Path("/etc/resolv.conf"), help="Upstream resolvers for the embedded DNS."
        ),
        local_subnet: str = typer.Option("172.18.0.0/16", help="Subnet of the node-local bridge."),
        name_prefix: str = typer.Option(
            "sp", help="Prefix of the kernel objects this daemon makes (unique per daemon)."
        ),
        tlsverify: bool = typer.Option(
            False, "--tlsverify", help="Engine API on TCP: TLS, and require client certificates."
        ),
        tlscacert: Path | None = typer.Option(
            None, help="CA that signs the clients' certificates."
        ),
        tlscert: Path | None = typer.Option(None, help="The Engine API's TLS certificate."),
        tlskey: Path | None = typer.Option(None, help="The Engine API's TLS key."),
        api_insecure_tcp: bool = typer.Option(
            False,
            "--api-insecure-tcp",
            help="Allow the Engine API on TCP without TLS: root for anyone who reaches the port.",
        ),
        node_generic_resource: list[str] = typer.Option(
            [],
            "--node-generic-resource",
            help="Advertise user-defined resource (as dockerd's: gpu=UUID1, SSD=3; repeatable).",
        ),
        debug: bool = typer.Option(False, "--debug", "-D", help="Debug logging."),
        config_file: Path | None = typer.Option(
            None,
            "--config-file",
            help=f"Daemon configuration file, as dockerd's daemon.json "
            f"(default {DEFAULT_CONFIG_FILE})",
        ),
    ) -> None:
        """Run the swarmpy daemon."""
        from swarmpy import daemon as daemon_mod

        # dockerd's daemon.json: its settings for the flags not given on the command line.
        path = config_file or DEFAULT_CONFIG_FILE
        settings = daemonjson.read(path, required=config_file is not None)
        if settings:
            flags = {param: ctx.params[param] for param, _, _ in daemonjson.KEYS.values()}
            given = {p for p in flags if _from_command_line(ctx, p)}
            merged = daemonjson.merge(path, settings, flags, given)
            data_root, host, group = Path(merged["data_root"]), merged["host"], merged["group"]
            insecure_registry = merged["insecure_registry"]
            registry_mirror = merged["registry_mirror"]
            tlsverify, debug = merged["tlsverify"], merged["debug"]
            tlscacert, tlscert, tlskey = (
                None if merged[p] is None else Path(merged[p])
                for p in ("tlscacert", "tlscert", "tlskey")
            )
            node_generic_resource = merged["node_generic_resource"]

        # As dockerd: a malformed resource stops the daemon before it starts, in the words
        # of its flag parser or of its file validation.
        if "node-generic-resources" in settings:
            try:
                genericresource.parse(node_generic_resource)
            except InvalidArgument as e:
                raise InvalidArgument(f"configuration validation from file failed: {e}") from None
        else:
            for term in node_generic_resource:
                try:
                    genericresource.check_term(term, "node-generic-resource")
                except InvalidArgument as e:
                    raise InvalidArgument(
                        f'invalid argument "{term}" for "--node-generic-resource" flag: {e}'
                    ) from None
            genericresource.parse(node_generic_resource)

        config = DaemonConfig(
            data_root=data_root,
            # A bare path is a unix socket, as dockerd reads it.
            hosts=tuple(h if "://" in h else f"unix://{h}" for h in host),
            socket_group=group,
            listen_addr=listen_addr,
            advertise_addr=advertise_addr,
            insecure_registries=tuple(insecure_registry),
            registry_mirrors=tuple(registry_mirror),
            resolv_conf=resolv_conf,
            local_subnet=local_subnet,
            name_prefix=name_prefix,
            tls_verify=tlsverify,
            tls_ca=tlscacert,
            tls_cert=tlscert,
            tls_key=tlskey,
            api_insecure_tcp=api_insecure_tcp,
            node_generic_resources=tuple(node_generic_resource),
        )
        daemon_mod.main(config, debug=debug)


def _from_command_line(ctx: typer.Context, param: str) -> bool:
    """Whether the parameter was given as a flag (not left at its default)."""
    source = ctx.get_parameter_source(param)
    return source is not None and source.name == "COMMANDLINE"
