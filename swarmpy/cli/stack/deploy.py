"""`swarmpy stack deploy -c FILE [-c FILE...] [--prune] STACK`: docker/cli's stack deploy.

Everything that can be checked is checked before the first change: the files (YAML, schema,
variables, the files they name), the conversion to specs (by the daemon's own reading of a
ServiceSpec), the images' references, and the external networks, secrets and configs. Then, in
docker's order: prune, networks, secrets, configs, services.

A service already there is updated only when its spec changed (compared as the daemon reads
both), so redeploying an unchanged file changes nothing, and a changed one rolls only the
services it changed. The work is in deploy_composefile.py, imported when the command runs.
"""

from __future__ import annotations

import typer

# docker/cli's default --resolve-image.
RESOLVE_ALWAYS = "always"


def deploy(
    stack: str = typer.Argument(..., metavar="STACK"),
    compose_files: list[str] = typer.Option(
        [], "--compose-file", "-c", help='Path to a Compose file, or "-" to read from stdin'
    ),
    prune: bool = typer.Option(
        False, "--prune", help="Prune services that are no longer referenced"
    ),
    resolve_image: str = typer.Option(
        RESOLVE_ALWAYS,
        "--resolve-image",
        help='Query the registry to resolve image digest and supported platforms ("always"|'
        '"changed"|"never"); swarmpy never pins a digest, so all three deploy the tag',
    ),
    with_registry_auth: bool = typer.Option(
        False, "--with-registry-auth", help="Send registry authentication details to Swarm agents"
    ),
) -> None:
    """Deploy a new stack or update an existing stack."""
    from swarmpy.cli.stack import deploy_composefile

    # docker/cli's flag is a string slice: -c a.yml,b.yml names two files.
    files = [part for value in compose_files for part in value.split(",") if part]
    deploy_composefile.run(stack, files, prune, resolve_image, with_registry_auth)
