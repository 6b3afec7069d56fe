"""Local volumes and user bridge networks, as Docker's: over one daemon with the swarmpy CLI,
Docker's CLI and docker-py (containers on user bridges reaching each other by name and alias
through `run`, volumes written by one container and read by the next through `run --rm -v`
and a service's --mount type=volume), and the bridge data path with its embedded DNS driven
in process inside namespaces of the test's own.

Everything made is removed at the end, also on failure (the daemons' kernel objects by
DaemonSet, the in-process test's namespaces and bridges by its own cleanup)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import docker
import pytest

from swarmpy.dns.nsock import run_in_netns
from swarmpy.dns.server import DnsServer
from swarmpy.errors import Conflict
from swarmpy.netns import call_in_netns, netns_path
from swarmpy.overlay.bridges import BridgeNetworks
from swarmpy.overlay.names import Names
from swarmpy.overlay.netlink import Netlink, create_netns
from tests.support.daemons import Daemon, DaemonSet
from tests.support.docker_cli import DockerCli
from tests.support.localswarm import free_addr, load_busybox, run_task
from tests.support.poll import wait_for

pytestmark = pytest.mark.root


# ---------------------------------------------------------------- bridges and their DNS


async def _resolve(sandbox: str, name: str) -> set[str]:
    query = dns.message.make_query(name, "A")
    reply = await run_in_netns(
        netns_path(sandbox), lambda: dns.query.udp(query, "127.0.0.11", timeout=2.0)
    )
    return {r.to_text() for rrset in reply.answer for r in rrset}


def _listen(sandbox: str) -> socket.socket:
    def make() -> socket.socket:
        sock = socket.socket()
        sock.bind(("0.0.0.0", 8080))
        sock.listen()
        return sock

    return call_in_netns(netns_path(sandbox), make)


def _reaches(sandbox: str, ip: str) -> bool:
    def connect() -> bool:
        try:
            with socket.create_connection((ip, 8080), timeout=1.0):
                return True
        except OSError:
            return False

    return call_in_netns(netns_path(sandbox), connect)


def _default_route(sandbox: str) -> str:
    out = subprocess.run(
        ["ip", "-n", sandbox, "route", "show", "default"], capture_output=True, text=True
    )
    return out.stdout.strip()


def test_containers_on_a_user_bridge_reach_each_other_by_name(tmp_path: Path) -> None:
    """Two containers' sandboxes on a user bridge resolve each other's names and aliases at
    127.0.0.11 and connect; a third network keeps its names to itself; an internal one gives
    no default route; a network with containers cannot be removed."""
    prefix = "t" + secrets.token_hex(2)
    host = f"{prefix}-host"
    create_netns(host)
    cids = [secrets.token_hex(32) for _ in range(3)]

    async def main() -> None:
        server = DnsServer(upstreams=[], resolv_conf=None)

        async def follow(cid: str, path: str, networks: tuple[str, ...]) -> None:
            server.update_local(bridges.dns_names())
            if networks:
                await server.add_container(cid, path, networks)
            else:
                await server.remove_container(cid)

        bridges = BridgeNetworks(
            tmp_path, Names(prefix), "172.18.16.0/20", host_netns=host, on_container=follow
        )
        try:
            app = await bridges.create("app", subnet="182.18.0.0/16")
            other = await bridges.create("other")
            inner = await bridges.create("inner", internal=True)
            assert other.subnet == "172.17.0.0/16"
            # Two at once (two runs starting together) get addresses of their own.
            web, db = await asyncio.gather(
                bridges.attach(cids[0], "web", "app"),
                bridges.attach(cids[1], "db", "app", aliases=["store"]),
            )
            lone = await bridges.attach(cids[2], "lone", "other")
            assert {web.ip, db.ip} == {"182.18.0.2", "182.18.0.3"}
            assert web.ifname == "eth0"
            assert _default_route(web.sandbox).startswith("default via 182.18.0.1")
            assert await _resolve(web.sandbox, "db") == {db.ip}
            assert await _resolve(web.sandbox, "store") == {db.ip}
            assert await _resolve(db.sandbox, cids[0][:12]) == {web.ip}
            # Names stay on their network.
            assert await _resolve(lone.sandbox, "web") == set()
            listener = _listen(db.sandbox)
            try:
                assert _reaches(web.sandbox, db.ip)
            finally:
                listener.close()
            # A second network: the next interface; internal gives no way out.
            leg = await bridges.attach(cids[2], "lone", "inner")
            assert leg.ifname == "eth1"
            assert _default_route(leg.sandbox).startswith("default via 172.17.0.1")
            with pytest.raises(Conflict, match="has active endpoints"):
                await bridges.remove("app")
            await bridges.detach(cids[2], "inner")
            assert bridges.endpoints(inner.id) == []
            await bridges.remove("inner")
            for cid in cids:
                await bridges.detach_all(cid)
            assert await _resolve_gone(server, web.sandbox)
            await bridges.remove(app.id)
            await bridges.remove("other")
            assert [n.name for n in bridges.networks()] == ["bridge", "host", "none"]
        finally:
            await server.close()
            await bridges.cleanup_all()
            await bridges.close()

    try:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(call_in_netns, netns_path(host), lambda: asyncio.run(main())).result()
    finally:
        nl = Netlink()
        for cid in cids:
            nl.remove_netns(Names(prefix).sandbox(cid))
        nl.remove_netns(host)
        nl.close()


async def _resolve_gone(server: DnsServer, sandbox: str) -> bool:
    """The container left its last user network: its DNS socket is closed."""
    try:
        await _resolve(sandbox, "db")
    except (dns.exception.Timeout, OSError):
        return True
    return False


# ---------------------------------------------------------------- over a daemon


def _container_id(d: Daemon, service: str, *args: str) -> str:
    """``service create`` with ``args``; the full id of its running container."""
    # No grace period: sh as pid 1 ignores SIGTERM, and each removal would wait it out.
    name = run_task(d, service, "--stop-grace-period", "0s", *args)
    return str(d.json("inspect", name)[0]["Id"])


def _anonymous(d: Daemon, container: str = "") -> Any:
    """The anonymous volumes (64 hex digits) on the node, or the one ``container`` mounts."""
    if container:
        (mount,) = d.json("inspect", container)[0]["Mounts"]
        return mount["Name"]
    return [name for name in d.ok("volume", "ls", "-q").split() if len(name) == 64]


def _no_containers(d: Daemon) -> bool:
    return not d.ok("ps", "-aq").strip()


def test_volumes_and_networks_as_docker(daemons: DaemonSet) -> None:
    (d,) = daemons.start(1)
    load_busybox(d)
    docker_cli = DockerCli(d)

    # --- volumes through swarmpy's CLI
    assert d.ok("volume", "create", "--label", "tier=db", "keep") == "keep\n"
    tmpfs_opts = ("-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m")
    assert d.ok("volume", "create", *tmpfs_opts, "scratch") == "scratch\n"
    # A tmpfs volume is mounted while a container runs with it, as Docker's local driver:
    # what one run wrote is gone for the next.
    scratch_data = d.data_root / "volumes" / "scratch" / "_data"
    d.ok("run", "--rm", "-v", "scratch:/s", "busybox", "touch", "/s/x")
    assert not os.path.ismount(scratch_data)
    assert d.ok("run", "--rm", "-v", "scratch:/s", "busybox", "ls", "/s") == ""
    lines = d.ok("volume", "ls").splitlines()
    assert lines[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert [line.split() for line in lines[1:]] == [["local", "keep"], ["local", "scratch"]]
    assert d.ok("volume", "ls", "-q", "--filter", "label=tier=db") == "keep\n"
    (doc,) = d.json("volume", "inspect", "keep")
    assert doc["Mountpoint"] == str(d.data_root / "volumes" / "keep" / "_data")
    assert (doc["Driver"], doc["Scope"], doc["Labels"]) == ("local", "local", {"tier": "db"})
    assert doc["CreatedAt"]
    missing = d.cli("volume", "inspect", "nope")
    assert (missing.returncode, missing.stderr) == (1, "Error: No such volume: nope\n")
    bad = d.cli("volume", "create", "-o", "size=1g", "quota")
    assert bad.returncode == 1
    assert "no quota support" in bad.stderr

    # --- through Docker's CLI and docker-py
    assert docker_cli.ok("volume", "create", "dockervol") == "dockervol\n"
    listed = docker_cli.ok("volume", "ls", "--format", "{{.Name}} {{.Driver}}").splitlines()
    assert "dockervol local" in listed
    client = docker.DockerClient(base_url=f"unix://{d.socket}")
    try:
        made = client.volumes.create("pyvol", labels={"by": "py"})
        assert client.volumes.get("pyvol").attrs["Labels"] == {"by": "py"}
        assert {v.name for v in client.volumes.list()} >= {"keep", "scratch", "pyvol"}
        made.remove()
    finally:
        client.close()
    assert docker_cli.ok("volume", "rm", "dockervol") == "dockervol\n"

    # --- networks on one host, before and in a swarm
    names = [row.split()[1] for row in d.ok("network", "ls").splitlines()[1:]]
    assert names == ["bridge", "host", "none"]
    net_id = d.ok("network", "create", "--subnet", "182.18.0.0/16", "custom").strip()
    (net,) = d.json("network", "inspect", "custom")
    assert (net["Id"], net["Driver"], net["Scope"]) == (net_id, "bridge", "local")
    assert net["IPAM"]["Config"] == [{"Subnet": "182.18.0.0/16", "Gateway": "182.18.0.1"}]
    # --gateway: the bridge's address, and the containers' default route.
    d.ok("network", "create", "--subnet", "182.19.0.0/24", "--gateway", "182.19.0.254", "gw")
    (gw,) = d.json("network", "inspect", "gw")
    assert gw["IPAM"]["Config"] == [{"Subnet": "182.19.0.0/24", "Gateway": "182.19.0.254"}]
    routed = d.ok("run", "--rm", "--network", "gw", "busybox", "ip", "route")
    assert routed.startswith("default via 182.19.0.254 "), routed
    d.ok("network", "rm", "gw")
    overlap = d.cli("network", "create", "--subnet", "182.18.5.0/24", "clash")
    assert overlap.returncode == 1
    assert "Pool overlaps with other one on this address space" in overlap.stderr
    refused = docker_cli.refused("network", "rm", "bridge")
    assert "bridge is a pre-defined network and cannot be removed" in refused
    assert (
        d.json("network", "inspect", "bridge")[0]["Options"][
            "com.docker.network.bridge.default_bridge"
        ]
        == "true"
    )

    # --- containers on user bridges reach each other by name and alias (docker run)
    db = d.ok(
        "run", "-d", "--network", "custom", "--network-alias", "database", "--name", "db",
        "busybox", "sleep", "600",
    ).strip()  # fmt: skip
    pinged = d.ok(
        "run", "--rm", "--network", "custom", "busybox", "sh", "-c",
        "cat /etc/resolv.conf; ping -c1 -W2 db; ping -c1 -W2 database",
    )  # fmt: skip
    assert pinged.startswith("nameserver 127.0.0.11\n")
    assert "PING db (182.18.0.2)" in pinged
    assert "PING database (182.18.0.2)" in pinged
    assert pinged.count("1 packets received") == 2
    d.ok("network", "create", "other")
    docker_cli.ok("network", "connect", "--alias", "store", "other", "db")
    (other,) = d.json("network", "inspect", "other")
    assert other["Containers"][db]["Name"] == "db"
    networks = d.json("inspect", "db")[0]["NetworkSettings"]["Networks"]
    assert networks["custom"]["IPAddress"] == "182.18.0.2"
    assert networks["other"]["NetworkID"] == other["Id"]
    by_alias = d.ok("run", "--rm", "--network", "other", "busybox", "ping", "-c1", "-W2", "store")
    assert "1 packets received" in by_alias
    busy = d.cli("network", "rm", "custom")
    assert busy.returncode == 1
    assert busy.stderr == (
        "Error response from daemon: error while removing network: network custom id "
        f"{net_id} has active endpoints\n"
    )
    # A stopped container leaves its user networks; its start joins them again, the one
    # `network connect` added too.
    d.ok("kill", "db")
    wait_for("db off custom", lambda: not d.json("network", "inspect", "custom")[0]["Containers"])
    assert d.json("network", "inspect", "other")[0]["Containers"] == {}
    d.ok("start", "db")
    for name in ("custom", "other"):
        assert list(d.json("network", "inspect", name)[0]["Containers"]) == [db]
    d.ok("network", "disconnect", "other", "db")
    assert d.json("network", "inspect", "other")[0]["Containers"] == {}
    d.ok("rm", "-f", "db")
    assert docker_cli.ok("network", "rm", "custom", "other") == "custom\nother\n"

    # --- a volume written by one `run --rm` and read by the next, with its events
    since = str(int(time.time()) - 1)
    d.ok("run", "--rm", "-v", "shared:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    assert d.ok("run", "--rm", "-v", "shared:/data", "busybox", "cat", "/data/f") == "kept\n"
    assert d.ok("volume", "rm", "shared") == "shared\n"
    events = d.ok(
        "events", "--since", since, "--until", str(int(time.time()) + 1),
        "--filter", "type=volume", "--format", "{{.Action}} {{.Actor.ID}}",
    )  # fmt: skip
    mounted_twice = ["mount shared", "unmount shared"] * 2
    assert events.splitlines() == ["create shared", *mounted_twice, "destroy shared"]

    # --- anonymous volumes: --rm and rm -v take them; rm alone leaves them dangling
    d.ok("run", "--rm", "-v", "/anon", "busybox", "true")
    assert _anonymous(d) == []
    d.ok("run", "--name", "leaves", "-v", "/anon", "busybox", "true")
    d.ok("run", "--name", "takes", "-v", "/anon", "busybox", "true")
    left, taken = _anonymous(d, "leaves"), _anonymous(d, "takes")
    assert sorted(_anonymous(d)) == sorted([left, taken])
    assert d.json("volume", "inspect", left)[0]["Labels"] == {"com.docker.volume.anonymous": ""}
    d.ok("rm", "leaves")
    docker_cli.ok("rm", "-v", "takes")
    assert _anonymous(d) == [left]
    assert d.ok("volume", "ls", "-q", "--filter", "dangling=true").split() == sorted(
        [left, "keep", "scratch"]
    )
    d.ok("volume", "rm", left)

    # --- a volume written by one container and read by the next (service tasks)
    addr, port = free_addr()
    d.ok("swarm", "init", "--advertise-addr", addr, "--listen-addr", f"{addr}:{port}")
    writer = _container_id(
        d, "writer",
        "--mount", "type=volume,source=data,target=/etc,volume-label=made=by-mount",
        "--mount", 'type=volume,source=fast,target=/fast,"volume-opt=o=size=1m,mode=700",'
        "volume-opt=type=tmpfs,volume-opt=device=tmpfs",
        "--mount", "type=volume,source=bare,target=/etc/skel,volume-nocopy",
        "busybox", "sh", "-c", "echo from-writer > /etc/written; touch /fast/x; sleep 600",
    )  # fmt: skip
    data = d.data_root / "volumes" / "data" / "_data"
    wait_for("the writer's file", lambda: (data / "written").exists(), 10)
    # Copied up from the image's /etc on first use; not for a nocopy volume.
    assert (data / "passwd").exists()
    assert d.json("volume", "inspect", "data")[0]["Labels"] == {"made": "by-mount"}
    fast = d.json("volume", "inspect", "fast")[0]
    assert fast["Options"] == {"o": "size=1m,mode=700", "type": "tmpfs", "device": "tmpfs"}
    assert os.path.ismount(fast["Mountpoint"])
    in_use = d.cli("volume", "rm", "data")
    assert in_use.returncode == 1
    assert in_use.stderr == (
        f"Error response from daemon: remove data: volume is in use - [{writer}]\n"
    )
    # prune: the unused one without options goes; used ones and option ones stay.
    pruned = d.ok("volume", "prune", "-f")
    assert pruned.startswith("Deleted Volumes:\nkeep\n")
    assert "Total reclaimed space:" in pruned
    df = d.ok("system", "df").splitlines()
    assert df[3].split()[:4] == ["Local", "Volumes", "4", "3"]  # scratch is unused
    d.ok("service", "rm", "writer")
    wait_for("the writer's container to go", lambda: _no_containers(d), 30)
    assert not os.path.ismount(fast["Mountpoint"])  # its last user ended
    reader = _container_id(
        d, "reader", "--restart-condition", "none",
        "--mount", "type=volume,source=data,target=/etc",
        "busybox", "sh", "-c", "cat /etc/written; sleep 600",
    )  # fmt: skip
    wait_for(
        "the reader to print the writer's line",
        lambda: "from-writer" in d.ok("logs", reader),
        10,
    )
    d.ok("service", "rm", "reader")
    wait_for("the reader's container to go", lambda: _no_containers(d), 30)
    for name in ("data", "fast", "bare", "scratch"):
        assert d.ok("volume", "rm", name) == f"{name}\n"
    assert not os.path.ismount(fast["Mountpoint"])
    assert d.ok("volume", "ls", "-q") == ""
    assert docker_cli.ok("volume", "ls", "-q") == ""
    with contextlib.suppress(FileNotFoundError):
        assert not any((d.data_root / "volumes").iterdir())
