"""`swarmpy system prune`, and the prunes it is made of (docker's container, network,
volume and image RunPrune): the daemon removes, the CLI reports what went and the space
reclaimed, as docker's."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import typer

from swarmpy.cli import engine, opts, output
from swarmpy.cli.engine import EngineClient

Filters = Mapping[str, list[str]]

CONTAINER_WARNING = """WARNING! This will remove all stopped containers.
Are you sure you want to continue?"""
ALL_IMAGES_WARNING = """WARNING! This will remove all images without at least one \
container associated to them.
Are you sure you want to continue?"""
DANGLING_WARNING = """WARNING! This will remove all dangling images.
Are you sure you want to continue?"""


def prune_containers(api: EngineClient, filters: Filters) -> tuple[int, str]:
    report = api.post("/containers/prune", filters=engine.filters_json(filters))
    deleted = report.get("ContainersDeleted") or []
    if not deleted:
        return 0, ""
    return int(report.get("SpaceReclaimed") or 0), "Deleted Containers:\n" + "".join(
        f"{d}\n" for d in deleted
    )


def prune_networks(api: EngineClient, filters: Filters) -> tuple[int, str]:
    report = api.post("/networks/prune", filters=engine.filters_json(filters))
    deleted = report.get("NetworksDeleted") or []
    return 0, "Deleted Networks:\n" + "".join(f"{d}\n" for d in deleted) if deleted else ""


def prune_volumes(api: EngineClient, filters: Filters) -> tuple[int, str]:
    report = api.post("/volumes/prune", filters=engine.filters_json(filters))
    deleted = report.get("VolumesDeleted") or []
    if not deleted:
        return 0, ""
    return int(report.get("SpaceReclaimed") or 0), "Deleted Volumes:\n" + "".join(
        f"{d}\n" for d in deleted
    )


def image_lines(deleted: Sequence[Mapping[str, str]]) -> str:
    return "Deleted Images:\n" + "".join(
        f"untagged: {d['Untagged']}\n" if d.get("Untagged") else f"deleted: {d.get('Deleted')}\n"
        for d in deleted
    )


def prune_images(api: EngineClient, all_: bool, filters: Filters) -> tuple[int, str]:
    wanted = {**filters, "dangling": ["false" if all_ else "true"]}
    report = api.post("/images/prune", filters=engine.filters_json(wanted))
    deleted = report.get("ImagesDeleted") or []
    if not deleted:
        return 0, ""
    return int(report.get("SpaceReclaimed") or 0), image_lines(deleted)


def confirmation(all_: bool, volumes: bool, filters: Filters) -> str:
    """docker's system prune confirmation message (build cache included: swarmpy has none
    to remove, and docker names it at API 1.41)."""
    warnings = [
        "all stopped containers",
        "all networks not used by at least one container",
    ]
    if volumes:
        warnings.append("all volumes not used by at least one container")
    if all_:
        warnings += ["all images without at least one container associated to them"]
        warnings += ["all build cache"]
    else:
        warnings += ["all dangling images", "all dangling build cache"]
    shown = sorted(
        (
            f"{name}={value}"
            for name in ("label", "label!", "until")
            for value in filters.get(name, [])
        ),
        key=_natural,
    )
    text = "WARNING! This will remove:\n" + "".join(f"  - {w}\n" for w in warnings)
    if shown:
        text += "\n  Items to be pruned will be filtered with:\n"
        text += "".join(f"  - {f}\n" for f in shown)
    return text + "\nAre you sure you want to continue?"


def _natural(text: str) -> list[Any]:
    from swarmpy.cli.task import natural_key

    return natural_key(text)


def report_total(space: int) -> None:
    typer.echo(f"Total reclaimed space: {output.human_size(space)}")


def prune(
    all_: bool = typer.Option(
        False, "--all", "-a", help="Remove all unused images not just dangling ones"
    ),
    filters: list[str] = opts.filter_option(
        "Provide filter values (e.g. 'label=<key>=<value>')", short=False
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Do not prompt for confirmation"),
    volumes: bool = typer.Option(False, "--volumes", help="Prune volumes"),
) -> None:
    """Remove unused data."""
    wanted = opts.parse_filter_flags(filters)
    if volumes and "until" in wanted:
        engine.fail(['ERROR: The "until" filter is not supported with "--volumes"'])
    if not force and not output.confirm(confirmation(all_, volumes, wanted)):
        return
    api = engine.connect()
    steps: list[Callable[[], tuple[int, str]]] = [
        functools.partial(prune_containers, api, wanted),
        functools.partial(prune_networks, api, wanted),
    ]
    if volumes:
        steps.append(functools.partial(prune_volumes, api, wanted))
    steps.append(functools.partial(prune_images, api, all_, wanted))
    total = 0
    for step in steps:  # each step's report printed before the next runs, as docker's
        space, text = step()
        total += space
        if text:
            typer.echo(text)
    report_total(total)


def container_prune(
    filters: list[str] = opts.filter_option(
        "Provide filter values (e.g. 'until=<timestamp>')", short=False
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Do not prompt for confirmation"),
) -> None:
    """Remove all stopped containers."""
    wanted = opts.parse_filter_flags(filters)
    # Declined, docker's still reports the (no) space reclaimed.
    space, text = 0, ""
    if force or output.confirm(CONTAINER_WARNING):
        space, text = prune_containers(engine.connect(), wanted)
    if text:
        typer.echo(text)
    report_total(space)


def image_prune(
    all_: bool = typer.Option(
        False, "--all", "-a", help="Remove all unused images, not just dangling ones"
    ),
    filters: list[str] = opts.filter_option(
        "Provide filter values (e.g. 'until=<timestamp>')", short=False
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Do not prompt for confirmation"),
) -> None:
    """Remove unused images."""
    wanted = opts.parse_filter_flags(filters)
    space, text = 0, ""
    if force or output.confirm(ALL_IMAGES_WARNING if all_ else DANGLING_WARNING):
        space, text = prune_images(engine.connect(), all_, wanted)
    if text:
        typer.echo(text)
    report_total(space)
