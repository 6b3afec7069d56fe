"""``build`` of a 5-step Dockerfile, cold (--no-cache) and cached, against the same steps by
hand: an overlay mount of busybox's layer, the file copied in, ``runc run`` of the same
command, the upper dir tarred and gzipped as a layer, unmounted.

Builds go to POST /build over the daemon's socket (the CLI's own start is not counted); the
floor calls runc and the kernel directly. Runs alternate (floor, cold, cached) so the machine's
load falls on all three.

    python bench/build_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure, Stat, print_figures, skipped

if TYPE_CHECKING:
    from tests.support.daemons import Daemon, DaemonSet

DOCKERFILE = """\
FROM busybox
COPY app.txt /app/
RUN echo hi > /app/run.txt
ENV MODE=bench
CMD ["cat", "/app/run.txt"]
"""
RUN_CMD = "echo hi > /app/run.txt"


def _context() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in (("Dockerfile", DOCKERFILE.encode()), ("app.txt", b"v1\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _build(host: str, no_cache: bool) -> float:
    from swarmpy.cli.engine import EngineClient, Options, resolve

    api = EngineClient(resolve(Options(host=host), os.environ))
    t0 = time.perf_counter()
    for message in api.json_lines(
        "POST",
        "/build",
        {"t": ("bench:latest",), "nocache": no_cache},
        _context(),
        content_type="application/x-tar",
    ):
        if message.get("error"):
            raise RuntimeError(message["error"])
    return time.perf_counter() - t0


def _by_hand(layers: list[Path], work: Path) -> float:
    """The floor: the same COPY and RUN with the kernel and runc, and the layer tarred."""
    return runc_by_hand(layers, work, ("/bin/sh", "-c", RUN_CMD), build_step=True)


def runc_by_hand(
    layers: list[Path], work: Path, cmd: tuple[str, ...], *, build_step: bool
) -> float:
    """A container by hand, timed: the overlay mount of ``layers``, ``runc run`` of ``cmd``
    in a new network namespace, unmounted; as a build step, app.txt copied in first and the
    upper dir written as a gzipped layer tar after."""
    from swarmpy.engine import bundle, seccomp
    from swarmpy.engine.images.layertar import write_layer
    from swarmpy.engine.images.records import ImageConfig
    from swarmpy.engine.images.rootfs import mount_rootfs, remove_rootfs
    from swarmpy.engine.spec import ContainerConfig

    cid = "bench" + secrets.token_hex(8)
    cdir = work / cid
    cdir.mkdir()
    t0 = time.perf_counter()
    try:
        rootfs = mount_rootfs(layers, cdir)
        if build_step:
            (rootfs / "app").mkdir()
            (rootfs / "app" / "app.txt").write_text("v1\n")
        container = ContainerConfig(
            id=cid, name=cid, image="", netns_path="", hostname=cid, resolv_conf="", hosts=""
        )
        image = ImageConfig(image_id="", cmd=cmd)
        paths = bundle.BundlePaths(cdir, rootfs, cdir / "volumes")
        config = bundle.build_config(
            image, container, paths, cgroups_path=f"/{cid}", seccomp_profile=seccomp.load_profile()
        )
        for ns in config["linux"]["namespaces"]:
            ns.pop("path", None)
        for name in bundle.ETC_FILES:
            (cdir / name).write_text("")
        (cdir / "config.json").write_text(json.dumps(config))
        subprocess.run(
            ["runc", "--root", str(work / "runc"), "run", "--bundle", str(cdir), cid],
            check=True,
            capture_output=True,
        )
        if build_step:
            with (
                (cdir / "layer.tar.gz").open("wb") as raw,
                gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz,
            ):
                write_layer(cdir / "upper", gz)  # type: ignore[arg-type]
        return time.perf_counter() - t0
    finally:
        remove_rootfs(cdir)
        shutil.rmtree(cdir, ignore_errors=True)
        for leftover in Path("/sys/fs/cgroup").glob(f"*/{cid}"):
            with contextlib.suppress(OSError):  # runc removed it (or it is busy)
                leftover.rmdir()


def busybox_daemon(ds: DaemonSet, tmp: Path) -> tuple[Daemon, list[Path]]:
    """One daemon of ``ds`` with busybox loaded; the daemon and busybox's layer dirs."""
    from tests.support.busybox_image import busybox_image, save_docker_tar

    (daemon,) = ds.start(1)
    archive = tmp / "busybox.tar"
    save_docker_tar(archive, busybox_image(), ["busybox:latest"])
    daemon.ok("image", "load", "-i", str(archive))
    layers = [
        p / "diff"
        for p in (daemon.data_root / "images" / "layers").iterdir()
        if not p.name.startswith(".")
    ]
    return daemon, layers


def run(quick: bool) -> list[Figure]:
    if os.geteuid() != 0:
        return [skipped("build", "needs root (runc, overlayfs)")]
    if shutil.which("runc") is None:
        return [skipped("build", "runc is not installed")]
    from tests.support.daemons import DaemonSet

    runs = 3 if quick else 7
    floor, cold, cached = [], [], []
    with DaemonSet() as ds, tempfile.TemporaryDirectory(prefix="buildbench-") as tmp:
        daemon, layers = busybox_daemon(ds, Path(tmp))
        work = Path(tmp) / "work"
        work.mkdir()
        _by_hand(layers, work), _build(daemon.host, True), _build(daemon.host, False)  # warm-up
        for _ in range(runs):
            floor.append(_by_hand(layers, work) * 1000)
            cold.append(_build(daemon.host, True) * 1000)
            cached.append(_build(daemon.host, False) * 1000)
    baseline = Stat.of(floor)
    note = f"median of {runs}, alternating; POST /build over the socket, CLI start not counted"
    return [
        Figure(
            "build, 5 steps, cold (--no-cache)",
            "wall ms",
            Stat.of(cold),
            "by hand: overlay + copy + runc run + layer tar",
            baseline,
            higher_is_better=False,
            fmt="{:,.0f}",
            note=note,
        ),
        Figure(
            "build, 5 steps, all cached",
            "wall ms",
            Stat.of(cached),
            "by hand: overlay + copy + runc run + layer tar",
            baseline,
            higher_is_better=False,
            fmt="{:,.0f}",
            note=note,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print_figures(run(args.quick))


if __name__ == "__main__":
    main()
