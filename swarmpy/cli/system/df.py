"""`swarmpy system df`: the daemon's /system/df as docker's disk usage formatter shows it
(cli/command/formatter/disk_usage.go): a line per kind of object, or with -v a table of
each image, container and volume."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import typer

from swarmpy.cli import engine, gotemplate, output
from swarmpy.cli.container import ps_row
from swarmpy.cli.image import NONE, short_id, split_tag

SUMMARY_COLUMNS = [
    ("TYPE", "Type"),
    ("TOTAL", "TotalCount"),
    ("ACTIVE", "Active"),
    ("SIZE", "Size"),
    ("RECLAIMABLE", "Reclaimable"),
]
IMAGE_COLUMNS = [
    ("REPOSITORY", "Repository"),
    ("TAG", "Tag"),
    ("IMAGE ID", "ID"),
    ("CREATED", "CreatedSince"),
    ("SIZE", "VirtualSize"),
    ("SHARED SIZE", "SharedSize"),
    ("UNIQUE SIZE", "UniqueSize"),
    ("CONTAINERS", "Containers"),
]
CONTAINER_COLUMNS = [
    ("CONTAINER ID", "ID"),
    ("IMAGE", "Image"),
    ("COMMAND", "Command"),
    ("LOCAL VOLUMES", "LocalVolumes"),
    ("SIZE", "Size"),
    ("CREATED", "RunningFor"),
    ("STATUS", "Status"),
    ("NAMES", "Names"),
]
VOLUME_COLUMNS = [("VOLUME NAME", "Name"), ("LINKS", "Links"), ("SIZE", "Size")]
BUILD_CACHE_COLUMNS = [
    ("CACHE ID", "ID"),
    ("CACHE TYPE", "CacheType"),
    ("SIZE", "Size"),
    ("CREATED", "CreatedSince"),
    ("LAST USED", "LastUsedSince"),
    ("USAGE", "UsageCount"),
    ("SHARED", "Shared"),
]
RAW_SUMMARY = (
    "type: {{.Type}}\ntotal: {{.TotalCount}}\nactive: {{.Active}}\nsize: {{.Size}}\n"
    "reclaimable: {{.Reclaimable}}\n"
)
ACTIVE_STATES = ("running", "paused", "restarting")


def _reclaimable(reclaimable: int, total: int) -> str:
    if total > 0:
        return f"{output.human_size(reclaimable)} ({reclaimable * 100 // total}%)"
    return output.human_size(reclaimable)


def _active(container: Mapping[str, Any]) -> bool:
    state = str(container.get("State", ""))
    return any(s in state for s in ACTIVE_STATES)


def summary_rows(du: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The four lines of docker system df: Images, Containers, Local Volumes, Build Cache."""
    images = du.get("Images") or []
    containers = du.get("Containers") or []
    volumes = du.get("Volumes") or []
    cache = du.get("BuildCache") or []
    total = int(du.get("LayersSize") or 0)
    used = sum(
        int(i.get("VirtualSize", 0)) - int(i.get("SharedSize", 0))
        for i in images
        if i.get("Containers") and i.get("VirtualSize", 0) != -1 and i.get("SharedSize", 0) != -1
    )
    rw = [int(c.get("SizeRw") or 0) for c in containers]
    stopped_rw = sum(int(c.get("SizeRw") or 0) for c in containers if not _active(c))
    usage = [v.get("UsageData") or {} for v in volumes]
    sized = [u for u in usage if int(u.get("Size", -1)) != -1]
    volume_total = sum(int(u["Size"]) for u in sized)
    volume_free = sum(int(u["Size"]) for u in sized if not int(u.get("RefCount", 0)))
    cache_size = sum(int(c.get("Size") or 0) for c in cache if not c.get("Shared"))
    cache_free = sum(int(c.get("Size") or 0) for c in cache if not c.get("InUse"))
    return [
        {
            "Type": "Images",
            "TotalCount": str(len(images)),
            "Active": str(sum(1 for i in images if int(i.get("Containers", 0)) > 0)),
            "Size": output.human_size(total),
            "Reclaimable": _reclaimable(total - used, total),
        },
        {
            "Type": "Containers",
            "TotalCount": str(len(containers)),
            "Active": str(sum(1 for c in containers if _active(c))),
            "Size": output.human_size(sum(rw)),
            "Reclaimable": _reclaimable(stopped_rw, sum(rw)),
        },
        {
            "Type": "Local Volumes",
            "TotalCount": str(len(volumes)),
            "Active": str(sum(1 for u in usage if int(u.get("RefCount", 0)) > 0)),
            "Size": output.human_size(volume_total),
            "Reclaimable": _reclaimable(volume_free, volume_total),
        },
        {
            "Type": "Build Cache",
            "TotalCount": str(len(cache)),
            "Active": str(sum(1 for c in cache if c.get("InUse"))),
            "Size": output.human_size(cache_size),
            "Reclaimable": output.human_size(cache_free),
        },
    ]


def image_row(image: Mapping[str, Any], trunc: bool) -> dict[str, Any]:
    """An image of docker system df -v: its first tag, its sizes, its containers."""
    tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
    repo, tag = split_tag(str(tags[0])) if tags else (NONE, NONE)
    if tag == NONE:
        repo = NONE
    size, shared = int(image.get("VirtualSize", 0)), int(image.get("SharedSize", 0))
    containers = int(image.get("Containers", 0))
    return {
        "Repository": repo,
        "Tag": tag,
        "ID": short_id(str(image.get("Id", "")), trunc),
        "CreatedSince": output.ago(float(image.get("Created") or 0)),
        # docker's image formatter: these three in HumanSize's 4 digits (SIZE of image ls: 3).
        "VirtualSize": output.human_size(size),
        "SharedSize": "N/A" if shared == -1 else output.human_size(shared),
        "UniqueSize": "N/A" if -1 in (size, shared) else output.human_size(size - shared),
        "Containers": "N/A" if containers == -1 else str(containers),
    }


def container_row(container: dict[str, Any], trunc: bool) -> dict[str, Any]:
    row = ps_row(container, trunc)
    row["Size"] = output.human_size(int(container.get("SizeRw") or 0), 3)
    return row


def volume_row(volume: Mapping[str, Any]) -> dict[str, Any]:
    usage = volume.get("UsageData") or {}
    size = int(usage.get("Size", -1))
    return {
        "Name": volume.get("Name", ""),
        "Links": str(usage.get("RefCount", 0)),
        "Size": "N/A" if size == -1 else output.human_size(size),
        "Driver": volume.get("Driver", ""),
        "Mountpoint": volume.get("Mountpoint", ""),
    }


def verbose_table(du: Mapping[str, Any]) -> str:
    """docker system df -v: a table per kind, each with its header, rows or not."""
    cache = du.get("BuildCache") or []
    cache_size = sum(int(c.get("Size") or 0) for c in cache if not c.get("Shared"))
    parts = [
        "Images space usage:\n\n",
        output.listing(IMAGE_COLUMNS, [image_row(i, True) for i in du.get("Images") or []]),
        "\nContainers space usage:\n\n",
        output.listing(
            CONTAINER_COLUMNS, [container_row(c, True) for c in du.get("Containers") or []]
        ),
        "\nLocal Volumes space usage:\n\n",
        output.listing(VOLUME_COLUMNS, [volume_row(v) for v in du.get("Volumes") or []]),
        f"\nBuild cache usage: {output.human_size(cache_size)}\n\n",
        output.listing(BUILD_CACHE_COLUMNS, []),
    ]
    return "".join(parts)


def verbose_template(fmt: str, du: Mapping[str, Any]) -> str:
    """-v with a template: run once over the lists (.Images, .Containers, .Volumes,
    .BuildCache), as docker's verboseWrite."""
    trunc = gotemplate.is_table(fmt)
    data = {
        "Images": [output.Row(image_row(i, trunc)) for i in du.get("Images") or []],
        "Containers": [output.Row(container_row(c, trunc)) for c in du.get("Containers") or []],
        "Volumes": [output.Row(volume_row(v)) for v in du.get("Volumes") or []],
        "BuildCache": [],
    }
    template = gotemplate.parse_format(fmt)
    try:
        return template.execute(data)
    except gotemplate.TemplateError as exc:
        raise gotemplate.TemplateError(f"template parsing error: {exc.message}") from None


def render(du: Mapping[str, Any], verbose: bool, fmt: str) -> str:
    if verbose:
        return verbose_table(du) if not fmt or fmt == "table" else verbose_template(fmt, du)
    if fmt == "raw":
        fmt = RAW_SUMMARY
    return output.listing(SUMMARY_COLUMNS, summary_rows(du), fmt)


def df(
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show detailed information on space usage"
    ),
    fmt: str = typer.Option("", "--format", help="Pretty-print images using a Go template"),
) -> None:
    """Show swarmpy disk usage."""
    du = engine.connect().get("/system/df")
    sys.stdout.write(render(du, verbose, fmt))
    sys.stdout.flush()
