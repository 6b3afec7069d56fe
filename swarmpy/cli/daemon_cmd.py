"""`swarmpy daemon`: the long-running node process, like dockerd."""

from __future__ import annotations

from pathlib import Path

import typer

from swarmpy.config import DEFAULT_DATA_ROOT, DEFAULT_HOST, DaemonConfig


def register(app: typer.Typer) -> None:
    @app.command("daemon")
    def daemon(
        data_root: Path = typer.Option(DEFAULT_DATA_ROOT, help="Root of all of the node's state."),
        host: str = typer.Option(DEFAULT_HOST, "--host", "-H", help="Socket the CLI connects to."),
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
        debug: bool = typer.Option(False, "--debug", "-D", help="Debug logging."),
    ) -> None:
        """Run the swarmpy daemon."""
        from swarmpy import daemon as daemon_mod

        config = DaemonConfig(
            data_root=data_root,
            host=host if host.startswith("unix://") else f"unix://{host}",
            listen_addr=listen_addr,
            advertise_addr=advertise_addr,
            insecure_registries=tuple(insecure_registry),
            registry_mirrors=tuple(registry_mirror),
            resolv_conf=resolv_conf,
            local_subnet=local_subnet,
            name_prefix=name_prefix,
        )
        daemon_mod.main(config, debug=debug)
