"""--tty: the container's process gets a terminal, and its log keeper reads the terminal's
master side to the end (EIO there, once the container is gone, is its end of file)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from swarmpy.agent import container
from swarmpy.engine import bundle, logshim
from swarmpy.engine.images.records import ImageConfig
from swarmpy.model import ContainerSpec, ServiceSpec, Task
from swarmpy.overlay.sandbox import SandboxInfo

SANDBOX = SandboxInfo("/run/netns/x1", "nameserver 127.0.0.11\n", "127.0.0.1\tlocalhost\n", "h")


def config_of(**fields: object) -> dict[str, object]:
    spec = ServiceSpec(name="web", container=ContainerSpec(image="busybox", **fields))  # type: ignore[arg-type]
    task = Task(id="t" * 25, service_id="s1", service_name="web", spec=spec, slot=1)
    made = container.container_config(task, SANDBOX, "node1")
    paths = bundle.BundlePaths(Path("/c/ctr"), Path("/c/ctr/rootfs"), Path("/c/volumes"))
    return bundle.build_config(ImageConfig(image_id="sha256:a", cmd=("sh",)), made, paths,
                               cgroups_path="/x")  # fmt: skip


def test_a_tty_is_a_terminal_with_term_set() -> None:
    proc = config_of(tty=True)["process"]
    assert isinstance(proc, dict)
    assert proc["terminal"] is True
    assert "TERM=xterm" in proc["env"]
    # The spec's own TERM wins, and without --tty there is no terminal.
    proc = config_of(tty=True, env=("TERM=vt100",))["process"]
    assert isinstance(proc, dict)
    assert [e for e in proc["env"] if e.startswith("TERM=")] == ["TERM=vt100"]
    proc = config_of()["process"]
    assert isinstance(proc, dict)
    assert proc["terminal"] is False


def test_the_keeper_reads_a_terminal_to_its_end(tmp_path: Path) -> None:
    master, slave = os.openpty()
    os.write(slave, b"hello\n")
    os.close(slave)  # the container is gone: reading the master now ends in EIO
    err_r, err_w = os.pipe()
    os.close(err_w)
    log = logshim.LogFile(str(tmp_path / "c-json.log"), 1 << 20, 1)
    logshim.copy(log, {master: logshim.STDOUT, err_r: logshim.STDERR})
    os.close(log.fd)
    (record,) = [json.loads(line) for line in (tmp_path / "c-json.log").read_text().splitlines()]
    assert record["stream"] == "stdout"
    assert record["log"] == "hello\r\n"  # a terminal's line ending, kept as Docker keeps it
